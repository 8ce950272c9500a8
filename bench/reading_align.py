"""The reading-practice aligner's cost per transcript update (streaming/core/reading.py).

A text of about 900 words (the ten OSR sentences twelve times) read word by word, each update one
committed word and two tentative ones, as the practice page will see them: the anchored aligner's
time per update, a whole-transcript alignment's at three points of the reading for comparison, and
a reading of another text (nothing matches; the tail is settled as it stands). No model: the words
are given, so the figures are the aligner's alone (docs/decisions/0039).

    .venv/bin/python bench/reading_align.py
"""

import argparse
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Emitter, machine_info, stats  # noqa: E402
from streaming.core.reading import ReadingAligner, Reference, align, spoken_tokens  # noqa: E402
from streaming.core.stabilizer import Word  # noqa: E402
from tests.speech import EN_CLIPS, JFK_TEXT  # noqa: E402

TEXT = " ".join([EN_CLIPS["en/en_joinly_OSR_us_000_0034_8k.wav"]] * 12)


def said(text: str) -> list[Word]:
    """One word every 0.4 s, each 0.3 s long."""
    return [Word(i * 0.4, i * 0.4 + 0.3, f" {w}") for i, w in enumerate(text.replace(".", "").replace(",", "").split())]


def update_times(text: str, spoken: list[Word]) -> list[float]:
    aligner = ReadingAligner(Reference(text, "en"))
    times = []
    for k in range(len(spoken)):
        started = time.perf_counter()
        aligner.update(spoken[k : k + 1], spoken[k + 1 : k + 3])
        times.append(time.perf_counter() - started)
    return times


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="also append the JSON lines to this file")
    args = parser.parse_args(argv)
    emit = Emitter(args.out)
    emit({"bench": "machine", **machine_info()})
    spoken = said(TEXT.lower())
    ms = [t * 1000 for t in update_times(TEXT, spoken)]
    other = [t * 1000 for t in update_times(TEXT, said(f"{JFK_TEXT} " * 20))]
    ref = Reference(TEXT, "en").tokens
    whole = {}
    for n in (50, 150, 450):
        started = time.perf_counter()
        align(ref[: n + 20], spoken_tokens(spoken[:n], "en"), to_end=False)
        whole[f"whole_transcript_ms_at_{n}"] = round((time.perf_counter() - started) * 1000, 2)
    return emit(
        {
            "bench": "reading_align",
            "text_words": len(ref),
            **stats(ms, "update_ms"),
            **stats(other, "other_text_update_ms"),
            **whole,
        }
    )


if __name__ == "__main__":
    main()
