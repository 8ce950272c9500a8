"""Hostile WebSocket input through the real daphne (issue 20: W1-W4, A1).

The in-process communicator has no transport: no message-size limit, no UTF-8 encoding of what
is sent. These tests go through daphne as `make run` starts it, with a real WebSocket client.
"""

import json
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from streaming.core import protocol
from tests.live_server import WEBSOCKET_LIMIT
from tests.support import make_session, token_for

pytestmark = pytest.mark.django_db(transaction=True)


def ws_url(base: str, session) -> str:
    return base.replace("http", "ws", 1) + f"/api/v1/audio-streaming/ws/{session.id}"


@contextmanager
def live_socket(base: str, session, token: str):
    """An API client's connection (bearer token, no Origin), past its `connected` message."""
    with connect(ws_url(base, session), additional_headers={"Authorization": f"Bearer {token}"}, max_size=None) as ws:
        assert receive(ws)["data"]["event"] == "connected"
        yield ws


def receive(ws: ClientConnection) -> dict:
    return json.loads(ws.recv(timeout=15))


def error_code(ws: ClientConnection, raw: str | bytes) -> str:
    ws.send(raw)
    reply = receive(ws)
    assert reply["type"] == "error", reply
    assert reply["data"]["message"]
    return reply["data"]["code"]


def assert_open(ws: ClientConnection) -> None:
    ws.send(json.dumps({"type": "control", "data": {"command": "ping"}}))
    assert receive(ws)["type"] == "pong"


@pytest.fixture
def live(live_daphne, user):
    return live_daphne, make_session(user), token_for(user)


def test_lone_surrogates_get_a_code_and_the_socket_stays_open(live):
    """W1: JSON's \\ud800 escape decodes to a string UTF-8 cannot carry; echoed, it broke the socket."""
    base, session, token = live
    with live_socket(base, session, token) as ws:
        assert error_code(ws, r'{"type": "\ud800"}') == "invalid_message"
        assert error_code(ws, r'{"type": "control", "data": {"command": "\udfff"}}') == "invalid_field"
        assert error_code(ws, r'{"type": "text_request", "data": {"text": "hi \ud83d"}}') == "invalid_field"
        assert error_code(ws, json.dumps({"type": "shout" * 1000})) == "unknown_type"
        assert_open(ws)


def test_deeply_nested_json_is_invalid_json(live):
    """W2: the parser's recursion limit is an `invalid_json`, not a closed socket."""
    base, session, token = live
    with live_socket(base, session, token) as ws:
        assert error_code(ws, "[" * 50_000 + "]" * 50_000) == "invalid_json"
        assert error_code(ws, '{"type": "control", "data": ' + '{"a": ' * 20_000 + "1" + "}" * 20_001) == "invalid_json"
        assert_open(ws)


def test_text_request_language_is_checked_before_speaking(live):
    """W3: a language longer than its column was spoken, then failed to save and closed the socket."""
    base, session, token = live
    with live_socket(base, session, token) as ws:
        ws.send(json.dumps({"type": "text_request", "data": {"text": "Hello.", "language": "x" * 17}}))
        reply = receive(ws)
        assert reply["type"] == "error" and reply["data"]["code"] == "invalid_field", reply
        assert reply["data"]["field"] == "language"
        assert_open(ws)


def test_largest_messages_pass_the_transport_and_larger_ones_get_chunk_too_large(live):
    """W4: daphne's default 1 MiB limit closed the socket (1006) on a 1 MiB + 2 binary frame and on
    a hex `audio_chunk` carrying more than 512 KiB, although `connected` announces 1 MiB.

    Each message goes on a fresh connection: a large message takes most of a connection's byte
    budget (MAX_BYTES_PER_SECOND), and the next would be `rate_limited` instead."""
    base, session, token = live
    largest = settings.MAX_CHUNK_SIZE
    hexed = json.dumps({"type": "audio_chunk", "data": {"audio_data": "00" * largest}})
    assert len(hexed) <= protocol.max_text_frame(largest)
    for accepted in (hexed, bytes(largest)):  # the largest text and binary messages: no reply, no close
        with live_socket(base, session, token) as ws:
            ws.send(accepted)
            assert_open(ws)
    too_large = [
        bytes(largest + 2),
        json.dumps({"type": "audio_chunk", "data": {"audio_data": "00" * (largest + 2)}}),
        json.dumps({"type": "audio_chunk", "data": {"audio_data": "AAAA" * (largest // 3 + 2), "encoding": "base64"}}),
        " " * (WEBSOCKET_LIMIT - 1),  # within daphne's limit, over the protocol's
    ]
    for message in too_large:
        with live_socket(base, session, token) as ws:
            assert error_code(ws, message) == "chunk_too_large"
            assert_open(ws)
    with live_socket(base, session, token) as ws, pytest.raises(ConnectionClosed):
        # Over the transport's own limit daphne drops the connection (it logs close code 1009 and
        # aborts the TCP connection): the one case the application never sees.
        ws.send(bytes(WEBSOCKET_LIMIT + 2))
        receive(ws)


def test_bad_token_without_origin_is_closed_4401(live):
    """A1: an API client (no Origin) with a bad token got a bare handshake 403, not the documented
    close 4401 `invalid_token`."""
    base, session, _ = live
    with connect(ws_url(base, session), additional_headers={"Authorization": "Bearer bogus"}) as ws:
        reply = receive(ws)
        assert reply["type"] == "error" and reply["data"]["code"] == "invalid_token"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_origin_checks_still_hold_for_cookies(live, user):
    """Browsers send an Origin: a cookie from another site, or a cookie with no Origin at all, is
    refused at the handshake; a bad token does not open that door either."""
    base, session, token = live
    browser = Client()
    browser.force_login(user)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    for origin in ("http://evil.example", None):
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(base, session), additional_headers={"Cookie": cookie}, origin=origin)
        assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        connect(
            ws_url(base, session),
            additional_headers={"Cookie": cookie, "Authorization": "Bearer bogus"},
            origin="http://evil.example",
        )
    # A logged-in cookie with a bad token and no Origin: the bad token wins, the cookie is not used.
    with connect(ws_url(base, session), additional_headers={"Cookie": cookie, "Authorization": "Bearer bogus"}) as ws:
        assert receive(ws)["data"]["code"] == "invalid_token"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    with connect(ws_url(base, session), additional_headers={"Cookie": cookie}, origin=base) as ws:
        assert receive(ws)["data"]["event"] == "connected"
