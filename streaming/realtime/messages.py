"""The channel-layer contract between the WebSocket consumer and the workers: channel and group
names, and every message that crosses the layer.

Each message is a frozen dataclass whose `to_message()` writes the wire dict and whose
`from_message()` reads one back, so a key is named in one place. The wire `type` strings and keys
are the ones every deployed process speaks: an old worker and a new consumer must still understand
each other during a rolling restart.
"""

from dataclasses import dataclass
from typing import Self

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from streaming import asr_models
from streaming.realtime.channel_layers import QUEUE_RANK

TTS_CHANNEL = "tts"


def worker_channels() -> dict[str, tuple[str, ...]]:
    """Each worker kind's channels, a slot pool each. ASR has two per configured model
    (streaming/asr_models.py): partials, and finals (the end of an utterance) with slots and a
    model reserved in every worker (ASR_FINAL_SLOTS), so a student's final text does not queue
    behind every other session's partials and its decode gets a core before theirs."""
    return {"asr": asr_models.asr_channels(), "tts": (TTS_CHANNEL,)}


def all_worker_channels() -> tuple[str, ...]:
    return tuple(channel for pools in worker_channels().values() for channel in pools)


def session_group(session_id) -> str:
    """The group of the connection holding a session (it hears `session.ended` / `session.superseded`)."""
    return f"session.{session_id}"


# --- consumer -> ASR worker -> consumer --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AsrRequest:
    """Decode `audio` (PCM16 mono at SAMPLE_RATE) and answer `reply_channel` with an `AsrResult`."""

    TYPE = "asr.transcribe"

    request_id: str
    sequence: int  # a worker skips one older than one of its session it already started
    reply_channel: str
    audio: bytes
    language: str
    prompt: str  # "" for none
    sent_at: float  # how long it queued and whether the service is short of CPU
    queue_rank: float  # its place in the queue (closing partials go ahead)
    behind: bool  # the session's round trips exceed its update interval: decode the cheaper way
    deadline: float  # the session stops waiting then; a worker drops it after this

    def to_message(self) -> dict:
        return {
            "type": self.TYPE,
            "request_id": self.request_id,
            "sequence": self.sequence,
            "reply_channel": self.reply_channel,
            "audio": self.audio,
            "language": self.language,
            "prompt": self.prompt,
            "sent_at": self.sent_at,
            QUEUE_RANK: self.queue_rank,
            "behind": self.behind,
            "deadline": self.deadline,
        }

    @classmethod
    def from_message(cls, message: dict) -> Self:
        return cls(
            request_id=message["request_id"],
            sequence=message["sequence"],
            reply_channel=message["reply_channel"],
            audio=message["audio"],
            language=message["language"],
            prompt=message["prompt"],
            sent_at=message["sent_at"],
            queue_rank=message[QUEUE_RANK],
            behind=message["behind"],
            deadline=message["deadline"],
        )


@dataclass(frozen=True, slots=True)
class AsrResult:
    """A worker's answer: the segments and the decode's compute time, or (segments None) the error
    that stopped it: the session must hear about every failure, never wait for its timeout."""

    TYPE = "asr.result"

    request_id: str
    busy: bool  # decoded the cheaper way
    segments: list[dict] | None = None
    compute_s: float | None = None
    error: str | None = None

    def to_message(self) -> dict:
        message = {"type": self.TYPE, "request_id": self.request_id, "busy": self.busy}
        if self.error is not None:
            message["error"] = self.error
        else:
            message.update(segments=self.segments, compute_s=self.compute_s)
        return message

    @classmethod
    def from_message(cls, message: dict) -> Self:
        return cls(
            request_id=message["request_id"],
            busy=message["busy"],
            segments=message.get("segments"),
            compute_s=message.get("compute_s"),
            error=message.get("error"),
        )


# --- consumer -> TTS worker -> consumer --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TtsRequest:
    """Speak one part of a reply; the worker answers sentence by sentence with `TtsAudio`."""

    TYPE = "tts.synthesize"

    request_id: str
    reply_channel: str
    text: str
    language: str

    def to_message(self) -> dict:
        return {
            "type": self.TYPE,
            "request_id": self.request_id,
            "reply_channel": self.reply_channel,
            "text": self.text,
            "language": self.language,
        }

    @classmethod
    def from_message(cls, message: dict) -> Self:
        return cls(
            request_id=message["request_id"],
            reply_channel=message["reply_channel"],
            text=message["text"],
            language=message["language"],
        )


@dataclass(frozen=True, slots=True)
class TtsAudio:
    """One synthesized sentence of a `TtsRequest`'s part; `is_final` marks the part's last."""

    TYPE = "tts.audio"

    request_id: str
    sequence: int
    text: str
    pcm: bytes
    sample_rate: int
    is_final: bool
    fallback: bool  # no voice for the language: another one spoke it

    def to_message(self) -> dict:
        return {
            "type": self.TYPE,
            "request_id": self.request_id,
            "sequence": self.sequence,
            "text": self.text,
            "pcm": self.pcm,
            "sample_rate": self.sample_rate,
            "is_final": self.is_final,
            "fallback": self.fallback,
        }

    @classmethod
    def from_message(cls, message: dict) -> Self:
        return cls(
            request_id=message["request_id"],
            sequence=message["sequence"],
            text=message["text"],
            pcm=message["pcm"],
            sample_rate=message["sample_rate"],
            is_final=message["is_final"],
            fallback=message["fallback"],
        )


@dataclass(frozen=True, slots=True)
class TtsError:
    """A `TtsRequest` that could not be spoken; `code` and `message` go to the client as they are."""

    TYPE = "tts.error"

    request_id: str
    code: str
    message: str

    def to_message(self) -> dict:
        return {"type": self.TYPE, "request_id": self.request_id, "code": self.code, "message": self.message}

    @classmethod
    def from_message(cls, message: dict) -> Self:
        return cls(request_id=message["request_id"], code=message["code"], message=message["message"])


# --- to a session's group ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """The session was closed or expired: its connection tells the client and closes."""

    TYPE = "session.ended"

    status: str

    def to_message(self) -> dict:
        return {"type": self.TYPE, "status": self.status}

    @classmethod
    def from_message(cls, message: dict) -> Self:
        return cls(status=message["status"])


@dataclass(frozen=True, slots=True)
class SessionSuperseded:
    """A new connection took the session over: the old one closes."""

    TYPE = "session.superseded"

    def to_message(self) -> dict:
        return {"type": self.TYPE}

    @classmethod
    def from_message(cls, message: dict) -> Self:
        return cls()


async def anotify_session_ended(session_id, status: str) -> None:
    """A live WebSocket on the session hears it ended (closed or expired) and closes."""
    await get_channel_layer().group_send(session_group(session_id), SessionEnded(status).to_message())


def notify_session_ended(session_id, status: str) -> None:
    async_to_sync(anotify_session_ended)(session_id, status)
