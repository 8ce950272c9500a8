"""The streaming core's accuracy without a server: the long stream through `StreamTranscriber`
with the real engine, in audio time, each request answered `--rtt` seconds after it went.

Deterministic (the steady-voice stream, one decode at a time, no clocks), so a change to the
stabilizer or the transcriber can be compared in ~20 s instead of a 10-client run. `--busy` decodes
every request the cheap way the workers use under load. Prints WER against the reference, the
words that differ, and word latency, final delay and turn close delay in audio time, by the rule
the server benches use (docs/decisions/0032), with how many finals needed a decode.

    .venv/bin/python bench/stream_sim.py                   # full decodes, answers after 0.3 s
    .venv/bin/python bench/stream_sim.py --busy --rtt 0.4
    .venv/bin/python bench/stream_sim.py --clip zh          # Mandarin, on the multilingual model
"""

import argparse
import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402  (after bench: one OpenBLAS thread)

from bench.common import (  # noqa: E402
    FRAME_S,
    SAMPLE_RATE,
    Clip,
    Emitter,
    StreamResult,
    analyse,
    error_rate,
    load_clip,
    machine_info,
    stats,
    tokens,
)
from streaming.core import protocol  # noqa: E402
from streaming.core.transcriber import AsrRequest, StreamTranscriber, TranscriberConfig, TranscriptUpdate  # noqa: E402
from streaming.engines.asr.engine import BUNDLED_MODEL, BUNDLED_MULTILINGUAL_MODEL, AsrConfig, AsrEngine  # noqa: E402
from tests.speech import silence  # noqa: E402


@dataclass
class SimRun:
    finals: list[tuple[TranscriptUpdate, bool]] = field(default_factory=list)  # (final, decoded)
    decodes: int = 0
    seen: StreamResult = field(default_factory=StreamResult)  # what a client would get, in audio time

    def show(self, update: TranscriptUpdate, now: float) -> None:
        """The message the server sends for `update` (none for a partial without text)."""
        if update.is_final or update.committed or update.tentative:
            fields = ("utterance_id", "committed", "tentative", "is_final", "start", "end", "lag")
            message = protocol.transcription(**{name: getattr(update, name) for name in fields})
            self.seen.transcripts.append((now, message["data"]))


def stream(clip: Clip, engine: AsrEngine, *, busy: bool, rtt: float) -> SimRun:
    """One session that sends `clip` in 100 ms frames, then 2 s of silence."""
    transcriber = StreamTranscriber(TranscriberConfig())
    audio = np.concatenate([clip.audio, silence(2.0)])
    step = int(FRAME_S * SAMPLE_RATE)
    run = SimRun()
    in_flight: list[tuple[AsrRequest, float, list[dict]]] = []  # (request, answered at, segments)
    now = 0.0
    for start in range(0, len(audio), step):
        now += FRAME_S
        transcriber.feed(audio[start : start + step], now)
        run.seen.send_times.append(now)
        while True:
            while in_flight and in_flight[0][1] <= now:
                request, _, segments = in_flight.pop(0)
                update = transcriber.on_result(request.request_id, segments, now)
                if update is not None:
                    run.show(update, now)
                if update is not None and update.is_final:
                    run.finals.append((update, True))
            settled = transcriber.finish_without_decode(now)  # a phrase's words settle, or the turn ends
            if settled is not None:
                run.show(settled, now)
                if settled.is_final:
                    run.finals.append((settled, False))
            request = transcriber.next_request(now)
            if request is None:
                break
            segments = engine.transcribe(
                request.audio, language=clip.language, prompt=request.prompt or None, busy=busy or request.behind
            )
            in_flight.append((request, now + rtt, segments))
            run.decodes += 1
    return run


def differences(reference: str, text: str, language: str = "en") -> list[str]:
    """Each differing stretch as "reference → hypothesis", a word (character) of context either side."""
    ref, hyp = tokens(reference, language), tokens(text, language)
    opcodes = difflib.SequenceMatcher(a=ref, b=hyp, autojunk=False).get_opcodes()
    joiner = "" if language == "zh" else " "
    return [
        f"{joiner.join(ref[max(0, i1 - 1) : i2 + 1])} → {joiner.join(hyp[max(0, j1 - 1) : j2 + 1])}"
        for tag, i1, i2, j1, j2 in opcodes
        if tag != "equal"
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--busy", action="store_true", help="greedy, 10 s context: the decode under load")
    parser.add_argument("--rtt", type=float, default=0.3, help="seconds from a request to its answer")
    parser.add_argument("--clip", default="long", help="long (default) | jfk | zh")
    parser.add_argument("--out", help="also append the JSON lines to this file")
    args = parser.parse_args(argv)
    emit = Emitter(args.out)
    emit({"bench": "machine", **machine_info()})
    clip = load_clip(args.clip)
    model = BUNDLED_MODEL if clip.language == "en" else BUNDLED_MULTILINGUAL_MODEL
    run = stream(clip, AsrEngine(AsrConfig(model=model)), busy=args.busy, rtt=args.rtt)
    text = ("" if clip.language == "zh" else " ").join(update.committed for update, _ in run.finals)
    figures = analyse(clip, run.seen)  # audio time: the stream "started" at 0, at speed 1
    return emit(
        {
            "bench": "stream_sim",
            "clip": clip.name,
            "error_metric": "cer" if clip.language == "zh" else "wer",
            "busy": args.busy,
            "rtt_s": args.rtt,
            "utterances": len(run.finals),
            "decodes": run.decodes,
            "final_decodes": sum(decoded for _, decoded in run.finals),
            **stats(figures.times.word_latencies, "word_latency"),
            **stats(figures.times.final_delays, "final_delay"),
            **stats(figures.times.turn_close_delays, "turn_close_delay"),
            "words_missed": figures.times.words_missed,
            "wer": round(error_rate(clip.reference, text, clip.language), 4),
            "wer_offline": round(error_rate(clip.reference, clip.offline_text, clip.language), 4),
            "differences": differences(clip.reference, text, clip.language),
        }
    )


if __name__ == "__main__":
    main()
