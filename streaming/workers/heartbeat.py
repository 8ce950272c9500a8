"""Worker heartbeats: each ASR/TTS worker process says it is alive, with its model and device."""

import os
import socket
from collections import Counter
from datetime import timedelta

from django.utils import timezone

from streaming.models import WorkerHeartbeat

handled: Counter[str] = Counter()  # requests served by this process, by worker kind
HOST = socket.gethostname()


def beat(kind: str, *, model: str = "", device: str = "") -> None:
    """Upsert this process's heartbeat row for one worker kind."""
    pid = os.getpid()
    updated = WorkerHeartbeat.objects.filter(kind=kind, host=HOST, pid=pid).update(
        last_seen_at=timezone.now(), requests_handled=handled[kind], model=model, device=device
    )
    if not updated:
        WorkerHeartbeat.objects.create(kind=kind, host=HOST, pid=pid, model=model, device=device)


def forget(kind: str) -> None:
    """A worker shutting down cleanly removes itself instead of going stale."""
    WorkerHeartbeat.objects.filter(kind=kind, host=HOST, pid=os.getpid()).delete()


def prune(older_than_s: int) -> int:
    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    return WorkerHeartbeat.objects.filter(last_seen_at__lt=cutoff).delete()[0]
