"""A practice session's attempts: the transcript updates of a session fed to one reading after another.

`ReadingAligner` aligns one reading; this part decides which words go to which reading: an attempt
starts with the first words said (after connecting, after a result, after a restart), takes the
words committed since the last update and the current tentative ones, and ends on the reader's
"done" or by itself when a turn ends with the reader at the end of the text. Words said before an
attempt ended never count in the next one (docs/decisions/0041).
"""

from dataclasses import dataclass

from streaming.core.reading import Reading, ReadingAligner, Reference
from streaming.core.stabilizer import Word
from streaming.core.transcriber import TranscriptUpdate


@dataclass(frozen=True)
class Progress:
    """Where attempt `attempt` stands, after an update that changed it."""

    attempt: int
    reading: Reading


@dataclass(frozen=True)
class Result:
    """Attempt `attempt` is over: its final reading (`reading.finished`)."""

    attempt: int
    reading: Reading


class PracticeReadings:
    """The attempts at reading one text in one session (numbered on from `attempts_before`)."""

    def __init__(self, reference: Reference, *, attempts_before: int = 0) -> None:
        self.reference = reference
        self.attempt = attempts_before
        self.aligner: ReadingAligner | None = None  # the attempt in progress
        self.since = float("-inf")  # words starting before this belong to an ended attempt
        self._seen_end = float("-inf")  # end of the latest word seen (committed or tentative)
        self._turn: int | None = None  # the utterance whose committed words were fed ...
        self._fed = 0  # ... and how many of them (of those from `since` on)
        self._shown: Reading | None = None  # the last progress reported

    def on_update(self, update: TranscriptUpdate) -> Progress | Result | None:
        """Feed a transcript update: the attempt's new progress (None when unchanged), or its
        result when the update ends a turn with the reader at the end of the text."""
        committed = self._new(update.words)
        if update.utterance_id != self._turn:
            self._turn, self._fed = update.utterance_id, 0
        fresh, self._fed = committed[self._fed :], max(self._fed, len(committed))
        tentative = self._new(update.tentative_words)
        for word in (*fresh, *tentative):
            self._seen_end = max(self._seen_end, word.end)
        if self.aligner is None:
            if not (fresh or tentative):
                return None
            self.attempt += 1
            self.aligner = ReadingAligner(self.reference)
            self._shown = None
        reading = self.aligner.update(fresh, tentative)
        if update.is_final and reading.position == len(self.reference):
            return self.finish()
        if reading == self._shown:
            return None
        self._shown = reading
        return Progress(self.attempt, reading)

    def finish(self) -> Result | None:
        """End the attempt in progress (None if there is none): its final reading."""
        if self.aligner is None:
            return None
        reading = self.aligner.finish()
        self._drop()
        return Result(self.attempt, reading)

    def restart(self) -> None:
        """Drop the attempt in progress: the next words said start a new one."""
        self._drop()

    def _drop(self) -> None:
        self.aligner = None
        self._shown = None
        self.since = self._seen_end
        self._fed = 0
        self._turn = None

    def _new(self, words: tuple[Word, ...]) -> list[Word]:
        return [w for w in words if w.start >= self.since]
