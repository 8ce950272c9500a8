"""Per-connection streaming transcription state: VAD -> utterance window -> stabilized text.

Pure and I/O-free: the consumer feeds audio and ASR results in (with the time, so latency can be
measured without a clock here), and acts on what comes back: ASR requests to issue and transcript
updates to show and persist. `StreamTranscriber` composes small parts that each hold one concern:
`UtteranceSegmenter` (utterances and the audio window), `RequestPolicy` (when a decode goes, the
requests in flight), `LocalAgreementStabilizer` (which words are settled) and `LatencyTracker`
(word latencies, final delays); it turns their state into requests and updates.
"""

from dataclasses import dataclass

import numpy as np

from streaming.core.asr_requests import AsrRequest, RequestPolicy
from streaming.core.audio import SAMPLE_RATE
from streaming.core.audio_buffer import AudioBuffer
from streaming.core.latency import LatencyTracker
from streaming.core.stabilizer import LocalAgreementStabilizer, Segment, words_text
from streaming.core.utterances import Utterance, UtteranceSegmenter
from streaming.core.vad import StreamingVad, VadConfig


@dataclass(frozen=True)
class TranscriberConfig:
    sample_rate: int = SAMPLE_RATE
    max_buffer_bytes: int = 10 * 1024 * 1024
    min_interval_s: float = 0.5  # update interval while the server keeps up
    max_interval_s: float = 2.0  # CHUNK_DURATION: the interval when it falls behind
    interval_per_round_trip: float = 2.0  # between the two, the interval is this many round trips
    overlap_s: float = 0.5  # OVERLAP_DURATION: context kept before the commit point
    max_window_s: float = 12.0  # trim the window at a committed boundary past this
    force_split_s: float = 25.0  # Whisper sees 30 s: end an utterance that never pauses
    vad: VadConfig = VadConfig()


@dataclass(frozen=True)
class TranscriptUpdate:
    utterance_id: int
    committed: str  # all committed text of the utterance; never revised
    tentative: str
    is_final: bool
    start: float  # seconds in the session's audio
    end: float
    lag: float  # seconds of received audio not yet covered by a result
    word_latencies: tuple[float, ...] = ()  # words shown for the first time by this update
    final_delay: float | None = None  # final only: end of speech received -> final text
    word_latency: float | None = None  # final only: median over the utterance's words
    language: str | None = None  # final only: the language the model heard (detected, for `auto`)


