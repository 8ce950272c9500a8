"""What the parts of a connection (recognition, spoken replies, the responder) may do outside
themselves.

The parts own their state and never hold the consumer: the consumer hands each the same `Link`,
so a part can be read, and tested, knowing only these few operations.
"""

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from streaming.realtime.messages import AsrRequest, TtsRequest


@dataclass(frozen=True, slots=True)
class Link:
    session_id: UUID
    reply_channel: str  # where the workers answer this connection
    send_json: Callable[[dict], Awaitable[None]]  # a protocol message to the client
    send_bytes: Callable[[bytes], Awaitable[None]]  # a binary frame to the client
    send_to_worker: Callable[[str, AsrRequest | TtsRequest], Awaitable[None]]  # (worker channel, request)
    background: Callable[[Coroutine[Any, Any, None]], None]  # work cancelled when the connection closes
