"""The bounded per-session audio buffer: absolute indexing, trimming, overflow, long sessions."""

import numpy as np
import pytest

from streaming.core.audio_buffer import AudioBuffer

RATE = 16000


def ramp(start: int, count: int) -> np.ndarray:
    """Samples whose value encodes their absolute index, so any misplaced slice shows."""
    return (np.arange(start, start + count) / 1e6).astype(np.float32)


def filled(sizes: list[int], max_bytes: int = 10**6) -> AudioBuffer:
    buffer = AudioBuffer(max_bytes, RATE)
    pos = 0
    for size in sizes:
        assert buffer.append(ramp(pos, size)) == 0
        pos += size
    return buffer


def test_empty_buffer():
    buffer = AudioBuffer(1000)
    assert (buffer.start_sample, buffer.end_sample) == (0, 0)
    assert (buffer.chunks, buffer.size_bytes) == (0, 0)
    assert buffer.duration_s == 0.0
    assert buffer.window().dtype == np.float32 and len(buffer.window()) == 0
    assert buffer.append(np.zeros(0, dtype=np.float32)) == 0 and buffer.chunks == 0


def test_append_and_window_by_absolute_index():
    buffer = filled([100, 50, 250])
    assert (buffer.start_sample, buffer.end_sample) == (0, 400)
    assert buffer.chunks == 3 and buffer.size_bytes == 800
    assert buffer.duration_s == pytest.approx(400 / RATE)
    np.testing.assert_array_equal(buffer.window(), ramp(0, 400))
    np.testing.assert_array_equal(buffer.window(120), ramp(120, 280))
    np.testing.assert_array_equal(buffer.window(150), ramp(150, 250))
    assert len(buffer.window(400)) == 0 and len(buffer.window(10_000)) == 0
    np.testing.assert_array_equal(buffer.window(-5), ramp(0, 400))


def test_window_is_a_copy_and_append_copies():
    buffer = AudioBuffer(1000)
    samples = ramp(0, 10)
    buffer.append(samples)
    samples[:] = 9.0  # the caller reuses its array
    window = buffer.window()
    window[:] = -9.0
    np.testing.assert_array_equal(buffer.window(), ramp(0, 10))


def test_trim_before_moves_start_and_keeps_indices():
    buffer = filled([100, 50, 250])
    buffer.trim_before(120)  # the first chunk goes, the second is partly kept
    assert (buffer.start_sample, buffer.end_sample, buffer.chunks) == (120, 400, 2)
    assert buffer.size_bytes == 280 * 2
    np.testing.assert_array_equal(buffer.window(), ramp(120, 280))
    np.testing.assert_array_equal(buffer.window(0), ramp(120, 280))
    buffer.trim_before(150)  # exactly on a chunk boundary
    assert (buffer.start_sample, buffer.chunks) == (150, 1)
    buffer.trim_before(100)  # earlier than start: no-op
    assert buffer.start_sample == 150
    np.testing.assert_array_equal(buffer.window(), ramp(150, 250))
    buffer.trim_before(10_000)  # past the end: clamps
    assert (buffer.start_sample, buffer.end_sample) == (400, 400)
    assert (buffer.chunks, buffer.size_bytes) == (0, 0)
    buffer.append(ramp(400, 10))
    np.testing.assert_array_equal(buffer.window(395), ramp(400, 10))


def test_clear_keeps_counting():
    buffer = filled([100, 50])
    buffer.clear()
    assert (buffer.start_sample, buffer.end_sample) == (150, 150)
    assert (buffer.chunks, buffer.size_bytes) == (0, 0)
    buffer.append(ramp(150, 20))
    assert buffer.start_sample == 150
    np.testing.assert_array_equal(buffer.window(150), ramp(150, 20))


def test_overflow_drops_the_oldest_and_reports_how_many():
    buffer = AudioBuffer(max_bytes=2 * 300, sample_rate=RATE)  # 300 samples
    assert buffer.append(ramp(0, 200)) == 0
    assert buffer.append(ramp(200, 150)) == 50
    assert (buffer.start_sample, buffer.end_sample, buffer.size_bytes) == (50, 350, 600)
    np.testing.assert_array_equal(buffer.window(), ramp(50, 300))
    assert buffer.append(ramp(350, 100)) == 100
    assert buffer.chunks == 3  # the first chunk is still partly held
    np.testing.assert_array_equal(buffer.window(), ramp(150, 300))
    assert buffer.append(ramp(450, 60)) == 60
    assert (buffer.start_sample, buffer.chunks) == (210, 3)
    np.testing.assert_array_equal(buffer.window(), ramp(210, 300))


def test_a_chunk_larger_than_the_buffer_keeps_its_newest_part():
    buffer = AudioBuffer(max_bytes=2 * 300 + 1)  # odd byte counts round down to whole samples
    buffer.append(ramp(0, 100))
    assert buffer.append(ramp(100, 1000)) == 800
    assert (buffer.start_sample, buffer.end_sample, buffer.chunks) == (800, 1100, 1)
    np.testing.assert_array_equal(buffer.window(), ramp(800, 300))


def test_max_bytes_must_hold_a_sample():
    with pytest.raises(ValueError):
        AudioBuffer(1)


def test_an_hour_of_streaming_stays_bounded():
    """36,000 appends of 100 ms, trimmed the way the transcriber does between utterances."""
    max_bytes = 10 * 1024 * 1024
    buffer = AudioBuffer(max_bytes, RATE)
    chunk = np.full(RATE // 10, 0.25, dtype=np.float32)
    dropped = peak_chunks = 0
    for i in range(36_000):
        dropped += buffer.append(chunk)
        if i % 100 == 99:  # every 10 s an utterance is committed; 1 s of pre-roll is kept
            buffer.trim_before(buffer.end_sample - RATE)
        peak_chunks = max(peak_chunks, buffer.chunks)
        assert buffer.size_bytes <= max_bytes
    assert buffer.end_sample == 3600 * RATE
    assert dropped == 0 and peak_chunks == 10 + 99  # the kept second, then 99 appends
    assert buffer.duration_s == pytest.approx(1.0)
    assert len(buffer.window()) == RATE


def test_an_untrimmed_hour_hits_the_cap_and_keeps_the_newest_audio():
    max_bytes = 10 * 1024 * 1024
    buffer = AudioBuffer(max_bytes, RATE)
    dropped = 0
    for i in range(36_000):
        dropped += buffer.append(np.full(RATE // 10, i / 36_000, dtype=np.float32))
    assert buffer.size_bytes == max_bytes
    assert dropped == 3600 * RATE - max_bytes // 2
    assert buffer.start_sample == dropped and buffer.end_sample == 3600 * RATE
    assert buffer.window()[-1] == np.float32(35_999 / 36_000)