class StreamTranscriber:
    """One connection's transcription: the parts below, turned into requests and updates."""

    def __init__(self, config: TranscriberConfig, *, session_offset_s: float = 0.0, first_utterance_id: int = 1):
        self.config = config
        self.session_offset_s = session_offset_s  # audio the session had before this connection
        self.segmenter = UtteranceSegmenter(
            AudioBuffer(config.max_buffer_bytes, config.sample_rate),
            StreamingVad(config.vad, config.sample_rate),
            force_split_s=config.force_split_s,
            max_window_s=config.max_window_s,
            overlap_s=config.overlap_s,
            first_utterance_id=first_utterance_id,
        )
        self.requests = RequestPolicy(
            min_interval_s=config.min_interval_s,
            max_interval_s=config.max_interval_s,
            interval_per_round_trip=config.interval_per_round_trip,
            sample_rate=config.sample_rate,
        )
        self.stabilizer = LocalAgreementStabilizer()
        self.latency = LatencyTracker(config.sample_rate)
        self._heard_language: str | None = None  # of the utterance's latest answer

    # --- what callers read of the parts (status figures, tests) --------------------------------

    @property
    def buffer(self) -> AudioBuffer:
        return self.segmenter.buffer

    @property
    def vad(self) -> StreamingVad:
        return self.segmenter.vad

    @property
    def utterance(self) -> Utterance | None:
        return self.segmenter.utterance

    @property
    def in_utterance(self) -> bool:
        return self.utterance is not None

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
            self._started(started)
        self.latency.arrived(self.buffer.end_sample, now)
        self.latency.forget_before(min(self.buffer.start_sample, self.requests.last_result_end))

    def end_utterance(self) -> None:
        """The client said `is_final`: speech ends with the audio received so far.

        If an earlier utterance is still waiting for its final decode, the end applies to the
        speech queued behind it.
        """
        self.segmenter.end_utterance()

    def interrupted(self, now: float) -> TranscriptUpdate | None:
        """The connection ended mid-utterance: the words it showed (committed, and the latest
        hypothesis: nothing follows to agree with it), as a final update (or None)."""
        if self.utterance is None:
            return None
        self.stabilizer.finalize()
        if not self.stabilizer.committed:
            return None
        update = self._final_update(self.stabilizer.committed[-1].end, now)
        self.reset()
        return update

    def reset(self) -> None:
        """Forget the utterance in progress (control `reset`)."""
        self.segmenter.reset()
        self.stabilizer.reset()
        self.requests.abandon()

    # --- requests ----------------------------------------------------------------------------

    def finish_without_decode(self, now: float) -> TranscriptUpdate | None:
        """Final text from the last hypothesis when it already covered all the speech
        (`RequestPolicy.needs_no_final_decode`)."""
        u = self.utterance
        if u is None or u.end is None:
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
            # Only committed words already trimmed out of the window: words still inside it would
            # be skipped by the decoder. (Earlier utterances' text as a prompt was measured worse,
            # with hallucinated phrases: docs/decisions/0001.)
            prompt=self.stabilizer.prompt(before=self._seconds(start)),
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

    def abandon(self) -> None:
        """The request failed for good: drop the utterance's undecoded audio, keep its committed text."""
        pending = self.requests.abandon()
        if pending is not None and pending.is_final:
            self.stabilizer.finalize()
            self._finish_state()

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
            return self._finish(now)
        update = self.stabilizer.update(parsed, window_s=self._seconds(request.window_end - request.window_start))
        latencies = self.latency.first_appearances(self.stabilizer.committed + update.tentative, now)
        self.segmenter.trim_window(self.stabilizer.committed_end if self.stabilizer.committed else None)
        return TranscriptUpdate(
            self.utterance.id,
            words_text(self.stabilizer.committed),
            words_text(update.tentative),
            False,
            self._session_time(self.utterance.start),
            self._session_time(request.window_end),
            self._seconds(self.buffer.end_sample - request.window_end),
            word_latencies=latencies,
        )

    def lag_s(self) -> float:
        return self._seconds(self.buffer.end_sample - self.requests.last_request_end) if self.utterance else 0.0

    # --- internals ---------------------------------------------------------------------------

    def _started(self, utterance: Utterance) -> None:
        self._heard_language = None
        self.requests.start(utterance.start)
        self.latency.start_utterance()
        self.stabilizer.reset()

    def _finish(self, now: float) -> TranscriptUpdate:
        committed = self.stabilizer.committed
        self.latency.first_appearances(committed, now)
        end = committed[-1].end if committed else self._seconds(self.segmenter.current.end or self.buffer.end_sample)
        update = self._final_update(end, now)
        self._finish_state()
        return update

    def _final_update(self, speech_end_s: float, now: float) -> TranscriptUpdate:
        u = self.segmenter.current
        return TranscriptUpdate(
            u.id,
            words_text(self.stabilizer.committed),
            "",
            True,
            self._session_time(u.start),
            self.session_offset_s + speech_end_s,
            self.lag_s(),
            final_delay=self.latency.final_delay(speech_end_s, now),
            word_latency=self.latency.word_latency(),
            language=self._heard_language,
        )

    def _finish_state(self) -> None:
        self.stabilizer.reset()
        started = self.segmenter.finish()
        if started is not None:
            self._started(started)

    def _seconds(self, samples: int) -> float:
        return samples / self.config.sample_rate

    def _session_time(self, sample: int) -> float:
        return self.session_offset_s + self._seconds(sample)
