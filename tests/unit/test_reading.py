"""Reading-practice alignment (streaming/core/reading.py) on hand-built transcripts."""

import pytest

from streaming.core import reading as reading_module
from streaming.core.reading import (
    LONG_PAUSE_S,
    LOOKAHEAD,
    SETTLE_AFTER,
    ReadingAligner,
    Reference,
    Status,
    align,
    forms,
    key,
)
from streaming.core.stabilizer import Word

OSR = (
    "A gold ring will please most any girl. The long journey home took a year. She saw a cat in the "
    "neighbor's house. A pink shell was found on the sandy beach. Small children came to see him."
)


def said(text: str, start: float = 0.0, step: float = 0.4) -> list[Word]:
    """One Whisper word per token, `step` seconds apart, each lasting 0.3 s."""
    return [Word(start + i * step, start + i * step + 0.3, f" {t}") for i, t in enumerate(text.split())]


def statuses(reading) -> str:
    """One letter a word: c(orrect) m(isread) s(kipped) p(ending)."""
    return "".join(str(w.status)[0] for w in reading.words)


def read(text: str, spoken: list[Word], language: str = "en", *, per_update: int = 1, tentative: int = 2):
    """Stream `spoken` into an aligner a few words at a time, the next ones tentative; the final reading."""
    aligner = ReadingAligner(Reference(text, language))
    for k in range(0, len(spoken), per_update):
        aligner.update(spoken[k : k + per_update], spoken[k + per_update : k + per_update + tentative])
    return aligner.finish()


def test_an_exact_reading_is_all_correct_with_accuracy_and_wcpm():
    spoken = said("and so my fellow americans ask not what your country can do for you")
    reading = read("And so my fellow Americans, ask not what your country can do for you.", spoken)
    assert statuses(reading) == "c" * 14
    assert reading.accuracy == 1.0 and reading.inserted == ()
    assert reading.reading_time == pytest.approx(13 * 0.4 + 0.3)
    assert reading.wcpm == pytest.approx(14 * 60 / 5.5)
    first, last = reading.words[0], reading.words[-1]
    assert (first.start, first.end, last.start) == (0.0, 0.3, pytest.approx(5.2))
    assert reading.words[5].text == "ask" and reading.words[4].text == "Americans,"


def test_progress_shows_words_behind_the_reader_and_leaves_the_rest_pending():
    aligner = ReadingAligner(Reference("The cat sat on the warm mat.", "en"))
    spoken = said("the cat sat on")
    progress = aligner.update(spoken[:3])
    assert statuses(progress) == "cccpppp" and progress.position == 3
    assert progress.accuracy == 1.0  # of the words read so far
    progress = aligner.update(spoken[3:], said("the", 1.6))
    assert statuses(progress) == "cccccpp" and progress.position == 5  # the tentative word counts
    assert not progress.finished


def test_words_never_reached_are_skipped_at_the_end():
    reading = read("The cat sat on the warm mat.", said("the cat sat on"))
    assert statuses(reading) == "ccccsss"
    assert reading.accuracy == pytest.approx(4 / 7)


def test_a_skipped_sentence_is_skipped_and_the_reading_goes_on():
    spoken = said(
        "a gold ring will please most any girl the long journey home took a year "
        "a pink shell was found on the sandy beach small children came to see him"
    )
    reading = read(OSR, spoken)
    skipped = [w.text for w in reading.words if w.status == Status.SKIPPED]
    assert skipped == ["She", "saw", "a", "cat", "in", "the", "neighbor's", "house."]
    assert {w.status for w in reading.words if w.status != Status.SKIPPED} == {Status.CORRECT}


def test_a_skipped_word_inside_a_sentence():
    reading = read("The long journey home took a year.", said("the journey home took a year"))
    assert statuses(reading) == "csccccc"


def test_a_misread_word_says_what_was_heard():
    reading = read("She called his name many times.", said("he called his name many times"))
    assert statuses(reading) == "mccccc"
    assert reading.words[0].heard == "he" and reading.words[0].start == 0.0


def test_a_misread_word_at_the_reading_position_waits_for_the_next_word():
    aligner = ReadingAligner(Reference("The blind man counted his old coins.", "en"))
    progress = aligner.update(said("the blind man"), said("counting", 1.2))
    assert statuses(progress) == "cccpppp"  # "counting" may be a word on the way, or a misread
    progress = aligner.update(said("counting his", 1.2))
    assert statuses(progress) == "cccmcpp"
    assert progress.words[3].heard == "counting"


