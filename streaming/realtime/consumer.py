"""The WebSocket consumer: one per connected student, holding the live state of one session."""

import asyncio
import time

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from streaming import live_stats, metrics, selectors, services
from streaming.core import protocol
from streaming.core.audio import Resampler
from streaming.core.rate_limit import ConnectionLimits
from streaming.core.transcriber import StreamTranscriber
from streaming.db import database_sync_to_async
from streaming.errors import ServiceError
from streaming.models import StreamingSession
from streaming.realtime.messages import session_group
from streaming.realtime.recognition import RecognitionMixin, transcriber_config
from streaming.realtime.replies import Reply
from streaming.realtime.speaking import SpokenRepliesMixin

FLUSH_INTERVAL_S = 1.0

# Close codes (4000-4999 are the application's): the client can tell why without parsing text.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_NOT_ACTIVE = 4409
CLOSE_SUPERSEDED = 4000


class AudioStreamConsumer(RecognitionMixin, SpokenRepliesMixin, AsyncWebsocketConsumer):
    """Connection, authorization, message dispatch and session events; recognition and replies
    live in their mixins."""

    session: StreamingSession | None = None

    # --- connection ----------------------------------------------------------------------------

    async def connect(self) -> None:
        await self.accept()
        try:
            self.session = await self._authorize()
        except ServiceError as refusal:
            code = {401: CLOSE_UNAUTHENTICATED, 403: CLOSE_FORBIDDEN, 404: CLOSE_NOT_FOUND}.get(
                refusal.status, CLOSE_NOT_ACTIVE
            )
            await self.send_json(protocol.error(refusal.code, refusal.message))
            await self.close(code=code)
            return
        self.group = session_group(self.session.id)
        # One live connection per session: a reconnect takes over from a half-dead old socket.
        await self.channel_layer.group_send(self.group, {"type": "session.superseded"})
        await self.channel_layer.group_add(self.group, self.channel_name)
        options = self.session.options
        self.input_rate = int(options.get("input_sample_rate", settings.SAMPLE_RATE))
        self.resampler = (
            Resampler(self.input_rate, settings.SAMPLE_RATE) if self.input_rate != settings.SAMPLE_RATE else None
        )
        entries = await database_sync_to_async(self.session.entries.count)()
        self.transcriber = StreamTranscriber(
            transcriber_config(), session_offset_s=self.session.audio_seconds, first_utterance_id=entries + 1
        )
        self.limits = ConnectionLimits(settings.MAX_FRAMES_PER_SECOND, settings.MAX_BYTES_PER_SECOND)
        self.chunk_order = protocol.ChunkOrder()
        self.timeout_task: asyncio.Task | None = None
        self.retried = False
        self.unflushed = {"audio_seconds": 0.0, "chunks": 0, "nbytes": 0}
        self.last_flush = time.monotonic()
        self.replies: dict[str, Reply] = {}
        self.tasks: set[asyncio.Task] = set()
        metrics.session_opened()
        await self.send_json(
            protocol.status(
                "connected",
                session_id=str(self.session.id),
                language=self.session.language,
                sample_rate=self.input_rate,
                conversation_entries=entries,
                audio_offset=round(self.session.audio_seconds, 3),
                limits={
                    "max_chunk_size": settings.MAX_CHUNK_SIZE,
                    "max_frames_per_second": settings.MAX_FRAMES_PER_SECOND,
                },
            )
        )

    async def _authorize(self) -> StreamingSession:
        user = self.scope.get("user")
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
        if self.timeout_task:
            self.timeout_task.cancel()
        for task in list(self.tasks):
            task.cancel()
        await self.channel_layer.group_discard(self.group, self.channel_name)
        # Keep the words already shown of an utterance cut off by the disconnect.
        update = self.transcriber.interrupted(time.monotonic())
        if update is not None:
            await self._persist_utterance(update)
        for reply in list(self.replies.values()):
            await self._stop_reply(reply, notify=False)
        await self._flush_counters(force=True)
        await live_stats.aclear(self.session.id)

    # --- client messages -----------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.session is None:
            return
        size = len(bytes_data) if bytes_data is not None else len(text_data or "")
        if not self.limits.allow(size):
            await self.send_json(protocol.error("rate_limited", "Too many messages or bytes per second; slow down."))
            return
        try:
            if bytes_data is not None:
                await self._on_audio(protocol.AudioChunk(protocol.check_pcm_size(bytes_data, settings.MAX_CHUNK_SIZE)))
            else:
                await self._dispatch(
                    protocol.parse_text_frame(text_data or "", max_chunk_bytes=settings.MAX_CHUNK_SIZE)
                )
        except protocol.ProtocolError as bad:
            await self.send_json(protocol.error(bad.code, bad.message, **bad.extra))

    async def _dispatch(self, message: protocol.ClientMessage) -> None:
        if isinstance(message, protocol.AudioChunk):
            await self._on_audio(message)
        elif isinstance(message, protocol.TextRequest):
            await self._on_text_request(message)
        elif message.command == "ping":
            await self.send_json(protocol.pong())
        elif message.command == "stats":
            await self.send_json(protocol.envelope("stats", **await self._stats()))
        elif message.command == "reset":
            self.transcriber.reset()
            if self.timeout_task:
                self.timeout_task.cancel()
            await self.send_json(protocol.status("reset"))
        elif message.command == "cancel":
            for reply in list(self.replies.values()):
                await self._stop_reply(reply)

    # --- session events ------------------------------------------------------------------------

    async def session_ended(self, event: dict) -> None:
        await self.send_json(protocol.status("session_ended", status=event["status"]))
        await self.close(code=CLOSE_NOT_ACTIVE)

    async def session_superseded(self, event: dict) -> None:
        await self.send_json(protocol.status("superseded", message="This session was opened in another connection."))
        await self.close(code=CLOSE_SUPERSEDED)

    # --- figures -------------------------------------------------------------------------------

    def _live_figures(self) -> dict:
        return {
            "bufferChunks": self.transcriber.buffer.chunks,
            "bufferSize": self.transcriber.buffer.size_bytes,
            "pendingTranscriptions": len(self.transcriber.in_flight),
            "pendingResponses": len(self.replies),
        }

    async def _stats(self) -> dict:
        await self._flush_counters(force=True)
        session = await database_sync_to_async(StreamingSession.objects.get)(pk=self.session.id)
        return await database_sync_to_async(selectors.session_stats)(session, self._live_figures())

    async def _flush_counters(self, force: bool = False) -> None:
        """Session counters move in one write per second, not one per audio frame."""
        now = time.monotonic()
        if not force and now - self.last_flush < FLUSH_INTERVAL_S:
            return
        self.last_flush = now
        pending, self.unflushed = self.unflushed, {"audio_seconds": 0.0, "chunks": 0, "nbytes": 0}
        await database_sync_to_async(services.touch_session)(self.session.id, **pending)
        await live_stats.apublish(self.session.id, self._live_figures())

    async def send_json(self, message: dict) -> None:
        if message["type"] == "error":
            metrics.error(message["data"]["code"])
        await self.send(text_data=protocol.dumps(message))
