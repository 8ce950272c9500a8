"""Spoken replies over the WebSocket with the real TTS worker (Piper / eSpeak NG)."""

import asyncio
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from asgiref.sync import sync_to_async

from streaming.core.audio import float32_to_pcm16
from streaming.core.text_split import split_sentences
from streaming.models import ConversationEntry, EntryRole
from tests.speech import frames, jfk_audio, silence
from tests.support import in_process_workers, make_session, open_socket, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

PARAGRAPH = (
    "Good morning, class. Today we will learn about the water cycle. "
    "Water evaporates from the sea and rises into the sky. Then it falls again as rain."
)
_lessons = itertools.count(1)


def fresh(text: str = PARAGRAPH) -> str:
    """The text with a new lesson number in every sentence: never served from the TTS cache."""
    n = next(_lessons)
    return " ".join(f"{sentence[:-1]}, lesson {n}." for sentence in split_sentences(text))


async def receive_until(communicator, predicate, timeout: float = 60) -> list[dict]:
    messages = []
    deadline = time.monotonic() + timeout
    while True:
        message = await communicator.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
        messages.append(message)
        if predicate(message):
            return messages


def is_last_audio(message: dict) -> bool:
    return message["type"] == "tts_audio" and message["data"]["is_final"]


async def connect(user, **options):
    session = await sync_to_async(make_session)(user, **options)
    communicator, _, _ = await open_socket(session.id, token=await sync_to_async(token_for)(user))
    return session, communicator


async def test_reply_streams_sentence_by_sentence_and_is_persisted(layer, user):
    async with in_process_workers(("tts",)):
        session, communicator = await connect(user)
        text = fresh()
        await communicator.send_json_to({"type": "text_request", "data": {"text": text, "language": "en"}})
        arrivals, messages = [], []
        while not messages or not is_last_audio(messages[-1]):
            messages.append(await communicator.receive_json_from(timeout=60))
            arrivals.append(time.monotonic())
        await communicator.send_json_to({"type": "control", "data": {"command": "stats"}})
        stats = await communicator.receive_json_from(timeout=10)
        await communicator.disconnect()
    audio = [m["data"] for m in messages if m["type"] == "tts_audio"]
    assert [a["sequence"] for a in audio] == [0, 1, 2, 3]
    assert [a["is_final"] for a in audio] == [False, False, False, True]
    assert all(a["format"] == "pcm_s16le" and a["sample_rate"] == 22050 for a in audio)
    assert all(len(bytes.fromhex(a["audio_data"])) > 22050 for a in audio)  # > 0.5 s of speech each
    # The first sentence is heard while the last is still being synthesized.
    assert arrivals[0] < arrivals[-1] - 0.05
    assert stats["data"]["pendingResponses"] == 0
    entry = await sync_to_async(ConversationEntry.objects.get)(session=session)
    assert entry.role == EntryRole.ASSISTANT and entry.text == text
    assert entry.audio_duration > 5 and 0 < entry.latency < 5


async def test_binary_transport_base64_and_wav(memory_layer, user):
    async with in_process_workers(("tts",)):
        _, binary = await connect(user, tts_transport="binary", tts_format="wav")
        await binary.send_json_to({"type": "text_request", "data": {"text": "Well done!"}})
        header = await binary.receive_json_from(timeout=60)
        assert header["data"]["encoding"] == "binary" and header["data"]["audio_data"] is None
        frame = await binary.receive_from(timeout=10)
        assert isinstance(frame, bytes) and frame[:4] == b"RIFF" and frame[8:12] == b"WAVE"
        await binary.disconnect()
        _, b64 = await connect(user, tts_encoding="base64")
        await b64.send_json_to({"type": "text_request", "data": {"text": "Well done!"}})
        message = await b64.receive_json_from(timeout=60)
        assert message["data"]["encoding"] == "base64" and len(message["data"]["audio_data"]) > 1000
        await b64.disconnect()


async def test_chinese_reply_through_espeak(memory_layer, user):
    async with in_process_workers(("tts",)):
        _, communicator = await connect(user)
        await communicator.send_json_to(
            {"type": "text_request", "data": {"text": "你好！今天我们学习数学。", "language": "zh"}}
        )
        messages = await receive_until(communicator, is_last_audio)
        await communicator.disconnect()
    audio = [m["data"] for m in messages if m["type"] == "tts_audio"]
    assert [a["text"] for a in audio] == ["你好！", "今天我们学习数学。"]
    pcm = np.frombuffer(b"".join(bytes.fromhex(a["audio_data"]) for a in audio), dtype="<i2")
    assert np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) > 300


async def test_unknown_language_falls_back_with_notice(memory_layer, user):
    async with in_process_workers(("tts",)):
        _, communicator = await connect(user)
        await communicator.send_json_to({"type": "text_request", "data": {"text": "Hello.", "language": "xx"}})
        messages = await receive_until(communicator, is_last_audio)
        await communicator.disconnect()
    assert messages[0]["type"] == "status" and messages[0]["data"]["event"] == "tts_fallback"


