"""Streaming Silero VAD on real speech (JFK's inaugural address, 11 s) with the real model."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from streaming.core.audio import SAMPLE_RATE, load_audio_file
from streaming.core.vad import SpeechEnd, SpeechStart, StreamingVad, VadConfig, VadEvent

JFK = "/work/shared/data/jfk.flac"
CHUNK_100MS = SAMPLE_RATE // 10
CHUNK_37MS = 592
# Hand-checked landmarks in jfk.flac: inside words, inside the pauses, end of the last word.
SPEECH_AT_S = [1.0, 3.7, 6.3, 9.5]
PAUSE_AT_S = [2.8, 4.9]
LAST_WORD_END_S = 10.4


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    return load_audio_file(JFK)


def feed(vad: StreamingVad, audio: np.ndarray, chunk: int) -> list[tuple[VadEvent, int]]:
    """Each event with how many samples had been fed when it came out."""
    out = []
    for pos in range(0, len(audio), chunk):
        out += [(event, vad.samples_seen) for event in vad.feed(audio[pos : pos + chunk])]
    return out


def events(audio: np.ndarray, chunk: int) -> list[VadEvent]:
    vad = StreamingVad()
    return [event for event, _ in feed(vad, audio, chunk)] + vad.flush()


def utterances(evs: list[VadEvent]) -> list[tuple[float, float]]:
    """Pair the events into (start_s, end_s), checking they alternate and move forward."""
    assert [type(e) for e in evs] == [SpeechStart, SpeechEnd] * (len(evs) // 2)
    samples = [e.sample for e in evs]
    assert samples == sorted(samples)
    pairs = zip(evs[::2], evs[1::2], strict=True)
    return [(start.sample / SAMPLE_RATE, end.sample / SAMPLE_RATE) for start, end in pairs]


def test_speech_starts_near_the_first_word(jfk):
    vad = StreamingVad()
    first, fed = feed(vad, jfk, CHUNK_100MS)[0]
    assert isinstance(first, SpeechStart)
    assert 0 <= first.sample < 1.0 * SAMPLE_RATE
    assert fed < 1.0 * SAMPLE_RATE  # reported live, not after the fact


def test_utterances_cover_the_speech_and_skip_the_pauses(jfk):
    spans = utterances(events(jfk, CHUNK_100MS))
    assert len(spans) >= 2
    for t in SPEECH_AT_S:
        assert any(start <= t < end for start, end in spans), t
    for t in PAUSE_AT_S:
        assert not any(start <= t < end for start, end in spans), t
    assert spans[0][0] < 0.5 and spans[-1][1] > LAST_WORD_END_S


def test_silence_yields_no_events():
    assert events(np.zeros(3 * SAMPLE_RATE, dtype=np.float32), CHUNK_100MS) == []


def test_low_white_noise_yields_no_events():
    rng = np.random.default_rng(7)
    noise = rng.uniform(-0.003, 0.003, 3 * SAMPLE_RATE).astype(np.float32)
    assert events(noise, CHUNK_100MS) == []
    assert events(rng.normal(0, 0.003, 3 * SAMPLE_RATE).astype(np.float32), CHUNK_100MS) == []


def test_trailing_silence_ends_the_utterance_promptly(jfk):
    audio = np.concatenate([jfk, np.zeros(int(1.5 * SAMPLE_RATE), dtype=np.float32)])
    vad = StreamingVad()
    ends = [(e, fed) for e, fed in feed(vad, audio, CHUNK_100MS) if isinstance(e, SpeechEnd)]
    last, fed = ends[-1]
    assert 0.6 <= fed / SAMPLE_RATE - LAST_WORD_END_S <= 1.0
    assert LAST_WORD_END_S - 0.3 < last.sample / SAMPLE_RATE < LAST_WORD_END_S + 0.6
    assert not vad.in_speech and vad.flush() == []


def test_chunk_size_does_not_change_the_events(jfk):
    by_100ms = events(jfk, CHUNK_100MS)
    assert len(by_100ms) >= 4
    assert events(jfk, CHUNK_37MS) == by_100ms
    assert events(jfk, len(jfk)) == by_100ms
    assert events(jfk, 1) == by_100ms  # sample by sample


def test_interleaved_streams_keep_their_own_state(jfk):
    """The ONNX session is shared; the LSTM state must not be."""
    silence_first = np.concatenate([np.zeros(SAMPLE_RATE, dtype=np.float32), jfk])
    a, b = StreamingVad(), StreamingVad()
    got_a, got_b = [], []
    for pos in range(0, len(silence_first), CHUNK_100MS):
        got_a += a.feed(jfk[pos : pos + CHUNK_100MS])
        got_b += b.feed(silence_first[pos : pos + CHUNK_100MS])
    assert got_a + a.flush() == events(jfk, CHUNK_100MS)
    assert got_b + b.flush() == events(silence_first, CHUNK_100MS)


def test_threads_sharing_the_session_get_the_same_events(jfk):
    expected = events(jfk, CHUNK_100MS)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda chunk: events(jfk, chunk), [CHUNK_100MS, CHUNK_37MS] * 4))
    assert all(result == expected for result in results)


def test_speech_shorter_than_min_speech_never_starts(jfk):
    burst = jfk[int(0.4 * SAMPLE_RATE) : int(0.55 * SAMPLE_RATE)]  # 150 ms of a word
    gap = np.zeros(SAMPLE_RATE, dtype=np.float32)
    audio = np.concatenate([gap, burst, gap])
    assert events(audio, CHUNK_100MS) == []
    eager = StreamingVad(VadConfig(min_speech_s=0.0))
    assert [type(e) for e in eager.feed(audio)] == [SpeechStart, SpeechEnd]


def test_speech_start_is_padded_back(jfk):
    plain = events(jfk, CHUNK_100MS)[0].sample
    vad = StreamingVad(VadConfig(speech_pad_s=0.0))
    unpadded = vad.feed(jfk)[0].sample
    assert unpadded - plain == int(0.2 * SAMPLE_RATE)


def test_flush_ends_speech_in_progress(jfk):
    vad = StreamingVad()
    vad.feed(jfk[: int(1.5 * SAMPLE_RATE)])
    assert vad.in_speech
    assert vad.flush() == [SpeechEnd(int(1.5 * SAMPLE_RATE))]
    assert not vad.in_speech and vad.flush() == []


def test_reset_forgets_speech_but_keeps_absolute_indices(jfk):
    offset = 50 * 512  # whole frames, so nothing is left pending
    vad = StreamingVad()
    vad.feed(jfk[:offset])
    assert vad.in_speech
    vad.reset()
    assert not vad.in_speech and vad.samples_seen == offset
    after = [event for event, _ in feed(vad, jfk, CHUNK_100MS)] + vad.flush()
    fresh = events(jfk, CHUNK_100MS)
    assert after == [type(e)(e.sample + offset) for e in fresh]


def test_only_16khz_is_supported():
    with pytest.raises(ValueError):
        StreamingVad(sample_rate=8000)


def test_config_defaults_and_validation():
    assert VadConfig().silence_threshold == pytest.approx(0.35)
    assert VadConfig(threshold=0.6, neg_threshold=0.2).silence_threshold == 0.2
    with pytest.raises(ValueError):
        VadConfig(threshold=1.5)
    with pytest.raises(ValueError):
        VadConfig(threshold=0.5, neg_threshold=0.7)
