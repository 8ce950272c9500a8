"""The /metrics exposition: the streaming code's counters (streaming/metrics.py) and figures read
at scrape time from the database and the channel layer (sessions by status, worker heartbeats,
queued requests), so every process reports the same values for those.
"""

import logging

from django.db import DatabaseError
from django.db.models import Count
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from streaming import asr_models
from streaming.metrics import MULTIPROCESS
from streaming.models import SessionStatus, StreamingSession, WorkerHeartbeat, WorkerKind
from streaming.realtime.channel_layers import pending_requests
from streaming.realtime.messages import all_worker_channels
from streaming.selectors import live_workers

log = logging.getLogger(__name__)


# --- figures read at scrape time --------------------------------------------------------------


class ServiceCollector(Collector):
    """Sessions by status, worker heartbeats and queued worker requests, read when scraped."""

    NAMES = (
        "llb_sessions",
        "llb_worker_up",
        "llb_worker_heartbeat_age_seconds",
        "llb_workers_alive",
        "llb_asr_model_workers_alive",
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
        yield from (up, age, handled, alive, self._models())

    def _models(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "llb_asr_model_workers_alive",
            "ASR workers with a fresh heartbeat that loaded the model, per configured Whisper model.",
            labels=["model", "languages"],
        )
        alive = asr_models.workers_per_model(live_workers(WorkerKind.ASR).values_list("model", flat=True))
        for model in asr_models.asr_models():
            family.add_metric([model.name, ",".join(model.languages)], alive[model.name])
        return family

    def _pending(self):
        family = GaugeMetricFamily(
            "llb_worker_channel_pending", "Requests queued on a worker channel, not yet taken.", labels=["channel"]
        )
        for channel in all_worker_channels():
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
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(_service_collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
