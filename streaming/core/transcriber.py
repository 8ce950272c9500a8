"""Per-connection streaming transcription state: VAD -> utterance window -> stabilized text.

Pure and I/O-free: the consumer feeds audio and ASR results in (with the time, so latency can be
measured without a clock here), and acts on what comes back: ASR requests to issue and transcript
updates to show and persist. One request is in flight at a time; audio that arrives meanwhile
joins the next request (natural backpressure). The two exceptions are the ends of utterances (a
closing partial, a final), which need not queue behind a partial that cannot end the utterance;
answers are applied in the order their requests went, and each makes the older ones stale.
"""

import bisect
import itertools
import statistics
from dataclasses import dataclass, field, replace

import numpy as np

from streaming.core.audio_buffer import AudioBuffer
from streaming.core.stabilizer import LocalAgreementStabilizer, Segment, Word, words_text
from streaming.core.vad import SpeechEnd, SpeechStart, StreamingVad, VadConfig

IDLE_KEEP_S = 1.0  # audio kept before speech is confirmed, so its start is not lost
MIN_WINDOW_S = 0.3  # never decode less than this
BEHIND_MARGIN_S = 0.1  # a round trip this far above the shortest interval: the server is behind


@dataclass(frozen=True)
class TranscriberConfig:
    sample_rate: int = 16000
    max_buffer_bytes: int = 10 * 1024 * 1024
    min_interval_s: float = 0.5  # update interval while the server keeps up
    max_interval_s: float = 2.0  # CHUNK_DURATION: the interval when it falls behind
    interval_per_round_trip: float = 2.0  # between the two, the interval is this many round trips
    overlap_s: float = 0.5  # OVERLAP_DURATION: context kept before the commit point
    max_window_s: float = 12.0  # trim the window at a committed boundary past this
    force_split_s: float = 25.0  # Whisper sees 30 s: end an utterance that never pauses
    vad: VadConfig = VadConfig()


@dataclass(frozen=True)
class AsrRequest:
    request_id: str  # a counter per connection: a newer request has a larger number
    audio: np.ndarray  # float32, 16 kHz
    prompt: str
    is_final: bool
    window_start: int  # sample index (per connection)
    window_end: int
    sent_at: float
    behind: bool = False  # the session's round trips exceed its shortest interval: the lag signal
    closing: bool = False  # a partial sent once a pause lasted the padding: it may end the utterance


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


@dataclass
class _Utterance:
    id: int
    start: int
    end: int | None = None  # set when it has ended (VAD silence, is_final, forced split)
    shown_words: int = 0  # how many words the client has seen (first appearances)
    word_latencies: list[float] = field(default_factory=list)


