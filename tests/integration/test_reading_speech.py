"""Reading practice on real speech: the shared recordings, heard by the real models, read as
readings of their own transcripts (streaming/core/reading.py; docs/decisions/0039)."""

import itertools
from functools import cache

import numpy as np
import pytest

from bench.common import offline_words
from streaming.core.audio import SAMPLE_RATE
from streaming.core.reading import Reading, ReadingAligner, Reference, Status
from streaming.core.stabilizer import Word
from streaming.engines.asr.engine import BUNDLED_MODEL, BUNDLED_MULTILINGUAL_MODEL, AsrConfig, get_engine
from tests.speech import EN_CLIPS, ZH_CLIPS, shared_audio

OSR = "en/en_joinly_OSR_us_000_0034_8k.wav"
CUT_SENTENCE = 4  # "Small children came to see him."
# The base model hears 滨海 as 冰台 in this clip (../shared/data/README.md): 2 of its 11 characters.
ZH_HEARD_WELL = [name for name in ZH_CLIPS if name != "zh_funasr_llamacpp_sample.wav"]


def heard(audio: np.ndarray, language: str) -> list[Word]:
    """The words the service's engine hears, with their times (the service's configuration: 15 s
    of encoder context, beam 5), Chinese in Simplified characters."""
    model = BUNDLED_MODEL if language == "en" else BUNDLED_MULTILINGUAL_MODEL
    segments = get_engine(AsrConfig(model=model)).transcribe(audio, language=language, prompt=None)
    return [Word(w["start"], w["end"], w["word"], w["probability"]) for s in segments for w in s["words"]]


@cache
def heard_clip(name: str, language: str = "en") -> list[Word]:
    return heard(shared_audio(name), language)


def read_aloud(text: str, words: list[Word], language: str = "en") -> Reading:
    """As the page will see it: a word committed per update, the next two tentative."""
    aligner = ReadingAligner(Reference(text, language))
    for k, word in enumerate(words):
        progress = aligner.update([word], words[k + 1 : k + 3])
        assert all(w.status == Status.PENDING for w in progress.words[progress.position :])
    return aligner.finish()


def reference_time(name: str, language: str = "en") -> float:
    """The reference reading's time: from the first to the last word of a whole-file decode
    (Whisper's 30 s windows, offline_words), not the service's 15 s."""
    words, _ = offline_words(shared_audio(name), language=language)
    return words[-1].end - words[0].start


@pytest.mark.parametrize("name", list(EN_CLIPS))
def test_a_full_reading_scores_its_own_text(name):
    reading = read_aloud(EN_CLIPS[name], heard_clip(name))
    wrong = [(w.text, w.status, w.heard) for w in reading.words if w.status != Status.CORRECT]
    assert reading.accuracy >= 0.95, wrong
    reference_wcpm = len(reading.words) * 60 / reference_time(name)  # every word of the text correct
    assert reading.wcpm == pytest.approx(reference_wcpm, rel=0.05)


def osr_with_a_sentence_cut_out() -> tuple[np.ndarray, int, int]:
    """The OSR clip without sentence CUT_SENTENCE (cut in the middle of the pauses around it, found
    by a whole-file decode), and the indices of that sentence's first and last words in the text."""
    audio = shared_audio(OSR)
    words, _ = offline_words(audio)
    sentences = [s.split() for s in EN_CLIPS[OSR].split(". ")]
    first = sum(len(s) for s in sentences[:CUT_SENTENCE])
    last = first + len(sentences[CUT_SENTENCE]) - 1
    cut_from = round((words[first - 1].end + words[first].start) / 2 * SAMPLE_RATE)
    cut_to = round((words[last].end + words[last + 1].start) / 2 * SAMPLE_RATE)
    return np.concatenate([audio[:cut_from], audio[cut_to:]]), first, last


def test_a_sentence_cut_out_of_the_audio_is_exactly_that_sentence_skipped():
    text = EN_CLIPS[OSR]
    audio, first, last = osr_with_a_sentence_cut_out()
    reading = read_aloud(text, heard(audio, "en"))
    skipped = [i for i, w in enumerate(reading.words) if w.status == Status.SKIPPED]
    assert skipped == list(range(first, last + 1))
    assert [w.text for w in reading.words[first : last + 1]] == ["Small", "children", "came", "to", "see", "him."]
    assert sum(w.status == Status.CORRECT for w in reading.words) >= len(reading.words) - len(skipped) - 2


@pytest.mark.parametrize(("text", "audio"), list(itertools.permutations(["jfk.flac", OSR], 2)))
def test_the_audio_of_another_text_scores_low(text, audio):
    reading = read_aloud(EN_CLIPS[text], heard_clip(audio))
    assert reading.accuracy < 0.3


@pytest.mark.parametrize("name", ZH_HEARD_WELL)
def test_a_mandarin_reading_scores_character_by_character(name):
    reading = read_aloud(ZH_CLIPS[name], heard_clip(f"zh/{name}", "zh"), "zh")
    assert len(reading.words) == sum(ch.isalnum() for ch in ZH_CLIPS[name])
    wrong = [(w.text, w.status, w.heard) for w in reading.words if w.status != Status.CORRECT]
    assert reading.accuracy >= 0.9, wrong
    # Characters correct per minute: one slip of the model is 3-7 % of these short clips, so the
    # reading time is what is compared with the reference reading's.
    assert reading.reading_time == pytest.approx(reference_time(f"zh/{name}", "zh"), rel=0.05)
    assert reading.wcpm == pytest.approx(reading.correct * 60 / reading.reading_time)
