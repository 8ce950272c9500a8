"""Client message parsing: every malformed shape gets its stable error code."""

import base64
import json

import pytest

from streaming.core import protocol
from streaming.core.rate_limit import ConnectionLimits

MAX = 1024


def parse(message) -> protocol.ClientMessage:
    raw = message if isinstance(message, str) else json.dumps(message)
    return protocol.parse_text_frame(raw, max_chunk_bytes=MAX)


def code_of(message) -> str:
    with pytest.raises(protocol.ProtocolError) as caught:
        parse(message)
    return caught.value.code


def test_audio_chunk_hex_and_base64():
    pcm = bytes(range(16))
    hexed = parse({"type": "audio_chunk", "data": {"audio_data": pcm.hex(), "is_final": True, "chunk_index": 3}})
    assert hexed == protocol.AudioChunk(pcm=pcm, is_final=True, chunk_index=3)
    b64 = parse({"type": "audio_chunk", "data": {"audio_data": base64.b64encode(pcm).decode(), "encoding": "base64"}})
    assert b64 == protocol.AudioChunk(pcm=pcm)


def test_text_request_and_control():
    assert parse({"type": "text_request", "data": {"text": "Hello", "language": "en"}}) == protocol.TextRequest(
        "Hello", "en"
    )
    assert parse({"type": "control", "data": {"command": "ping"}}) == protocol.Control("ping")


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_message"),
        ({"data": {}}, "invalid_message"),
        ({"type": 7}, "invalid_message"),
        ({"type": "audio_chunk", "data": "x"}, "invalid_message"),
        ({"type": "nonsense"}, "unknown_type"),
        ({"type": "audio_chunk", "data": {}}, "invalid_field"),
        ({"type": "audio_chunk", "data": {"audio_data": 12}}, "invalid_field"),
        ({"type": "audio_chunk", "data": {"audio_data": "zz"}}, "invalid_audio"),
        ({"type": "audio_chunk", "data": {"audio_data": "abc"}}, "invalid_audio"),
        ({"type": "audio_chunk", "data": {"audio_data": "!!", "encoding": "base64"}}, "invalid_audio"),
        ({"type": "audio_chunk", "data": {"audio_data": "00", "encoding": "rot13"}}, "invalid_field"),
        ({"type": "audio_chunk", "data": {"audio_data": "000102"}}, "odd_byte_count"),
        ({"type": "audio_chunk", "data": {"audio_data": "00" * (MAX + 2)}}, "chunk_too_large"),
        ({"type": "audio_chunk", "data": {"audio_data": "0000", "is_final": "yes"}}, "invalid_field"),
        ({"type": "audio_chunk", "data": {"audio_data": "0000", "chunk_index": -1}}, "invalid_field"),
        ({"type": "audio_chunk", "data": {"audio_data": "0000", "chunk_index": True}}, "invalid_field"),
        ({"type": "audio_chunk", "data": {"audio_data": "0000", "chunk_index": 1.5}}, "invalid_field"),
        ({"type": "text_request", "data": {}}, "invalid_field"),
        ({"type": "text_request", "data": {"text": ["a"]}}, "invalid_field"),
        ({"type": "text_request", "data": {"text": "a\x00b"}}, "invalid_field"),
        ({"type": "control", "data": {"command": "explode"}}, "unknown_command"),
        ({"type": "control", "data": {}}, "invalid_field"),
    ],
)
def test_malformed_messages(message, code):
    assert code_of(message) == code


def test_binary_frames_are_checked():
    assert protocol.check_pcm_size(b"\x00\x01", MAX) == b"\x00\x01"
    with pytest.raises(protocol.ProtocolError, match="even"):
        protocol.check_pcm_size(b"\x00", MAX)
    with pytest.raises(protocol.ProtocolError) as caught:
        protocol.check_pcm_size(b"\x00" * (MAX + 2), MAX)
    assert caught.value.code == "chunk_too_large"


def test_transcription_shape():
    message = protocol.transcription(
        utterance_id=2, committed="ask not", tentative="what your", is_final=False, start=1.0, end=2.5, lag=0.2
    )
    assert message["type"] == "transcription"
    assert message["data"]["text"] == "ask not what your"
    assert {"committed", "tentative", "is_final", "start", "end", "lag", "entry_id", "utterance_id"} <= set(
        message["data"]
    )


