"""Prometheus metrics: plain functions the streaming code calls (streaming/web/exposition.py serves them).

Counters and histograms live in the process that serves the WebSocket, so with several daphne
processes each one exposes its own (scrape each process, or sum them in PromQL). Setting
PROMETHEUS_MULTIPROC_DIR (an empty directory, before the processes start) switches to
prometheus-client's multiprocess mode: any process's /metrics then reports the sum of all.
"""

import os
import re

from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0)
_ERROR_CODE = re.compile(r"^[a-z0-9_]{1,40}$")

SESSIONS_OPENED = Counter("llb_sessions_opened", "Session WebSocket connections accepted.")
SESSIONS_CLOSED = Counter("llb_sessions_closed", "Session WebSocket connections ended.")
SESSIONS_CONNECTED = Gauge("llb_sessions_connected", "Session WebSockets open now.", multiprocess_mode="livesum")
AUDIO_SECONDS = Counter("llb_audio_received_seconds", "Seconds of student audio received.")
UTTERANCES = Counter("llb_utterances", "Finished student utterances (final transcriptions).")
UTTERANCE_AUDIO = Counter("llb_utterance_audio_seconds", "Seconds of speech in finished utterances.")
FINAL_DELAY = Histogram(
    "llb_final_delay_seconds", "End of speech to final transcription, per utterance.", buckets=LATENCY_BUCKETS
)
WORD_LATENCY = Histogram(
    "llb_word_latency_seconds", "Word spoken to word first shown, per word.", buckets=LATENCY_BUCKETS
)
REPLIES = Counter("llb_replies", "Spoken replies delivered.")
FIRST_AUDIO = Histogram(
    "llb_reply_first_audio_seconds", "Reply requested to its first audio sent.", buckets=LATENCY_BUCKETS
)
ERRORS = Counter("llb_errors", "Errors sent to clients, by protocol error code.", ["code"])


# --- what the streaming code calls ------------------------------------------------------------


def session_opened() -> None:
    """A WebSocket was accepted for a session (after authorization)."""
    SESSIONS_OPENED.inc()
    SESSIONS_CONNECTED.inc()


def session_closed() -> None:
    """That WebSocket ended (call once per session_opened, from disconnect)."""
    SESSIONS_CLOSED.inc()
    SESSIONS_CONNECTED.dec()


def audio_received(seconds: float) -> None:
    if seconds > 0:
        AUDIO_SECONDS.inc(seconds)


def words_shown(latencies: tuple[float, ...] | list[float]) -> None:
    """Words shown for the first time (each update's `word_latencies`): one observation per word."""
    for latency in latencies:
        if latency is not None and latency >= 0:
            WORD_LATENCY.observe(latency)


def utterance_finished(
    audio_seconds: float, final_delay: float | None, word_latencies: tuple[float, ...] | list[float] = ()
) -> None:
    """A final transcription: its speech length and final delay (and words not yet passed to words_shown)."""
    UTTERANCES.inc()
    if audio_seconds > 0:
        UTTERANCE_AUDIO.inc(audio_seconds)
    if final_delay is not None and final_delay >= 0:
        FINAL_DELAY.observe(final_delay)
    words_shown(word_latencies)


def reply_finished(first_audio_latency: float | None) -> None:
    REPLIES.inc()
    if first_audio_latency is not None and first_audio_latency >= 0:
        FIRST_AUDIO.observe(first_audio_latency)


def error(code: str) -> None:
    """An `error` message sent to a client; unknown-looking codes are folded into one label."""
    ERRORS.labels(code=code if _ERROR_CODE.match(code or "") else "other").inc()
