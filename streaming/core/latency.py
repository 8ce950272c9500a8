"""Latency tracking: when each stretch of audio arrived, and how long its words took to show.

Measured from the times the caller passes in, so there is no clock here: a word's latency is
the time it is first shown less when its audio arrived; a final's delay is the time it is out
less when the end of its speech arrived.
"""

import bisect
import statistics

from streaming.core.stabilizer import Word


class LatencyTracker:
    """Arrival times of the connection's audio, and the word latencies of the utterance in progress."""

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self.shown_words = 0  # how many words of the utterance the client has seen (first appearances)
        self.word_latencies: list[float] = []
        self._arrival_samples: list[int] = []  # buffer end after each feed ...
        self._arrival_times: list[float] = []  # ... and when that audio arrived

    def arrived(self, end_sample: int, now: float) -> None:
        """The audio up to `end_sample` has arrived, at `now`."""
        self._arrival_samples.append(end_sample)
        self._arrival_times.append(now)

    def forget_before(self, sample: int) -> None:
        """No latency will be asked of audio before `sample`."""
        keep = bisect.bisect_left(self._arrival_samples, sample)
        if keep > 256:  # amortised: prune in batches
            del self._arrival_samples[:keep]
            del self._arrival_times[:keep]

    def start_utterance(self) -> None:
        self.shown_words = 0
        self.word_latencies = []

    def first_appearances(self, shown: tuple[Word, ...], now: float) -> tuple[float, ...]:
        """Latency of each word shown for the first time: now minus when its audio arrived."""
        latencies = []
        for word in shown[self.shown_words :]:
            arrived = self._arrival_time(int(word.end * self.sample_rate))
            if arrived is not None:
                latencies.append(max(0.0, now - arrived))
        self.shown_words = max(self.shown_words, len(shown))
        self.word_latencies.extend(latencies)
        return tuple(latencies)

    def final_delay(self, speech_end_s: float, now: float) -> float | None:
        """End of speech received -> final text out at `now`."""
        arrived = self._arrival_time(int(speech_end_s * self.sample_rate))
        return None if arrived is None else max(0.0, now - arrived)

    def word_latency(self) -> float | None:
        """The median over the utterance's words."""
        return statistics.median(self.word_latencies) if self.word_latencies else None

    def _arrival_time(self, sample: int) -> float | None:
        index = bisect.bisect_left(self._arrival_samples, sample)
        if index == len(self._arrival_samples):
            index -= 1
        return self._arrival_times[index] if index >= 0 else None
