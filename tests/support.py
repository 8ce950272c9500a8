"""Helpers for tests that talk to the service: sessions, tokens, sockets, in-process workers."""

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time

from channels.layers import get_channel_layer
from channels.routing import get_default_application
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connection

from streaming import services
from streaming.models import WorkerHeartbeat
from streaming.workers.runtime import embedded_workers, load_models

REDIS_LAYER = settings.CHANNEL_LAYERS["default"]
MEMORY_LAYER = {"BACKEND": "streaming.realtime.channel_layers.RankedInMemoryChannelLayer"}


def make_session(user, **data):
    return services.create_session(user=user, data=data)


def token_for(user) -> str:
    return services.issue_api_token(user=user, name="test")[1]


@contextlib.asynccontextmanager
async def in_process_workers(kinds=("asr", "tts")):
    """The ASR/TTS workers as tasks in this event loop, exactly as the embedded server runs them,
    their models loaded first: a test's first request must not queue behind a load (which the
    worker would rightly count as a wait, and decode the busy way)."""
    workers = [w for w in embedded_workers(get_channel_layer()) if w.channels[0] in kinds]
    for worker in workers:
        await asyncio.to_thread(load_models, worker.channels, worker.slots)
    tasks = [asyncio.ensure_future(w.arun()) for w in workers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def open_socket(session_id, token: str | None = None, origin: bytes | None = b"http://localhost", headers=()):
    """Connect to the session's WebSocket and return (communicator, first message)."""
    all_headers = list(headers)
    if token:
        all_headers.append((b"authorization", f"Bearer {token}".encode()))
    if origin:
        all_headers.append((b"origin", origin))
    communicator = WebsocketCommunicator(
        get_default_application(), f"/api/v1/audio-streaming/ws/{session_id}", headers=all_headers
    )
    connected, _ = await communicator.connect(timeout=10)
    first = await communicator.receive_json_from(timeout=10) if connected else None
    return communicator, connected, first


def production_env(**extra: str) -> dict:
    """The environment of a process a test starts (runworker, daphne): this run's test database
    and Redis prefix, so it shares the test's data and channel layer, as in production."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TEST_DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "CHANNEL_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        "WORKER_HEARTBEAT_INTERVAL": "1",
        **extra,
    }


def asr_worker_process(*channels: str):
    """An ASR worker process (see `worker_process`)."""
    return worker_process(*channels)


@contextlib.contextmanager
def worker_process(*channels: str, kind: str = "asr", **env_extra: str):
    """`manage.py runworker CHANNELS` in its own process over Redis, as in production, once its
    `kind` heartbeat is in the test database. Its output goes to a file (a pipe nobody reads would
    fill and stall it) and is printed when it stops, for the test's report; `process.output()`
    reads it so far. `env_extra` adds to its environment."""
    env = production_env(**env_extra)
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runworker", *channels], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 60
            while not WorkerHeartbeat.objects.filter(kind=kind, pid=process.pid).exists():
                assert process.poll() is None, "the worker exited"
                assert time.monotonic() < deadline, "worker never sent a heartbeat"
                time.sleep(0.2)
            # pread: the worker writes through the same file offset, which a seek would move.
            process.output = lambda: os.pread(log.fileno(), os.fstat(log.fileno()).st_size, 0).decode(errors="replace")
            yield process
        finally:
            process.terminate()
            process.wait(10)
            log.seek(0)
            print(log.read().decode(errors="replace")[-4000:])
