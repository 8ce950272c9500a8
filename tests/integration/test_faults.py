"""Faults in the production topology (Redis layer, `runworker` processes, real PostgreSQL): the
database refusing connections, Redis paused or restarted, a worker killed. The service survives each, loses
nothing accepted, and /readyz tells the truth throughout.

These tests refuse this run's test database and pause the shared Redis: run them under the
heavy-test lock like every integration test.
"""

import asyncio
import contextlib
import os
import signal
import threading
import time

import numpy as np
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.db import close_old_connections, connection
from django.test import Client

from streaming.core.audio import float32_to_pcm16
from streaming.core.text_split import split_sentences
from streaming.models import ConversationEntry, StreamingSession
from streaming.realtime.messages import TTS_CHANNEL, TtsRequest
from streaming.web.openapi import openapi_document
from tests.faults import PrivateRedis, database_refused, pause_redis, refuse_database_for
from tests.integration.test_openapi import assert_documented
from tests.integration.test_replies import PARAGRAPH, connect, fresh, is_last_audio, receive_until
from tests.integration.test_streaming import JFK_END_S, collect_until_final, final_texts, stream
from tests.speech import has_jfk_phrase, jfk_audio, silence
from tests.support import REDIS_LAYER, make_session, open_socket, token_for, worker_process

pytestmark = pytest.mark.django_db(transaction=True)
HEARTBEAT_S = 1  # the worker processes' WORKER_HEARTBEAT_INTERVAL (tests/support.py)


@pytest.fixture(autouse=True)
def reconnect_afterwards(transactional_db):
    """A refused database ended this thread's connection too: the teardown needs a new one."""
    yield
    close_old_connections()
    connection.close()


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


# --- a TTS worker lost mid-reply ---------------------------------------------------------------


@pytest.fixture
def tts_workers():
    """Start `runworker tts` processes (from async code, in a thread); all stopped afterwards."""
    with contextlib.ExitStack() as stack:

        async def start():
            return await sync_to_async(stack.enter_context)(worker_process("tts", kind="tts"))

        yield start


async def speak_until_killed(communicator, worker) -> tuple[str, list[str]]:
    """Ask for a long reply and SIGKILL the worker once its first sentence is heard; the reply's
    text and the sentences heard so far."""
    text = fresh(PARAGRAPH * 5)
    await communicator.send_json_to({"type": "text_request", "data": {"text": text}})
    first = await communicator.receive_json_from(timeout=60)
    assert first["type"] == "tts_audio" and not first["data"]["is_final"], first
    os.kill(worker.pid, signal.SIGKILL)
    return text, [first["data"]["text"]]


async def pending_responses(communicator) -> int:
    await communicator.send_json_to({"type": "control", "data": {"command": "stats"}})
    stats = await receive_until(communicator, lambda m: m["type"] == "stats", timeout=10)
    return stats[-1]["data"]["pendingResponses"]


async def test_a_reply_whose_worker_died_is_retried_then_reported(user, settings, tts_workers):
    """Issue 20 F2: the reply of a killed TTS worker never ended and `pendingResponses` stayed 1.
    Now its part is retried once after TTS_TIMEOUT without audio, then `tts_failed` ends it; the
    entry keeps what was heard, and the retry, spoken by no one, is not spoken later either."""
    settings.TTS_TIMEOUT = 2.0
    worker = await tts_workers()
    session, communicator = await connect(user)
    text, heard = await speak_until_killed(communicator, worker)
    messages = await receive_until(communicator, lambda m: m["type"] == "error", timeout=30)
    heard += [m["data"]["text"] for m in messages if m["type"] == "tts_audio"]  # sent before it died
    failed = messages[-1]["data"]
    assert failed["code"] == "tts_failed" and failed["delivered_text"] == " ".join(heard), failed
    assert await pending_responses(communicator) == 0
    entry = await sync_to_async(ConversationEntry.objects.get)(session=session)
    assert entry.text == " ".join(heard) and len(heard) < len(split_sentences(text))

    await tts_workers()  # a new worker finds the abandoned retry in the queue, and skips it
    assert await communicator.receive_nothing(timeout=3)
    await communicator.send_json_to({"type": "text_request", "data": {"text": "Back again."}})
    assert [m["data"]["text"] for m in await receive_until(communicator, is_last_audio)] == ["Back again."]
    await communicator.disconnect()


