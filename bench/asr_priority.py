"""How long a final decode takes while partial decodes fill every core, by the partials' niceness.

An ASR worker decodes finals on one model and partials on another whose CTranslate2 threads run
at `ASR_PARTIAL_NICE` (streaming/engines/asr/engine.py). Here, in one process as in a worker: a final
replica alone, then beside `--partial-threads` threads decoding back to back on a partial model
built at each `--nices` value; a 6 s JFK window, busy decodes (greedy, 10 s) as under load.

    .venv/bin/python bench/asr_priority.py                  # niceness 0, 5 and 10, 2 partial threads
    .venv/bin/python bench/asr_priority.py --nices 0 5 10 19
"""

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SAMPLE_RATE, Emitter, load_avg, log, machine_info  # noqa: E402
from tests.speech import jfk_audio  # noqa: E402


def timed(engine, audio, count: int, pause_s: float = 0.0) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        engine.transcribe(audio, language="en", prompt=None, busy=True)
        times.append(time.perf_counter() - started)
        time.sleep(pause_s)
    return times


def beside_partials(final, partial, audio, threads: int, finals: int) -> tuple[list[float], float]:
    """Final decode times while `threads` threads decode partials; and the partials per second."""
    stop, done = threading.Event(), [0] * threads

    def work(index: int) -> None:
        while not stop.is_set():
            partial.transcribe(audio, language="en", prompt=None, busy=True)
            done[index] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    time.sleep(1.0)
    started, before = time.perf_counter(), sum(done)
    times = timed(final, audio, finals, pause_s=0.3)  # finals come now and then, not back to back
    rate = (sum(done) - before) / (time.perf_counter() - started)
    stop.set()
    for worker in workers:
        worker.join()
    return times, rate


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nices", type=int, nargs="+", default=[0, 5, 10])
    parser.add_argument("--partial-threads", type=int, default=2, help="partial decodes at once (slots)")
    parser.add_argument("--finals", type=int, default=10, help="final decodes timed per niceness")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    from streaming.engines.asr.engine import AsrConfig, AsrEngine

    emit = Emitter(args.out)
    emit({"bench": "machine", **machine_info()})
    audio = jfk_audio()[: 6 * SAMPLE_RATE]
    final = AsrEngine(AsrConfig(num_workers=1))
    timed(final, audio, 2)  # warm-up
    alone = statistics.median(timed(final, audio, args.finals))
    records = []
    for nice in args.nices:
        partial = AsrEngine(AsrConfig(num_workers=args.partial_threads, nice=nice))
        timed(partial, audio, 1)
        times, rate = beside_partials(final, partial, audio, args.partial_threads, args.finals)
        median = statistics.median(times)
        log(f"asr_priority: niceness {nice}: a final {median:.3f} s beside partials, {alone:.3f} s alone")
        records.append(
            emit(
                {
                    "bench": "asr_priority",
                    "partial_nice": nice,
                    "partial_threads": args.partial_threads,
                    "final_alone_s": round(alone, 4),
                    "final_beside_partials_s": round(median, 4),
                    "final_beside_partials_max_s": round(max(times), 4),
                    "slowdown": round(median / alone, 2),
                    "partials_per_s": round(rate, 2),
                    "load": load_avg(),
                }
            )
        )
    return records


if __name__ == "__main__":
    main()
