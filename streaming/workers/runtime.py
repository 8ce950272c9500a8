"""Background work of the service processes: workers with heartbeats, and the expiry sweep.

`manage.py runworker asr tts` (production) and the embedded server both run `ServiceWorker`;
in embedded mode `EmbeddedRuntime` starts them inside the server's event loop.
"""

import asyncio
import logging

from channels.layers import get_channel_layer
from channels.routing import get_default_application
from channels.worker import Worker
from django.conf import settings

from streaming import asr_models, services
from streaming.db import database_sync_to_async
from streaming.engines.asr.engine import get_engine
from streaming.engines.tts.router import get_router
from streaming.outages import DATABASE_DOWN, Backoff, keep_going, receive_retried
from streaming.realtime.messages import TTS_CHANNEL, anotify_session_ended, worker_channels
from streaming.workers import heartbeat, memory
from streaming.workers.consumers import asr_config, reserved_slots, tts_config

log = logging.getLogger(__name__)
_running: set[str] = set()  # this process's background loops: the kinds beating, and "memory"
LISTEN_RETRY_CAP_S = 5.0  # the longest wait before a worker tries its channel layer again


def load_models(channels: list[str], slots: int) -> dict[str, tuple[str, str]]:
    """Load the models of the channels served now, so the first student does not wait; returns
    (models, device) per worker kind, e.g. ("tiny.en, base", "cpu").

    A model that fails to load is logged and the worker still serves: its requests then report
    the failure to their sessions instead of hanging, and the other model goes on serving.
    """
    described = {}
    served = [model for model in asr_models.asr_models() if set(model.channels) & set(channels)]
    if served:
        loaded, devices = {}, set()
        for model in served:
            try:
                engines = [get_engine(asr_config(c, slots)) for c in model.channels if c in channels]
                devices.add(engines[0].device)
                loaded[model.name] = True
            except Exception:
                log.exception("could not load the ASR model %s", model.name)
                loaded[model.name] = False
        described["asr"] = (asr_models.heartbeat_label(loaded), "/".join(sorted(devices)) or "failed")
    if TTS_CHANNEL in channels:
        try:
            get_router(tts_config()).warm_up()
            described["tts"] = (settings.TTS_ENGLISH_ENGINE, "cpu")
        except Exception:
            log.exception("could not load the TTS engine %s", settings.TTS_ENGLISH_ENGINE)
            described["tts"] = (settings.TTS_ENGLISH_ENGINE, "failed")
    return described


async def _heartbeats(described: dict[str, tuple[str, str]]) -> None:
    """Beat every interval for as long as the worker runs: a failed beat (the database away) is
    logged and retried, never the end of them (outages.keep_going)."""
    kinds = [k for k in described if k not in _running]
    _running.update(kinds)

    async def beat() -> None:
        for kind in kinds:
            model, device = described[kind]
            await database_sync_to_async(heartbeat.beat)(kind, model=model, device=device)

    try:
        await keep_going(f"the {'/'.join(kinds)} heartbeat", beat, settings.WORKER_HEARTBEAT_INTERVAL)
    finally:
        _running.difference_update(kinds)
        try:
            for kind in kinds:
                await database_sync_to_async(heartbeat.forget)(kind)
        except DATABASE_DOWN:
            log.warning("could not remove the %s heartbeat: it goes stale instead", "/".join(kinds))


async def _release_memory() -> None:
    """Return free heap pages every MALLOC_TRIM_INTERVAL seconds: once per process, however
    many workers it runs (the embedded server runs two)."""
    if "memory" in _running or settings.MALLOC_TRIM_INTERVAL <= 0:
        return
    _running.add("memory")
    try:
        await memory.release_periodically(settings.MALLOC_TRIM_INTERVAL)
    finally:
        _running.discard("memory")


def served_channels(name: str) -> tuple[str, ...]:
    """What `runworker NAME` serves: a kind (`asr`: every model's channels, `tts`), `asr:LANGUAGE`
    (the channels of that language's model: `asr:zh` for the multilingual one), or a channel."""
    kinds = worker_channels()
    if name in kinds:
        return kinds[name]
    if name.startswith("asr:"):
        return asr_models.model_for(name.removeprefix("asr:")).channels
    return (name,)


