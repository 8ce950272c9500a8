"""Property-based fuzzing of the WebSocket protocol through the production parts (issue 20, item 6).

Every client message type and field, malformed JSON, JSON-escaped lone surrogates, deep nesting,
and text and binary frames up to daphne's own limit go through the real daphne (as `make run`
starts it) to a real session, with `runworker asr tts`, PostgreSQL and Redis. Every reply that is
an error carries a code documented in docs/protocol.md; the socket is never closed; afterwards a
real recording still transcribes on the same connection.

The suite sends FUZZ_MESSAGES (default 2000) fuzzed messages; `PROTOCOL_FUZZ_MESSAGES=10000` runs
the issue's target.
"""

import base64
import json
import os
import random
import re
import time
from collections import Counter

import numpy as np
import pytest
from django.conf import settings
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from streaming.core import protocol
from streaming.core.audio import float32_to_pcm16
from tests.live_server import ROOT, WEBSOCKET_LIMIT, running_server
from tests.speech import JFK_END_S, JFK_TEXT, frames, jfk_audio, silence, wer
from tests.support import asr_worker_process, make_session, production_env, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(1800)]

BATCH = 10  # messages per example, followed by a ping that must come back as a pong
FUZZ_MESSAGES = int(os.environ.get("PROTOCOL_FUZZ_MESSAGES", "2000"))


def documented_error_codes() -> set[str]:
    """The codes in the `error` table of docs/protocol.md."""
    text = (ROOT / "docs" / "protocol.md").read_text()
    section = text[text.index("### `error`") :]
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))


# --- strategies -------------------------------------------------------------------------------

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
# Strings as JSON carries them: any code point, lone surrogates too (sent as \\udxxx escapes).
HOSTILE_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=30) | st.sampled_from(
    ["", "\ud800", "x\udfff", "\x00", "中文", "e" * 17, "en-US", "zh-CN", "auto", "²", "ping\n"]
)
PCM = st.binary(max_size=4096)
AUDIO_DATA = st.one_of(
    PCM.map(bytes.hex),
    PCM.map(lambda pcm: base64.b64encode(pcm).decode()),
    HOSTILE_TEXT,
    ANY_JSON,
)
FIELDS = {
    "audio_data": AUDIO_DATA,
    "encoding": st.sampled_from(["hex", "base64", "rot13", ""]) | ANY_JSON,
    "is_final": st.booleans() | ANY_JSON,
    "chunk_index": st.integers(min_value=-5, max_value=2**70) | ANY_JSON,
    "text": st.text(max_size=60) | HOSTILE_TEXT | ANY_JSON,
    "language": st.sampled_from(["en", "zh", "zh-CN", "fr", "auto"]) | HOSTILE_TEXT | ANY_JSON,
    "command": st.sampled_from([*protocol.CONTROL_COMMANDS, "dance", ""]) | HOSTILE_TEXT | ANY_JSON,
}
MESSAGE = st.fixed_dictionaries(
    {"type": st.sampled_from([*protocol.MESSAGE_TYPES, "shout", ""]) | HOSTILE_TEXT | ANY_JSON},
    optional={
        "data": st.fixed_dictionaries({}, optional=FIELDS).flatmap(
            lambda data: st.dictionaries(st.text(max_size=8), ANY_JSON, max_size=2).map(lambda extra: {**extra, **data})
        )
        | ANY_JSON
    },
)


