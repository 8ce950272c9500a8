"""Build the ~70 s multi-utterance English stream the benchmarks use (real speech + Piper).

The JFK recording (twice) and a teacher's sentences synthesized with the service's own Piper
voice (`streaming.engines.tts.engine`), resampled to 16 kHz (`streaming.core.audio.Resampler`), separated by
pauses of 0.7-2 s so that the silence detector ends utterances as in a real lesson. The
reference text is what was read; word times come from an offline decode of each piece with the
service's model. Cached in bench/results/ (the synthesized voice is not bit-for-bit stable
across versions, so the cache keeps every run on the same audio).

    .venv/bin/python bench/make_long_stream.py          # builds (or shows) the cached stream
"""

import json
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS_DIR, SAMPLE_RATE, Clip, RefWord, offline_words  # noqa: E402
from tests.speech import JFK_TEXT, jfk_audio, piper_speech, silence  # noqa: E402

SENTENCES = (
    "Good morning everyone, and welcome back to our science lesson.",
    "Today we are going to learn how green plants make their own food.",
    "Plants use sunlight, water and air to make sugar and oxygen.",
    "This process is called photosynthesis.",
    "Can you tell me which part of the plant catches the sunlight?",
    "That is right, the leaves do most of the work.",
    "Now please open your notebooks and write down three new words.",
    "Remember to ask a question whenever something is not clear.",
    "Let us read the next page together, slowly and carefully.",
    "Well done, you are all working very hard today.",
)
JFK = "<jfk>"
# (piece, pause after it in seconds)
PLAN = (
    (JFK, 1.2),
    (SENTENCES[0], 1.0),
    (SENTENCES[1], 0.8),
    (SENTENCES[2], 1.5),
    (SENTENCES[3], 0.9),
    (SENTENCES[4], 2.0),
    (SENTENCES[5], 1.0),
    (JFK, 1.2),
    (SENTENCES[6], 0.8),
    (SENTENCES[7], 1.4),
    (SENTENCES[8], 0.9),
    (SENTENCES[9], 1.5),
)
LEAD_S = 0.5
CACHE_AUDIO = RESULTS_DIR / "long_stream.npy"
CACHE_META = RESULTS_DIR / "long_stream.json"


def build() -> Clip:
    """Synthesize and assemble the stream; reference words per piece from offline decodes."""
    pieces: list[np.ndarray] = [silence(LEAD_S)]
    reference: list[str] = []
    words: list[RefWord] = []
    offline: list[str] = []
    position = LEAD_S
    for text, pause in PLAN:
        audio = jfk_audio() if text == JFK else piper_speech(text)
        piece_words, piece_text = offline_words(audio, position)
        words += piece_words
        offline.append(piece_text)
        reference.append(JFK_TEXT if text == JFK else text)
        pieces += [audio, silence(pause)]
        position += (len(audio) + len(silence(pause))) / SAMPLE_RATE
    return Clip("long", np.concatenate(pieces).astype(np.float32), " ".join(reference), words, " ".join(offline))


def long_clip(rebuild: bool = False) -> Clip:
    """The cached stream (built on first use)."""
    if rebuild or not (CACHE_AUDIO.exists() and CACHE_META.exists()):
        clip = build()
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        np.save(CACHE_AUDIO, clip.audio)
        CACHE_META.write_text(
            json.dumps(
                {
                    "reference": clip.reference,
                    "offline_text": clip.offline_text,
                    "words": [[w.word, w.start, w.end] for w in clip.words],
                },
                indent=1,
            )
        )
    meta = json.loads(CACHE_META.read_text())
    words = [RefWord(w, s, e) for w, s, e in meta["words"]]
    return Clip("long", np.load(CACHE_AUDIO), meta["reference"], words, meta["offline_text"])


def main(argv: list[str] | None = None) -> None:
    clip = long_clip(rebuild="--rebuild" in (argv if argv is not None else sys.argv[1:]))
    from tests.speech import wer

    print(
        json.dumps(
            {
                "bench": "long_stream",
                "duration_s": round(clip.duration, 2),
                "reference_words": len(clip.reference.split()),
                "offline_words": len(clip.words),
                "wer_offline": round(wer(clip.reference, clip.offline_text), 4),
                "reference": clip.reference,
                "offline_text": clip.offline_text,
            }
        )
    )


if __name__ == "__main__":
    main()