async def test_cancel_stops_the_reply_and_keeps_what_was_heard(memory_layer, user):
    async with in_process_workers(("tts",)):
        session, communicator = await connect(user)
        text = fresh(PARAGRAPH * 3)
        await communicator.send_json_to({"type": "text_request", "data": {"text": text}})
        first = await communicator.receive_json_from(timeout=60)
        assert first["type"] == "tts_audio" and first["data"]["sequence"] == 0
        await communicator.send_json_to({"type": "control", "data": {"command": "cancel"}})
        cancelled = await receive_until(communicator, lambda m: m["type"] == "status")
        assert cancelled[-1]["data"]["event"] == "reply_cancelled"
        delivered = cancelled[-1]["data"]["delivered_text"]
        assert delivered.startswith("Good morning, class, lesson")
        assert await communicator.receive_nothing(timeout=2)  # nothing more is sent
        await communicator.disconnect()
    entry = await sync_to_async(ConversationEntry.objects.get)(session=session)
    assert entry.text == delivered and len(entry.text) < len(text)


async def test_speaking_interrupts_the_reply(memory_layer, user):
    async with in_process_workers(("asr", "tts")):
        _, communicator = await connect(user)
        await communicator.send_json_to({"type": "text_request", "data": {"text": fresh(PARAGRAPH * 3)}})
        assert (await communicator.receive_json_from(timeout=60))["type"] == "tts_audio"
        for frame in frames(float32_to_pcm16(np.concatenate([silence(0.3), jfk_audio()[: 16000 * 2]]))):
            await communicator.send_to(bytes_data=frame)
            await asyncio.sleep(0.01)
        messages = await receive_until(communicator, lambda m: m["type"] == "status")
        assert messages[-1]["data"]["event"] == "reply_cancelled"
        await communicator.disconnect()


@pytest.mark.parametrize(
    ("text", "code"),
    [("   ", "text_empty"), ("x" * 2001, "text_too_long"), ("...", "text_empty")],
)
async def test_reply_errors_have_codes(memory_layer, user, text, code):
    async with in_process_workers(("tts",)):
        _, communicator = await connect(user)
        await communicator.send_json_to({"type": "text_request", "data": {"text": text}})
        error = await communicator.receive_json_from(timeout=30)
        assert error["type"] == "error" and error["data"]["code"] == code
        await communicator.send_json_to({"type": "control", "data": {"command": "ping"}})
        assert (await communicator.receive_json_from(timeout=5))["type"] == "pong"  # the session goes on
        await communicator.disconnect()


async def test_engine_failure_is_reported(memory_layer, user, settings):
    settings.TTS_ENGLISH_ENGINE = "coqui"  # not installed here: the engine fails to load
    async with in_process_workers(("tts",)):
        _, communicator = await connect(user)
        await communicator.send_json_to({"type": "text_request", "data": {"text": "Hello."}})
        error = await communicator.receive_json_from(timeout=30)
        assert error["type"] == "error" and error["data"]["code"] == "tts_failed"
        assert "request_id" in error["data"]
        await communicator.disconnect()


class ChatCompletions(BaseHTTPRequestHandler):
    """A tiny OpenAI-compatible streaming endpoint (no language model runs here)."""

    answer = ["Great ", "question! ", "The sky ", "is blue because ", "air scatters blue light."]
    requests: list[dict] = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        self.send_response(self.status)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if self.status != 200:
            return
        for token in self.answer:
            chunk = {"choices": [{"delta": {"content": token}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.05)
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server(settings):
    ChatCompletions.requests = []
    ChatCompletions.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatCompletions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.RESPONDER = "openai"
    settings.RESPONDER_URL = f"http://127.0.0.1:{server.server_port}/v1/chat/completions"
    yield ChatCompletions
    server.shutdown()


async def speak_jfk_opening(communicator):
    audio = np.concatenate([silence(0.3), jfk_audio()[: int(16000 * 2.6)], silence(1.2)])
    for frame in frames(float32_to_pcm16(audio)):
        await communicator.send_to(bytes_data=frame)
        await asyncio.sleep(0.01)


async def test_responder_answers_a_final_utterance(memory_layer, user, chat_server):
    async with in_process_workers(("asr", "tts")):
        session, communicator = await connect(user)
        await speak_jfk_opening(communicator)
        messages = await receive_until(communicator, is_last_audio)
        await communicator.disconnect()
    spoken = [m["data"]["text"] for m in messages if m["type"] == "tts_audio"]
    assert spoken == ["Great question!", "The sky is blue because air scatters blue light."]
    sent = chat_server.requests[0]["messages"]
    assert sent[0]["role"] == "system" and sent[-1]["role"] == "user"
    assert "fellow americans" in sent[-1]["content"].lower()
    entries = await sync_to_async(list)(ConversationEntry.objects.filter(session=session).order_by("sequence"))
    assert [e.role for e in entries] == ["user", "assistant"]
    assert entries[1].text == "Great question! The sky is blue because air scatters blue light."


async def test_responder_failure_is_told(memory_layer, user, chat_server):
    chat_server.status = 500
    async with in_process_workers(("asr", "tts")):
        _, communicator = await connect(user)
        await speak_jfk_opening(communicator)
        messages = await receive_until(communicator, lambda m: m["type"] == "error")
        await communicator.disconnect()
    assert messages[-1]["data"]["code"] == "responder_failed"
