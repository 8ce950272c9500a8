"""Latencies measured from when the audio arrived, with the times the caller passes in."""

import pytest

from streaming.core.latency import LatencyTracker
from streaming.core.stabilizer import Word

RATE = 16000


def test_each_word_counts_once_from_when_its_audio_arrived():
    t = LatencyTracker(RATE)
    for k in range(1, 11):  # 100 ms of audio arrives every 100 ms
        t.arrived(k * 1600, now=k * 0.1)
    t.start_utterance()
    first = (Word(0.1, 0.3, " ask"),)
    assert t.first_appearances(first, now=0.5) == pytest.approx((0.2,))
    shown = first + (Word(0.3, 0.6, " not"),)
    assert t.first_appearances(shown, now=0.8) == pytest.approx((0.2,))  # "ask" was shown already
    assert t.word_latency() == pytest.approx(0.2)
    assert t.final_delay(0.6, now=0.9) == pytest.approx(0.3)
    t.start_utterance()
    assert t.word_latency() is None


def test_arrivals_are_forgotten_in_batches():
    t = LatencyTracker(RATE)
    for k in range(1, 301):
        t.arrived(k * 160, now=k * 0.01)
    t.forget_before(100 * 160)
    assert t.final_delay(0.0, now=3.0) == pytest.approx(2.99)  # fewer than a batch: all kept
    t.forget_before(290 * 160)
    assert t.final_delay(0.0, now=3.0) == pytest.approx(0.1)  # before what is kept: the oldest kept arrival
