"""Faults in the production topology (Redis layer, `runworker` processes, real PostgreSQL): the
database refusing connections, Redis paused, a worker killed. The service survives each, loses
nothing accepted, and /readyz tells the truth throughout.

These tests refuse this run's test database and pause the shared Redis: run them under the
heavy-test lock like every integration test.
"""

import asyncio
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import close_old_connections
from django.test import Client

from streaming.realtime.messages import TTS_CHANNEL, TtsRequest
from tests.faults import database_refused, pause_redis
from tests.support import worker_process

pytestmark = pytest.mark.django_db(transaction=True)
HEARTBEAT_S = 1  # the worker processes' WORKER_HEARTBEAT_INTERVAL (tests/support.py)


def probe() -> tuple[int, dict]:
    """One load-balancer probe of /readyz, on a fresh connection if the last one broke, as a
    server does before every request."""
    close_old_connections()
    response = Client().get("/readyz")
    return response.status_code, response.json()


def hold_ready(since: float, seconds: float) -> None:
    """From one heartbeat interval after `since` until `seconds` after it, every probe says ready."""
    wrong = []
    while (now := time.monotonic()) < since + seconds:
        status, body = probe()
        if status != 200 and now > since + HEARTBEAT_S + 0.5:
            wrong.append((round(now - since, 1), body))
        time.sleep(0.5)
    assert not wrong, f"{len(wrong)} probes said unavailable after the fault ended; first: {wrong[0]}"


def spoken_by_a_worker(text: str) -> str:
    """Ask the TTS worker through the channel layer; what it said."""

    async def ask() -> str:
        layer = get_channel_layer()
        reply_channel = await layer.new_channel()
        await layer.send(TTS_CHANNEL, TtsRequest("after-fault", reply_channel, text=text, language="en").to_message())
        return (await asyncio.wait_for(layer.receive(reply_channel), 30))["text"]

    return async_to_sync(ask)()


def test_readiness_is_true_after_the_database_and_redis_return(settings):
    """Issue 20 F1: after PostgreSQL refused connections for 6 s the workers never beat again and
    /readyz said 503 for 13 minutes while they served. Now it says 503 only while the database is
    away, ready again within a heartbeat interval and for the next minute; the same after a Redis
    pause; the worker logs the failure and goes on serving."""
    settings.WORKER_HEARTBEAT_INTERVAL = HEARTBEAT_S
    with worker_process("asr:en", "tts", kind="tts") as worker:
        deadline = time.monotonic() + 30
        while probe()[0] != 200:
            assert time.monotonic() < deadline, probe()[1]
            time.sleep(0.2)

        with database_refused():
            outage_end = time.monotonic() + 6
            while time.monotonic() < outage_end:
                status, body = probe()
                assert status == 503 and body["checks"]["database"]["ok"] is False, body
                time.sleep(0.5)
        hold_ready(time.monotonic(), 60)
        assert "heartbeat failed" in worker.output()

        pause_redis(5000)
        hold_ready(time.monotonic() + 5, 20)
        assert spoken_by_a_worker("Still here.") == "Still here."
