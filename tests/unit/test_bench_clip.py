"""The bench's phased clients: a clip rotated at a sentence pause keeps its words, their times
and its reference in step with its audio."""

import numpy as np
import pytest

from bench.common import SAMPLE_RATE, Clip, RefWord


def clip(reference: str = "One two three four.") -> Clip:
    words = [RefWord("one", 0.5, 1.0), RefWord("two", 1.1, 1.5), RefWord("three", 3.0, 3.5), RefWord("four", 3.6, 4.0)]
    audio = np.arange(5 * SAMPLE_RATE, dtype=np.float32)  # each sample holds its own index
    return Clip("test", audio, reference, words, "one two three four")


def test_a_rotated_clip_starts_at_the_nearest_pause_and_wraps_round():
    rotated = clip().rotated(2.6)  # the pause between "two" and "three" is 1.5-3.0 s: cut at 2.25 s
    cut = int(2.25 * SAMPLE_RATE)
    assert rotated.audio[0] == cut and rotated.audio[-1] == cut - 1 and len(rotated.audio) == 5 * SAMPLE_RATE
    assert [(w.word, w.start, w.end) for w in rotated.words] == [
        ("three", 0.75, 1.25),
        ("four", 1.35, 1.75),
        ("one", 3.25, 3.75),
        ("two", 3.85, 4.25),
    ]
    assert rotated.reference == rotated.offline_text == "three four one two"
    for word in rotated.words:  # each word's time points at the same audio as before
        original = next(w for w in clip().words if w.word == word.word)
        assert rotated.audio[int(word.start * SAMPLE_RATE)] == int(original.start * SAMPLE_RATE)


def test_the_first_client_and_a_clip_without_pauses_are_not_rotated():
    assert clip().rotated(0).reference == "One two three four."
    no_pause = Clip(
        "p", np.zeros(SAMPLE_RATE, np.float32), "a b", [RefWord("a", 0, 0.3), RefWord("b", 0.4, 0.6)], "a b"
    )
    assert no_pause.rotated(0.5) is no_pause


def test_rotating_needs_a_reference_word_for_every_timed_word():
    with pytest.raises(ValueError, match="reference"):
        clip("One two three.").rotated(2.6)


def test_a_misheard_word_is_cut_with_its_reference_word():
    rotated = clip("One two tree four.").rotated(2.6)
    assert rotated.reference == "tree four one two" and rotated.offline_text == "three four one two"


def test_a_chinese_clip_rotates_by_characters():
    words = [
        RefWord(c, 0.5 + 0.3 * i + (1.5 if i >= 2 else 0), 0.7 + 0.3 * i + (1.5 if i >= 2 else 0))
        for i, c in enumerate("你好老师")
    ]
    chinese = Clip("zh", np.zeros(5 * SAMPLE_RATE, np.float32), "你好，老师。", words, "你好老师", "zh")
    rotated = chinese.rotated(2.0)
    assert rotated.reference == rotated.offline_text == "老师你好" and rotated.language == "zh"


def test_a_repeated_clip_times_its_reference_words_in_each_repetition():
    repeated = clip("One two tree four.").repeated(2)
    assert [(w.word, w.start) for w in repeated.reference_words] == [
        ("one", 0.5),
        ("two", 1.1),
        ("tree", 3.0),  # timed by the offline word it replaces
        ("four", 3.6),
        ("one", 5.5),
        ("two", 6.1),
        ("tree", 8.0),
        ("four", 8.6),
    ]