def test_inserted_words_are_reported_between_words_and_cost_nothing():
    reading = read("The grass was wet with dew.", said("the green grass was very wet with dew"))
    assert statuses(reading) == "cccccc" and reading.accuracy == 1.0
    assert [(x.before, x.text, x.repeat) for x in reading.inserted] == [(1, "green", False), (3, "very", False)]


def test_repetitions_and_self_corrections_are_no_errors():
    spoken = said("she saw a cap a cat in the the house she saw a cat in the house")
    reading = read("She saw a cat in the house.", spoken)
    assert statuses(reading) == "ccccccc"
    assert "cap" in [x.text for x in reading.inserted]
    assert all(x.repeat for x in reading.inserted if x.text != "cap")


def test_numbers_and_abbreviations_read_either_way():
    text = "In 1865 Mr. Quilter paid 40 dollars for the 3rd seat-belt."
    reading = read(text, said("in eighteen sixty-five mister quilter paid forty dollars for the third seat belt"))
    assert statuses(reading) == "c" * 11
    reading = read(
        "In eighteen sixty-five Mister Quilter paid forty dollars.", said("in 1865 mr. quilter paid 40 dollars")
    )
    assert statuses(reading) == "c" * 8
    assert reading.words[1].start == pytest.approx(0.4) and reading.words[2].end == pytest.approx(0.7)


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("1865", "onethousandeighthundredandsixtyfive"),
        ("1865", "eighteensixtyfive"),
        ("1905", "nineteenohfive"),
        ("1900", "nineteenhundred"),
        ("2024", "twentytwentyfour"),
        ("2005", "twothousandfive"),
        ("21st", "twentyfirst"),
        ("12th", "twelfth"),
        ("1000000", "onemillion"),
    ],
)
def test_number_forms(written, spoken):
    assert spoken in forms(key(written))


def test_keys_ignore_case_punctuation_and_apostrophes():
    assert key(" Neighbor's,") == key("neighbors") == "neighbors"
    assert key("“Ask") == "ask"


def test_chinese_is_compared_character_by_character():
    text = "床前明月光，疑是地上霜。"
    spoken = [Word(0.0, 1.0, "床前明月"), Word(1.0, 1.4, "光"), Word(2.0, 2.5, "疑是"), Word(2.5, 3.5, "地上霜")]
    reading = read(text, spoken, "zh")
    assert [w.text for w in reading.words] == list("床前明月光疑是地上霜")
    assert statuses(reading) == "c" * 10
    assert reading.words[5].offset == 6  # after the comma: the page marks the text as written
    assert reading.wcpm == pytest.approx(10 * 60 / 3.5)  # characters correct per minute


def test_chinese_misread_skipped_and_traditional_characters():
    reading = read("舉頭望明月，低頭思故鄉。", [Word(0.0, 1.0, "举头望明日"), Word(2.0, 3.0, "低思故乡")], "zh")
    assert statuses(reading) == "ccccmcsccc"
    assert reading.words[4].heard == "日"


def test_a_reading_of_another_text_scores_low():
    spoken = said("and so my fellow americans ask not what your country can do for you")
    reading = read(OSR, spoken)
    assert reading.accuracy < 0.1


def test_long_pauses_between_read_words():
    spoken = said("the cat sat") + said("on the mat", 1.0 + LONG_PAUSE_S + 0.5)
    reading = read("The cat sat on the mat.", spoken)
    [pause] = reading.pauses
    assert pause.before == 3 and pause.start == pytest.approx(1.1) and pause.duration == pytest.approx(2.4)
    assert reading.reading_time == pytest.approx(3.5 + 0.8 + 0.3)


def test_leading_and_trailing_chatter_is_not_reading_time():
    spoken = said("um okay the cat sat on the mat thank you")
    reading = read("The cat sat on the mat.", spoken)
    assert reading.reading_time == pytest.approx(3.1 - 0.8)  # "the" to "mat"
    assert [x.text for x in reading.inserted] == ["um", "okay", "thank", "you"]


