"""Figures for the service-health dashboard, computed from the same rows the service writes.

Percentiles are computed in Python from the entries of the window, so they are the same on
PostgreSQL and on the embedded SQLite database.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, TypedDict, cast

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from streaming import asr_models
from streaming.models import ConversationEntry, EntryRole, StreamingSession, WorkerHeartbeat, WorkerKind
from streaming.realtime.channel_layers import pending_requests
from streaming.realtime.messages import all_worker_channels
from streaming.selectors import iso, live_workers, service_health
from streaming.shapes import Doc, ServiceHealth, Timestamp

WINDOWS_MINUTES = {"last5m": 5, "last60m": 60}
CHART_HOURS = 24
CHART_BUCKET_MINUTES = 30


class Percentiles(TypedDict):
    """Seconds over a window; null when the window has no value."""

    count: Annotated[int, Doc("Values in the window.")]
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: float | None


class LatencyWindow(TypedDict):
    """The latencies of one window."""

    finalDelay: Annotated[Percentiles, Doc("End of a student's speech to its final transcript.")]
    wordLatency: Annotated[Percentiles, Doc("Per utterance, the median delay from a word spoken to shown.")]
    firstAudio: Annotated[Percentiles, Doc("Reply requested to its first audio.")]


class Worker(TypedDict):
    """A worker process that has sent a heartbeat."""

    kind: WorkerKind
    host: str
    pid: int
    model: str
    device: str
    startedAt: Timestamp
    lastSeen: Annotated[Timestamp, Doc("Its last heartbeat.")]
    ageSeconds: Annotated[float, Doc("Seconds since its last heartbeat.")]
    requestsHandled: int
    alive: Annotated[bool, Doc("Its heartbeat is younger than staleAfterSeconds.")]


class SpeechModel(TypedDict):
    """A Whisper model the settings configure, and how it serves its languages right now."""

    name: Annotated[str, Doc("WHISPER_MODEL or WHISPER_MULTILINGUAL_MODEL.")]
    languages: Annotated[list[str], Doc("The session languages it transcribes.")]
    channels: Annotated[list[str], Doc("Its worker channels: partial decodes, then finals.")]
    workersAlive: Annotated[int, Doc("Workers with a fresh heartbeat that loaded it.")]
    pending: Annotated[int | None, Doc("Requests queued on its channels; null when the layer cannot be read.")]
    finalDelayP95: Annotated[float | None, Doc("Its sessions' final delay, 95th percentile, last 5 minutes.")]
    wordLatencyP95: Annotated[float | None, Doc("Its sessions' word latency, 95th percentile, last 5 minutes.")]


class DashboardFigures(TypedDict, total=False):
    """The dashboard's figures beyond service health; in the session list only operators get them."""

    workers: Annotated[list[Worker], Doc("Every worker that ever sent a heartbeat.")]
    models: Annotated[list[SpeechModel], Doc("Each configured Whisper model.")]
    pendingRequests: Annotated[
        dict[str, int | None], Doc("Requests queued per worker channel; null when the channel layer cannot be read.")
    ]
    latency: Annotated[dict[str, LatencyWindow], Doc(f"Per window: {', '.join(WINDOWS_MINUTES)}.")]
    audioHoursToday: Annotated[float, Doc("Hours of audio in the sessions active since local midnight.")]
    staleAfterSeconds: Annotated[int, Doc("A worker whose heartbeat is older is not counted.")]
    generatedAt: Timestamp


class HealthFigures(ServiceHealth, DashboardFigures):
    """The original service-health shape, extended with the dashboard's figures (camelCase)."""


def percentile(ordered: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) of sorted values, interpolating between neighbours."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def summarize(values: list[float]) -> Percentiles:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50": _rounded(percentile(ordered, 50)),
        "p90": _rounded(percentile(ordered, 90)),
        "p95": _rounded(percentile(ordered, 95)),
        "p99": _rounded(percentile(ordered, 99)),
        "max": _rounded(ordered[-1] if ordered else None),
    }


def latency_window(now: datetime, minutes: int) -> LatencyWindow:
    """Final delay and word latency (student entries) and first audio (replies) over a window."""
    rows = ConversationEntry.objects.filter(created_at__gt=now - timedelta(minutes=minutes)).values_list(
        "role", "latency", "word_latency"
    )
    final_delay, word_latency, first_audio = [], [], []
    for role, latency, word in rows:
        if role == EntryRole.USER:
            if latency is not None:
                final_delay.append(latency)
            if word is not None:
                word_latency.append(word)
        elif latency is not None:
            first_audio.append(latency)
    return {
        "finalDelay": summarize(final_delay),
        "wordLatency": summarize(word_latency),
        "firstAudio": summarize(first_audio),
    }


def worker_rows(now: datetime) -> list[Worker]:
    """Every worker that ever sent a heartbeat; the stale ones are marked gone."""
    fresh: set[int] = set()
    for kind in WorkerKind.values:
        fresh.update(live_workers(kind).values_list("pk", flat=True))
    return [
        {
            "kind": cast(WorkerKind, w.kind),
            "host": w.host,
            "pid": w.pid,
            "model": w.model,
            "device": w.device,
            "startedAt": iso(w.started_at),
            "lastSeen": iso(w.last_seen_at),
            "ageSeconds": round(max(0.0, (now - w.last_seen_at).total_seconds()), 1),
            "requestsHandled": w.requests_handled,
            "alive": w.pk in fresh,
        }
        for w in WorkerHeartbeat.objects.order_by("kind", "host", "pid")
    ]


