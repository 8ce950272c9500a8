"""Turns: what a student says before pausing for the tutor, one utterance on the wire and one entry.

The VAD's short silence ends a *phrase*: the unit the decodes settle (its words become final as
an utterance's did). A turn is one or more phrases: the next phrase continues it when speech
resumes within the turn pause, so a speaker who pauses to think stays in one entry and the
words at the pause keep their context (docs/decisions/0029). The turn ends when the silence after
its last phrase lasts the turn pause, on the client's `is_final`, or when it has lasted the cap.
"""

import itertools
from dataclasses import dataclass


@dataclass
class Turn:
    id: int  # the utterance id on the wire
    start: int  # sample index of its first phrase's start (per connection)
    speech_end: int | None = None  # where its latest settled phrase's speech stops
    settled_words: int = 0  # how many of the turn's committed words belong to settled phrases
    final_delay: float | None = None  # of its latest settled phrase: when its words became final
    shown: bool = False  # an update showed the client some of its text


class TurnTracker:
    """Which turn a phrase belongs to, and when the turn in progress is over."""

    def __init__(
        self,
        *,
        pause_s: float,
        max_s: float,
        sample_rate: int,
        vad_pad_s: float,
        vad_confirm_s: float,
        first_id: int = 1,
    ):
        self.pause = int(pause_s * sample_rate)  # silence after a phrase that ends the turn
        self.max = int(max_s * sample_rate)  # a phrase starting this long after the turn did begins a new one
        self._pad = int(vad_pad_s * sample_rate)  # a phrase's reported start is this much before its speech
        # The VAD confirms speech this long after it began: a pause is over only once speech
        # that resumed within it would have been confirmed.
        self._confirm = int(vad_confirm_s * sample_rate)
        self.turn: Turn | None = None
        self._ids = itertools.count(first_id)
        self._end_at: int | None = None  # the client's `is_final`: speech up to here ends the turn

    @property
    def current(self) -> Turn:
        """The turn in progress, for callers whose control flow guarantees one."""
        if self.turn is None:
            raise RuntimeError("No turn is in progress.")
        return self.turn

    def phrase_started(self, start: int) -> bool:
        """A phrase starts at `start`: whether it continues the turn in progress (else a new turn
        begins with it; the caller ends the old one first, see `continues`)."""
        if self.turn is not None and self.continues(start):
            return True
        self.turn = Turn(id=next(self._ids), start=start)
        self._end_at = None
        return False

    def continues(self, start: int) -> bool:
        """Whether a phrase starting at `start` belongs to the turn in progress."""
        turn = self.turn
        if turn is None:
            return False
        if turn.speech_end is None:
            return True  # its first phrase is still being settled: this one was queued behind it
        if self._end_at is not None and start >= self._end_at:
            return False
        return start + self._pad - turn.speech_end < self.pause and start - turn.start < self.max

    def phrase_settled(self, speech_end: int, words: int, final_delay: float | None) -> None:
        """The phrase in progress is settled: the turn's first `words` committed words are final."""
        turn = self.current
        turn.speech_end = max(speech_end, turn.speech_end or 0)
        turn.settled_words = words
        turn.final_delay = final_delay

    def client_ended(self, sample: int) -> None:
        """The client's `is_final` at `sample`: the turn ends once the speech before it is settled."""
        if self.turn is not None:
            self._end_at = sample

    def over(self, now_sample: int) -> bool:
        """Between phrases (the last one settled, no other begun): whether the turn is over at
        `now_sample`, the end of the audio received."""
        turn = self.turn
        if turn is None or turn.speech_end is None:
            return False
        return self._end_at is not None or now_sample - turn.speech_end >= self.pause + self._confirm

    def end(self) -> Turn:
        """The turn in progress is over; returns it."""
        turn = self.current
        self.turn = None
        self._end_at = None
        return turn
