"""`runworker asr tts`: Channels' worker with models loaded at start and heartbeats."""

from channels.management.commands import runworker

from streaming.workers.runtime import ServiceWorker


class Command(runworker.Command):
    worker_class = ServiceWorker
