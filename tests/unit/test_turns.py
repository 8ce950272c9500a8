"""Turns: which phrases make one utterance on the wire, and when it is over."""

from streaming.core.turns import TurnTracker

RATE = 16000


def tracker(**kwargs) -> TurnTracker:
    config = {"pause_s": 1.2, "max_s": 60.0, "sample_rate": RATE, "vad_pad_s": 0.2, "vad_confirm_s": 0.25} | kwargs
    return TurnTracker(**config)


def seconds(s: float) -> int:
    return int(s * RATE)


def test_a_phrase_after_a_short_pause_continues_the_turn():
    turns = tracker(first_id=4)
    assert not turns.phrase_started(seconds(1.0))
    assert turns.current.id == 4
    turns.phrase_settled(seconds(3.0), words=5, final_delay=0.4)
    # Speech resumes 0.9 s after it stopped (its reported start is 0.2 s earlier: the pre-roll).
    assert turns.phrase_started(seconds(3.7))
    assert turns.current.id == 4 and turns.current.settled_words == 5


def test_a_phrase_after_the_turn_pause_begins_a_new_turn():
    turns = tracker()
    turns.phrase_started(seconds(1.0))
    turns.phrase_settled(seconds(3.0), words=5, final_delay=0.4)
    assert not turns.continues(seconds(4.0))  # 1.2 s of silence
    assert not turns.phrase_started(seconds(4.0))
    assert turns.current.id == 2 and turns.current.speech_end is None


def test_the_turn_is_over_once_new_speech_would_have_been_confirmed():
    turns = tracker()
    turns.phrase_started(seconds(1.0))
    assert not turns.over(seconds(9.0))  # its phrase is not settled yet
    turns.phrase_settled(seconds(3.0), words=5, final_delay=0.4)
    assert not turns.over(seconds(4.4))
    assert turns.over(seconds(4.45))  # 1.2 s pause + 0.25 s the VAD needs to confirm speech
    ended = turns.end()
    assert ended.id == 1 and ended.final_delay == 0.4 and turns.turn is None


def test_the_clients_is_final_ends_the_turn_with_the_speech_before_it():
    turns = tracker()
    turns.phrase_started(seconds(1.0))
    turns.client_ended(seconds(3.5))
    assert turns.continues(seconds(2.5))  # speech queued before `is_final`: still this turn
    turns.phrase_settled(seconds(3.0), words=5, final_delay=0.4)
    assert turns.over(seconds(3.5))  # at once, no pause needed
    assert not turns.continues(seconds(3.6))  # speech after it begins a new turn


def test_a_phrase_starting_past_the_cap_begins_a_new_turn():
    turns = tracker(max_s=10.0)
    turns.phrase_started(0)
    turns.phrase_settled(seconds(9.8), words=20, final_delay=0.4)
    assert not turns.continues(seconds(10.2))
