"""The channel-layer messages (streaming/realtime/messages.py): each survives its trip through the
wire dict, with the `type` and keys that processes of other versions send and read."""

import pytest

from streaming.realtime.channel_layers import QUEUE_RANK
from streaming.realtime.messages import (
    AsrRequest,
    AsrResult,
    SessionEnded,
    SessionSuperseded,
    TtsAudio,
    TtsError,
    TtsRequest,
)

MESSAGES = [
    AsrRequest(
        request_id="7",
        sequence=7,
        reply_channel="specific.abc!def",
        audio=b"\x00\x01" * 8,
        language="en",
        prompt="ask not",
        sent_at=1700000000.5,
        queue_rank=1699999999.75,
        behind=True,
        deadline=1700000015.5,
    ),
    AsrResult("7", busy=False, segments=[{"start": 0.0, "end": 1.2, "text": " And so"}], compute_s=0.31),
    AsrResult("8", busy=True, error="RuntimeError: out of memory"),
    TtsRequest("r1", "specific.abc!def", text="Well done.", language="en"),
    TtsAudio("r1", 0, "Well done.", pcm=b"\x01\x00" * 4, sample_rate=22050, is_final=True, fallback=False),
    TtsError("r1", code="tts_failed", message="Speech synthesis failed: OSError: no voice"),
    SessionEnded("expired"),
    SessionSuperseded(),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_survives_the_round_trip(message):
    wire = message.to_message()
    assert wire["type"] == message.TYPE
    assert type(message).from_message(wire) == message


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        (
            MESSAGES[0],
            {
                "type": "asr.transcribe",
                "request_id": "7",
                "sequence": 7,
                "reply_channel": "specific.abc!def",
                "audio": b"\x00\x01" * 8,
                "language": "en",
                "prompt": "ask not",
                "sent_at": 1700000000.5,
                "queue_rank": 1699999999.75,
                "behind": True,
                "deadline": 1700000015.5,
            },
        ),
        (
            MESSAGES[1],
            {
                "type": "asr.result",
                "request_id": "7",
                "busy": False,
                "segments": [{"start": 0.0, "end": 1.2, "text": " And so"}],
                "compute_s": 0.31,
            },
        ),
        (MESSAGES[2], {"type": "asr.result", "request_id": "8", "busy": True, "error": "RuntimeError: out of memory"}),
        (
            MESSAGES[3],
            {
                "type": "tts.synthesize",
                "request_id": "r1",
                "reply_channel": "specific.abc!def",
                "text": "Well done.",
                "language": "en",
            },
        ),
        (
            MESSAGES[4],
            {
                "type": "tts.audio",
                "request_id": "r1",
                "sequence": 0,
                "text": "Well done.",
                "pcm": b"\x01\x00" * 4,
                "sample_rate": 22050,
                "is_final": True,
                "fallback": False,
            },
        ),
        (
            MESSAGES[5],
            {
                "type": "tts.error",
                "request_id": "r1",
                "code": "tts_failed",
                "message": "Speech synthesis failed: OSError: no voice",
            },
        ),
        (MESSAGES[6], {"type": "session.ended", "status": "expired"}),
        (MESSAGES[7], {"type": "session.superseded"}),
    ],
    ids=lambda m: m["type"] if isinstance(m, dict) else type(m).__name__,
)
def test_the_wire_keeps_its_type_and_keys(message, wire):
    """A failed decode carries no segments and a successful one no error: the consumer tells them
    apart that way, in every version."""
    assert message.to_message() == wire


def test_a_message_missing_a_required_key_is_refused():
    wire = TtsRequest("r1", "specific.abc!def", text="Hi.", language="en").to_message()
    del wire["language"]
    with pytest.raises(KeyError):
        TtsRequest.from_message(wire)


def test_messages_are_immutable():
    with pytest.raises(AttributeError):
        MESSAGES[6].status = "closed"  # type: ignore[misc]


def test_the_ranked_layers_find_a_requests_rank_where_they_look():
    request = MESSAGES[0]
    assert isinstance(request, AsrRequest) and request.to_message()[QUEUE_RANK] == request.queue_rank
