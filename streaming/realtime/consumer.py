"""The WebSocket consumer: one per connected student, holding the live state of one session.

It authenticates, then routes client and channel-layer messages to the parts that own the state
(`Recognition`, `SpokenReplies`) and wires them together through a `Link`.
"""

import asyncio
import contextlib
import functools
import logging
from collections.abc import Coroutine
from typing import Any

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.conf import settings

from streaming import live_stats, metrics, selectors
from streaming.core import protocol
from streaming.core.audio import SAMPLE_RATE
from streaming.core.rate_limit import ConnectionLimits
from streaming.db import database_sync_to_async
from streaming.errors import ServiceError
from streaming.models import StreamingSession
from streaming.outages import (
    DATABASE_DOWN,
    REDIS_DOWN,
    Backoff,
    DatabaseUnavailable,
    RedisUnavailable,
    Unavailable,
    call_database,
    call_redis,
    receive_retried,
    try_redis,
)
from streaming.realtime import resume
from streaming.realtime.counters import SessionCounters
from streaming.realtime.link import Link
from streaming.realtime.messages import (
    AsrRequest,
    AsrResult,
    SessionEnded,
    SessionSuperseded,
    TtsAudio,
    TtsError,
    TtsRequest,
    session_group,
)
from streaming.realtime.practice import Practice, load_practice
from streaming.realtime.recognition import Recognition
from streaming.realtime.responder import respond
from streaming.realtime.speaking import SpokenReplies

log = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's): the client can tell why without parsing text.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_NOT_ACTIVE = 4409
CLOSE_SUPERSEDED = 4000
CLOSE_TRY_AGAIN_LATER = 1013  # the database is unavailable (WebSocket's standard "try again later")


async def _no_reply(user_text: str) -> None:
    """A practice session's cue for each utterance: the student reads, the tutor does not answer."""


