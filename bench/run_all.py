"""`make bench`: a quick pass over every benchmark (about 20 minutes on 2 cores), JSON lines out.

Runs, in order: stream latency (1 client, JFK), transcript quality on the shared English
recordings (1 and 10 students), TTS latency (10 replies per engine), the TTS round trip (ten
sentences per language spoken and transcribed back, zh and en), the cost of one ASR call, a final
decode beside niced partials, accuracy on short utterances at the default encoder context, the
streaming core's accuracy without a server (full and busy decodes), the concurrency sweep (1 2 4 8
10 16 clients, long stream), reading-practice progress latency (1 and 16 students reading the
OSR recording's text), a 4-minute soak at 4x and the production topology (N = 1 and 2 ASR
workers, 4 clients). Everything is also written to bench/results/run_all.jsonl; the last line
checks the figures against the targets (issue 7's, and issue 19's where it set stricter ones).
The full versions are the individual scripts (see docs/benchmarks.md).

    .venv/bin/python bench/run_all.py [--out FILE] [--skip production soak]
"""

import argparse
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (  # noqa: E402
    asr_cost,
    asr_priority,
    concurrency,
    production,
    quality,
    reading_progress,
    short_utterances,
    soak,
    stream_latency,
    stream_sim,
    tts_latency,
    tts_roundtrip,
)
from bench.common import RESULTS_DIR, Emitter, load_avg, log  # noqa: E402

AT_MOST = {
    "word_latency_p50_1_client": 1.0,
    "word_latency_p95_1_client": quality.ONE_STUDENT_WORD_P95_S,
    "final_delay_p95_1_client": 1.0,
    "wer_above_offline_1_client": 0.03,
    "word_latency_p95_10_clients": 2.0,
    "final_delay_p95_10_clients": 1.0,
    "word_latency_p95_16_clients": quality.MANY_STUDENTS_WORD_P95_S,
    "final_delay_p95_16_clients": quality.MANY_STUDENTS_FINAL_P95_S,
    "quality_wer_above_offline_1_client": quality.WER_ABOVE_OFFLINE,
    "quality_wer_above_offline_10_clients": quality.WER_ABOVE_OFFLINE,
    "quality_faults_1_client": 0,  # finals missing + stock phrases shown + doubled n-grams
    "quality_faults_10_clients": 0,
    "piper_first_audio_p50": 0.3,
    "soak_rss_growth_mb": 10.0,
    "reading_progress_p95_16_clients": reading_progress.P95_TARGET_S,
}
AT_LEAST = {"largest_clients_p95_within_2s": 10}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(RESULTS_DIR / "run_all.jsonl"))
    parser.add_argument(
        "--skip", nargs="*", default=[], help="stream quality tts asr concurrency reading soak production"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.unlink(missing_ok=True)
    emit = Emitter(out)
    started = time.monotonic()
    out_args = ["--out", str(out)]
    figures: dict[str, Any] = {}
    if "stream" not in args.skip:
        stream_latency.main(["--clip", "jfk", *out_args])
    if "quality" not in args.skip:
        for clients, label in ((1, "1_client"), (10, "10_clients")):
            record = quality.main(["--clients", str(clients), *out_args])
            figures[f"quality_wer_above_offline_{label}"] = record["targets"]["wer_above_offline"]["value"]
            faults = ("finals_missing", "stock_phrases_shown", "doubled_ngrams")
            figures[f"quality_faults_{label}"] = sum(record["targets"][name]["value"] for name in faults)
    if "tts" not in args.skip:
        piper = tts_latency.main(["--requests", "10", *out_args])[0]
        figures["piper_first_audio_p50"] = piper["first_audio_p50"]
        figures["tts_roundtrip_cer_zh"] = tts_roundtrip.main(["--language", "zh", *out_args])["cer"]
        figures["tts_roundtrip_wer_en"] = tts_roundtrip.main(["--language", "en", *out_args])["wer"]
    if "asr" not in args.skip:
        asr_cost.main(["--repeat", "2", "--contexts", "15", "--beams", "5", *out_args])
        asr_priority.main(out_args)
        short_utterances.main(["--contexts", "15", "--busy", *out_args])
        stream_sim.main(out_args)
        stream_sim.main(["--busy", *out_args])
    if "concurrency" not in args.skip:
        sweep = concurrency.main(["--levels", "1", "2", "4", "8", "10", "16", *out_args])
        one, ten, sixteen = sweep[0], sweep[4], sweep[5]
        figures["word_latency_p50_1_client"] = one["word_latency_p50"]
        figures["word_latency_p95_1_client"] = one["word_latency_p95"]
        figures["final_delay_p95_1_client"] = one["final_delay_p95"]
        figures["wer_above_offline_1_client"] = round(one["wer"] - one["wer_offline"], 4)
        figures["word_latency_p95_10_clients"] = ten["word_latency_p95"]
        figures["final_delay_p95_10_clients"] = ten["final_delay_p95"]
        figures["word_latency_p95_16_clients"] = sixteen["word_latency_p95"]
        figures["final_delay_p95_16_clients"] = sixteen["final_delay_p95"]
        figures["largest_clients_p95_within_2s"] = concurrency.largest_within(sweep, 2.0)
    if "reading" not in args.skip:
        one, sixteen = reading_progress.main(["--levels", "1", "16", *out_args])
        figures["reading_progress_p95_1_client"] = one["progress_latency_p95"]
        figures["reading_progress_p95_16_clients"] = sixteen["progress_latency_p95"]
    if "soak" not in args.skip:
        soaked = soak.main(["--minutes", "4", *out_args])
        figures["soak_rss_growth_mb"] = soaked["rss_growth_after_warm_up_mb"]
    if "production" not in args.skip:
        production.main(["--asr-workers", "1", "2", "--levels", "4", *out_args])
    checks = {
        name: figures[name] is not None and (abs(figures[name]) if name.startswith("soak") else figures[name]) <= limit
        for name, limit in AT_MOST.items()
        if name in figures
    }
    checks.update({name: (figures[name] or 0) >= limit for name, limit in AT_LEAST.items() if name in figures})
    emit(
        {
            "bench": "run_all.summary",
            "minutes": round((time.monotonic() - started) / 60, 1),
            "load_after": load_avg(),
            "figures": figures,
            "targets": {"at_most": AT_MOST, "at_least": AT_LEAST},
            "met": checks,
        }
    )
    log(f"done; JSON lines in {out}")


if __name__ == "__main__":
    main()
