"""Streaming transcription latency, accuracy and cost at real-time pace.

Clients stream a clip in 100 ms binary PCM16 frames on an absolute schedule to a running server
(an embedded one by default) and report, pooled over clients: word latency (from a word's end in
the audio until it is shown, committed or tentative, as itself for good), final delay (from the
end of the last word before a pause until it is shown as committed text), turn close delay
(`is_final` after the turn's last word), WER of the joined finals against the reference and
against the offline decode (docs/decisions/0032), server CPU seconds per audio second and RSS
growth per session.

    .venv/bin/python bench/stream_latency.py                       # 1 client, long stream
    .venv/bin/python bench/stream_latency.py --clip jfk --clients 2 --repeat 3
    .venv/bin/python bench/stream_latency.py --url http://127.0.0.1:8000 --token KEY --server-pid PID
"""

import argparse
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Clip,
    Emitter,
    Target,
    add_target_args,
    level_record,
    load_clip,
    log,
    machine_info,
    open_target,
    run_level,
)


def measure(
    target: Target,
    clip: Clip,
    clients: int,
    emit: Emitter,
    *,
    bench: str = "stream_latency",
    speed: float = 1.0,
    phased: bool = False,
    mix: Clip | None = None,
) -> dict[str, Any]:
    """One level: the summary record (also emitted), plus one record per client."""
    shape = "phased" if phased else "in step"
    log(f"{bench}: {clients} client(s) x {clip.name} ({clip.duration:.0f} s) at {speed}x, {shape}, {target.mode}")
    level = run_level(target, clip, clients, speed=speed, phased=phased, mix=mix)
    for index, figures in enumerate(level.figures):
        emit(
            {
                "bench": f"{bench}.client",
                "clients": clients,
                "client": index,
                "language": level.clips[index].language,
                "word_latency_p50": _median(figures.times.word_latencies),
                "final_delays": [round(d, 3) for d in figures.times.final_delays],
                "turn_close_delays": [round(d, 3) for d in figures.times.turn_close_delays],
                "wer": round(figures.wer, 4),
                "wer_vs_offline": round(figures.wer_vs_offline, 4),
                "utterances": figures.utterances,
                "finals_missing": figures.finals_missing,
                "errors": figures.errors,
                "text": figures.text,
            }
        )
    return emit({**level_record(bench, target, clip, clients, level, speed), "phased": phased})


def _median(values: list[float]) -> float | None:
    return round(sorted(values)[len(values) // 2], 3) if values else None


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_target_args(parser)
    parser.add_argument("--clip", default="long", help="jfk | long (default)")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="measure this many times (quote the median)")
    parser.add_argument("--speed", type=float, default=1.0, help="audio seconds per wall second")
    args = parser.parse_args(argv)
    emit = Emitter(args.out)
    emit({"bench": "machine", **machine_info()})
    clip = load_clip(args.clip)
    with open_target(args) as target:
        return [
            measure(target, clip, args.clients, emit, speed=args.speed, phased=args.phased) for _ in range(args.repeat)
        ]


if __name__ == "__main__":
    main()