class AudioStreamConsumer(AsyncWebsocketConsumer):
    """Connection, authorization, message dispatch and session events."""

    session: StreamingSession | None = None
    practice: Practice | None = None
    recognition: Recognition
    replies: SpokenReplies
    counters: SessionCounters

    # --- connection ----------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        """AsyncConsumer's, with a channel receive that outlives a Redis outage (`_channel_receive`):
        Channels' own ends the connection with 1011 at the first failed read."""
        self.scope = scope
        self.channel_layer = get_channel_layer()
        self.channel_name = await self.channel_layer.new_channel()
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            await await_many_dispatch([receive, self._channel_receive], self.dispatch)

    async def _channel_receive(self) -> dict:
        """The next message for this connection (workers' answers, session events). While Redis is
        unreachable the read is retried, and the session's group joined again: a restarted Redis
        has lost it, and with it the `session_ended` and `superseded` events (docs/decisions/0049)."""
        backoff = Backoff("receiving a connection's messages", cap_s=2.0, brief=True)
        return await receive_retried(self.channel_layer, self.channel_name, backoff, self._rejoin)

    async def _rejoin(self) -> None:
        if self.session is not None:
            await self.channel_layer.group_add(self.group, self.channel_name)

    async def connect(self) -> None:
        await self.accept()
        try:
            session, undelivered = await resume.take_over(await self._authorize())
            entries = await database_sync_to_async(session.entries.count)()
            practice_text = await load_practice(session)
        except DATABASE_DOWN:
            await self._refuse(DatabaseUnavailable())
            return
        except ServiceError as refusal:
            await self._refuse(refusal)
            return
        self.group = session_group(session.id)
        try:
            # One live connection per session: a reconnect takes over from a half-dead old socket.
            await self.channel_layer.group_send(self.group, SessionSuperseded().to_message())
            await self.channel_layer.group_add(self.group, self.channel_name)
        except REDIS_DOWN:
            await self._refuse(RedisUnavailable())
            return
        self.session = session
        input_rate = int(session.options.get("input_sample_rate", SAMPLE_RATE))
        self.limits = ConnectionLimits(
            settings.MAX_FRAMES_PER_SECOND,
            settings.MAX_BYTES_PER_SECOND,
            largest_message=protocol.max_text_frame(settings.MAX_CHUNK_SIZE),
        )
        self.tasks: set[asyncio.Task] = set()
        link = Link(
            session_id=session.id,
            reply_channel=self.channel_name,
            send_json=self.send_json,
            send_bytes=self._send_bytes,
            send_to_worker=self._send_to_worker,
            background=self._background,
        )
        self.counters = SessionCounters(session.id, self._live_figures)
        self.replies = SpokenReplies(link, session_language=session.language, options=session.options)
        # A reading-practice session: the tutor listens without replying (docs/decisions/0041).
        self.practice = Practice(link, session, *practice_text) if practice_text else None
        self.recognition = Recognition(
            link,
            language=session.language,
            input_rate=input_rate,
            audio_offset_s=session.audio_seconds,
            first_utterance_id=entries + 1,
            counters=self.counters,
            on_speech_start=self.replies.stop_all,
            on_final_text=functools.partial(respond, link, self.replies) if self.practice is None else _no_reply,
            on_update=self.practice.on_update if self.practice is not None else None,
        )
        metrics.session_opened()
        await self.send_json(
            protocol.status(
                "connected",
                session_id=str(session.id),
                language=session.language,
                sample_rate=input_rate,
                conversation_entries=entries,
                audio_offset=round(session.audio_seconds, 3),
                resume_from=round(session.transcribed_seconds, 3),
                limits={
                    "max_chunk_size": settings.MAX_CHUNK_SIZE,
                    "max_frames_per_second": settings.MAX_FRAMES_PER_SECOND,
                },
                practice=self.practice.described() if self.practice is not None else None,
            )
        )
        for final in undelivered:  # the finals of a dropped connection's last turn
            await self.send_json(final)

    async def _refuse(self, refusal: ServiceError) -> None:
        code = {401: CLOSE_UNAUTHENTICATED, 403: CLOSE_FORBIDDEN, 404: CLOSE_NOT_FOUND, 503: CLOSE_TRY_AGAIN_LATER}
        await self.send_json(protocol.error(refusal.code, refusal.message))
        await self.close(code=code.get(refusal.status, CLOSE_NOT_ACTIVE))

    async def dispatch(self, message: dict) -> None:
        """An outage that outlasted its retry window (DATABASE_RETRY_WINDOW, REDIS_RETRY_WINDOW)
        closes the connection with 1013 `database_unavailable` or `redis_unavailable`, never 1011:
        the client reconnects later."""
        try:
            await super().dispatch(message)
        except Unavailable as outage:
            await self._refuse(outage)

    async def _authorize(self) -> StreamingSession:
        user = self.scope.get("user")
        if self.scope.get("auth_method") == "database_unavailable":
            raise DatabaseUnavailable()
        if self.scope.get("auth_method") == "invalid_token":
            raise ServiceError("invalid_token", "The token is unknown or revoked.", 401)
        if user is None or not user.is_authenticated:
            raise ServiceError("not_authenticated", "Log in or send a bearer token.", 401)
        session = await database_sync_to_async(selectors.session_for_user)(
            user, self.scope["url_route"]["kwargs"]["session_id"], stream=True
        )
        if not session.is_active:
            raise ServiceError("session_not_active", f"The session is {session.status}.", 409)
        return session

    async def disconnect(self, code: int) -> None:
        if self.session is None:
            return
        metrics.session_closed()
        self.recognition.cancel_timeout()
        for task in list(self.tasks):
            task.cancel()
        await try_redis("leaving the session's group", self.channel_layer.group_discard(self.group, self.channel_name))
        try:
            dropped = self.recognition.in_turn
            if dropped:
                finals = await resume.finish_dropped_turn(self.recognition, self.channel_layer)
            else:
                await self.recognition.keep_interrupted()
            await self.replies.stop_all(notify=False)
            await self.counters.flush(force=True)
            if dropped:
                await resume.hand_over(self.session.id, finals)
        except (Unavailable, *REDIS_DOWN) as outage:
            log.error("session %s closed during an outage (%r): its last writes are lost", self.session.id, outage)
        await try_redis("clearing the live figures", live_stats.aclear(self.session.id))

    # --- client messages -----------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.session is None:
            return
        binary = bytes_data is not None
        size = len(bytes_data) if bytes_data is not None else len(text_data or "")
        try:
            # Size first: an oversize message is refused as such, whatever the rate.
            protocol.check_frame_size(size, binary=binary, max_chunk_bytes=settings.MAX_CHUNK_SIZE)
            if not self.limits.allow(size):
                raise protocol.ProtocolError("rate_limited", "Too many messages or bytes per second; slow down.")
            if bytes_data is not None:
                chunk = protocol.AudioChunk(protocol.check_pcm_size(bytes_data, settings.MAX_CHUNK_SIZE))
                await self.recognition.on_audio(chunk)
            else:
                await self._dispatch(
                    protocol.parse_text_frame(text_data or "", max_chunk_bytes=settings.MAX_CHUNK_SIZE)
                )
        except protocol.ProtocolError as bad:
            await self.send_json(protocol.error(bad.code, bad.message, **bad.extra))

    async def _dispatch(self, message: protocol.ClientMessage) -> None:
        if isinstance(message, protocol.AudioChunk):
            await self.recognition.on_audio(message)
        elif isinstance(message, protocol.TextRequest):
            await self.replies.on_text_request(message)
        elif message.command == "ping":
            await self.send_json(protocol.pong())
        elif message.command == "stats":
            await self.send_json(protocol.envelope("stats", **await self._stats()))
        elif message.command == "reset":
            await self.recognition.reset()
            await self.send_json(protocol.status("reset"))
        elif message.command == "cancel":
            await self.replies.stop_all()
        elif message.command in protocol.READING_COMMANDS:
            if self.practice is None:
                raise protocol.ProtocolError("not_practice_session", "This session has no practice text to read.")
            await self.practice.on_command(message.command)

    # --- channel-layer messages ----------------------------------------------------------------

    async def asr_result(self, event: dict) -> None:
        if self.session is not None:
            await self.recognition.on_result(AsrResult.from_message(event))

    async def tts_audio(self, event: dict) -> None:
        if self.session is not None:
            await self.replies.on_audio(TtsAudio.from_message(event))

    async def tts_error(self, event: dict) -> None:
        if self.session is not None:
            await self.replies.on_error(TtsError.from_message(event))

    async def session_ended(self, event: dict) -> None:
        ended = SessionEnded.from_message(event)
        await self.send_json(protocol.status("session_ended", status=ended.status))
        await self.close(code=CLOSE_NOT_ACTIVE)

    async def session_superseded(self, event: dict) -> None:
        await self.send_json(protocol.status("superseded", message="This session was opened in another connection."))
        await self.close(code=CLOSE_SUPERSEDED)

    # --- the parts' link -----------------------------------------------------------------------

    async def send_json(self, message: dict) -> None:
        if message["type"] == "error":
            metrics.error(message["data"]["code"])
        await self.send(text_data=protocol.dumps(message))

    async def _send_bytes(self, data: bytes) -> None:
        await self.send(bytes_data=data)

    async def _send_to_worker(self, channel: str, request: AsrRequest | TtsRequest) -> None:
        await call_redis("sending a request to the workers", self.channel_layer.send, channel, request.to_message())

    def _background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run work tied to this connection (the responder); cancelled when it closes."""
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # --- figures -------------------------------------------------------------------------------

    def _live_figures(self) -> dict:
        return {**self.recognition.live_figures(), "pendingResponses": self.replies.pending}

    async def _stats(self) -> dict:
        assert self.session is not None  # a client's `stats`: `receive` drops messages until `connect` sets it
        await self.counters.flush(force=True)
        session = await call_database("reading the session", StreamingSession.objects.get, pk=self.session.id)
        stats = await call_database("reading the stats", selectors.session_stats, session, self._live_figures())
        return dict(stats)