EVEN_PCM = st.binary(max_size=6400).map(lambda pcm: pcm[: len(pcm) // 2 * 2])
WELL_FORMED = st.one_of(
    st.builds(
        lambda pcm, as_base64, is_final, index: {
            "type": "audio_chunk",
            "data": {
                "audio_data": base64.b64encode(pcm).decode() if as_base64 else pcm.hex(),
                "encoding": "base64" if as_base64 else "hex",
                "is_final": is_final,
                "chunk_index": index,
            },
        },
        EVEN_PCM,
        st.booleans(),
        st.booleans(),
        st.none() | st.integers(min_value=0, max_value=2**53),
    ),
    st.builds(
        lambda text, language: {"type": "text_request", "data": {"text": text, "language": language}},
        st.text(max_size=60),
        st.none() | st.sampled_from(["en", "zh", "zh-CN", "en-US", "fr", "auto"]),
    ),
    st.sampled_from(protocol.CONTROL_COMMANDS).map(lambda command: {"type": "control", "data": {"command": command}}),
)


def big_frame(size: int, seed: int, kind: str) -> str | bytes:
    """A frame of `size` bytes (up to daphne's limit), made without hypothesis holding it."""
    rng = random.Random(seed)
    if kind == "binary":
        return rng.randbytes(size)
    if kind == "hex":
        audio = rng.randbytes(max(0, size - 60) // 2)
        return json.dumps({"type": "audio_chunk", "data": {"audio_data": audio.hex()}})
    return json.dumps({"type": "text_request", "data": {"text": "a" * max(0, size - 50)}})


FRAME = st.one_of(
    WELL_FORMED.map(json.dumps),
    EVEN_PCM,
    MESSAGE.map(lambda message: json.dumps(message, ensure_ascii=True)),  # \\udxxx escapes travel as ASCII
    MESSAGE.map(lambda message: json.dumps(message, ensure_ascii=False).encode("utf-8", "replace").decode()),
    WELL_FORMED.map(lambda message: json.dumps(message, ensure_ascii=False).encode("utf-8", "replace").decode()),
    st.text(max_size=80),  # not JSON, or not an object
    st.integers(min_value=1, max_value=60_000).map(lambda depth: "[" * depth + "]" * depth),
    PCM,  # binary audio, odd lengths included
    st.builds(
        big_frame,
        st.integers(min_value=0, max_value=WEBSOCKET_LIMIT),
        st.integers(),
        st.sampled_from(["binary", "hex", "text"]),
    ),
)
FRAMES = st.lists(FRAME, min_size=BATCH, max_size=BATCH)


# --- the client -------------------------------------------------------------------------------


class Client:
    """A real WebSocket client that checks every reply and counts what it sent and got."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.codes = documented_error_codes()
        self.sent = 0
        self.errors: Counter[str] = Counter()
        self.replies: Counter[str] = Counter()

    def receive(self, timeout: float = 60) -> dict | None:
        raw = self.ws.recv(timeout=timeout)
        if isinstance(raw, bytes):  # a reply's audio with the binary transport
            return None
        message = json.loads(raw)
        self.replies[message["type"]] += 1
        if message["type"] == "error":
            code = message["data"].get("code")
            assert code in self.codes, message  # coded, and the code is documented
            assert message["data"]["message"], message
            self.errors[code] += 1
        return message

    def exchange(self, batch: list[str | bytes]) -> None:
        """Send the batch, then a ping; read until every ping in it (parsed as the server would)
        and ours have their pong: the server has handled each message and is still there."""
        pings = 1
        try:
            for frame in batch:
                self.ws.send(frame)
                self.sent += 1
                if isinstance(frame, str) and is_ping(frame):
                    pings += 1
            self.ws.send(json.dumps({"type": "control", "data": {"command": "ping"}}))
            while pings:
                message = self.receive()
                if message is not None and message["type"] == "pong":
                    pings -= 1
        except ConnectionClosed as closed:
            sizes = [(type(frame).__name__, len(frame), frame[:80]) for frame in batch]
            pytest.fail(f"the socket closed ({closed}) after {self.sent} messages; this batch: {sizes}")


def is_ping(frame: str) -> bool:
    try:
        return protocol.parse_text_frame(frame, max_chunk_bytes=settings.MAX_CHUNK_SIZE) == protocol.Control("ping")
    except protocol.ProtocolError:
        return False


# --- the test ---------------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path):
    """daphne without its rate limits: the fuzz is of the protocol, not of the limiter (which has
    tests of its own); with them most messages would only be `rate_limited`."""
    env = production_env(LLB_DATA_DIR=str(tmp_path), MAX_FRAMES_PER_SECOND="1000000", MAX_BYTES_PER_SECOND=str(1 << 40))
    with running_server(env) as base:
        yield base


def test_fuzzed_messages_never_close_the_socket_and_speech_still_transcribes(server, user):
    session = make_session(user)
    url = server.replace("http", "ws", 1) + f"/api/v1/audio-streaming/ws/{session.id}"
    with (
        asr_worker_process("asr", "tts"),
        connect(url, additional_headers={"Authorization": f"Bearer {token_for(user)}"}, max_size=None) as ws,
    ):
        client = Client(ws)
        assert client.receive()["data"]["event"] == "connected"
        started = time.monotonic()

        @hypothesis_settings(
            max_examples=max(1, FUZZ_MESSAGES // BATCH),
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],  # no shrinking: a closed socket stays closed
        )
        @given(batch=FRAMES)
        def fuzz(batch):
            client.exchange(batch)

        fuzz()
        fuzz_s = time.monotonic() - started
        print(f"fuzzed {client.sent} messages in {fuzz_s:.0f} s; errors {dict(client.errors)}; {dict(client.replies)}")
        assert client.sent >= FUZZ_MESSAGES

        # The same connection still transcribes speech: forget the fuzz's utterance, then JFK.
        ws.send(json.dumps({"type": "control", "data": {"command": "reset"}}))
        ws.send(json.dumps({"type": "control", "data": {"command": "stats"}}))
        while (message := client.receive()) is None or message["type"] != "stats":
            pass
        offset = message["data"]["audioSeconds"]
        audio = np.concatenate([silence(0.5), jfk_audio(), silence(1.5)])
        for frame in frames(float32_to_pcm16(audio)):
            ws.send(frame)
            time.sleep(0.02)
        finals = []
        deadline = time.monotonic() + 180
        while not finals or finals[-1]["end"] < offset + JFK_END_S - 0.5:
            assert time.monotonic() < deadline, finals
            message = client.receive(timeout=180)
            if message and message["type"] == "transcription" and message["data"]["is_final"]:
                finals += [message["data"]] if message["data"]["start"] >= offset else []
        text = " ".join(final["text"] for final in finals)
        assert wer(JFK_TEXT, text) <= 0.15, text
