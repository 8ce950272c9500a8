"""Which words go to which attempt of a practice session (streaming/core/practice.py)."""

from streaming.core import protocol
from streaming.core.practice import PracticeReadings, Progress, Result
from streaming.core.reading import Reference, Status
from streaming.core.stabilizer import Word
from streaming.core.transcriber import TranscriptUpdate

TEXT = "The cat sat on the mat."


def said(*texts: str, start: float = 0.0) -> tuple[Word, ...]:
    """Words 0.4 s apart from `start`."""
    return tuple(Word(start + 0.4 * k, start + 0.4 * k + 0.3, f" {t}") for k, t in enumerate(texts))


def update(turn: int, committed: tuple[Word, ...], tentative: tuple[Word, ...] = (), final: bool = False):
    return TranscriptUpdate(
        turn,
        "".join(w.text for w in committed).strip(),
        "".join(w.text for w in tentative).strip(),
        final,
        0.0,
        0.0,
        0.0,
        words=committed,
        tentative_words=tentative,
    )


def readings(attempts_before: int = 0) -> PracticeReadings:
    return PracticeReadings(Reference(TEXT, "en"), attempts_before=attempts_before)


def test_nothing_said_starts_no_attempt_and_done_has_nothing_to_finish():
    practice = readings()
    assert practice.on_update(update(1, (), (), final=True)) is None
    assert practice.finish() is None


def test_progress_follows_committed_and_tentative_words_and_only_when_it_changes():
    practice = readings(attempts_before=2)
    words = said("the", "cat", "sat", "on")
    first = practice.on_update(update(1, (), words[:2]))
    assert isinstance(first, Progress) and first.attempt == 3
    assert [w.status for w in first.reading.words[:2]] == [Status.CORRECT, Status.CORRECT]
    assert practice.on_update(update(1, (), words[:2])) is None  # the same again: unchanged
    second = practice.on_update(update(1, words[:2], words[2:]))
    assert isinstance(second, Progress) and second.reading.position == 4
    # The turn's committed words are cumulative: only the new ones are fed.
    third = practice.on_update(update(1, words))
    assert third is None or third.reading.correct == 4
    assert practice.aligner is not None and len(practice.aligner.spoken) == 4


def test_a_turn_ending_at_the_end_of_the_text_finishes_the_attempt():
    practice = readings()
    words = said("the", "cat", "sat", "on", "the", "mat")
    assert isinstance(practice.on_update(update(1, words)), Progress)
    result = practice.on_update(update(1, words, final=True))
    assert isinstance(result, Result) and result.attempt == 1
    assert result.reading.finished and result.reading.accuracy == 1.0
    assert practice.aligner is None


def test_a_turn_ending_halfway_does_not_finish_and_done_skips_the_rest():
    practice = readings()
    words = said("the", "cat", "sat")
    assert isinstance(practice.on_update(update(1, words, final=True)), Progress)
    result = practice.finish()
    assert result is not None and result.reading.finished
    assert [w.status for w in result.reading.words] == [Status.CORRECT] * 3 + [Status.SKIPPED] * 3
    assert result.reading.accuracy == 0.5


def test_words_said_before_done_never_count_in_the_next_attempt():
    practice = readings()
    words = said("the", "cat", "sat")
    practice.on_update(update(1, words[:2], words[2:]))
    assert practice.finish() is not None
    # The same turn goes on: the words shown before `done` are committed now, then new ones come.
    assert practice.on_update(update(1, words)) is None
    later = said("the", "cat", start=10.0)
    progress = practice.on_update(update(1, words + later))
    assert isinstance(progress, Progress) and progress.attempt == 2
    assert practice.aligner is not None and [t.text for t in practice.aligner.spoken] == ["the", "cat"]


def test_restart_drops_the_attempt_and_the_next_words_start_a_new_one():
    practice = readings()
    practice.on_update(update(1, said("a", "dog")))
    practice.restart()
    assert practice.finish() is None  # nothing to save
    again = practice.on_update(update(2, said("the", "cat", start=5.0)))
    assert isinstance(again, Progress) and again.attempt == 2
    assert again.reading.correct == 2


def test_reading_messages_keep_the_attempt_beside_data():
    practice = readings()
    progress = practice.on_update(update(1, said("the")))
    assert isinstance(progress, Progress)
    message = protocol.reading_progress(progress.attempt, progress.reading.as_dict())
    assert message["type"] == "reading_progress" and message["attempt"] == 1
    assert message["data"]["finished"] is False and len(message["data"]["words"]) == 6
    result = practice.finish()
    assert result is not None
    final = protocol.reading_result(result.attempt, result.reading.as_dict(), 31)
    assert final["data"]["attemptId"] == 31 and final["data"]["finished"] is True and final["attempt"] == 1


def test_reading_commands_are_control_commands():
    for command in protocol.READING_COMMANDS:
        parsed = protocol.parse_text_frame(
            f'{{"type":"control","data":{{"command":"{command}"}}}}', max_chunk_bytes=1024
        )
        assert parsed == protocol.Control(command)
