"""The request policy alone: sample positions in, decisions out (no audio, no VAD)."""

import numpy as np

from streaming.core.asr_requests import AsrRequest, RequestPolicy

RATE = 16000


def policy() -> RequestPolicy:
    p = RequestPolicy(min_interval_s=0.5, max_interval_s=2.0, interval_per_round_trip=2.0, sample_rate=RATE)
    p.start(0)
    return p


def send(p: RequestPolicy, end: int, *, is_final: bool = False, at: float = 0.0) -> AsrRequest:
    request = AsrRequest(p.next_id(), np.zeros(0, np.float32), "", is_final, 0, end, at)
    p.sent(request)
    return request


def s(seconds: float) -> int:
    return int(seconds * RATE)


def test_partials_go_every_interval_once_the_window_is_long_enough():
    p = policy()
    assert not p.partial_due(s(0.2), 0, None)  # shorter than MIN_WINDOW_S
    assert p.partial_due(s(0.5), 0, None)
    send(p, s(0.5))
    assert not p.partial_due(s(1.5), 0, None)  # one in flight
    p.answered("1", now=0.1)
    assert not p.partial_due(s(0.9), 0, None) and p.partial_due(s(1.0), 0, None)


def test_the_closing_partial_waits_for_the_padding_then_goes_at_once():
    p = policy()
    send(p, s(0.5))
    p.answered("1", now=0.1)
    pause_end = s(0.8)  # a pause began at 0.6 s; with its padding the speech would end at 0.8 s
    assert not p.partial_due(s(1.2), 0, pause_end + s(1.0))  # due by the interval, but inside the padding
    assert p.partial_due(s(0.8), 0, pause_end)  # the pause lasted the padding: not an interval later


def test_the_closing_partial_skips_one_partial_sent_before_the_pause_but_never_two():
    p = policy()
    before = send(p, s(0.6))
    assert p.partial_due(s(1.0), 0, s(1.0))
    send(p, s(1.0))
    assert not p.partial_due(s(2.0), 0, s(2.0))  # never more than two in flight
    assert p.answered("2", now=0.3).window_end == s(1.0)
    assert p.in_flight == [] and p.answered(before.request_id, now=0.4) is None  # older: stale


def test_the_final_waits_only_for_a_partial_that_may_finish_the_utterance():
    end, speech_end = s(2.0), s(1.8)
    p = policy()
    send(p, s(1.0))
    assert p.final_due(end, speech_end)  # the partial falls short of the speech
    p = policy()
    send(p, s(1.9))
    assert not p.final_due(end, speech_end)  # it reached the speech end, and the server keeps up
    p.round_trip_s = 1.0
    assert p.behind and p.final_due(end, speech_end)  # behind: it would most likely need the decode
    p = policy()
    send(p, s(2.0))
    p.round_trip_s = 1.0
    assert not p.final_due(end, speech_end)  # it heard all the final decode would


def test_needs_no_final_decode_when_the_answers_heard_the_speech():
    p = policy()
    send(p, s(1.9))
    assert not p.needs_no_final_decode(0, s(2.0), s(1.8), unsure=False)  # still in flight
    p.answered("1", now=0.1)
    assert p.needs_no_final_decode(0, s(2.0), s(1.8), unsure=False)
    assert not p.needs_no_final_decode(0, s(2.0), s(1.8), unsure=True)  # cut before the padding, words unsure
    send(p, s(2.0))
    p.answered("2", now=0.2)
    assert p.needs_no_final_decode(0, s(2.0), s(1.8), unsure=True)


def test_the_interval_follows_the_round_trip_and_retry_renames_the_request():
    p = policy()
    first = send(p, s(1.0), at=1.0)
    again = p.retry(now=2.0)
    assert again.request_id != first.request_id and again.sent_at == 2.0 and p.answered(first.request_id, 3) is None
    p.answered(again.request_id, now=3.0)
    assert p.round_trip_s == 0.5 and p.interval_s == 1.0 and not p.behind
    assert p.abandon() is None and p.retry(now=4.0) is None
