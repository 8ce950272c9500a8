"""Streaming voice activity detection with the Silero VAD model bundled in faster-whisper.

faster-whisper's `SileroVADModel` scores a whole recording at once. A live connection needs the
same scores incrementally, so `StreamingVad` carries the model's LSTM state (h, c) and the
64-sample context between calls, and turns the per-frame probabilities into utterance events.
"""

import os
import threading
from dataclasses import dataclass

import numpy as np
import onnxruntime
from faster_whisper.utils import get_assets_path

from streaming.core.audio import SAMPLE_RATE

FRAME_SAMPLES = 512  # 32 ms at 16 kHz: the frame the model was trained on
CONTEXT_SAMPLES = 64  # each frame is scored together with the previous frame's tail
_STATE_SHAPE = (1, 1, 128)
MODEL_PATH = os.path.join(get_assets_path(), "silero_vad_v6.onnx")

_session: onnxruntime.InferenceSession | None = None
_session_lock = threading.Lock()


def _get_session() -> onnxruntime.InferenceSession:
    """One session per process, shared by every connection: `run` is thread-safe and the
    per-stream state lives in `StreamingVad`. Single-threaded, as each call is tiny and many
    connections run side by side."""
    global _session
    if _session is None:
        with _session_lock:
            if _session is None:
                opts = onnxruntime.SessionOptions()
                opts.inter_op_num_threads = 1
                opts.intra_op_num_threads = 1
                opts.enable_cpu_mem_arena = False
                opts.log_severity_level = 4
                _session = onnxruntime.InferenceSession(
                    MODEL_PATH, sess_options=opts, providers=["CPUExecutionProvider"]
                )
    return _session


@dataclass(frozen=True)
class VadConfig:
    threshold: float = 0.5
    neg_threshold: float | None = None  # default threshold - 0.15 (hysteresis, as Silero does)
    min_speech_s: float = 0.25  # speech shorter than this never starts an utterance
    min_silence_s: float = 0.6  # silence that ends an utterance
    speech_pad_s: float = 0.2  # the reported start is this much earlier (pre-roll)

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError("threshold must be between 0 and 1")
        if self.neg_threshold is not None and not 0.0 <= self.neg_threshold <= self.threshold:
            raise ValueError("neg_threshold must be between 0 and threshold")
        if min(self.min_speech_s, self.min_silence_s, self.speech_pad_s) < 0:
            raise ValueError("durations must not be negative")

    @property
    def silence_threshold(self) -> float:
        """Below this a frame is silence; between it and `threshold` speech keeps its state."""
        if self.neg_threshold is not None:
            return self.neg_threshold
        return max(self.threshold - 0.15, 0.01)


@dataclass(frozen=True)
class SpeechStart:
    sample: int  # absolute sample index, moved back by speech_pad_s (never before 0)


@dataclass(frozen=True)
class SpeechEnd:
    sample: int  # absolute index where silence began, plus speech_pad_s (not past the fed audio)


VadEvent = SpeechStart | SpeechEnd


class StreamingVad:
    """Per-connection speech detector; feed any chunk sizes, get the same events.

    Sample indices are absolute in the stream, so they address `AudioBuffer` directly.
    """

    def __init__(self, config: VadConfig | None = None, sample_rate: int = SAMPLE_RATE) -> None:
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"StreamingVad supports {SAMPLE_RATE} Hz only")
        self.config = config or VadConfig()
        self._threshold = self.config.threshold
        self._silence_threshold = self.config.silence_threshold
        self._min_speech = round(self.config.min_speech_s * sample_rate)
        self._min_silence = round(self.config.min_silence_s * sample_rate)
        self._pad = round(self.config.speech_pad_s * sample_rate)
        self.samples_seen = 0
        self._pending = np.zeros(0, dtype=np.float32)  # the tail shorter than one frame
        self._last_end = 0  # a pre-roll never reaches back into the previous utterance
        self.reset()

    def reset(self) -> None:
        """Forget speech state; keep `samples_seen` and the partial frame: indices stay absolute."""
        self._h = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)
        self.in_speech = False
        self._candidate_start: int | None = None  # speech heard, not yet long enough to count
        self._silence_start: int | None = None  # silence heard inside speech, not yet long enough

    @property
    def pause_end(self) -> int | None:
        """Where the speech will end (`SpeechEnd.sample`) if the silence in progress inside it
        lasts long enough to end it; None outside such a silence."""
        if not self.in_speech or self._silence_start is None:
            return None
        return self._silence_start + self._pad

    def feed(self, samples: np.ndarray) -> list[VadEvent]:
        """Score every complete frame in one model call and return the events they cause.

        One batched call equals frame-by-frame calls with carried h/c exactly (the model's batch
        axis is its sequence axis), and costs far less per frame.
        """
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self.samples_seen += len(samples)
        audio = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        count = len(audio) // FRAME_SAMPLES
        self._pending = audio[count * FRAME_SAMPLES :].copy()
        if count == 0:
            return []
        frames = audio[: count * FRAME_SAMPLES].reshape(count, FRAME_SAMPLES)
        batch = np.empty((count, CONTEXT_SAMPLES + FRAME_SAMPLES), dtype=np.float32)
        batch[0, :CONTEXT_SAMPLES] = self._context
        batch[1:, :CONTEXT_SAMPLES] = frames[:-1, -CONTEXT_SAMPLES:]
        batch[:, CONTEXT_SAMPLES:] = frames
        probs, self._h, self._c = _get_session().run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = frames[-1, -CONTEXT_SAMPLES:].copy()
        first = self.samples_seen - len(self._pending) - count * FRAME_SAMPLES
        events: list[VadEvent] = []
        for i, prob in enumerate(probs.reshape(-1).tolist()):
            event = self._step(first + i * FRAME_SAMPLES, prob)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[VadEvent]:
        """End of stream: close the utterance in progress, then start afresh."""
        events: list[VadEvent] = []
        if self.in_speech:
            events.append(self._end())
        self.reset()
        return events

    def _step(self, start: int, prob: float) -> VadEvent | None:
        """Advance the hysteresis state machine by one frame beginning at `start`."""
        end = start + FRAME_SAMPLES
        if not self.in_speech:
            if prob >= self._threshold:
                if self._candidate_start is None:
                    self._candidate_start = start
            elif prob < self._silence_threshold:
                self._candidate_start = None
            candidate = self._candidate_start
            if candidate is not None and end - candidate >= self._min_speech:
                sample = max(candidate - self._pad, self._last_end, 0)
                self.in_speech = True
                self._candidate_start = None
                self._silence_start = None
                return SpeechStart(sample)
            return None
        if prob >= self._threshold:
            self._silence_start = None
        elif prob < self._silence_threshold and self._silence_start is None:
            self._silence_start = start
        if self._silence_start is not None and end - self._silence_start >= self._min_silence:
            return self._end()
        return None

    def _end(self) -> SpeechEnd:
        """Leave speech where the silence began plus the pad, or at the end of the fed audio
        when no silence has begun (flush mid-speech)."""
        sample = self.samples_seen
        if self.pause_end is not None:
            sample = min(self.pause_end, sample)
        self.in_speech = False
        self._silence_start = None
        self._last_end = sample
        return SpeechEnd(sample)
