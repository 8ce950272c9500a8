"""The channel-layer contract between the WebSocket consumer and the workers: channel and group
names, and every message that crosses the layer.

Each message is a frozen dataclass whose `to_message()` writes the wire dict and whose
`from_message()` reads one back, so a key is named in one place. The wire `type` strings and keys
are the ones every deployed process speaks: an old worker and a new consumer must still understand
each other during a rolling restart.
"""

from dataclasses import MISSING, dataclass, fields
from typing import ClassVar, Self

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from streaming import asr_models

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


class ChannelMessage:
    """What every message shares: on the wire it is its `TYPE` and its fields under their own
    names (an optional field left None is left out); reading one back, a missing required key
    raises KeyError instead of being guessed."""

    __slots__ = ()
    TYPE: ClassVar[str]

    def to_message(self) -> dict:
        message = {"type": self.TYPE}
        for f in fields(self):  # type: ignore[arg-type]  # every subclass is a dataclass
            value = getattr(self, f.name)
            if value is not None or f.default is MISSING:
                message[f.name] = value
        return message

    @classmethod
    def from_message(cls, message: dict) -> Self:
        return cls(
            **{f.name: message[f.name] for f in fields(cls) if f.default is MISSING or f.name in message}  # type: ignore[arg-type]
        )


# --- consumer -> ASR worker -> consumer --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AsrRequest(ChannelMessage):
    """Decode `audio` (PCM16 mono at SAMPLE_RATE) and answer `reply_channel` with an `AsrResult`."""

    TYPE = "asr.transcribe"

    request_id: str
    sequence: int  # a worker skips one older than one of its session it already started
    reply_channel: str
    audio: bytes
    language: str
    prompt: str  # "" for none
    sent_at: float  # how long it queued and whether the service is short of CPU
    queue_rank: float  # its place in the queue, read by the ranked layers (channel_layers.QUEUE_RANK)
    behind: bool  # the session's round trips exceed its update interval: decode the cheaper way
    deadline: float  # the session stops waiting then; a worker drops it after this


@dataclass(frozen=True, slots=True)
class AsrResult(ChannelMessage):
    """A worker's answer: the segments and the decode's compute time, or (segments None) the error
    that stopped it: the session must hear about every failure, never wait for its timeout."""

    TYPE = "asr.result"

    request_id: str
    busy: bool  # decoded the cheaper way
    segments: list[dict] | None = None
    compute_s: float | None = None
    error: str | None = None


# --- consumer -> TTS worker -> consumer --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TtsRequest(ChannelMessage):
    """Speak one part of a reply; the worker answers sentence by sentence with `TtsAudio`."""

    TYPE = "tts.synthesize"

    request_id: str
    reply_channel: str
    text: str
    language: str


@dataclass(frozen=True, slots=True)
class TtsAudio(ChannelMessage):
    """One synthesized sentence of a `TtsRequest`'s part; `is_final` marks the part's last."""

    TYPE = "tts.audio"

    request_id: str
    sequence: int
    text: str
    pcm: bytes
    sample_rate: int
    is_final: bool
    fallback: bool  # no voice for the language: another one spoke it


@dataclass(frozen=True, slots=True)
class TtsError(ChannelMessage):
    """A `TtsRequest` that could not be spoken; `code` and `message` go to the client as they are."""

    TYPE = "tts.error"

    request_id: str
    code: str
    message: str


# --- to a session's group ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionEnded(ChannelMessage):
    """The session was closed or expired: its connection tells the client and closes."""

    TYPE = "session.ended"

    status: str


@dataclass(frozen=True, slots=True)
class SessionSuperseded(ChannelMessage):
    """A new connection took the session over: the old one closes."""

    TYPE = "session.superseded"


async def anotify_session_ended(session_id, status: str) -> None:
    """A live WebSocket on the session hears it ended (closed or expired) and closes."""
    await get_channel_layer().group_send(session_group(session_id), SessionEnded(status).to_message())


def notify_session_ended(session_id, status: str) -> None:
    async_to_sync(anotify_session_ended)(session_id, status)