async def test_a_reply_whose_worker_died_is_finished_by_another(user, settings, tts_workers):
    """The retry goes to whichever worker is up: the reply ends, each sentence heard once."""
    settings.TTS_TIMEOUT = 10.0
    worker = await tts_workers()
    session, communicator = await connect(user)
    text, heard = await speak_until_killed(communicator, worker)
    await tts_workers()
    messages = await receive_until(communicator, is_last_audio, timeout=60)
    assert [m["type"] for m in messages] == ["tts_audio"] * len(messages), messages[-1]
    heard += [m["data"]["text"] for m in messages if m["data"]["text"]]
    assert await pending_responses(communicator) == 0
    await communicator.disconnect()
    entry = await sync_to_async(ConversationEntry.objects.get)(session=session)
    assert heard == split_sentences(text)  # every sentence, in order, none twice
    assert entry.text == " ".join(heard)


# --- the database away under a live connection -------------------------------------------------


@pytest.fixture
def asr_worker(user):
    with worker_process("asr:en") as process:
        yield process


async def test_a_database_outage_costs_no_connection_and_loses_nothing(user, settings, asr_worker):
    """Issue 20 F3: a 6 s outage closed the live socket with 1011, lost up to a second of audio
    counters, and reconnects got HTTP 500. Now the socket stays open, every final is saved once,
    the audio seconds are exact, and a connection opened during the outage is closed with 1013
    `database_unavailable`."""
    session = await sync_to_async(make_session)(user)
    other = await sync_to_async(make_session)(user)
    token = await sync_to_async(token_for)(user)
    browser = Client()
    await sync_to_async(browser.force_login)(user)
    cookie = (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())
    communicator, _, first = await open_socket(session.id, token=token)
    assert first["data"]["event"] == "connected"
    speech = np.concatenate([silence(0.5), jfk_audio(), silence(1.5)])
    sent_s = 0.0

    outage = threading.Thread(target=refuse_database_for, args=(6,))
    outage.start()
    await asyncio.sleep(0.2)
    try:
        during = asyncio.ensure_future(stream(communicator, speech, pace=0.05))  # 2x real time: ~6.5 s
        for credentials in ({"token": token}, {"headers": [cookie]}):  # an API client, a browser
            refused, connected, error = await open_socket(other.id, **credentials)
            assert connected and error["type"] == "error", error
            assert error["data"]["code"] == "database_unavailable", error
            assert (await refused.receive_output(timeout=5)) == {"type": "websocket.close", "code": 1013}
        await during
    finally:
        await sync_to_async(outage.join)()
    sent_s += len(speech) / 16000
    messages = await collect_until_final(communicator, after_s=JFK_END_S, timeout=90)
    await stream(communicator, speech)  # and once more, the database back
    sent_s += len(speech) / 16000
    messages += await collect_until_final(communicator, after_s=len(speech) / 16000 + JFK_END_S, timeout=60)

    assert not [m for m in messages if m["type"] == "error"], messages
    finals = [m["data"] for m in messages if m["type"] == "transcription" and m["data"]["is_final"]]
    assert has_jfk_phrase(" ".join(final_texts(messages)))
    await communicator.send_json_to({"type": "control", "data": {"command": "stats"}})
    stats = await receive_until(communicator, lambda m: m["type"] == "stats", timeout=10)
    await communicator.disconnect()
    entries = await sync_to_async(list)(ConversationEntry.objects.filter(session=session).order_by("sequence"))
    assert [(e.pk, e.text) for e in entries] == [(f["entry_id"], f["text"]) for f in finals]
    assert stats[-1]["data"]["conversationEntries"] == len(finals)
    saved = await sync_to_async(StreamingSession.objects.get)(pk=session.pk)
    assert saved.audio_seconds == pytest.approx(sent_s, abs=1e-6)
    assert saved.bytes_received == len(float32_to_pcm16(speech)) * 2


# --- Redis restarted under a live connection ----------------------------------------------------


@pytest.fixture
def private_redis(settings):
    """This test's channel layer and cache on a Redis server of its own, which it may restart."""
    server = PrivateRedis()
    server.start()
    config = REDIS_LAYER["CONFIG"]
    hosts = [{**config["hosts"][0], "address": server.url}]
    settings.CHANNEL_LAYERS = {"default": {**REDIS_LAYER, "CONFIG": {**config, "hosts": hosts}}}
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}
    channel_layers.backends.clear()
    try:
        yield server
    finally:
        channel_layers.backends.clear()
        server.stop()


@pytest.fixture
def asr_worker_on_private_redis(user, private_redis):
    with worker_process("asr:en", TEST_REDIS_URL=private_redis.url) as process:
        yield process


