"""The session WebSocket: who may connect, control messages, and session events — through the
Redis channel layer and the in-memory one."""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from streaming.models import SessionStatus
from tests.support import make_session, open_socket, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def expect_refusal(session_id, code, close_code, **kwargs):
    communicator, connected, first = await open_socket(session_id, **kwargs)
    assert connected
    assert first["type"] == "error" and first["data"]["code"] == code
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": close_code}
    await communicator.disconnect()


async def test_owner_pings_and_gets_stats(layer, user):
    session = await sync_to_async(make_session)(user)
    communicator, connected, first = await open_socket(session.id, token=await sync_to_async(token_for)(user))
    assert connected and first["type"] == "status" and first["data"]["event"] == "connected"
    assert first["data"]["session_id"] == str(session.id)
    await communicator.send_json_to({"type": "control", "data": {"command": "ping"}})
    pong = await communicator.receive_json_from(timeout=5)
    assert pong["type"] == "pong" and pong["data"]["timestamp"] > 0
    await communicator.send_json_to({"type": "control", "data": {"command": "stats"}})
    stats = await communicator.receive_json_from(timeout=5)
    assert stats["type"] == "stats" and stats["data"]["sessionId"] == str(session.id)
    assert stats["data"]["isActive"] is True and stats["data"]["bufferChunks"] == 0
    await communicator.send_json_to({"type": "control", "data": {"command": "reset"}})
    reset = await communicator.receive_json_from(timeout=5)
    assert reset == {"type": "status", "data": {"event": "reset"}}
    await communicator.disconnect()


async def test_login_cookie_authenticates_browser(layer, user):
    session = await sync_to_async(make_session)(user)
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator, connected, first = await open_socket(session.id, headers=[(b"cookie", cookie)])
    assert first["data"]["event"] == "connected"
    await communicator.disconnect()


async def test_cookie_from_foreign_origin_is_rejected(layer, user):
    session = await sync_to_async(make_session)(user)
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator, connected, _ = await open_socket(
        session.id, origin=b"http://evil.example", headers=[(b"cookie", cookie)]
    )
    assert not connected
    await communicator.wait()
    # Without an Origin header a cookie is not enough either; only a token client may omit it.
    communicator, connected, _ = await open_socket(session.id, origin=None, headers=[(b"cookie", cookie)])
    assert not connected
    await communicator.wait()


async def test_token_client_may_omit_origin(layer, user):
    session = await sync_to_async(make_session)(user)
    communicator, connected, first = await open_socket(
        session.id, token=await sync_to_async(token_for)(user), origin=None
    )
    assert connected and first["data"]["event"] == "connected"
    await communicator.disconnect()


async def test_anonymous_is_refused(layer, user):
    session = await sync_to_async(make_session)(user)
    await expect_refusal(session.id, "not_authenticated", 4401)


async def test_bad_token_is_refused(layer, user):
    session = await sync_to_async(make_session)(user)
    await expect_refusal(session.id, "invalid_token", 4401, token="bogus")
    # An API client sends no Origin: it gets the same documented refusal, not a handshake 403.
    await expect_refusal(session.id, "invalid_token", 4401, token="bogus", origin=None)


async def test_wrong_owner_is_refused_staff_is_not(layer, user, other_user, staff):
    session = await sync_to_async(make_session)(user)
    await expect_refusal(session.id, "forbidden", 4403, token=await sync_to_async(token_for)(other_user))
    communicator, _, first = await open_socket(session.id, token=await sync_to_async(token_for)(staff))
    assert first["data"]["event"] == "connected"
    await communicator.disconnect()


async def test_unknown_and_closed_sessions_are_refused(layer, user):
    token = await sync_to_async(token_for)(user)
    await expect_refusal("00000000-0000-4000-8000-000000000000", "not_found", 4404, token=token)
    session = await sync_to_async(make_session)(user)
    session.end(SessionStatus.CLOSED)
    await sync_to_async(session.save)()
    await expect_refusal(session.id, "session_not_active", 4409, token=token)


async def test_rest_delete_closes_the_live_socket(layer, user):
    session = await sync_to_async(make_session)(user)
    token = await sync_to_async(token_for)(user)
    communicator, _, _ = await open_socket(session.id, token=token)
    response = await sync_to_async(Client().delete)(
        f"/api/v1/audio-streaming/sessions/{session.id}", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 200
    ended = await communicator.receive_json_from(timeout=5)
    assert ended == {"type": "status", "data": {"event": "session_ended", "status": "closed"}}
    assert (await communicator.receive_output(timeout=5))["code"] == 4409


async def test_reconnect_supersedes_the_old_socket(layer, user):
    session = await sync_to_async(make_session)(user)
    token = await sync_to_async(token_for)(user)
    old, _, _ = await open_socket(session.id, token=token)
    new, _, first = await open_socket(session.id, token=token)
    assert first["data"]["event"] == "connected"
    assert (await old.receive_json_from(timeout=5))["data"]["event"] == "superseded"
    assert (await old.receive_output(timeout=5))["code"] == 4000
    await new.send_json_to({"type": "control", "data": {"command": "ping"}})
    assert (await new.receive_json_from(timeout=5))["type"] == "pong"
    await new.disconnect()


async def test_idle_socket_survives_the_redis_block_timeout(user):
    """An idle connection outlives channels-redis's 5 s BZPOPMIN (regression: redis-py 8's default
    5 s read timeout closed idle sockets with 1011)."""
    import asyncio

    session = await sync_to_async(make_session)(user)
    communicator, _, _ = await open_socket(session.id, token=await sync_to_async(token_for)(user))
    await asyncio.sleep(7)
    await communicator.send_json_to({"type": "control", "data": {"command": "ping"}})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "pong"
    await communicator.disconnect()
