"""Where the recognition time goes: the cost of one ASR call and of VAD, in this process.

One `AsrEngine.transcribe` call (the bundled tiny.en, int8, one thread, as a worker runs it) on
windows of 1-12 s of speech from the long stream, for encoder contexts of 10 s (the default
`WHISPER_MIN_CONTEXT`) and 30 s (Whisper's padding), beam 5 (the default) and greedy decoding;
and Silero VAD (`StreamingVad`) over 100 ms frames, per audio second. Medians of --repeat calls.
`--clip zh`: the Mandarin recordings on the multilingual `base`, as Mandarin sessions decode.

    .venv/bin/python bench/asr_cost.py
    .venv/bin/python bench/asr_cost.py --clip zh --contexts 15 10 6
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SAMPLE_RATE, Emitter, load_avg, load_clip, log, machine_info  # noqa: E402

WINDOWS_S = (1, 2, 4, 8, 12)


def _median_time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _breakdown(engine: Any, audio: Any, beam: int, repeat: int, language: str) -> dict[str, float]:
    """The parts of one call: log-mel features, the encoder (as long as the engine's context), and
    the whole call without word timestamps (the difference to `call_s` is the alignment pass)."""
    from faster_whisper.audio import pad_or_trim

    from streaming.engines.asr.engine import context_frames

    model = engine.model
    model.call.min_frames = context_frames(engine.config.min_context_s)  # as `engine.transcribe` sets it
    features = model.feature_extractor(audio)
    padded = pad_or_trim(features)
    no_words = _median_time(
        lambda: list(
            model.transcribe(
                audio, language=language, beam_size=beam, temperature=0.0, word_timestamps=False,
                condition_on_previous_text=False, vad_filter=False,
            )[0]
        ),
        repeat,
    )  # fmt: skip
    return {
        "features_s": round(_median_time(lambda: model.feature_extractor(audio), repeat), 3),
        "encoder_s": round(_median_time(lambda: model.encode(padded), repeat), 3),
        "call_without_word_timestamps_s": round(no_words, 3),
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--beams", type=int, nargs="+", default=[5, 1])
    parser.add_argument("--contexts", type=float, nargs="+", default=[10, 30], help="WHISPER_MIN_CONTEXT values")
    parser.add_argument("--clip", default="long", help="long (tiny.en) | zh (the multilingual base)")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    from streaming.core.vad import StreamingVad
    from streaming.engines.asr.engine import BUNDLED_MODEL, BUNDLED_MULTILINGUAL_MODEL, AsrConfig, AsrEngine

    emit = Emitter(args.out)
    emit({"bench": "machine", **machine_info()})
    clip = load_clip(args.clip)
    model = BUNDLED_MODEL if clip.language == "en" else BUNDLED_MULTILINGUAL_MODEL
    speech = clip.audio[int(clip.words[0].start * SAMPLE_RATE) :]
    records = []
    for context, beam in [(c, b) for c in args.contexts for b in args.beams]:
        engine = AsrEngine(AsrConfig(model=model, beam_size=beam, min_context_s=context))
        for window in WINDOWS_S:
            audio = speech[: window * SAMPLE_RATE]
            log(f"asr_cost: context {context} s, beam {beam}, {window} s window")
            seconds = _median_time(
                lambda a=audio, e=engine: e.transcribe(a, language=clip.language, prompt=None), args.repeat
            )
            parts = _breakdown(engine, audio, beam, args.repeat, clip.language) if beam == args.beams[0] else {}
            records.append(
                emit(
                    {
                        "bench": "asr_cost",
                        "model": model,
                        "min_context_s": context,
                        "beam_size": beam,
                        "window_s": window,
                        "call_s": round(seconds, 3),
                        **parts,
                        "load": load_avg(),
                    }
                )
            )

    def vad_pass() -> None:
        vad = StreamingVad()
        for start in range(0, len(clip.audio), SAMPLE_RATE // 10):
            vad.feed(clip.audio[start : start + SAMPLE_RATE // 10])

    seconds = _median_time(vad_pass, args.repeat)
    records.append(
        emit(
            {
                "bench": "vad_cost",
                "audio_s": round(clip.duration, 1),
                "cpu_s_per_audio_s": round(seconds / clip.duration, 4),
                "load": load_avg(),
            }
        )
    )
    return records


if __name__ == "__main__":
    main()