def pending_by_channel() -> dict[str, int | None]:
    """Requests queued per worker channel; None when the channel layer cannot be read."""
    pending: dict[str, int | None] = {}
    for channel in all_worker_channels():
        try:
            pending[channel] = pending_requests(channel)
        except Exception:
            pending[channel] = None
    return pending


def model_rows(now: datetime, workers: list[Worker], pending: dict[str, int | None]) -> list[SpeechModel]:
    """Per configured model: its languages, live workers, queue and its sessions' latency."""
    since = now - timedelta(minutes=WINDOWS_MINUTES["last5m"])
    rows: list[SpeechModel] = []
    alive = asr_models.workers_per_model(w["model"] for w in workers if w["kind"] == WorkerKind.ASR and w["alive"])
    for model in asr_models.asr_models():
        entries = ConversationEntry.objects.filter(
            role=EntryRole.USER, created_at__gt=since, session__language__in=model.languages
        ).values_list("latency", "word_latency")
        delays = sorted(d for d, _ in entries if d is not None)
        words = sorted(w for _, w in entries if w is not None)
        queued = [pending.get(channel) for channel in model.channels]
        rows.append(
            {
                "name": model.name,
                "languages": list(model.languages),
                "channels": list(model.channels),
                "workersAlive": alive[model.name],
                "pending": None if None in queued else sum(q or 0 for q in queued),
                "finalDelayP95": _rounded(percentile(delays, 95)),
                "wordLatencyP95": _rounded(percentile(words, 95)),
            }
        )
    return rows


def start_of_day(now: datetime) -> datetime:
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def audio_hours_today(now: datetime) -> float:
    """Audio received by the sessions active since local midnight (TIME_ZONE)."""
    seconds = StreamingSession.objects.filter(last_activity_at__gte=start_of_day(now)).aggregate(
        s=Sum("audio_seconds")
    )["s"]
    return round((seconds or 0.0) / 3600, 3)


@dataclass
class Series:
    """Values per time bucket, for the charts; the lines are named in the active language."""

    starts: list[datetime]
    lines: Mapping[str, Sequence[float | None]]  # read-only, so series of counts and of percentiles both fit


def _buckets(now: datetime) -> tuple[datetime, timedelta, int]:
    step = timedelta(minutes=CHART_BUCKET_MINUTES)
    count = CHART_HOURS * 60 // CHART_BUCKET_MINUTES
    return now - step * count, step, count


def sessions_series(now: datetime) -> Series:
    """Sessions in use (activity overlapping the bucket) and sessions started, per bucket."""
    start, step, count = _buckets(now)
    spans = StreamingSession.objects.filter(created_at__lt=now, last_activity_at__gte=start).values_list(
        "created_at", "last_activity_at"
    )
    in_use, started = [0.0] * count, [0.0] * count
    for created, last in spans:
        first = max(0, int((created - start) / step))
        last_index = min(count - 1, int((last - start) / step))
        for index in range(first, last_index + 1):
            in_use[index] += 1
        if created >= start:
            started[min(count - 1, int((created - start) / step))] += 1
    return Series(
        [start + step * i for i in range(count)], {_("in use"): in_use, pgettext("sessions chart", "started"): started}
    )


def latency_series(now: datetime) -> Series:
    """Median and 95th percentile final delay, and median word latency, per bucket."""
    start, step, count = _buckets(now)
    rows = ConversationEntry.objects.filter(role=EntryRole.USER, created_at__gt=start).values_list(
        "created_at", "latency", "word_latency"
    )
    delays: list[list[float]] = [[] for _ in range(count)]
    words: list[list[float]] = [[] for _ in range(count)]
    for created, latency, word in rows:
        index = min(count - 1, int((created - start) / step))
        if latency is not None:
            delays[index].append(latency)
        if word is not None:
            words[index].append(word)
    return Series(
        [start + step * i for i in range(count)],
        {
            _("final delay p50"): [percentile(sorted(d), 50) for d in delays],
            _("final delay p95"): [percentile(sorted(d), 95) for d in delays],
            _("word latency p50"): [percentile(sorted(w), 50) for w in words],
        },
    )


def health_figures(now: datetime | None = None) -> HealthFigures:
    """Everything the dashboard shows, as of `now`."""
    now = now or timezone.now()
    workers, pending = worker_rows(now), pending_by_channel()
    return {
        **service_health(),
        "workers": workers,
        "models": model_rows(now, workers, pending),
        "pendingRequests": pending,
        "latency": {name: latency_window(now, minutes) for name, minutes in WINDOWS_MINUTES.items()},
        "audioHoursToday": audio_hours_today(now),
        "staleAfterSeconds": 3 * settings.WORKER_HEARTBEAT_INTERVAL,
        "generatedAt": iso(now),
    }
