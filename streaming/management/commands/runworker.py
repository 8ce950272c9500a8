"""`runworker asr tts`: Channels' worker with models loaded at start and heartbeats.

`asr` serves every speech model; `asr:en` / `asr:zh` only the model of that language."""

from channels.management.commands import runworker

from streaming.workers.runtime import ServiceWorker


class Command(runworker.Command):
    worker_class = ServiceWorker
