"""PCM conversion and resampling for the 16 kHz mono float32 audio the pipeline works in."""

import numpy as np
import soxr
from faster_whisper.audio import decode_audio

SAMPLE_RATE = 16000  # what the VAD and Whisper hear; clients declare their own rate (input_sample_rate)
MIN_INPUT_RATE = 8000
MAX_INPUT_RATE = 192000

_PCM16 = np.dtype("<i2")  # the wire format is little-endian whatever the host is
_PCM16_SCALE = 32768.0


def pcm16_to_float32(data: bytes) -> np.ndarray:
    """Decode little-endian PCM16 to float32 in [-1, 1), the range Whisper and Silero expect."""
    if len(data) % 2:
        raise ValueError("odd byte count")
    return np.frombuffer(data, dtype=_PCM16).astype(np.float32) / np.float32(_PCM16_SCALE)


def float32_to_pcm16(samples: np.ndarray) -> bytes:
    """Encode float32 as little-endian PCM16; exactly inverts `pcm16_to_float32`."""
    scaled = np.rint(np.clip(samples, -1.0, 1.0) * _PCM16_SCALE)
    return np.clip(scaled, -_PCM16_SCALE, _PCM16_SCALE - 1).astype(_PCM16).tobytes()


class Resampler:
    """Streaming anti-aliased resampler (soxr.ResampleStream, 'HQ'); identity when rates are equal.

    One per connection: the filter state carries across calls, so chunk boundaries leave no clicks
    and the output of many small chunks matches resampling the whole stream at once.
    """

    def __init__(self, in_rate: int, out_rate: int = SAMPLE_RATE) -> None:
        if not MIN_INPUT_RATE <= in_rate <= MAX_INPUT_RATE:
            raise ValueError(f"sample rate {in_rate} Hz is outside {MIN_INPUT_RATE}..{MAX_INPUT_RATE} Hz")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = (
            None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")
        )

    def process(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        """Resample the next chunk; `last=True` drains the filter's delay at end of stream."""
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if self._stream is None:
            return samples
        return self._stream.resample_chunk(samples, last=last)


def load_audio_file(path: str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode any audio file to mono float32 at `sample_rate` (tests and benchmarks)."""
    return decode_audio(path, sampling_rate=sample_rate)