@pytest.mark.parametrize("per_update", [1, 2, 3, 7])
def test_incremental_and_final_alignment_agree(per_update):
    spoken = said(
        "a gold ring will please most any most any girl the long journey home took a year "
        "she saw a cap in the neighbor's house a pink shell was found on the sandy beach"
    )
    at_once = ReadingAligner(Reference(OSR, "en"))
    at_once.update(spoken)
    final = at_once.finish()
    assert read(OSR, spoken, per_update=per_update).words == final.words
    assert statuses(final) == "c" * 18 + "m" + "c" * 13 + "s" * 6


def test_statuses_settle_and_never_change_after_settling():
    aligner = ReadingAligner(Reference(OSR, "en"))
    spoken = said(OSR.replace(".", "").lower())
    seen: dict[int, Status] = {}
    for k in range(len(spoken)):
        progress = aligner.update(spoken[k : k + 1], spoken[k + 1 : k + 3])
        for i in range(progress.settled):
            assert seen.setdefault(i, progress.words[i].status) == progress.words[i].status
    assert progress.settled >= len(spoken) - 6
    assert statuses(aligner.finish()) == "c" * len(spoken)


def test_each_update_aligns_a_bounded_tail_however_long_the_reading(monkeypatch):
    """The anchor keeps each alignment to the words after it: reading a long text word by word,
    no update aligns more than a few spoken words against more than the lookahead of text (a
    whole-transcript alignment grows with the square of the reading; docs/decisions/0039)."""
    sizes: list[tuple[int, int]] = []

    def recorded(ref, spoken, *, to_end):
        sizes.append((len(ref), len(spoken)))
        return align(ref, spoken, to_end=to_end)

    monkeypatch.setattr(reading_module, "align", recorded)
    text = " ".join([OSR] * 12)  # about 450 words
    spoken = said(text.replace(".", "").lower())
    aligner = ReadingAligner(Reference(text, "en"))
    for k in range(len(spoken)):
        aligner.update(spoken[k : k + 1], spoken[k + 1 : k + 3])
    assert statuses(aligner.finish()) == "c" * len(spoken)
    updates = sizes[:-1]  # the last one is finish(): the rest of the text
    assert max(n for _, n in updates) <= SETTLE_AFTER + 2 + 1
    assert max(m for m, _ in updates) <= SETTLE_AFTER + 3 + LOOKAHEAD


def test_the_result_maps_onto_a_message():
    aligner = ReadingAligner(Reference("She called his name.", "en"))
    aligner.update(said("he called his name"))
    data = aligner.finish().as_dict()
    assert data["finished"] and data["position"] == 4
    assert data["words"][0] == {
        "text": "She",
        "offset": 0,
        "status": "misread",
        "start": 0.0,
        "end": 0.3,
        "heard": "he",
    }
    assert data["figures"] == {
        "accuracy": 0.75,
        "correct": 3,
        "total": 4,
        "wcpm": round(3 * 60 / 1.5, 1),
        "readingTime": 1.5,
        "longPauses": [],
    }


def test_a_text_without_words_or_in_another_language_is_refused():
    with pytest.raises(ValueError, match="no word"):
        Reference(" … — ", "en")
    with pytest.raises(ValueError, match="not 'fr'"):
        Reference("Bonjour", "fr")


def test_a_misread_before_the_reader_stopped_stays_where_it_was_said():
    """Misreading the last word read, then stopping: the misread is that word, not the text's last."""
    reading = read("举头望明月，低头思故乡。", [Word(0.0, 2.0, "举头望明日")], "zh")
    assert statuses(reading) == "ccccmsssss"


def test_words_heard_are_shown_without_whispers_spaces_and_punctuation():
    reading = read("A gold ring.", [Word(0.0, 0.3, " A"), Word(0.4, 0.7, " golden,"), Word(0.8, 1.0, " ring.")])
    assert reading.words[1].heard == "golden"
    reading = read("压岁钱", [Word(0.0, 1.0, "压碎，钱")], "zh")
    assert reading.words[1].heard == "碎"


def test_digits_of_other_scripts_are_compared_as_written():
    """Kharosthi digit one is a digit to `str.isdigit` but not to `int`: no crash on odd input."""
    assert forms(key("\U00010a40")) == frozenset({"\U00010a40"})
    assert "two" in forms(key("²"))  # NFKC makes it an ASCII 2
