"""Plots for docs/benchmarks.md from the JSON lines the benchmarks wrote.

    .venv/bin/python bench/plot.py bench/results/concurrency.jsonl bench/results/production.jsonl \
        bench/results/soak.jsonl                      # -> docs/img/*.png

For each (bench, mode, ASR workers, clients) the last record in the files wins. Drawn for comparison:
the WhisperLive figures quoted in issue 7 (faster-whisper tiny.en int8, same 2 cores) and this
service before the encoder and worker changes (6ef45cf, docs/decisions/0003).
"""

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
IMG = ROOT / "docs" / "img"
# clients -> (p50, p95, core-seconds per audio second); 1 client: the issue gives ranges.
PEER = {1: (0.57, 2.15, 1.0), 2: (1.19, 2.56, 0.57), 4: (2.83, 6.09, 0.31)}
PEER_RANGES = {1: ((0.50, 0.64), (1.0, 3.3))}
# clients -> (word p50, word p95, core-seconds per audio second): embedded at 6ef45cf.
BEFORE = {
    1: (0.65, 1.00, 0.71),
    2: (1.49, 2.28, 0.47),
    4: (4.32, 6.29, 0.26),
    8: (21.6, 37.4, 0.20),
    10: (37.3, 65.8, 0.18),
    16: (43.1, 59.3, 0.07),
}


def load(paths: list[str]) -> list[dict[str, Any]]:
    records = []
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if line.startswith("{"):
                records.append(json.loads(line))
    return records


def series(records: list[dict[str, Any]], bench: str) -> dict[str, list[dict[str, Any]]]:
    """Level records of `bench` grouped by a label (mode and ASR workers), one per client count."""
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for record in records:
        if record.get("bench") == bench:
            label = f"{record['mode']}, NUM_WORKERS={record['asr_workers']}"
            if record["mode"] == "production":
                label = f"production: 2 daphne + {record['asr_workers']} runworker asr"
            latest[(label, record["clients"])] = record
    grouped: dict[str, list[dict[str, Any]]] = {}
    for (label, _), record in sorted(latest.items(), key=lambda item: (item[0][0], item[0][1])):
        grouped.setdefault(label, []).append(record)
    return grouped


def plot_latency(groups: dict[str, list[dict[str, Any]]], path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, rows in groups.items():
        clients = [r["clients"] for r in rows]
        (line,) = left.plot(clients, [r["word_latency_p50"] for r in rows], "o-", label=f"{label} p50")
        left.plot(clients, [r["word_latency_p95"] for r in rows], "s--", color=line.get_color(), label=f"{label} p95")
        right.plot(clients, [r["final_delay_p50"] for r in rows], "o-", color=line.get_color(), label=f"{label} p50")
        right.plot(clients, [r["final_delay_p95"] for r in rows], "s--", color=line.get_color(), label=f"{label} p95")
    peer = sorted(PEER)
    left.plot(peer, [PEER[c][0] for c in peer], "k^:", label="WhisperLive p50 (issue)")
    left.plot(peer, [PEER[c][1] for c in peer], "kv:", label="WhisperLive p95 (issue; 1 client: 1.0-3.3)")
    before = sorted(BEFORE)
    left.plot(before, [BEFORE[c][0] for c in before], "x-", color="0.6", label="before (6ef45cf) p50")
    left.plot(before, [BEFORE[c][1] for c in before], "x--", color="0.6", label="before (6ef45cf) p95")
    left.axhline(2.0, color="grey", lw=0.8)
    left.axhline(1.0, color="grey", lw=0.8, ls=":")
    right.axhline(1.0, color="grey", lw=0.8)
    for axis, title in ((left, "word emission latency"), (right, "final delay (end of speech -> final)")):
        axis.set_xlabel("concurrent clients (real-time pace)")
        axis.set_ylabel("seconds")
        axis.set_title(title)
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=6.5)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_cpu(groups: dict[str, list[dict[str, Any]]], path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, rows in groups.items():
        clients = [r["clients"] for r in rows]
        left.plot(clients, [r["cpu_per_audio_s"] for r in rows], "o-", label=label)
        right.plot(clients, [r["server_cores_busy"] for r in rows], "o-", label=label)
    peer = sorted(PEER)
    left.plot(peer, [PEER[c][2] for c in peer], "k^:", label="WhisperLive (issue)")
    before = sorted(BEFORE)
    left.plot(before, [BEFORE[c][2] for c in before], "x-", color="0.6", label="before (6ef45cf)")
    right.axhline(2.0, color="grey", lw=0.8)
    for axis, title, unit in (
        (left, "server CPU per audio second", "core-seconds / audio second"),
        (right, "server CPU in use", "cores (machine has 2)"),
    ):
        axis.set_xlabel("concurrent clients (real-time pace)")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.set_xscale("log", base=2)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_soak(records: list[dict[str, Any]], path: Path) -> None:
    rss = [r for r in records if r.get("bench") == "soak.rss"]
    minutes = [r for r in records if r.get("bench") == "soak.minute"]
    if not rss:
        return
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.plot([r["audio_min"] for r in rss], [r["rss_mb"] for r in rss], lw=0.6, alpha=0.6, label="samples")
    by_minute: dict[int, list[float]] = {}
    for r in rss:
        by_minute.setdefault(int(r["audio_min"]), []).append(r["rss_mb"])
    top.plot(
        [m + 0.5 for m in by_minute],
        [statistics.median(v) for v in by_minute.values()],
        "k-",
        lw=1.5,
        label="median per audio minute",
    )
    top.legend(fontsize=8)
    top.set_ylabel("server RSS (MB)")
    top.set_title("one session, long stream repeated, fed at 4x real time")
    top.grid(alpha=0.3)
    centres = [r["audio_min"] - 0.5 for r in minutes]
    bottom.plot(centres, [r["word_latency_p50"] for r in minutes], "o-", ms=3, label="p50")
    bottom.plot(centres, [r["word_latency_p95"] for r in minutes], "s--", ms=3, label="p95")
    bottom.set_ylabel("word latency (s, wall)")
    bottom.set_xlabel("audio minute")
    bottom.grid(alpha=0.3)
    bottom.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--img", default=str(IMG))
    args = parser.parse_args(argv)
    records = load(args.files)
    img = Path(args.img)
    img.mkdir(parents=True, exist_ok=True)
    groups = series(records, "concurrency")
    groups.update(series(records, "production"))
    if groups:
        plot_latency(groups, img / "latency_vs_clients.png")
        plot_cpu(groups, img / "cpu_vs_clients.png")
    plot_soak(records, img / "soak_memory.png")
    print(json.dumps({"bench": "plot", "written": sorted(p.name for p in img.glob("*.png"))}), file=sys.stdout)


if __name__ == "__main__":
    main()
