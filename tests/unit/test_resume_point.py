"""`StreamTranscriber.resume_point`: where a reconnecting client resumes sending (docs/decisions/0046).
The real VAD on real speech, ASR answers scripted as in tests/unit/test_transcriber.py."""

import numpy as np
import pytest

from streaming.core.transcriber import StreamTranscriber, TranscriberConfig
from tests.speech import silence
from tests.unit.test_transcriber import FELLOW_AMERICANS, RATE, ask_not, feed, run_scripted, two_phrases


def stream_recording_resume_points(t: StreamTranscriber, audio: np.ndarray, words) -> tuple[list, list]:
    """As `run_scripted`: every request answered at once. The resume point after each 100 ms, and
    the finals (with the step they came in)."""
    points: list = []
    finals: list = []

    def step(i: int, updates: list) -> None:
        finals.extend((i, u) for u in updates if u.is_final)
        points.append((i, t.resume_point()))

    run_scripted(t, audio, words, on_step=step)
    return points, finals


def test_silence_resumes_near_the_end_of_what_was_received():
    t = StreamTranscriber(TranscriberConfig(), session_offset_s=40.0)
    feed(t, silence(3.0), [0.0])
    assert 40.0 + 3.0 - 0.6 < t.resume_point() < 40.0 + 3.0  # less an onset the VAD may yet confirm
    assert t.resume_point(closing=True) == pytest.approx(43.0)


def test_the_resume_point_never_passes_words_not_yet_in_a_final():
    """Through two turns, at every step: no later final starts before the resume point (resending
    from there loses no word), and once a turn's final is out the point passes its words (resending
    doubles none)."""
    audio = np.concatenate([two_phrases(0.9), two_phrases(0.9)])
    shift = len(two_phrases(0.9)) / RATE
    words = FELLOW_AMERICANS + ask_not(0.9)
    words += [(a + shift, b + shift, w) for a, b, w in words]
    t = StreamTranscriber(TranscriberConfig(), session_offset_s=10.0)
    points, finals = stream_recording_resume_points(t, audio, words)
    assert [f.committed for _, f in finals] == ["And so my fellow Americans. ask not."] * 2
    for step, point in points:
        for when, final in finals:
            if when > step:
                assert point <= final.start, (step / RATE, point, final)
            else:
                assert point >= final.end, (step / RATE, point, final)
    assert not t.in_utterance


def test_a_turn_in_progress_resumes_from_its_start():
    t = StreamTranscriber(TranscriberConfig(), session_offset_s=5.0)
    clock = [0.0]
    feed(t, two_phrases(0.9)[: int(2.0 * RATE)], clock)  # 1.5 s into "And so my fellow Americans"
    assert t.in_utterance
    start = t.turns.current.start / RATE
    assert t.resume_point() == t.resume_point(closing=True) == pytest.approx(5.0 + start)
    assert 0.0 < start <= FELLOW_AMERICANS[0][0]  # no later than its first word
