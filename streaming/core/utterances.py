"""Utterance segmenting: VAD events -> utterance boundaries, and the audio window decodes hear.

One utterance is open at a time. Once it has ended it waits for its final text; speech heard
meanwhile queues behind it, and `finish` starts on that speech. The window is the utterance's
audio a decode hears; it is cut at committed words when it grows long (`trim_window`).
"""

from dataclasses import dataclass

import numpy as np

from streaming.core.audio_buffer import AudioBuffer
from streaming.core.vad import SpeechEnd, SpeechStart, StreamingVad

IDLE_KEEP_S = 1.0  # audio kept before speech is confirmed, so its start is not lost


@dataclass
class Utterance:
    start: int  # sample index (per connection)
    end: int | None = None  # set when it has ended (VAD silence, is_final, forced split)


class UtteranceSegmenter:
    """Turns the VAD's events into utterances over the connection's audio buffer."""

    def __init__(
        self,
        buffer: AudioBuffer,
        vad: StreamingVad,
        *,
        force_split_s: float,
        max_window_s: float,
        overlap_s: float,
    ):
        self.buffer = buffer
        self.vad = vad
        self.force_split_s = force_split_s  # Whisper sees 30 s: end an utterance that never pauses
        self.max_window_s = max_window_s
        self.overlap_s = overlap_s
        self.utterance: Utterance | None = None
        self.window_start = 0
        self._pad = int(vad.config.speech_pad_s * buffer.sample_rate)  # the VAD's padding after speech
        self._waiting: list[SpeechStart | SpeechEnd] = []

    @property
    def current(self) -> Utterance:
        """The utterance in progress, for callers whose control flow guarantees one."""
        if self.utterance is None:
            raise RuntimeError("No utterance is in progress.")
        return self.utterance

    @property
    def speech_end(self) -> int:
        """Where the ended utterance's speech stops: its end less the VAD's padding."""
        end = self.current.end
        if end is None:
            raise RuntimeError("The utterance in progress has not ended.")
        return end - self._pad

    def feed(self, samples: np.ndarray) -> Utterance | None:
        """Take new audio; returns the utterance it started, if it did."""
        self.buffer.append(samples)
        started = None
        for event in self.vad.feed(samples):
            if self.utterance is not None and self.utterance.end is not None:
                self._waiting.append(event)  # the next utterance's events wait for this one's final
            else:
                started = self._apply(event) or started
        if self.utterance is None:
            self.buffer.trim_before(self.buffer.end_sample - int(IDLE_KEEP_S * self.buffer.sample_rate))
        elif (
            self.utterance.end is None
            and self._seconds(self.buffer.end_sample - self.window_start) > self.force_split_s
        ):
            self.utterance.end = self.buffer.end_sample
        return started

    def end_utterance(self) -> None:
        """Speech ends with the audio received so far (the client's `is_final`).

        If an earlier utterance is still waiting for its final text, the end applies to the
        speech queued behind it.
        """
        end = SpeechEnd(self.buffer.end_sample)
        if self.utterance is not None and self.utterance.end is not None:
            if any(isinstance(e, SpeechStart) for e in self._waiting):
                self._waiting.append(end)
        elif self.utterance is not None:
            self._apply(end)
        self.vad.reset()

    def finish(self) -> Utterance | None:
        """The utterance is done: drop its audio and go on with the speech queued behind it.
        Returns the utterance that started, if one did."""
        utterance = self.current
        end = utterance.end if utterance.end is not None else self.buffer.end_sample
        self.buffer.trim_before(end)
        self.utterance = None
        waiting, self._waiting = self._waiting, []
        started = None
        # Speech that went on past a forced split or `is_final` continues as the next utterance.
        if (waiting and isinstance(waiting[0], SpeechEnd)) or (not waiting and self.vad.in_speech):
            started = self._start(end)
        for index, event in enumerate(waiting):
            if self.utterance is not None and self.utterance.end is not None:
                self._waiting = waiting[index:]
                break
            started = self._apply(event) or started
        return started

    def reset(self) -> None:
        """Forget the audio and the utterance in progress."""
        self.buffer.clear()
        self.vad.reset()
        self.utterance = None
        self._waiting = []

    def window(self, end: int) -> tuple[int, np.ndarray]:
        """Where the window starts, and its audio up to `end`."""
        start = max(self.window_start, self.buffer.start_sample)
        return start, self.buffer.window(start)[: end - start]

    def trim_window(self, committed_end_s: float | None, *, stalled: bool = False) -> bool:
        """Keep the decode window short: cut it at the committed boundary minus some context,
        once it is long or the decodes have `stalled` (stopped writing words short of its end).
        Returns whether it was cut."""
        window_s = self._seconds(self.buffer.end_sample - self.window_start)
        if (window_s <= self.max_window_s and not stalled) or committed_end_s is None:
            return False
        cut = int((committed_end_s - self.overlap_s) * self.buffer.sample_rate)
        if cut <= self.window_start:
            return False
        self.window_start = cut
        self.buffer.trim_before(cut)
        return True

    def _apply(self, event: SpeechStart | SpeechEnd) -> Utterance | None:
        if isinstance(event, SpeechStart) and self.utterance is None:
            return self._start(event.sample)
        if isinstance(event, SpeechEnd) and self.utterance is not None and self.utterance.end is None:
            self.utterance.end = max(event.sample, self.utterance.start)
        return None

    def _start(self, sample: int) -> Utterance:
        start = max(sample, self.buffer.start_sample)
        self.utterance = Utterance(start=start)
        self.window_start = start
        return self.utterance

    def _seconds(self, samples: int) -> float:
        return samples / self.buffer.sample_rate
