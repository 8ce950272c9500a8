"""Per-connection streaming transcription state: VAD -> phrase window -> stabilized text -> turns.

Pure and I/O-free: the consumer feeds audio and ASR results in (with the time, so latency can be
measured without a clock here), and acts on what comes back: ASR requests to issue and transcript
updates to show and persist. `StreamTranscriber` composes small parts that each hold one concern:
`UtteranceSegmenter` (phrases and the audio window), `RequestPolicy` (when a decode goes, the
requests in flight), `LocalAgreementStabilizer` (which words are settled), `TurnTracker` (which
phrases make one turn: the utterance on the wire) and `LatencyTracker` (word latencies, final
delays); it turns their state into requests and updates.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from streaming.core.asr_requests import AsrRequest, RequestPolicy
from streaming.core.audio import SAMPLE_RATE
from streaming.core.audio_buffer import AudioBuffer
from streaming.core.latency import LatencyTracker
from streaming.core.stabilizer import LocalAgreementStabilizer, Segment, Word, words_text
from streaming.core.turns import Turn, TurnTracker
from streaming.core.utterances import Utterance, UtteranceSegmenter
from streaming.core.vad import FRAME_SAMPLES, StreamingVad, VadConfig

# A decode that wrote no word for this much of the speech it heard has stopped early: the window
# is cut at the committed words so the next decode starts past the place it stopped (_stalled).
STALL_S = 1.5


@dataclass(frozen=True)
class TranscriberConfig:
    sample_rate: int = SAMPLE_RATE
    max_buffer_bytes: int = 10 * 1024 * 1024
    min_interval_s: float = 0.5  # update interval while the server keeps up
    max_interval_s: float = 2.0  # CHUNK_DURATION: the interval when it falls behind
    interval_per_round_trip: float = 2.0  # between the two, the interval is this many round trips
    overlap_s: float = 0.5  # OVERLAP_DURATION: context kept before the commit point
    max_window_s: float = 12.0  # trim the window at a committed boundary past this
    force_split_s: float = 25.0  # Whisper sees 30 s: end a phrase that never pauses
    turn_pause_s: float = 1.2  # TURN_PAUSE: silence after a phrase that ends the turn (docs/decisions/0029)
    max_turn_s: float = 60.0  # a phrase starting this long after its turn did begins a new turn
    vad: VadConfig = VadConfig()


@dataclass(frozen=True)
class TranscriptUpdate:
    utterance_id: int
    committed: str  # all committed text of the utterance (the turn); never revised
    tentative: str
    is_final: bool
    start: float  # seconds in the session's audio
    end: float
    lag: float  # seconds of received audio not yet covered by a result
    word_latencies: tuple[float, ...] = ()  # words shown for the first time by this update
    # End of speech received -> its words final: set where a phrase is settled, and on the final
    # (its last phrase's).
    final_delay: float | None = None
    word_latency: float | None = None  # final only: median over the utterance's words
    language: str | None = None  # final only: the language the model heard (detected, for `auto`)
    # `committed` and `tentative` as words with their times in the session's audio (reading
    # practice aligns them to its text: streaming/core/practice.py).
    words: tuple[Word, ...] = ()
    tentative_words: tuple[Word, ...] = ()


class StreamTranscriber:
    """One connection's transcription: the parts below, turned into requests and updates.

    A phrase (the segmenter's utterance) ends at the VAD's silence and its words are settled
    then, as a non-final update whose `committed` holds the whole turn so far; the turn's final
    (`is_final`) follows, without a decode, when the turn is over (`TurnTracker`).
    """

    def __init__(self, config: TranscriberConfig, *, session_offset_s: float = 0.0, first_utterance_id: int = 1):
        self.config = config
        self.session_offset_s = session_offset_s  # audio the session had before this connection
        self.segmenter = UtteranceSegmenter(
            AudioBuffer(config.max_buffer_bytes, config.sample_rate),
            StreamingVad(config.vad, config.sample_rate),
            force_split_s=config.force_split_s,
            max_window_s=config.max_window_s,
            overlap_s=config.overlap_s,
        )
        self.requests = RequestPolicy(
            min_interval_s=config.min_interval_s,
            max_interval_s=config.max_interval_s,
            interval_per_round_trip=config.interval_per_round_trip,
            sample_rate=config.sample_rate,
        )
        self.stabilizer = LocalAgreementStabilizer()
        self.turns = TurnTracker(
            pause_s=config.turn_pause_s,
            max_s=config.max_turn_s,
            sample_rate=config.sample_rate,
            vad_pad_s=config.vad.speech_pad_s,
            vad_confirm_s=config.vad.min_speech_s,
            first_id=first_utterance_id,
        )
        self.latency = LatencyTracker(config.sample_rate)
        self._heard_language: str | None = None  # of the turn's latest answer
        self._ended: TranscriptUpdate | None = None  # a turn's final that feeding audio made due
        self._prompt_since = 0.0  # the phrase's start: only its own words may be a prompt

    # --- what callers read of the parts (status figures, tests) --------------------------------

    @property
    def buffer(self) -> AudioBuffer:
        return self.segmenter.buffer

    @property
    def vad(self) -> StreamingVad:
        return self.segmenter.vad

    @property
    def utterance(self) -> Utterance | None:
        """The phrase in progress."""
        return self.segmenter.utterance

    @property
    def in_utterance(self) -> bool:
        """A turn is in progress (a phrase, or the pause after one that may go on)."""
        return self.turns.turn is not None

    @property
    def utterance_id(self) -> int | None:
        """The turn in progress: a new one is the student's cue to stop a reply (barge-in)."""
        return self.turns.turn.id if self.turns.turn is not None else None

    @property
    def in_flight(self) -> list[AsrRequest]:
        """The requests in flight, oldest first."""
        return self.requests.in_flight

    @property
    def pending(self) -> AsrRequest | None:
        """The newest request in flight: the one whose answer the session waits for."""
        return self.requests.pending

    @property
    def interval_s(self) -> float:
        """Seconds of new audio between partials (`RequestPolicy.interval_s`)."""
        return self.requests.interval_s

    # --- input -------------------------------------------------------------------------------

    def feed(self, samples: np.ndarray, now: float) -> None:
        started = self.segmenter.feed(samples)
        if started is not None:
            self._started(started, now)
        self.latency.arrived(self.buffer.end_sample, now)
        self.latency.forget_before(min(self.buffer.start_sample, self.requests.last_result_end))

    def end_utterance(self) -> None:
        """The client said `is_final`: speech ends with the audio received so far, and the turn
        with it once that speech is settled.

        If an earlier phrase is still waiting for its final decode, the end applies to the
        speech queued behind it.
        """
        self.turns.client_ended(self.buffer.end_sample)
        self.segmenter.end_utterance()

    def interrupted(self, now: float) -> TranscriptUpdate | None:
        """The connection ended mid-turn: the words it showed (committed, and the latest
        hypothesis: nothing follows to agree with it), as a final update (or None)."""
        update = None
        if self.turns.turn is not None:
            if self.utterance is not None:
                self.stabilizer.finalize()
                self.turns.current.settled_words = len(self.stabilizer.committed)
            update = self._end_turn(now)
        self._forget()
        return update if update is not None and update.committed else None

    def reset(self, now: float) -> TranscriptUpdate | None:
        """Forget the phrase in progress (control `reset`): a turn that showed text ends with its
        settled phrases (their final update, or None)."""
        update = self._end_turn(now) if self.turns.turn is not None else None
        self._forget()
        return update

    # --- requests ----------------------------------------------------------------------------

    def finish_without_decode(self, now: float) -> TranscriptUpdate | None:
        """The update due without a decode, if any: a turn that is over (its last phrase settled,
        then the turn pause or the client's `is_final`), or the phrase's settled words when the
        last hypothesis already covered all its speech (`RequestPolicy.needs_no_final_decode`)."""
        if self._ended is not None:
            ended, self._ended = self._ended, None
            return ended
        u = self.utterance
        if u is None:
            return self._end_turn(now) if self.turns.over(self.buffer.end_sample) else None
        if u.end is None:
            return None
        unsure = bool(self.stabilizer.tentative)
        if not self.requests.needs_no_final_decode(u.start, u.end, self.segmenter.speech_end, unsure=unsure):
            return None
        self.stabilizer.finalize()
        return self._finish(now)

    def next_request(self, now: float) -> AsrRequest | None:
        """The ASR request to send now, if any (`RequestPolicy.partial_due`, `final_due`)."""
        u = self.utterance
        if u is None:
            return None
        is_final = u.end is not None
        pause_end = self.vad.pause_end
        if u.end is not None:
            end = u.end
            due = self.requests.final_due(end, self.segmenter.speech_end)
        else:
            end = self.buffer.end_sample
            due = self.requests.partial_due(end, self.segmenter.window_start, pause_end)
        if not due:
            return None
        start, audio = self.segmenter.window(end)
        request = AsrRequest(
            request_id=self.requests.next_id(),
            audio=audio,
            # Only the phrase's committed words already trimmed out of the window: words still
            # inside it would be skipped by the decoder. (Earlier utterances' text as a prompt was
            # measured worse, with hallucinated phrases, and so were earlier phrases' of the same
            # turn: docs/decisions/0001, 0029.)
            prompt=self.stabilizer.prompt(before=self._seconds(start), since=self._prompt_since),
            is_final=is_final,
            window_start=start,
            window_end=end,
            sent_at=now,
            behind=self.requests.behind,
            closing=not is_final and pause_end is not None,
        )
        self.requests.sent(request)
        return request

    def retry(self, now: float) -> AsrRequest | None:
        """The newest request again (after a time-out), under a new id so a late answer is ignored."""
        return self.requests.retry(now)

    def abandon(self, now: float) -> TranscriptUpdate | None:
        """The request failed for good: drop the phrase's undecoded audio, keep its committed text.
        An abandoned final decode settles the phrase with the words it has (the update)."""
        pending = self.requests.abandon()
        if pending is not None and pending.is_final and self.utterance is not None:
            self.stabilizer.finalize()
            return self._finish(now)
        return None

    # --- results -----------------------------------------------------------------------------

    def on_result(self, request_id: str, segments: list[dict], now: float) -> TranscriptUpdate | None:
        """Apply an ASR answer; stale answers (not in flight, or older than one applied) are ignored."""
        if self.utterance is None:
            return None
        request = self.requests.answered(request_id, now)
        if request is None:
            return None
        parsed = [Segment.from_dict(s, offset=self._seconds(request.window_start)) for s in segments]
        self._heard_language = next((s["language"] for s in segments if s.get("language")), self._heard_language)
        if request.is_final:
            self.stabilizer.finalize(parsed)
            if not self._cut_if_stalled(request):
                return self._finish(now)
            shown: tuple[Word, ...] = ()  # the rest of the phrase gets a final decode of its own
        else:
            update = self.stabilizer.update(parsed, window_s=self._seconds(request.window_end - request.window_start))
            shown = update.shown
            if not self._cut_if_stalled(request):
                self.segmenter.trim_window(self.stabilizer.committed_end if self.stabilizer.committed else None)
        latencies = self.latency.first_appearances(self.stabilizer.committed + shown, now)
        return self._shown(
            TranscriptUpdate(
                self.turns.current.id,
                words_text(self.stabilizer.committed),
                words_text(shown),
                False,
                self._session_time(self.turns.current.start),
                self._session_time(request.window_end),
                self._seconds(self.buffer.end_sample - request.window_end),
                word_latencies=latencies,
                words=self._session_words(self.stabilizer.committed),
                tentative_words=self._session_words(shown),
            )
        )

    def _cut_if_stalled(self, request: AsrRequest) -> bool:
        """Cut the window at the committed words if the decode stalled (`_stalled`); the answers
        so far then cover nothing past the cut, so the phrase is not settled without a decode of
        the rest. When the window already starts there (the committed words did not move since
        the last cut), a partial's answer covers nothing past the words it wrote: the phrase then
        gets a final decode, which commits them and cuts past them."""
        if not (self._stalled(request) and self.stabilizer.committed):
            return False
        if not self.segmenter.trim_window(self.stabilizer.committed_end, stalled=True):
            if not request.is_final:
                self.requests.rewind(round(self._heard_to(request) * self.config.sample_rate))
            return False
        self.requests.rewind(self.segmenter.window_start)
        return True

    def _stalled(self, request: AsrRequest) -> bool:
        """Whether the decode wrote nothing for the last `STALL_S` of speech it heard. Whisper
        stops early where a phrase switches language (Mandarin with a few English words: the rest
        of the phrase was lost, docs/decisions/0047); a window cut at the committed words lets the
        next decode start past the switch."""
        return self._seconds(request.window_end) - self._heard_to(request) >= STALL_S

    def _heard_to(self, request: AsrRequest) -> float:
        """Where the words written so far end (the window's start if none)."""
        words = self.stabilizer.committed + self.stabilizer.tentative
        return words[-1].end if words else self._seconds(request.window_start)

    def resume_point(self, *, closing: bool = False) -> float:
        """Session seconds before which every word received is saved (or the audio was never
        speech): where a reconnecting client resumes sending (docs/decisions/0046).

        The start of the turn in progress; without one, the audio received less the onset the
        silence detector may not have confirmed yet (its padding and confirmation time, and a
        frame: it decides per frame), unless
        the connection is `closing`: then nothing more will be heard.
        """
        if self.turns.turn is not None:
            return self._session_time(self.turns.turn.start)
        if closing:
            return self._session_time(self.buffer.end_sample)
        onset = round((self.config.vad.speech_pad_s + self.config.vad.min_speech_s) * self.config.sample_rate)
        return self._session_time(max(0, self.buffer.end_sample - onset - FRAME_SAMPLES))

    def lag_s(self) -> float:
        return self._seconds(self.buffer.end_sample - self.requests.last_request_end) if self.utterance else 0.0

    # --- internals ---------------------------------------------------------------------------

    def _started(self, phrase: Utterance, now: float) -> None:
        """A phrase starts: it continues the turn in progress or begins a new one (the old one's
        final is then due)."""
        self.requests.start(phrase.start)
        if self.turns.turn is not None and not self.turns.continues(phrase.start):
            self._ended = self._end_turn(now)
        if self.turns.phrase_started(phrase.start):
            self.stabilizer.start_phrase()
        else:
            self._heard_language = None
            self.latency.start_utterance()
            self.stabilizer.reset()
        # Its decodes hear its own audio, and neither the audio nor the text of the turn's
        # earlier phrases: both were measured worse (docs/decisions/0029).
        self._prompt_since = self._seconds(phrase.start)

    def _finish(self, now: float) -> TranscriptUpdate | None:
        """The phrase in progress is settled (its words final): the turn's update, final if the
        turn is over with it."""
        turn = self.turns.current
        committed = self.stabilizer.committed
        latencies = self.latency.first_appearances(committed, now)
        delay = turn.final_delay
        if len(committed) > turn.settled_words:
            delay = self.latency.final_delay(committed[-1].end, now)
        phrase = self.segmenter.current
        speech_end = self.segmenter.speech_end if phrase.end is not None else self.buffer.end_sample
        self.turns.phrase_settled(speech_end, len(committed), delay)
        started = self.segmenter.finish()
        ends = self.turns.over(self.buffer.end_sample) if started is None else not self.turns.continues(started.start)
        if ends:
            update = self._end_turn(now)
        else:
            update = self._shown(
                TranscriptUpdate(
                    turn.id,
                    words_text(committed),
                    "",
                    False,
                    self._session_time(turn.start),
                    self._session_time(speech_end),
                    self.lag_s(),
                    word_latencies=latencies,
                    final_delay=delay,
                    words=self._session_words(committed),
                )
            )
        if started is not None:
            self._started(started, now)
        return update

    def _end_turn(self, now: float) -> TranscriptUpdate | None:
        """The turn is over: its final update, None if it never showed anything (nothing to end)."""
        turn = self.turns.end()
        committed = self.stabilizer.committed[: turn.settled_words]
        self.stabilizer.reset()
        if not (turn.shown or committed):
            return None
        self.latency.first_appearances(committed, now)
        end = turn.speech_end if turn.speech_end is not None else self.buffer.end_sample
        if committed:
            end = max(end, int(committed[-1].end * self.config.sample_rate))
        return TranscriptUpdate(
            turn.id,
            words_text(committed),
            "",
            True,
            self._session_time(turn.start),
            self._session_time(end),
            self.lag_s(),
            final_delay=self._final_delay(turn, committed, now),
            word_latency=self.latency.word_latency(),
            language=self._heard_language,
            words=self._session_words(committed),
        )

    def _final_delay(self, turn: Turn, committed: tuple[Word, ...], now: float) -> float | None:
        """Its last phrase's, measured when it was settled; a turn cut short (a disconnect) now."""
        if turn.final_delay is not None or not committed:
            return turn.final_delay
        return self.latency.final_delay(committed[-1].end, now)

    def _forget(self) -> None:
        self.turns.turn = None
        self.segmenter.reset()
        self.stabilizer.reset()
        self.requests.abandon()
        self._ended = None

    def _shown(self, update: TranscriptUpdate) -> TranscriptUpdate:
        if update.committed or update.tentative:
            self.turns.current.shown = True
        return update

    def _seconds(self, samples: int) -> float:
        return samples / self.config.sample_rate

    def _session_time(self, sample: int) -> float:
        return self.session_offset_s + self._seconds(sample)

    def _session_words(self, words: Sequence[Word]) -> tuple[Word, ...]:
        """Words timed in this connection's audio, moved to the session's timeline."""
        offset = self.session_offset_s
        return tuple(replace(w, start=w.start + offset, end=w.end + offset) for w in words)
