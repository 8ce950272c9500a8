"""Memory and decode time of the ASR engine under this process's malloc settings.

The hour-long soak drifted in steps (docs/decisions/0020); this isolates the engine from the
server: an `AsrEngine` with four CTranslate2 replicas (two partial and two final slots, as an
embedded worker) decodes windows of 0.4-14 s cut from the JFK recording, from three threads (40 %
of them busy decodes), and RSS is read every 100 decodes; then one thread times 150 decodes back
to back. glibc reads its `MALLOC_*` variables at start-up, so compare settings by running the
script under each:

    MALLOC_ARENA_MAX=2 .venv/bin/python bench/allocator.py
    MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 .venv/bin/python bench/allocator.py
"""

import argparse
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402  (after bench: one OpenBLAS thread)

from bench.common import SAMPLE_RATE, Emitter, load_avg, log, machine_info, rss_mb  # noqa: E402
from tests.speech import jfk_audio  # noqa: E402


def _window(audio: np.ndarray, rng: random.Random) -> np.ndarray:
    seconds = rng.uniform(0.4, 14.0)
    start = rng.uniform(0, len(audio) / SAMPLE_RATE - seconds)
    return audio[int(start * SAMPLE_RATE) : int((start + seconds) * SAMPLE_RATE)]


def memory(engine, audio: np.ndarray, decodes: int, threads: int) -> list[tuple[int, float]]:
    """(decodes done, RSS MB) every 100 decodes while `threads` threads decode."""
    lock, done, marks = threading.Lock(), [0], []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        while True:
            with lock:
                if done[0] >= decodes:
                    return
                done[0] += 1
                count = done[0]
            engine.transcribe(_window(audio, rng), language="en", prompt=None, busy=rng.random() < 0.4)
            if count % 100 == 0:
                marks.append((count, round(rss_mb([os.getpid()]), 1)))

    workers = [threading.Thread(target=work, args=(seed,)) for seed in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sorted(marks)


def decode_time(engine, audio: np.ndarray, decodes: int) -> float:
    """Median seconds per decode, one thread, after 10 warm-up decodes."""
    rng, times = random.Random(1), []
    for index in range(decodes + 10):
        started = time.perf_counter()
        engine.transcribe(_window(audio, rng), language="en", prompt=None, busy=index % 3 == 0)
        times.append(time.perf_counter() - started)
    return statistics.median(times[10:])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decodes", type=int, default=1500)
    parser.add_argument("--timed", type=int, default=150)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    from streaming.engines.asr.engine import AsrConfig, AsrEngine

    emit = Emitter(args.out)
    emit({"bench": "machine", **machine_info()})
    audio = np.concatenate([jfk_audio()] * 3)
    malloc = {name: value for name, value in os.environ.items() if name.startswith("MALLOC_")}
    log(f"allocator: {malloc or 'glibc defaults'}")
    marks = memory(AsrEngine(AsrConfig(num_workers=4)), audio, args.decodes, threads=3)
    median = decode_time(AsrEngine(AsrConfig(num_workers=1)), audio, args.timed)
    rss = [mb for _, mb in marks]
    return emit(
        {
            "bench": "allocator",
            "malloc": malloc,
            "rss_mb": marks,
            "rss_min_mb": min(rss),
            "rss_max_mb": max(rss),
            "rss_last_minus_first_mb": round(rss[-1] - rss[0], 1),
            "decode_median_s": round(median, 4),
            "load": load_avg(),
        }
    )


if __name__ == "__main__":
    main()