async def test_a_redis_restart_costs_no_connection_and_loses_nothing(user, private_redis, asr_worker_on_private_redis):
    """Redis restarted mid-utterance (connections refused for 3 s, its queues and groups gone)
    closed every live socket with 1011: Channels' consumer ends at its first failed read. Now the
    socket stays open, the speech sent during the outage is transcribed once Redis is back, each
    final saved once, and the session's events still arrive: a second connection supersedes this
    one, so the session's group holds it again (docs/decisions/0049)."""
    session = await sync_to_async(make_session)(user)
    token = await sync_to_async(token_for)(user)
    communicator, _, first = await open_socket(session.id, token=token)
    assert first["data"]["event"] == "connected"
    speech = np.concatenate([silence(0.5), jfk_audio(), silence(1.5)])
    await stream(communicator, speech[: 2 * 16000], pace=0.05)
    restart = asyncio.ensure_future(asyncio.to_thread(private_redis.restart_after, 3))
    await stream(communicator, speech[2 * 16000 :], pace=0.05)  # 2x real time: the outage inside it
    await restart
    messages = await collect_until_final(communicator, after_s=JFK_END_S, timeout=90)

    assert not [m for m in messages if m["type"] == "error"], messages
    assert has_jfk_phrase(" ".join(final_texts(messages))), final_texts(messages)
    finals = [m["data"] for m in messages if m["type"] == "transcription" and m["data"]["is_final"]]
    entries = await sync_to_async(list)(ConversationEntry.objects.filter(session=session).order_by("sequence"))
    assert [(e.pk, e.text) for e in entries] == [(f["entry_id"], f["text"]) for f in finals]
    second, connected, _ = await open_socket(session.id, token=token)
    assert connected
    await receive_until(communicator, lambda m: m["type"] == "status" and m["data"]["event"] == "superseded", 10)
    assert (await communicator.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4000}
    await second.disconnect()


async def test_while_redis_is_down_connections_are_told_to_retry_and_stats_still_answer(user, settings, private_redis):
    """A connection opened while Redis is down, or one whose outage outlasts REDIS_RETRY_WINDOW, is
    closed with 1013 `redis_unavailable` (not 1011); the REST stats answer without live figures."""
    settings.REDIS_RETRY_WINDOW = 1.5
    session = await sync_to_async(make_session)(user)
    token = await sync_to_async(token_for)(user)
    live, _, first = await open_socket(session.id, token=token)
    assert first["data"]["event"] == "connected"
    private_redis.stop()
    refused, connected, error = await open_socket(session.id, token=token)
    assert connected and error["data"]["code"] == "redis_unavailable", error
    assert (await refused.receive_output(timeout=5)) == {"type": "websocket.close", "code": 1013}
    response = await sync_to_async(Client().get)(
        f"/api/v1/audio-streaming/sessions/{session.id}/stats", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 200 and response.json()["pendingTranscriptions"] == 0, response.content
    await stream(live, np.concatenate([silence(0.3), jfk_audio()[: 3 * 16000]]), pace=0.01)  # speech: a request to send
    error = await receive_until(live, lambda m: m["type"] == "error", timeout=30)
    assert error[-1]["data"]["code"] == "redis_unavailable", error
    assert (await live.receive_output(timeout=5)) == {"type": "websocket.close", "code": 1013}


# --- the REST API while the database is away ---------------------------------------------------


def test_the_api_answers_503_while_the_database_refuses_connections(user):
    """Every API endpoint, with a bearer token or a login cookie, answers JSON 503
    `database_unavailable` (it was a 500) while PostgreSQL refuses connections; /healthz stays 200,
    /readyz says 503 naming the database, and all answer as before once it is back."""
    session = make_session(user)
    token = token_for(user)
    browser = Client()
    browser.force_login(user)
    base = "/api/v1/audio-streaming/sessions"
    calls = [
        ("get", "/sessions"),
        ("post", "/sessions"),
        ("get", "/sessions/{session_id}"),
        ("delete", "/sessions/{session_id}"),
        ("get", "/sessions/{session_id}/stats"),
        ("get", "/sessions/{session_id}/entries"),
    ]
    doc = openapi_document()
    bearer = Client(headers={"Authorization": f"Bearer {token}"})
    with database_refused():
        for client in (bearer, browser):
            for method, path in calls:
                url = "/api/v1/audio-streaming" + path.format(session_id=session.id)
                response = getattr(client, method)(url, content_type="application/json")
                assert response.status_code == 503, (method, url, response.status_code, response.content[:200])
                assert response.json()["error"]["code"] == "database_unavailable", (method, url)
                assert_documented(doc, response, path, method)
        assert Client().get("/healthz").status_code == 200
        status, body = probe()
        assert status == 503 and body["checks"]["database"]["ok"] is False, body
    close_old_connections()
    assert bearer.get(f"{base}/{session.id}").json()["status"] == "active"  # nothing was ended
    assert bearer.delete(f"{base}/{session.id}").status_code == 200
    assert browser.get(base).status_code == 200
