"""Audio formats: engines that produce float samples convert them to the protocol's PCM16, and
clients that ask for WAV get the PCM wrapped in a RIFF file."""

import io
import wave

import numpy as np

from streaming.engines.tts.base import Synthesis


def float_to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def to_wav(synthesis: Synthesis) -> bytes:
    """A RIFF WAV file of the audio, for clients that ask for WAV instead of raw PCM."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(synthesis.sample_rate)
        wav.writeframes(synthesis.pcm)
    return buffer.getvalue()
