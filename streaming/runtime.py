"""Background work of the service processes: workers with heartbeats, and the expiry sweep.

`manage.py runworker asr tts` (production) and the embedded server both run `ServiceWorker`;
in embedded mode `EmbeddedRuntime` starts them inside the server's event loop.
"""

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.routing import get_default_application
from channels.worker import Worker
from django.conf import settings

from . import heartbeat, services
from .asr_engine import get_engine
from .tts_engine import get_router
from .views import session_group
from .workers import asr_config, tts_config

log = logging.getLogger(__name__)
_beating: set[str] = set()


def _load_models(kinds: list[str]) -> dict[str, tuple[str, str]]:
    """Load each kind's model now, so the first student does not wait; returns (model, device).

    A model that fails to load is logged and the worker still serves: each request then
    reports the failure to its session instead of hanging.
    """
    described = {}
    if "asr" in kinds:
        try:
            described["asr"] = (settings.WHISPER_MODEL, get_engine(asr_config()).device)
        except Exception:
            log.exception("could not load the ASR model %s", settings.WHISPER_MODEL)
            described["asr"] = (settings.WHISPER_MODEL, "failed")
    if "tts" in kinds:
        try:
            get_router(tts_config()).warm_up()
            described["tts"] = (settings.TTS_ENGLISH_ENGINE, "cpu")
        except Exception:
            log.exception("could not load the TTS engine %s", settings.TTS_ENGLISH_ENGINE)
            described["tts"] = (settings.TTS_ENGLISH_ENGINE, "failed")
    return described


async def _heartbeats(described: dict[str, tuple[str, str]]) -> None:
    kinds = [k for k in described if k not in _beating]
    _beating.update(kinds)
    try:
        while True:
            for kind in kinds:
                model, device = described[kind]
                await database_sync_to_async(heartbeat.beat)(kind, model=model, device=device)
            await asyncio.sleep(settings.WORKER_HEARTBEAT_INTERVAL)
    finally:
        _beating.difference_update(kinds)
        for kind in kinds:
            await database_sync_to_async(heartbeat.forget)(kind)


class ServiceWorker(Worker):
    """Channels' worker, plus models loaded at start and a heartbeat while it runs."""

    async def handle(self) -> None:
        described = await asyncio.get_running_loop().run_in_executor(None, _load_models, self.channels)
        beats = asyncio.ensure_future(_heartbeats(described))
        try:
            await super().handle()
        finally:
            beats.cancel()


async def expiry_sweep() -> None:
    """Expire idle sessions periodically and close their sockets."""
    layer = get_channel_layer()
    while True:
        await asyncio.sleep(settings.EXPIRY_SWEEP_INTERVAL)
        try:
            for session_id in await database_sync_to_async(services.expire_inactive_sessions)():
                await layer.group_send(session_group(session_id), {"type": "session.ended", "status": "expired"})
        except Exception:
            log.exception("expiry sweep failed")


class EmbeddedRuntime:
    """ASGI wrapper that starts the background tasks in the server's loop on the first connection.

    Daphne has no lifespan events, so the first scope is the earliest moment a loop exists.
    """

    def __init__(self, application):
        self.application = application
        self.loop: asyncio.AbstractEventLoop | None = None
        self.tasks: list[asyncio.Task] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.loop is loop:
            return
        self.loop = loop
        self.tasks = [asyncio.ensure_future(expiry_sweep())]
        if settings.EMBEDDED_WORKERS:
            layer = get_channel_layer()
            app = get_default_application()
            workers = [ServiceWorker(app, ["asr"], layer) for _ in range(settings.NUM_WORKERS)]
            workers.append(ServiceWorker(app, ["tts"], layer))
            self.tasks += [asyncio.ensure_future(w.arun()) for w in workers]
            log.info("embedded workers started: %d asr, 1 tts", settings.NUM_WORKERS)

    async def __call__(self, scope, receive, send):
        self.start()
        return await self.application(scope, receive, send)
