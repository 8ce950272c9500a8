"""The session's not-yet-committed audio, bounded in memory however long the session runs."""

from collections import deque

import numpy as np

PCM16_BYTES = 2


class AudioBuffer:
    """Bounded buffer of the session's not-yet-committed audio, addressed by absolute sample index.

    Chunks are kept as appended (no concatenation per append, which would be quadratic over an
    hour); the first chunk may be partly consumed, tracked by `_head`. `window` concatenates.
    """

    def __init__(self, max_bytes: int, sample_rate: int = 16000) -> None:
        if max_bytes < PCM16_BYTES:
            raise ValueError("max_bytes must hold at least one sample")
        self.max_samples = max_bytes // PCM16_BYTES  # counted as PCM16, like MAX_BUFFER_SIZE
        self.sample_rate = sample_rate
        self._chunks: deque[np.ndarray] = deque()
        self._head = 0  # samples of the first chunk already dropped
        self._held = 0
        self.end_sample = 0

    @property
    def start_sample(self) -> int:
        return self.end_sample - self._held

    @property
    def chunks(self) -> int:
        """Chunks (or parts of them) still held, reported as bufferChunks."""
        return len(self._chunks)

    @property
    def size_bytes(self) -> int:
        """Held audio as PCM16 bytes, reported as bufferSize."""
        return self._held * PCM16_BYTES

    @property
    def duration_s(self) -> float:
        return self._held / self.sample_rate

    def append(self, samples: np.ndarray) -> int:
        """Add audio at the end; returns how many of the oldest samples were dropped to fit."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not len(samples):
            return 0
        dropped = max(self._held + len(samples) - self.max_samples, 0)
        kept = samples[-self.max_samples :]  # an oversized chunk never enters whole
        self._chunks.append(kept.copy())  # a copy: callers reuse their arrays
        self._held += len(kept)
        self.end_sample += len(samples)
        if self._held > self.max_samples:
            self.trim_before(self.end_sample - self.max_samples)
        return dropped

    def window(self, start_sample: int | None = None) -> np.ndarray:
        """A float32 copy of the held audio from `start_sample` (or the start) to the end."""
        skip = self._head
        if start_sample is not None:
            skip += min(max(start_sample - self.start_sample, 0), self._held)
        parts = []
        for chunk in self._chunks:
            if skip >= len(chunk):
                skip -= len(chunk)
                continue
            parts.append(chunk[skip:])
            skip = 0
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def trim_before(self, sample: int) -> None:
        """Drop audio before absolute index `sample` (clamped to what is held)."""
        drop = min(sample - self.start_sample, self._held)
        if drop <= 0:
            return
        self._held -= drop
        drop += self._head
        while self._chunks and drop >= len(self._chunks[0]):
            drop -= len(self._chunks.popleft())
        self._head = drop

    def clear(self) -> None:
        """Drop everything held; the next append continues at `end_sample`."""
        self._chunks.clear()
        self._head = 0
        self._held = 0
