"""Real speech for tests and benchmarks: the shared JFK recording and WER scoring."""

import re
from functools import cache
from pathlib import Path

import jiwer
import numpy as np

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
JFK_PATH = SHARED_DATA / "jfk.flac"
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(normalise(reference), normalise(hypothesis) or "<empty>")


@cache
def jfk_audio() -> np.ndarray:
    from streaming.audio import load_audio_file

    assert JFK_PATH.exists(), f"shared test data missing: {JFK_PATH}"
    return load_audio_file(str(JFK_PATH))


@cache
def offline_transcript(key: str = "jfk") -> str:
    """Whole-file transcription with the same bundled model: the WER baseline."""
    from streaming.asr_engine import AsrConfig, get_engine

    segments = get_engine(AsrConfig()).transcribe(jfk_audio(), language="en", prompt=None)
    return " ".join(s["text"].strip() for s in segments)


def frames(pcm: bytes, frame_bytes: int = 3200):
    """100 ms frames of 16 kHz PCM16, as a browser sends them."""
    for i in range(0, len(pcm), frame_bytes):
        yield pcm[i : i + frame_bytes]


def silence(seconds: float, rate: int = 16000) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.float32)
