"""The WebSocket contract: parsing client messages and building server messages.

Every shape is defined here once and documented in docs/protocol.md.
"""

import base64
import binascii
import json
import re
import time
from dataclasses import dataclass

CONTROL_COMMANDS = ("ping", "stats", "reset", "cancel", "reading_done", "reading_restart")
READING_COMMANDS = ("reading_done", "reading_restart")  # a practice session's only
MESSAGE_TYPES = ("audio_chunk", "text_request", "control")

# A BCP 47-style tag ("en", "zh-CN", "cmn-Hans-CN"): what a reply may be spoken and saved in.
LANGUAGE_TAG_MAX_LENGTH = 16
LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*")

# Room for a text frame's envelope and other fields around the largest hex `audio_data`.
TEXT_FRAME_OVERHEAD = 4096


def is_language_tag(value: str) -> bool:
    return len(value) <= LANGUAGE_TAG_MAX_LENGTH and LANGUAGE_TAG.fullmatch(value) is not None


def max_text_frame(max_chunk_bytes: int) -> int:
    """The largest text frame the protocol accepts: a hex `audio_chunk` of `max_chunk_bytes`.

    The WebSocket server must let frames this large through (daphne's
    `--websocket-max-message-size`, docs/decisions/0034-websocket-message-size.md); a larger one
    is refused with `chunk_too_large` before it is parsed.
    """
    return 2 * max_chunk_bytes + TEXT_FRAME_OVERHEAD


