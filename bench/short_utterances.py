"""Accuracy on short, abruptly cut utterances by encoder context (`WHISPER_MIN_CONTEXT`), and of
the cheaper decode used when the service is busy (`--busy`).

The long stream hides what a shorter encoder context does to the hardest windows: a second or two
of speech cut at a breath. Six classroom sentences synthesized with the service's Piper voice and
four JFK phrases, each with 0-0.3 s of silence before and 0.1-0.7 s after and light noise, are
decoded whole by `AsrEngine` at each context; prints mean WER, the share of decodes with WER above
0.2 and the seconds per call. The voice is Piper's without its sampling noise
(`tests.speech.piper_speech`), so every run decodes the same audio.

    .venv/bin/python bench/short_utterances.py --contexts 10 15 30
    .venv/bin/python bench/short_utterances.py --contexts 15 --busy   # and the busy decode
"""

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402  (after bench: one OpenBLAS thread)

from bench.common import SAMPLE_RATE, Emitter, load_avg, log, machine_info  # noqa: E402
from tests.speech import jfk_audio, piper_speech, wer  # noqa: E402

SENTENCES = (
    "The cat sat on the warm mat.",
    "Please open your math book.",
    "We will read a story today.",
    "Good morning class.",
    "What is seven times eight?",
    "I like apples.",
)
JFK_PHRASES = (  # (start s, end s, text) cut from the shared recording at its pauses
    (0.0, 2.4, "And so my fellow Americans"),
    (2.3, 4.3, "ask not"),
    (4.3, 7.9, "what your country can do for you"),
    (8.0, 11.0, "ask what you can do for your country"),
)
LEADS_S = (0.0, 0.1, 0.2, 0.3)
TAILS_S = (0.1, 0.4, 0.7)


def utterances() -> list[tuple[str, np.ndarray]]:
    jfk = jfk_audio()
    cut = [(text, jfk[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]) for a, b, text in JFK_PHRASES]
    return [(sentence, piper_speech(sentence)) for sentence in SENTENCES] + cut


def _measure(cases: list[tuple[str, np.ndarray]], transcribe) -> tuple[list[float], float]:
    """WER of every case with every lead and tail, and the seconds per call."""
    noise = np.random.default_rng(0)
    errors, started = [], time.perf_counter()
    for reference, speech in cases:
        for lead in LEADS_S:
            for tail in TAILS_S:
                audio = np.concatenate(
                    [np.zeros(int(lead * SAMPLE_RATE)), speech, np.zeros(int(tail * SAMPLE_RATE))]
                ).astype(np.float32)
                audio += noise.normal(0, 0.002, len(audio)).astype(np.float32)
                segments = transcribe(audio)
                errors.append(wer(reference, "".join(w["word"] for s in segments for w in s["words"])))
    return errors, (time.perf_counter() - started) / len(errors)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contexts", type=float, nargs="+", default=[10, 15, 30])
    parser.add_argument("--busy", action="store_true", help="also the busy decode (greedy, 10 s context)")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    from streaming.engines.asr.engine import AsrConfig, AsrEngine

    emit = Emitter(args.out)
    emit({"bench": "machine", **machine_info()})
    cases = utterances()
    runs = [(f"context {c} s, beam 5", {"min_context_s": c, "beam_size": 5}, False) for c in args.contexts]
    if args.busy:
        busy = AsrConfig()
        runs.append(("busy", {"min_context_s": busy.busy_min_context_s, "beam_size": busy.busy_beam_size}, True))
    records = []
    for label, described, busy in runs:
        log(f"short_utterances: {label}")
        engine = AsrEngine(AsrConfig(min_context_s=described["min_context_s"]))
        errors, per_call = _measure(
            cases, lambda a, e=engine, b=busy: e.transcribe(a, language="en", prompt=None, busy=b)
        )
        records.append(
            emit(
                {
                    "bench": "short_utterances",
                    **described,
                    "busy": busy,
                    "decodes": len(errors),
                    "wer_mean": round(statistics.fmean(errors), 3),
                    "share_wer_over_0_2": round(sum(e > 0.2 for e in errors) / len(errors), 3),
                    "seconds_per_call": round(per_call, 3),
                    "load": load_avg(),
                }
            )
        )
    return records


if __name__ == "__main__":
    main()