def test_tts_audio_encodings():
    hexed = protocol.tts_audio(
        request_id="r",
        sequence=0,
        sample_rate=22050,
        audio_format="pcm_s16le",
        is_final=True,
        text="Hi.",
        audio=b"\x01\x02",
        encoding="hex",
    )
    assert hexed["data"]["audio_data"] == "0102"
    b64 = protocol.tts_audio(
        request_id="r",
        sequence=0,
        sample_rate=22050,
        audio_format="pcm_s16le",
        is_final=True,
        text="Hi.",
        audio=b"\x01\x02",
        encoding="base64",
    )
    assert base64.b64decode(b64["data"]["audio_data"]) == b"\x01\x02"
    binary = protocol.tts_audio(
        request_id="r",
        sequence=0,
        sample_rate=22050,
        audio_format="pcm_s16le",
        is_final=True,
        text="Hi.",
        audio=None,
        encoding="hex",
    )
    assert binary["data"]["audio_data"] is None and binary["data"]["encoding"] == "binary"


def test_connection_limits_refill():
    now = [0.0]
    limits = ConnectionLimits(frames_per_second=10, bytes_per_second=1000, clock=lambda: now[0])
    assert all(limits.allow(10) for _ in range(20))  # two seconds of burst
    assert not limits.allow(10)
    now[0] += 1.0
    assert limits.allow(10)
    assert not limits.allow(5000)  # more bytes than the bucket can ever hold


def test_connection_limits_let_the_largest_message_through():
    limits = ConnectionLimits(frames_per_second=10, bytes_per_second=1000, largest_message=5000, clock=lambda: 0.0)
    assert limits.allow(5000)


def test_deep_nesting_is_invalid_json():
    assert code_of("[" * 3000 + "]" * 3000) == "invalid_json"
    assert code_of('{"type":"control","data":' + "[" * 2900 + "]" * 2900 + "}") == "invalid_json"


def test_text_frames_over_the_limit_are_refused_before_parsing():
    with pytest.raises(protocol.ProtocolError) as caught:
        parse("[" * (protocol.max_text_frame(MAX) + 1))
    assert caught.value.code == "chunk_too_large" and caught.value.extra == {"limit": protocol.max_text_frame(MAX)}


@pytest.mark.parametrize(
    "message",
    [
        '{"type": "\\ud800"}',
        '{"type": "control", "data": {"command": "\\udfff"}}',
        '{"type": "text_request", "data": {"text": "hi \\ud83d"}}',
        '{"type": "text_request", "data": {"text": "hi", "language": "\\ud800"}}',
        '{"type": "audio_chunk", "data": {"audio_data": "\\ud800"}}',
        '{"type": "audio_chunk", "data": {"audio_data": "0000", "encoding": "\\ud800"}}',
    ],
)
def test_lone_surrogates_are_refused_and_never_echoed(message):
    """A lone surrogate cannot be encoded as UTF-8: echoed in an error it would break the socket."""
    with pytest.raises(protocol.ProtocolError) as caught:
        parse(message)
    assert caught.value.code in {"invalid_message", "invalid_field", "unknown_type", "unknown_command"}
    reply = protocol.error(caught.value.code, caught.value.message, **caught.value.extra)
    protocol.dumps(reply).encode("utf-8")  # what the consumer sends must encode


def test_unknown_names_are_not_echoed():
    with pytest.raises(protocol.ProtocolError) as caught:
        parse({"type": "x" * 5000})
    assert "x" * 100 not in caught.value.message
    with pytest.raises(protocol.ProtocolError) as caught:
        parse({"type": "control", "data": {"command": "y" * 5000}})
    assert "y" * 100 not in caught.value.message


@pytest.mark.parametrize("language", ["en", "zh", "zh-CN", "en-US", "cmn-Hans-CN", "auto"])
def test_text_request_language_tags(language):
    assert parse({"type": "text_request", "data": {"text": "Hi", "language": language}}).language == language


@pytest.mark.parametrize("language", ["", "e", "x" * 17, "en-US-" + "a" * 12, "en us", "../etc", "中文", "en-"])
def test_text_request_language_must_be_a_tag(language):
    with pytest.raises(protocol.ProtocolError) as caught:
        parse({"type": "text_request", "data": {"text": "Hi", "language": language}})
    assert caught.value.code == "invalid_field" and caught.value.extra == {"field": "language"}


def test_largest_text_frame_carries_the_largest_chunk():
    """The transport must let through a hex `audio_chunk` carrying `max_chunk_bytes` of audio."""
    largest = json.dumps(
        {"type": "audio_chunk", "data": {"audio_data": "00" * MAX, "is_final": False, "chunk_index": 2**53}}
    )
    assert len(largest.encode()) <= protocol.max_text_frame(MAX)
    assert parse(largest) == protocol.AudioChunk(pcm=bytes(MAX), chunk_index=2**53)
