"""PCM conversion and streaming resampling, checked on real speech and on pure tones."""

import numpy as np
import pytest

from streaming.core.audio import (
    SAMPLE_RATE,
    Resampler,
    float32_to_pcm16,
    load_audio_file,
    pcm16_to_float32,
)

JFK = "/work/shared/data/jfk.flac"


def sine(freq: float, rate: int, seconds: float = 2.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64)))))


def resample_in_chunks(samples: np.ndarray, rate: int, sizes: list[int]) -> np.ndarray:
    """Feed irregular chunk sizes, as a browser's AudioWorklet would."""
    resampler = Resampler(rate)
    out, pos, i = [], 0, 0
    while pos < len(samples):
        size = sizes[i % len(sizes)]
        out.append(resampler.process(samples[pos : pos + size]))
        pos, i = pos + size, i + 1
    out.append(resampler.process(np.zeros(0, dtype=np.float32), last=True))
    return np.concatenate(out)


def test_pcm16_round_trip_is_exact_for_every_value():
    pcm = np.arange(-32768, 32768, dtype="<i2").tobytes()
    samples = pcm16_to_float32(pcm)
    assert samples.dtype == np.float32
    assert samples.min() == -1.0 and samples.max() < 1.0
    assert float32_to_pcm16(samples) == pcm


def test_pcm16_is_little_endian():
    assert pcm16_to_float32(b"\x00\x40\x00\xc0").tolist() == [0.5, -0.5]
    assert float32_to_pcm16(np.array([0.5], dtype=np.float32)) == b"\x00\x40"


def test_float32_to_pcm16_clips_and_rounds():
    pcm = float32_to_pcm16(np.array([2.0, -2.0, 1.0, 0.4 / 32768, 0.6 / 32768], dtype=np.float32))
    assert np.frombuffer(pcm, dtype="<i2").tolist() == [32767, -32768, 32767, 0, 1]


def test_odd_byte_count_is_rejected():
    with pytest.raises(ValueError, match="odd byte count"):
        pcm16_to_float32(b"\x00\x01\x02")


@pytest.mark.parametrize("rate", [4000, 7999, 192001])
def test_resampler_rejects_unsupported_rates(rate):
    with pytest.raises(ValueError):
        Resampler(rate)


def test_resampler_is_identity_at_the_target_rate():
    speech = load_audio_file(JFK)
    assert np.array_equal(Resampler(SAMPLE_RATE).process(speech), speech)


def test_load_audio_file_decodes_mono_float32():
    speech = load_audio_file(JFK)
    assert speech.dtype == np.float32 and speech.ndim == 1
    assert len(speech) == 11 * SAMPLE_RATE
    assert 0.05 < np.abs(speech).max() <= 1.0


@pytest.mark.parametrize("rate", [48000, 44100])
def test_chunked_resampling_matches_one_shot(rate):
    speech = load_audio_file(JFK, sample_rate=rate)
    whole = Resampler(rate).process(speech, last=True)
    chunked = resample_in_chunks(speech, rate, [rate // 50, 128, 4096, 1000, 3])
    expected_len = len(speech) * SAMPLE_RATE / rate
    assert abs(len(whole) - expected_len) <= 0.01 * expected_len
    assert abs(len(chunked) - expected_len) <= 0.01 * expected_len
    n = min(len(whole), len(chunked))
    np.testing.assert_allclose(chunked[:n], whole[:n], atol=1e-4)
    # The result is still the same speech at 16 kHz, not just self-consistent.
    native = load_audio_file(JFK)
    n = min(n, len(native))
    assert np.corrcoef(whole[:n], native[:n])[0, 1] > 0.99


def test_out_of_band_tone_is_removed_not_aliased():
    """10 kHz cannot exist at 16 kHz; without a filter it would fold back to 6 kHz."""
    tone = sine(10000, 48000)
    naive = tone[::3]  # plain decimation: the alias keeps full strength
    assert rms_db(naive) - rms_db(tone) > -1.0
    out = Resampler(48000).process(tone, last=True)
    steady = out[SAMPLE_RATE // 4 : -SAMPLE_RATE // 4]
    assert rms_db(steady) - rms_db(tone) < -40.0


def test_in_band_tone_passes_at_full_strength():
    tone = sine(7000, 48000)
    steady = Resampler(48000).process(tone, last=True)[SAMPLE_RATE // 4 : -SAMPLE_RATE // 4]
    assert abs(rms_db(steady) - rms_db(tone)) < 0.5


def test_440_hz_keeps_its_frequency():
    out = Resampler(44100).process(sine(440, 44100, seconds=4.0), last=True)
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(out)
    assert abs(peak_hz - 440) < 1.0
