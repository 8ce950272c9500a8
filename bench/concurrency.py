"""Concurrency sweep: N clients stream real speech at real-time pace to one server.

For each N (default 1 2 4 8 10 16) every client streams the long multi-utterance stream (JFK
twice + Piper sentences with pauses, ~68 s; see make_long_stream.py) and the level reports word
latency p50/p95, final delay p95, WER, server CPU per audio second and RSS per session; the last
record names the largest N whose word latency p95 is at most --p95-target (2.0 s).

`--profile N` samples the server with py-spy (pip install py-spy into the venv) during level N
and prints the functions where its threads spend their time (a collapsed-stack file is kept in
bench/results/).

    .venv/bin/python bench/concurrency.py                         # embedded, NUM_WORKERS=2
    .venv/bin/python bench/concurrency.py --levels 1 4 --workers 1 --profile 4
"""

import argparse
import re
import shutil
import subprocess
import sys
from collections import Counter
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    CLK_TCK,
    RESULTS_DIR,
    Emitter,
    Target,
    add_target_args,
    load_clip,
    log,
    machine_info,
    open_target,
)
from bench.stream_latency import measure  # noqa: E402

LEVELS = (1, 2, 4, 8, 10, 16)


def largest_within(records: list[dict[str, Any]], p95_target: float) -> int | None:
    """The largest client count whose word latency p95 met the target (None if none did)."""
    ok = [r["clients"] for r in records if r["word_latency_p95"] is not None and r["word_latency_p95"] <= p95_target]
    return max(ok, default=None)


@contextmanager
def py_spy(pids: list[int], label: str, seconds: int, emit: Emitter):
    """Sample `pids` with py-spy for `seconds` while the body runs; emit the top frames."""
    binary = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if binary is None or not pids:
        log("py-spy not installed (pip install py-spy into .venv): no profile")
        yield
        return
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    outputs = []
    processes = []
    for pid in pids:
        out = RESULTS_DIR / f"profile-{label}-{pid}.txt"
        outputs.append((pid, out))
        processes.append(
            subprocess.Popen(
                [binary, "record", "-p", str(pid), "-d", str(seconds), "-r", "50", "-f", "raw", "-o", str(out),
                 "--threads", "--nonblocking"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
    before = {pid: thread_cpu(pid) for pid in pids}
    try:
        yield
    finally:
        after = {pid: thread_cpu(pid) for pid in pids}
        for process in processes:
            try:
                process.wait(seconds + 30)
            except subprocess.TimeoutExpired:
                process.terminate()
                process.wait(10)
        for pid, out in outputs:
            if out.exists():
                summary = summarise(out)
                names = thread_names(out)
                emit(
                    {
                        "bench": "profile",
                        "label": label,
                        "pid": pid,
                        "file": str(out),
                        "thread_cpu_s": cpu_by_thread(before[pid], after[pid], names),
                        **summary,
                    }
                )


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds of every thread of `pid` by native thread id, with its kernel name."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            text = (task / "stat").read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        threads[int(task.name)] = (comm, (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return threads


def thread_names(path: Path) -> dict[int, str]:
    """Native thread id -> Python thread name, from a py-spy raw file."""
    names = {}
    for match in re.finditer(r"^thread \((\d+)\): ([^;]+);", path.read_text(), re.MULTILINE):
        names[int(match.group(1))] = match.group(2).rstrip("0123456789_-")
    return names


def cpu_by_thread(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], names: dict[int, str]
) -> dict[str, float]:
    """CPU seconds used in the window per thread kind: Python threads by name, the others (the
    C++ threads of CTranslate2 and ONNX Runtime, which py-spy cannot see) by kernel name."""
    used: Counter[str] = Counter()
    for tid, (comm, seconds) in after.items():
        name = names.get(tid, f"native:{comm}:{tid}")
        used[name] += seconds - before.get(tid, (comm, 0.0))[1]
    return {name: round(value, 2) for name, value in used.most_common() if value >= 0.01}


def summarise(path: Path, top: int = 15) -> dict[str, Any]:
    """Share of the busy samples (py-spy without --idle) per thread name and per innermost frame in
    the service or a library of interest."""
    threads: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        threads[frames[0].split(": ", 1)[-1].rstrip("0123456789_")] += count
        leaves[_interesting(frames[1:])] += count
    share = {k: round(v / total, 3) for k, v in threads.most_common(8)}
    return {
        "samples": total,
        "threads": share,
        "top": [[frame, round(count / total, 3)] for frame, count in leaves.most_common(top)],
    }


MARKERS = ("streaming/", "faster_whisper/", "ctranslate2", "onnxruntime", "channels/", "daphne/", "asyncio/", "django/")


def _interesting(frames: list[str]) -> str:
    """The innermost frame in the service or a library that explains the cost."""
    for frame in reversed(frames):
        if any(marker in frame for marker in MARKERS):
            return frame.replace(str(Path(sys.prefix)), "").strip()
    return frames[-1].strip() if frames else "?"


def sweep(
    target: Target,
    clip_name: str,
    levels: list[int],
    emit: Emitter,
    *,
    p95_target: float,
    profile: int | None = None,
    phased: bool = False,
    mix_name: str | None = None,
) -> list[dict[str, Any]]:
    clip = load_clip(clip_name)
    mix = load_clip(mix_name) if mix_name else None
    records = []
    for clients in levels:
        sampling = (
            py_spy(target.all_pids, f"{target.mode}-{clients}", int(clip.duration), emit)
            if clients == profile
            else nullcontext()
        )
        with sampling:
            records.append(measure(target, clip, clients, emit, bench="concurrency", phased=phased, mix=mix))
    emit(
        {
            "bench": "concurrency.summary",
            **target.describe(),
            "clip": clip.name,
            "mix": mix_name,
            "phased": phased,
            "p95_target": p95_target,
            "largest_clients_within_target": largest_within(records, p95_target),
            "levels": [
                [r["clients"], r["word_latency_p50"], r["word_latency_p95"], r["cpu_per_audio_s"]] for r in records
            ],
        }
    )
    return records


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_target_args(parser)
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--clip", default="long", help="jfk | long (default) | zh (Mandarin)")
    parser.add_argument("--mix", help="every other client streams this clip instead (e.g. --clip long --mix zh)")
    parser.add_argument("--p95-target", type=float, default=2.0)
    parser.add_argument("--profile", type=int, help="sample the server with py-spy during this level")
    args = parser.parse_args(argv)
    emit = Emitter(args.out)
    emit({"bench": "machine", **machine_info()})
    with open_target(args) as target:
        return sweep(
            target,
            args.clip,
            args.levels,
            emit,
            p95_target=args.p95_target,
            profile=args.profile,
            phased=args.phased,
            mix_name=args.mix,
        )


if __name__ == "__main__":
    main()