def _encodable(value: str) -> bool:
    """JSON's `\\ud800` escapes decode to lone surrogates, which UTF-8 cannot carry: such a string
    can be neither echoed, spoken nor saved."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class ProtocolError(Exception):
    """A bad client message; the connection survives it."""

    def __init__(self, code: str, message: str, **extra):
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra


@dataclass(frozen=True)
class AudioChunk:
    pcm: bytes
    is_final: bool = False
    chunk_index: int | None = None


@dataclass(frozen=True)
class TextRequest:
    text: str
    language: str | None = None


@dataclass(frozen=True)
class Control:
    command: str


ClientMessage = AudioChunk | TextRequest | Control


def _field(data: dict, name: str, kind: type | tuple[type, ...], default=None, required: bool = False):
    if name not in data or data[name] is None:
        if required:
            raise ProtocolError("invalid_field", f"data.{name} is required.", field=name)
        return default
    value = data[name]
    # bool is an int in Python; a flag is never a number and a number never a flag.
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
        raise ProtocolError("invalid_field", f"data.{name} has the wrong type.", field=name)
    if isinstance(value, str) and not _encodable(value):
        raise ProtocolError("invalid_field", f"data.{name} is not valid Unicode.", field=name)
    return value


def check_pcm_size(pcm: bytes, max_bytes: int) -> bytes:
    if len(pcm) > max_bytes:
        raise ProtocolError("chunk_too_large", f"Audio chunk of {len(pcm)} bytes exceeds {max_bytes}.", limit=max_bytes)
    if len(pcm) % 2:
        raise ProtocolError("odd_byte_count", "PCM16 audio must have an even number of bytes.")
    return pcm


def _decode_audio(data: dict, max_bytes: int) -> bytes:
    encoded = _field(data, "audio_data", str, required=True)
    encoding = _field(data, "encoding", str, default="hex")
    # Both encodings are longer than the bytes they carry: refuse oversize before decoding.
    if len(encoded) > max_bytes * 2 + 4:
        raise ProtocolError("chunk_too_large", f"Audio chunk exceeds {max_bytes} bytes.", limit=max_bytes)
    try:
        if encoding == "hex":
            pcm = bytes.fromhex(encoded)
        elif encoding == "base64":
            pcm = base64.b64decode(encoded, validate=True)
        else:
            raise ProtocolError("invalid_field", "data.encoding must be 'hex' or 'base64'.", field="encoding")
    except (ValueError, binascii.Error):
        raise ProtocolError("invalid_audio", f"data.audio_data is not valid {encoding}.") from None
    return check_pcm_size(pcm, max_bytes)


def check_frame_size(size: int, *, binary: bool, max_chunk_bytes: int) -> None:
    """Refuse an oversize message before anything else is done with it. A text message's size is
    in characters: a lower bound of its bytes, enough to refuse before parsing."""
    limit = max_chunk_bytes if binary else max_text_frame(max_chunk_bytes)
    if size > limit:
        raise ProtocolError("chunk_too_large", f"A message may be at most {limit} bytes.", limit=limit)


def _text_request(data: dict) -> TextRequest:
    language = _field(data, "language", str)
    if language is not None and not is_language_tag(language):
        raise ProtocolError(
            "invalid_field",
            f"data.language must be a language tag such as 'en' or 'zh-CN' (at most {LANGUAGE_TAG_MAX_LENGTH} "
            "characters).",
            field="language",
        )
    text = _field(data, "text", str, required=True)
    if "\x00" in text:  # neither speakable nor storable (PostgreSQL text refuses NUL)
        raise ProtocolError("invalid_field", "data.text must not contain NUL characters.", field="text")
    return TextRequest(text=text, language=language)


def parse_text_frame(raw: str, *, max_chunk_bytes: int) -> ClientMessage:
    """Parse one JSON text frame into a typed message, or raise ProtocolError.

    Error messages never quote the client's strings: they may be huge, or not encodable.
    """
    check_frame_size(len(raw), binary=False, max_chunk_bytes=max_chunk_bytes)
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):  # deep nesting exhausts the parser's recursion
        raise ProtocolError("invalid_json", "The message is not valid JSON.") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str) or not _encodable(message["type"]):
        raise ProtocolError("invalid_message", "A message is a JSON object with a string 'type'.")
    data = message.get("data", {})
    if not isinstance(data, dict):
        raise ProtocolError("invalid_message", "'data' must be a JSON object.")
    kind = message["type"]
    if kind == "audio_chunk":
        index = _field(data, "chunk_index", int)
        if index is not None and index < 0:
            raise ProtocolError("invalid_field", "data.chunk_index must not be negative.", field="chunk_index")
        return AudioChunk(
            pcm=_decode_audio(data, max_chunk_bytes),
            is_final=_field(data, "is_final", bool, default=False),
            chunk_index=index,
        )
    if kind == "text_request":
        return _text_request(data)
    if kind == "control":
        command = _field(data, "command", str, required=True)
        if command not in CONTROL_COMMANDS:
            raise ProtocolError("unknown_command", f"Unknown command; use one of {', '.join(CONTROL_COMMANDS)}.")
        return Control(command=command)
    raise ProtocolError("unknown_type", f"Unknown message type; use one of {', '.join(MESSAGE_TYPES)}.")


class ChunkOrder:
    """`chunk_index` bookkeeping: resends are ignored, gaps reported (the chunk is still used)."""

    def __init__(self) -> None:
        self.last: int | None = None

    def is_resend(self, index: int) -> bool:
        return self.last is not None and index <= self.last

    def accept(self, index: int) -> dict | None:
        """Record the index; the `chunk_gap` error to send if chunks were skipped."""
        previous, self.last = self.last, index
        if previous is None or index == previous + 1:
            return None
        expected = previous + 1
        return error("chunk_gap", f"Chunks {expected}..{index - 1} never arrived.", expected=expected, received=index)


# --- server -> client ------------------------------------------------------------------------


def envelope(kind: str, **data) -> dict:
    return {"type": kind, "data": data}


def error(code: str, message: str, **extra) -> dict:
    return envelope("error", code=code, message=message, **extra)


def pong() -> dict:
    return envelope("pong", timestamp=time.time())


def status(event: str, **fields) -> dict:
    return envelope("status", event=event, **fields)


def transcription(
    *,
    utterance_id: int,
    committed: str,
    tentative: str,
    is_final: bool,
    start: float,
    end: float,
    lag: float,
    entry_id: int | None = None,
) -> dict:
    text = f"{committed} {tentative}".strip() if tentative else committed
    return envelope(
        "transcription",
        utterance_id=utterance_id,
        text=text,
        committed=committed,
        tentative=tentative,
        is_final=is_final,
        start=round(start, 3),
        end=round(end, 3),
        lag=round(lag, 3),
        entry_id=entry_id,
        timestamp=time.time(),
    )


def tts_audio(
    *,
    request_id: str,
    sequence: int,
    sample_rate: int,
    audio_format: str,
    is_final: bool,
    text: str,
    audio: bytes | None,
    encoding: str,
) -> dict:
    """One synthesized sentence; `audio` None means it follows as a binary frame."""
    if audio is None:
        payload, encoding = None, "binary"
    elif encoding == "base64":
        payload = base64.b64encode(audio).decode()
    else:
        payload = audio.hex()
    return envelope(
        "tts_audio",
        request_id=request_id,
        sequence=sequence,
        sample_rate=sample_rate,
        format=audio_format,
        encoding=encoding,
        is_final=is_final,
        text=text,
        audio_data=payload,
    )


def reading_progress(attempt: int, reading: dict) -> dict:
    """Where a reading-practice attempt stands (`Reading.as_dict()`); `attempt` beside `data`."""
    return {"type": "reading_progress", "data": reading, "attempt": attempt}


def reading_result(attempt: int, reading: dict, attempt_id: int) -> dict:
    """A finished attempt, as saved (`attemptId`: the reading attempt of the REST API)."""
    return {"type": "reading_result", "data": {**reading, "attemptId": attempt_id}, "attempt": attempt}


def dumps(message: dict) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))