class StreamTranscriber:
    def __init__(self, config: TranscriberConfig, *, session_offset_s: float = 0.0, first_utterance_id: int = 1):
        self.config = config
        self.session_offset_s = session_offset_s  # audio the session had before this connection
        self.buffer = AudioBuffer(config.max_buffer_bytes, config.sample_rate)
        self.vad = StreamingVad(config.vad, config.sample_rate)
        self.stabilizer = LocalAgreementStabilizer()
        self._utterance_ids = itertools.count(first_utterance_id)
        self._request_ids = itertools.count(1)
        self.utterance: _Utterance | None = None
        self.window_start = 0
        self.in_flight: list[AsrRequest] = []  # oldest first; see next_request
        self.last_request_end = 0
        self.last_result_end = 0
        self.round_trip_s = 0.0  # smoothed: request sent -> its answer
        self._pad = int(config.vad.speech_pad_s * config.sample_rate)  # the VAD's padding after speech
        self.dropped_samples = 0
        self._waiting: list[SpeechStart | SpeechEnd] = []
        self._arrival_samples: list[int] = []  # buffer end after each feed ...
        self._arrival_times: list[float] = []  # ... and when that audio arrived

    # --- input -------------------------------------------------------------------------------

    @property
    def in_utterance(self) -> bool:
        return self.utterance is not None

    def feed(self, samples: np.ndarray, now: float) -> None:
        self.dropped_samples += self.buffer.append(samples)
        self._arrival_samples.append(self.buffer.end_sample)
        self._arrival_times.append(now)
        for event in self.vad.feed(samples):
            if self.utterance is not None and self.utterance.end is not None:
                self._waiting.append(event)  # the next utterance's events wait for this one's final
            else:
                self._apply(event)
        if self.utterance is None:
            self.buffer.trim_before(self.buffer.end_sample - int(IDLE_KEEP_S * self.config.sample_rate))
        elif (
            self.utterance.end is None
            and self._seconds(self.buffer.end_sample - self.window_start) > self.config.force_split_s
        ):
            self.utterance.end = self.buffer.end_sample
        self._forget_arrivals_before(min(self.buffer.start_sample, self.last_result_end))

    def _apply(self, event: SpeechStart | SpeechEnd) -> None:
        if isinstance(event, SpeechStart) and self.utterance is None:
            self._start_utterance(event.sample)
        elif isinstance(event, SpeechEnd) and self.utterance is not None and self.utterance.end is None:
            self.utterance.end = max(event.sample, self.utterance.start)

    def end_utterance(self) -> None:
        """The client said `is_final`: speech ends with the audio received so far.

        If an earlier utterance is still waiting for its final decode, the end applies to the
        speech queued behind it.
        """
        end = SpeechEnd(self.buffer.end_sample)
        if self.utterance is not None and self.utterance.end is not None:
            if any(isinstance(e, SpeechStart) for e in self._waiting):
                self._waiting.append(end)
        elif self.utterance is not None:
            self._apply(end)
        self.vad.reset()

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
        self.buffer.clear()
        self.vad.reset()
        self.stabilizer.reset()
        self.utterance = None
        self.in_flight = []
        self._waiting = []

    @property
    def pending(self) -> AsrRequest | None:
        """The newest request in flight: the one whose answer the session waits for."""
        return self.in_flight[-1] if self.in_flight else None

    # --- requests ----------------------------------------------------------------------------

    def finish_without_decode(self, now: float) -> TranscriptUpdate | None:
        """Final text from the last hypothesis when it already covered all the speech.

        The silence detector needs VAD_MIN_SILENCE to end an utterance; a decode made during that
        silence saw every word. When it also covered the padding after the speech, it heard all
        the final decode would; when it only reached the speech end, it is trusted where it
        agreed with the one before it (nothing tentative). Decoding again would only add its
        cost to the final delay.
        """
        u = self.utterance
        if u is None or u.end is None or self.in_flight:
            return None
        if self.last_result_end < self._speech_end() or self.last_result_end <= u.start:
            return None
        if self.stabilizer.tentative and self.last_result_end < u.end:
            return None  # cut at the speech end, and unsure: decode the whole utterance
        self.stabilizer.finalize()
        return self._finish(now)

    def next_request(self, now: float) -> AsrRequest | None:
        """The ASR request to send now, if any.

        One is in flight at a time, but for the ends of utterances: the final decode need not
        wait for a partial still in flight (`_final_skips_pending`), nor the closing partial for
        one that stops short of the pause (`_closing_skips_pending`). The earlier partial's answer
        still shows its words if it comes first; the decodes are the ones a wait would have made,
        only sooner.
        """
        u = self.utterance
        if u is None:
            return None
        is_final = u.end is not None
        if self.in_flight and not (self._final_skips_pending() if is_final else self._closing_skips_pending()):
            return None
        end = u.end if is_final else self.buffer.end_sample
        if not is_final and not self._partial_due(end):
            return None
        start = max(self.window_start, self.buffer.start_sample)
        request = AsrRequest(
            request_id=str(next(self._request_ids)),
            audio=self.buffer.window(start)[: end - start],
            # Only committed words already trimmed out of the window: words still inside it would
            # be skipped by the decoder. (Earlier utterances' text as a prompt was measured worse,
            # with hallucinated phrases: docs/decisions/0001.)
            prompt=self.stabilizer.prompt(before=self._seconds(start)),
            is_final=is_final,
            window_start=start,
            window_end=end,
            sent_at=now,
            behind=self._behind(),
            closing=not is_final and self.vad.pause_end is not None,
        )
        self.in_flight.append(request)
        self.last_request_end = end
        return request

    def _partial_due(self, end: int) -> bool:
        """A partial goes every update interval, and once a pause has lasted the VAD's padding
        (one due earlier in the pause waits for that point): should the pause end the utterance,
        this closing partial heard all the final decode would, so the final needs no decode
        (`finish_without_decode`)."""
        if self._seconds(end - self.window_start) < MIN_WINDOW_S:
            return False
        closing = self.vad.pause_end
        if closing is not None and end < closing:
            return False
        if self._seconds(end - self.last_request_end) >= self.interval_s:
            return True
        return closing is not None and closing > self.last_request_end

    def _speech_end(self) -> int:
        """Where the ended utterance's speech stops: its end less the VAD's padding."""
        return self.utterance.end - self._pad

    def _behind(self) -> bool:
        """The server answers slower than the shortest update interval: the lag signal."""
        return self.round_trip_s > self.config.min_interval_s + BEHIND_MARGIN_S

    def _closing_skips_pending(self) -> bool:
        """Whether the closing partial goes while a partial is in flight: that one was sent
        before the pause began, so it cannot end the utterance, and waiting for its answer would
        add up to a round trip to the final delay under load. Never more than two in flight.
        (Whether the pause has lasted the padding yet is `_partial_due`'s to say.)"""
        closing = self.vad.pause_end
        return closing is not None and len(self.in_flight) == 1 and self.pending.window_end < closing

    def _final_skips_pending(self) -> bool:
        """Whether the final decode goes while a partial is in flight. The partial is waited for
        only where it may finish the utterance without a decode: it heard the whole final window
        (a closing partial: it will), or it reached the end of the speech and the server keeps up
        (when behind, most of those still needed the final decode, after a wait that made up much
        of the final delay: docs/decisions/0007)."""
        p, u = self.pending, self.utterance
        if p.is_final or p.window_end >= u.end:
            return False
        return p.window_end < self._speech_end() or self._behind()

    def retry(self, now: float) -> AsrRequest | None:
        """The newest request again (after a time-out), under a new id so a late answer is ignored."""
        if not self.in_flight:
            return None
        self.in_flight[-1] = replace(self.in_flight[-1], request_id=str(next(self._request_ids)), sent_at=now)
        return self.in_flight[-1]

    def abandon(self) -> None:
        """The request failed for good: drop the utterance's undecoded audio, keep its committed text."""
        pending, self.in_flight = self.pending, []
        if pending is not None and pending.is_final:
            self.stabilizer.finalize()
            self._finish_state()

    # --- results -----------------------------------------------------------------------------

    def on_result(self, request_id: str, segments: list[dict], now: float) -> TranscriptUpdate | None:
        """Apply an ASR answer; stale answers (not in flight, or older than one applied) are ignored."""
        index = next((i for i, r in enumerate(self.in_flight) if r.request_id == request_id), None)
        if index is None or self.utterance is None:
            return None
        request = self.in_flight[index]
        del self.in_flight[: index + 1]
        self.last_result_end = request.window_end
        self._adapt_interval(now - request.sent_at)
        parsed = [Segment.from_dict(s, offset=self._seconds(request.window_start)) for s in segments]
        if request.is_final:
            self.stabilizer.finalize(parsed)
            return self._finish(now)
        update = self.stabilizer.update(parsed, window_s=self._seconds(request.window_end - request.window_start))
        latencies = self._first_appearances(self.stabilizer.committed + update.tentative, now)
        self._trim_window()
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

    # --- figures -----------------------------------------------------------------------------

    @property
    def interval_s(self) -> float:
        """Seconds of new audio between partials: `interval_per_round_trip` round trips, so a
        loaded server is left idle time and its queue stays short for the closing partials and
        finals (docs/decisions/0014); one student's round trip is short and the
        shortest interval holds."""
        c = self.config
        return min(c.max_interval_s, max(c.min_interval_s, c.interval_per_round_trip * self.round_trip_s))

    def lag_s(self) -> float:
        return self._seconds(self.buffer.end_sample - self.last_request_end) if self.utterance else 0.0

    # --- internals ---------------------------------------------------------------------------

    def _start_utterance(self, sample: int) -> None:
        start = max(sample, self.buffer.start_sample)
        self.utterance = _Utterance(id=next(self._utterance_ids), start=start)
        self.window_start = start
        self.last_request_end = start
        self.last_result_end = start
        self.stabilizer.reset()

    def _finish(self, now: float) -> TranscriptUpdate:
        committed = self.stabilizer.committed
        self._first_appearances(committed, now)
        end = committed[-1].end if committed else self._seconds(self.utterance.end or self.buffer.end_sample)
        update = self._final_update(end, now)
        self._finish_state()
        return update

    def _final_update(self, speech_end_s: float, now: float) -> TranscriptUpdate:
        u = self.utterance
        latencies = u.word_latencies
        arrived = self._arrival_time(int(speech_end_s * self.config.sample_rate))
        return TranscriptUpdate(
            u.id,
            words_text(self.stabilizer.committed),
            "",
            True,
            self._session_time(u.start),
            self.session_offset_s + speech_end_s,
            self.lag_s(),
            final_delay=None if arrived is None else max(0.0, now - arrived),
            word_latency=statistics.median(latencies) if latencies else None,
        )

    def _finish_state(self) -> None:
        end = self.utterance.end if self.utterance.end is not None else self.buffer.end_sample
        self.buffer.trim_before(end)
        self.stabilizer.reset()
        self.utterance = None
        waiting, self._waiting = self._waiting, []
        # Speech that went on past a forced split or `is_final` continues as the next utterance.
        if (waiting and isinstance(waiting[0], SpeechEnd)) or (not waiting and self.vad.in_speech):
            self._start_utterance(end)
        for index, event in enumerate(waiting):
            if self.utterance is not None and self.utterance.end is not None:
                self._waiting = waiting[index:]
                break
            self._apply(event)

    def _first_appearances(self, shown: tuple[Word, ...], now: float) -> tuple[float, ...]:
        """Latency of each word shown for the first time: now minus when its audio arrived."""
        u = self.utterance
        latencies = []
        for word in shown[u.shown_words :]:
            arrived = self._arrival_time(int(word.end * self.config.sample_rate))
            if arrived is not None:
                latencies.append(max(0.0, now - arrived))
        u.shown_words = max(u.shown_words, len(shown))
        u.word_latencies.extend(latencies)
        return tuple(latencies)

    def _arrival_time(self, sample: int) -> float | None:
        index = bisect.bisect_left(self._arrival_samples, sample)
        if index == len(self._arrival_samples):
            index -= 1
        return self._arrival_times[index] if index >= 0 else None

    def _forget_arrivals_before(self, sample: int) -> None:
        keep = bisect.bisect_left(self._arrival_samples, sample)
        if keep > 256:  # amortised: prune in batches
            del self._arrival_samples[:keep]
            del self._arrival_times[:keep]

    def _trim_window(self) -> None:
        """Keep the decode window short: cut it at the committed boundary minus some context."""
        window_s = self._seconds(self.buffer.end_sample - self.window_start)
        if window_s <= self.config.max_window_s or not self.stabilizer.committed:
            return
        cut = int((self.stabilizer.committed_end - self.config.overlap_s) * self.config.sample_rate)
        if cut > self.window_start:
            self.window_start = cut
            self.buffer.trim_before(cut)

    def _adapt_interval(self, round_trip_s: float) -> None:
        self.round_trip_s = 0.5 * self.round_trip_s + 0.5 * round_trip_s

    def _seconds(self, samples: int) -> float:
        return samples / self.config.sample_rate

    def _session_time(self, sample: int) -> float:
        return self.session_offset_s + self._seconds(sample)
