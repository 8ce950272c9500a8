"""Soak: one long session (default 60 min of audio, fed at 4x real time) on one connection.

The long stream is repeated back to back. Reports server RSS over time (sampled every second)
and word latency / final delay per audio minute, so minute 1 can be compared with the last
minute. RSS moves by tens of MB within seconds (decode buffers come and go, and workers return
free pages every MALLOC_TRIM_INTERVAL), so growth compares medians over windows longer than
that: the `--window` audio minutes (default 5: 75 s of wall time at 4x) after warm-up against
the last ones; it should be within 10 MB. The one-minute medians of earlier reports (3 samples
each at 4x) are still given, as `rss_growth_one_minute_mb`. At 4x, latencies are in wall seconds
of a server fed four times faster than a student speaks: compare minutes with each other, not
with the real-time figures.

    .venv/bin/python bench/soak.py                      # 60 min of audio, ~15 min wall
    .venv/bin/python bench/soak.py --minutes 4          # quick
"""

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Emitter,
    Target,
    add_target_args,
    level_record,
    load_clip,
    log,
    machine_info,
    open_target,
    run_level,
    stats,
)


def soak(
    target: Target, minutes: float, speed: float, warm_up_min: float, window_min: float, emit: Emitter
) -> dict[str, Any]:
    base = load_clip("long")
    clip = base.repeated(max(1, math.ceil(minutes * 60 / base.duration)))
    log(f"soak: {clip.duration / 60:.1f} min of audio at {speed}x (~{clip.duration / speed / 60:.1f} min)")
    level = run_level(target, clip, 1, speed=speed, sample_s=1.0)
    result, figures = level.results[0], level.figures[0]

    def audio_minute(t: float) -> float:
        return (t - result.started) * speed / 60

    rss = [(round(audio_minute(t), 2), mb) for t, mb in level.samples if t >= result.started]
    for minute, mb in rss:
        emit({"bench": "soak.rss", "audio_min": minute, "rss_mb": mb})
    per_minute = []
    for minute in range(max(1, math.floor(clip.duration / 60))):  # whole minutes only
        latencies = [
            lat
            for lat, end in zip(figures.times.word_latencies, figures.times.word_ends, strict=True)
            if minute <= end / 60 < minute + 1
        ]
        per_minute.append(emit({"bench": "soak.minute", "audio_min": minute + 1, **stats(latencies, "word_latency")}))

    def growth(window: float) -> tuple[float | None, float | None]:
        """Median RSS over `window` audio minutes after warm-up, and over the last `window`."""
        first = [mb for minute, mb in rss if warm_up_min <= minute < warm_up_min + window]
        last = [mb for minute, mb in rss if minute >= rss[-1][0] - window] if rss else []
        return _median(first), _median(last)

    warm_start, end = growth(window_min)
    one_minute = growth(1.0)
    after = [(minute, mb) for minute, mb in rss if minute >= warm_up_min]
    slope = float(np.polyfit([m for m, _ in after], [mb for _, mb in after], 1)[0]) * 60 if len(after) > 2 else None
    summary = level_record("soak", target, clip, 1, level, speed)
    return emit(
        {
            **summary,
            "bench": "soak.summary",
            "audio_min": round(clip.duration / 60, 1),
            "warm_up_min": warm_up_min,
            "window_min": window_min,
            "rss_at_warm_up_mb": warm_start,
            "rss_end_mb": end,
            "rss_growth_after_warm_up_mb": _difference(warm_start, end),
            "rss_growth_one_minute_mb": _difference(*one_minute),
            "rss_trend_mb_per_audio_hour": None if slope is None else round(slope, 1),
            "rss_max_mb": max((mb for _, mb in rss), default=None),
            "first_minute_p50": per_minute[0]["word_latency_p50"],
            "first_minute_p95": per_minute[0]["word_latency_p95"],
            "last_minute_p50": per_minute[-1]["word_latency_p50"],
            "last_minute_p95": per_minute[-1]["word_latency_p95"],
        }
    )


def _median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 1) if values else None


def _difference(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 1)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_target_args(parser)
    parser.add_argument("--minutes", type=float, default=60.0, help="minutes of audio")
    parser.add_argument("--speed", type=float, default=4.0)
    parser.add_argument("--warm-up", type=float, default=None, help="audio minutes of warm-up (default 5, or 1/4)")
    parser.add_argument("--window", type=float, default=None, help="audio minutes per RSS median (default 5, or 1/8)")
    args = parser.parse_args(argv)
    emit = Emitter(args.out)
    emit({"bench": "machine", **machine_info()})
    warm_up_min = args.warm_up if args.warm_up is not None else min(5.0, args.minutes / 4)
    window_min = args.window if args.window is not None else min(5.0, args.minutes / 8)
    with open_target(args) as target:
        return soak(target, args.minutes, args.speed, warm_up_min, window_min, emit)


if __name__ == "__main__":
    main()