class ServiceWorker(Worker):
    """Channels' worker, plus models loaded at start, a heartbeat while it runs, free memory
    returned to the system (streaming/workers/memory.py), and pull-based flow: a message is taken from
    the channel layer only when one of `slots` is free.

    Channels' own listener receives without waiting for the consumer, so a busy worker hoarded
    requests that an idle one could have served. And two listeners on one in-memory channel
    starve each other (channels 4.3 drops a queue once it is empty, so one of two embedded
    workers got every request: docs/decisions/0003), so the embedded server runs one worker
    with several slots. The consumer frees a slot through `scope["slot_done"]`.

    `channels` name worker kinds (`asr`, `tts`), a language's model (`asr:zh`) or channels (see
    `served_channels`); a kind has a pool of slots per
    channel, and a channel with `reserved_slots` (finals) has slots of its own besides the
    shared `slots`.
    """

    def __init__(self, application, channels: list[str], channel_layer, slots: int = 1) -> None:
        expanded = [c for name in channels for c in served_channels(name)]
        super().__init__(application, list(dict.fromkeys(expanded)), channel_layer)
        self.slots = slots

    async def arun(self) -> None:
        """StatelessServer's, but a cancelled worker returns only once everything it started has
        stopped (its `asyncio.gather` returns at the first part cancelled)."""
        checker = asyncio.ensure_future(self.application_checker())
        try:
            await self.handle()
        finally:
            checker.cancel()
            await asyncio.gather(checker, return_exceptions=True)

    async def handle(self) -> None:
        described = await asyncio.get_running_loop().run_in_executor(None, load_models, self.channels, self.slots)
        background = [asyncio.ensure_future(_heartbeats(described)), asyncio.ensure_future(_release_memory())]
        listeners = [asyncio.ensure_future(self.listener(channel)) for channel in self.channels]
        try:
            await asyncio.gather(*listeners)
        finally:
            # Channels' Worker leaves its listeners and consumers running when it is cancelled:
            # a stopped worker must stop everything it started.
            consumers = [instance["future"] for instance in self.application_instances.values()]
            for task in (*background, *listeners, *consumers):
                task.cancel()
            await asyncio.gather(*background, *listeners, *consumers, return_exceptions=True)

    async def listener(self, channel: str) -> None:
        """Feed `channel`'s pool of slots: a request is received only when a slot is free, so a
        busy worker holds none that an idle one could serve; the layer hands out the lowest
        `queue_rank` first (streaming/realtime/channel_layers.py: closing partials)."""
        slots = reserved_slots(channel) or self.slots
        free = asyncio.Semaphore(slots)
        scope = {"type": "channel", "channel": channel, "slots": slots, "shared_slots": self.slots}
        scope["slot_done"] = free.release
        backoff = Backoff(f"receiving from {channel}", cap_s=LISTEN_RETRY_CAP_S)
        while True:
            await free.acquire()
            message = await receive_retried(self.channel_layer, channel, backoff)
            if not message.get("type"):
                log.warning("ignored a message without a type on %s", channel)
                free.release()
                continue
            await self.get_or_create_application_instance(channel, scope).put(message)


def embedded_workers(layer) -> list[ServiceWorker]:
    """The workers of the embedded server: one ASR worker decoding `NUM_WORKERS` requests at
    once (one model, a CTranslate2 replica per slot) and one TTS worker."""
    app = get_default_application()
    return [ServiceWorker(app, ["asr"], layer, slots=settings.NUM_WORKERS), ServiceWorker(app, ["tts"], layer)]


async def expiry_sweep() -> None:
    """Expire idle sessions periodically and close their sockets."""

    async def sweep() -> None:
        for session_id in await database_sync_to_async(services.expire_inactive_sessions)():
            await anotify_session_ended(session_id, "expired")

    await asyncio.sleep(settings.EXPIRY_SWEEP_INTERVAL)
    await keep_going("the expiry sweep", sweep, settings.EXPIRY_SWEEP_INTERVAL)


class EmbeddedRuntime:
    """ASGI wrapper that starts the background tasks in the server's loop on the first connection
    (not in a `runworker` process, whose channel messages pass through the same application).

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
            self.tasks += [asyncio.ensure_future(w.arun()) for w in embedded_workers(get_channel_layer())]
            log.info("embedded workers started: %d asr, 1 tts", settings.NUM_WORKERS)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "channel":  # a worker's messages pass here too: its process is no server
            self.start()
        return await self.application(scope, receive, send)
