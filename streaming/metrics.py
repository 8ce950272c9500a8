"""Prometheus metrics: plain functions the streaming code calls, and figures read at scrape time.

Counters and histograms live in the process that serves the WebSocket, so with several daphne
processes each one exposes its own (scrape each process, or sum them in PromQL). Setting
PROMETHEUS_MULTIPROC_DIR (an empty directory, before the processes start) switches to
prometheus-client's multiprocess mode: any process's /metrics then reports the sum of all.
Figures from the database and the channel layer (sessions by status, worker heartbeats, queued
requests) are read when scraped, so every process reports the same values for them.
"""

import logging
import os
import re

from django.db import DatabaseError
from django.db.models import Count
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .models import SessionStatus, StreamingSession, WorkerHeartbeat, WorkerKind

log = logging.getLogger(__name__)

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


# --- figures read at scrape time --------------------------------------------------------------


class ServiceCollector(Collector):
    """Sessions by status, worker heartbeats and queued worker requests, read when scraped."""

    NAMES = (
        "llb_sessions",
        "llb_worker_up",
        "llb_worker_heartbeat_age_seconds",
        "llb_workers_alive",
        "llb_worker_channel_pending",
    )

    def describe(self):
        """Names only: registering must not query the database (it may not be reachable yet)."""
        yield from (GaugeMetricFamily(name, "") for name in self.NAMES)
        yield CounterMetricFamily("llb_worker_requests_handled", "")

    def collect(self):
        try:
            yield from self._sessions()
            yield from self._workers()
        except DatabaseError:
            log.exception("metrics: the database could not be read")
        yield from self._pending()

    def _sessions(self):
        family = GaugeMetricFamily("llb_sessions", "Sessions in the database, by status.", labels=["status"])
        counts = dict(StreamingSession.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in SessionStatus.values:
            family.add_metric([status], counts.get(status, 0))
        yield family

    def _workers(self):
        from .selectors import live_workers

        labels = ["kind", "host", "pid", "model", "device"]
        up = GaugeMetricFamily("llb_worker_up", "1 while the worker's heartbeat is fresh, 0 once stale.", labels=labels)
        age = GaugeMetricFamily("llb_worker_heartbeat_age_seconds", "Seconds since the last heartbeat.", labels=labels)
        handled = CounterMetricFamily("llb_worker_requests_handled", "Requests served by the worker.", labels=labels)
        alive = GaugeMetricFamily("llb_workers_alive", "Workers with a fresh heartbeat, by kind.", labels=["kind"])
        now = timezone.now()
        fresh = {kind: set(live_workers(kind).values_list("pk", flat=True)) for kind in WorkerKind.values}
        for worker in WorkerHeartbeat.objects.order_by("kind", "host", "pid"):
            values = [worker.kind, worker.host, str(worker.pid), worker.model, worker.device]
            up.add_metric(values, 1 if worker.pk in fresh.get(worker.kind, ()) else 0)
            age.add_metric(values, max(0.0, (now - worker.last_seen_at).total_seconds()))
            handled.add_metric(values, worker.requests_handled)
        for kind in WorkerKind.values:
            alive.add_metric([kind], len(fresh[kind]))
        yield from (up, age, handled, alive)

    def _pending(self):
        from .health import pending_requests
        from .workers import ALL_WORKER_CHANNELS

        family = GaugeMetricFamily(
            "llb_worker_channel_pending", "Requests queued on a worker channel, not yet taken.", labels=["channel"]
        )
        for channel in ALL_WORKER_CHANNELS:
            try:
                family.add_metric([channel], pending_requests(channel))
            except Exception:  # an unreachable layer must not break the whole scrape
                log.warning("metrics: could not read the %s channel queue", channel, exc_info=True)
        yield family


_service_collector = ServiceCollector()
if not MULTIPROCESS:
    REGISTRY.register(_service_collector)


def exposition() -> tuple[bytes, str]:
    """The text exposition of every metric, and its content type."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(_service_collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
