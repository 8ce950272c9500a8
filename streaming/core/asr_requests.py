"""The request policy: when to ask for a partial or a final decode, and the requests in flight.

One request is in flight at a time; audio that arrives meanwhile joins the next request (natural
backpressure). The two exceptions are the ends of utterances (a closing partial, a final), which
need not queue behind a partial that cannot end the utterance; answers are applied in the order
their requests went, and each makes the older ones stale. The update interval follows the round
trip, so a loaded server is left idle time.
"""

import itertools
from dataclasses import dataclass, replace

import numpy as np

MIN_WINDOW_S = 0.3  # never decode less than this
BEHIND_MARGIN_S = 0.1  # a round trip this far above the shortest interval: the server is behind


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


class RequestPolicy:
    """Decides when a decode goes, from what was requested and answered of the utterance so far.

    Positions are sample indices; `pause_end` is the VAD's (where the speech ends should the
    silence in progress last), `speech_end` an ended utterance's end less the VAD's padding.
    """

    def __init__(
        self, *, min_interval_s: float, max_interval_s: float, interval_per_round_trip: float, sample_rate: int
    ):
        self.min_interval_s = min_interval_s  # update interval while the server keeps up
        self.max_interval_s = max_interval_s  # the interval when it falls behind
        self.interval_per_round_trip = interval_per_round_trip
        self.sample_rate = sample_rate
        self.in_flight: list[AsrRequest] = []  # oldest first
        self.last_request_end = 0
        self.last_result_end = 0
        self.round_trip_s = 0.0  # smoothed: request sent -> its answer
        self._ids = itertools.count(1)

    def start(self, sample: int) -> None:
        """An utterance starts at `sample`: nothing of it requested or answered yet."""
        self.last_request_end = sample
        self.last_result_end = sample

    @property
    def pending(self) -> AsrRequest | None:
        """The newest request in flight: the one whose answer the session waits for."""
        return self.in_flight[-1] if self.in_flight else None

    @property
    def interval_s(self) -> float:
        """Seconds of new audio between partials: `interval_per_round_trip` round trips, so a
        loaded server is left idle time and its queue stays short for the closing partials and
        finals (docs/decisions/0014); one student's round trip is short and the
        shortest interval holds."""
        return min(self.max_interval_s, max(self.min_interval_s, self.interval_per_round_trip * self.round_trip_s))

    @property
    def behind(self) -> bool:
        """The server answers slower than the shortest update interval: the lag signal."""
        return self.round_trip_s > self.min_interval_s + BEHIND_MARGIN_S

    # --- when ------------------------------------------------------------------------------

    def partial_due(self, end: int, window_start: int, pause_end: int | None) -> bool:
        """Whether a partial of the window up to `end` goes now.

        A partial goes every update interval, and once a pause has lasted the VAD's padding
        (one due earlier in the pause waits for that point): should the pause end the utterance,
        this closing partial heard all the final decode would, so the final needs no decode
        (`needs_no_final_decode`). It waits for a partial in flight unless it is the closing one
        and that one stops short of the pause (`_closing_skips_pending`).
        """
        if self.in_flight and not self._closing_skips_pending(pause_end):
            return False
        if self._seconds(end - window_start) < MIN_WINDOW_S:
            return False
        if pause_end is not None and end < pause_end:
            return False
        if self._seconds(end - self.last_request_end) >= self.interval_s:
            return True
        return pause_end is not None and pause_end > self.last_request_end

    def final_due(self, end: int, speech_end: int) -> bool:
        """Whether the final decode of an utterance ended at `end` goes now: at once, unless a
        partial in flight may still finish the utterance without it (`_final_skips_pending`).
        The earlier partial's answer still shows its words if it comes first; the decodes are the
        ones a wait would have made, only sooner."""
        return not self.in_flight or self._final_skips_pending(end, speech_end)

    def needs_no_final_decode(self, start: int, end: int, speech_end: int, *, unsure: bool) -> bool:
        """Whether the answers so far already hold the final text of the utterance
        [`start`, `end`); `unsure`: words of the last hypothesis are still tentative.

        The silence detector needs VAD_MIN_SILENCE to end an utterance; a decode made during that
        silence saw every word. When it also covered the padding after the speech, it heard all
        the final decode would; when it only reached the speech end, it is trusted where it
        agreed with the one before it (nothing tentative). Decoding again would only add its
        cost to the final delay.
        """
        if self.in_flight:
            return False
        if self.last_result_end < speech_end or self.last_result_end <= start:
            return False
        return not (unsure and self.last_result_end < end)  # cut at the speech end, and unsure: decode

    def _closing_skips_pending(self, pause_end: int | None) -> bool:
        """Whether the closing partial goes while a partial is in flight: that one was sent
        before the pause began, so it cannot end the utterance, and waiting for its answer would
        add up to a round trip to the final delay under load. Never more than two in flight.
        (Whether the pause has lasted the padding yet is `partial_due`'s to say.)"""
        return pause_end is not None and len(self.in_flight) == 1 and self.in_flight[0].window_end < pause_end

    def _final_skips_pending(self, end: int, speech_end: int) -> bool:
        """Whether the final decode goes while a partial is in flight. The partial is waited for
        only where it may finish the utterance without a decode: it heard the whole final window
        (a closing partial: it will), or it reached the end of the speech and the server keeps up
        (when behind, most of those still needed the final decode, after a wait that made up much
        of the final delay: docs/decisions/0007). Asked only with a request in flight."""
        p = self.in_flight[-1]
        if p.is_final or p.window_end >= end:
            return False
        return p.window_end < speech_end or self.behind

    # --- bookkeeping -----------------------------------------------------------------------

    def next_id(self) -> str:
        return str(next(self._ids))

    def sent(self, request: AsrRequest) -> None:
        self.in_flight.append(request)
        self.last_request_end = request.window_end

    def answered(self, request_id: str, now: float) -> AsrRequest | None:
        """The request this answers, now no longer in flight (nor any older one); None when the
        answer is stale (not in flight, or older than one applied)."""
        index = next((i for i, r in enumerate(self.in_flight) if r.request_id == request_id), None)
        if index is None:
            return None
        request = self.in_flight[index]
        del self.in_flight[: index + 1]
        self.last_result_end = request.window_end
        self.round_trip_s = 0.5 * self.round_trip_s + 0.5 * (now - request.sent_at)
        return request

    def rewind(self, sample: int) -> None:
        """The answers so far cover nothing from `sample` on (the window was cut there after a
        decode that stopped short): the phrase needs a decode of that audio before it settles."""
        self.last_result_end = min(self.last_result_end, sample)

    def retry(self, now: float) -> AsrRequest | None:
        """The newest request again (after a time-out), under a new id so a late answer is ignored."""
        if not self.in_flight:
            return None
        self.in_flight[-1] = replace(self.in_flight[-1], request_id=self.next_id(), sent_at=now)
        return self.in_flight[-1]

    def abandon(self) -> AsrRequest | None:
        """Wait for no answer any more; returns the newest request that was in flight."""
        pending, self.in_flight = self.pending, []
        return pending

    def _seconds(self, samples: int) -> float:
        return samples / self.sample_rate
