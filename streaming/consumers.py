"""The WebSocket consumer: one per connected student, holding the live state of one session."""

import asyncio
import logging
import time
import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from . import live_stats, metrics, protocol, selectors, services
from .audio import Resampler, float32_to_pcm16, pcm16_to_float32
from .errors import ServiceError
from .models import StreamingSession
from .rate_limit import ConnectionLimits
from .replies import Reply
from .responder import respond
from .transcriber import StreamTranscriber, TranscriberConfig, TranscriptUpdate
from .tts_engine import Synthesis, to_wav
from .vad import VadConfig
from .views import session_group

log = logging.getLogger(__name__)

ASR_CHANNEL = "asr"
TTS_CHANNEL = "tts"
FLUSH_INTERVAL_S = 1.0

# Close codes (4000-4999 are the application's): the client can tell why without parsing text.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_NOT_ACTIVE = 4409
CLOSE_SUPERSEDED = 4000


def transcriber_config() -> TranscriberConfig:
    return TranscriberConfig(
        sample_rate=settings.SAMPLE_RATE,
        max_buffer_bytes=settings.MAX_BUFFER_SIZE,
        min_interval_s=settings.MIN_UPDATE_INTERVAL,
        max_interval_s=max(settings.CHUNK_DURATION, settings.MIN_UPDATE_INTERVAL),
        overlap_s=settings.OVERLAP_DURATION,
        max_window_s=settings.MAX_WINDOW_DURATION,
        vad=VadConfig(threshold=settings.VAD_THRESHOLD, min_silence_s=settings.VAD_MIN_SILENCE),
    )


class AudioStreamConsumer(AsyncWebsocketConsumer):
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
        self.last_chunk_index: int | None = None
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
        # Keep what was already committed of an utterance cut off by the disconnect.
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

    async def _on_audio(self, chunk: protocol.AudioChunk) -> None:
        if chunk.chunk_index is not None:
            if self.last_chunk_index is not None and chunk.chunk_index <= self.last_chunk_index:
                return  # a resend of a chunk already accepted
            expected = 0 if self.last_chunk_index is None else self.last_chunk_index + 1
            if self.last_chunk_index is not None and chunk.chunk_index != expected:
                await self.send_json(
                    protocol.error(
                        "chunk_gap",
                        f"Chunks {expected}..{chunk.chunk_index - 1} never arrived.",
                        expected=expected,
                        received=chunk.chunk_index,
                    )
                )
            self.last_chunk_index = chunk.chunk_index
        if chunk.pcm:
            samples = pcm16_to_float32(chunk.pcm)
            if self.resampler is not None:
                samples = self.resampler.process(samples)
            was_speaking = self.transcriber.in_utterance
            self.transcriber.feed(samples, time.monotonic())
            if self.transcriber.in_utterance and not was_speaking:
                await self._barge_in()
            seconds = len(chunk.pcm) / 2 / self.input_rate
            metrics.audio_received(seconds)
            self.unflushed["audio_seconds"] += seconds
            self.unflushed["chunks"] += 1
            self.unflushed["nbytes"] += len(chunk.pcm)
        if chunk.is_final:
            self.transcriber.end_utterance()
        await self._request_asr()
        await self._flush_counters()

    # --- speech recognition --------------------------------------------------------------------

    async def _request_asr(self) -> None:
        now = time.monotonic()
        final = self.transcriber.finish_without_decode(now)
        if final is not None:
            await self._on_update(final)
        request = self.transcriber.next_request(now)
        if request is None:
            return
        self.retried = False
        await self._send_asr(request)

    async def _send_asr(self, request) -> None:
        await self.channel_layer.send(
            ASR_CHANNEL,
            {
                "type": "asr.transcribe",
                "request_id": request.request_id,
                "reply_channel": self.channel_name,
                "audio": float32_to_pcm16(request.audio),
                "language": self.session.language,
                "prompt": request.prompt,
            },
        )
        if self.timeout_task:
            self.timeout_task.cancel()
        self.timeout_task = asyncio.ensure_future(self._asr_timeout(request.request_id))

    async def _asr_timeout(self, request_id: str) -> None:
        await asyncio.sleep(settings.ASR_TIMEOUT)
        pending = self.transcriber.pending
        if pending is None or pending.request_id != request_id:
            return
        if not self.retried:
            self.retried = True
            log.warning("ASR request %s timed out; retrying once", request_id)
            await self._send_asr(self.transcriber.retry(time.monotonic()))
            return
        self.transcriber.abandon()
        await self.send_json(
            protocol.error("asr_timeout", "Speech recognition did not answer in time; audio was skipped.")
        )

    async def asr_result(self, event: dict) -> None:
        """A worker's answer (channel-layer message type `asr.result`)."""
        if self.session is None:
            return
        if event.get("error"):
            pending = self.transcriber.pending
            if pending is not None and pending.request_id == event["request_id"]:
                if self.timeout_task:
                    self.timeout_task.cancel()
                self.transcriber.abandon()
                await self.send_json(protocol.error("asr_failed", f"Speech recognition failed: {event['error']}"))
            return
        update = self.transcriber.on_result(event["request_id"], event["segments"], time.monotonic())
        if update is None:
            return
        if self.timeout_task:
            self.timeout_task.cancel()
        await self._on_update(update)
        await self._request_asr()

    async def _on_update(self, update: TranscriptUpdate) -> None:
        metrics.words_shown(update.word_latencies)
        entry_id = await self._persist_utterance(update) if update.is_final else None
        if entry_id is not None:
            metrics.utterance_finished(update.end - update.start, update.final_delay)
        if update.committed or update.tentative:
            await self.send_json(self._transcription_message(update, entry_id))
        if entry_id is not None:
            await respond(self, update.committed)

    def _transcription_message(self, update: TranscriptUpdate, entry_id: int | None) -> dict:
        return protocol.transcription(
            utterance_id=update.utterance_id,
            committed=update.committed,
            tentative=update.tentative,
            is_final=update.is_final,
            start=update.start,
            end=update.end,
            lag=update.lag,
            entry_id=entry_id,
        )

    async def _persist_utterance(self, update: TranscriptUpdate) -> int | None:
        if not update.committed:
            return None
        entry = await database_sync_to_async(services.add_user_utterance)(
            self.session.id,
            text=update.committed,
            language=self.session.language,
            audio_duration=update.end - update.start,
            audio_start=update.start,
            audio_end=update.end,
            latency=update.final_delay,
            word_latency=update.word_latency,
        )
        return entry.pk

    # --- spoken replies ------------------------------------------------------------------------

    async def _on_text_request(self, request: protocol.TextRequest) -> None:
        text = request.text.strip()
        if not text:
            raise protocol.ProtocolError("text_empty", "data.text is empty.")
        if len(text) > settings.TTS_MAX_CHARS:
            raise protocol.ProtocolError(
                "text_too_long", f"data.text exceeds {settings.TTS_MAX_CHARS} characters.", limit=settings.TTS_MAX_CHARS
            )
        reply = self.open_reply(request.language or self.reply_language())
        await self.add_reply_part(reply, text)
        await self.close_reply(reply)

    def reply_language(self) -> str:
        return "en" if self.session.language == "auto" else self.session.language

    def open_reply(self, language: str) -> Reply:
        reply = Reply(request_id=uuid.uuid4().hex, language=language)
        self.replies[reply.request_id] = reply
        return reply

    async def add_reply_part(self, reply: Reply, text: str) -> None:
        if reply.request_id not in self.replies:
            return  # cancelled while the responder was still writing
        reply.queued.append(text)
        await self._send_next_part(reply)

    async def close_reply(self, reply: Reply) -> None:
        """No more parts. If all audio already went out, an empty final chunk marks the end."""
        reply.complete = True
        if reply.request_id in self.replies and reply.finished:
            await self._send_tts_audio(reply, {"text": "", "pcm": b"", "sample_rate": settings.SAMPLE_RATE}, True)
            await self._finish_reply(reply)

    async def reply_failed(self, reply: Reply, code: str, message: str) -> None:
        if self.replies.pop(reply.request_id, None) is None:
            return
        await self.send_json(protocol.error(code, message, request_id=reply.request_id))
        if reply.sentences:
            await self._persist_reply(reply)

    async def _send_next_part(self, reply: Reply) -> None:
        part = reply.next_part()
        if part is not None:
            await self.channel_layer.send(
                TTS_CHANNEL,
                {
                    "type": "tts.synthesize",
                    "request_id": reply.request_id,
                    "reply_channel": self.channel_name,
                    "text": part,
                    "language": reply.language,
                },
            )

    async def tts_audio(self, event: dict) -> None:
        """A synthesized sentence from a worker (channel-layer message type `tts.audio`)."""
        reply = self.replies.get(event["request_id"])
        if reply is None or self.session is None:
            return  # cancelled or finished: nothing more is sent
        if event["is_final"]:
            reply.in_flight = False
        if event.get("fallback") and reply.next_sequence == 0:
            await self.send_json(
                protocol.status(
                    "tts_fallback",
                    request_id=reply.request_id,
                    language=reply.language,
                    message="No voice for this language; using eSpeak NG English.",
                )
            )
        await self._send_tts_audio(reply, event, reply.finished)
        if reply.finished:
            await self._finish_reply(reply)
        elif event["is_final"]:
            await self._send_next_part(reply)

    async def _send_tts_audio(self, reply: Reply, event: dict, is_final: bool) -> None:
        options = self.session.options
        audio_format = options.get("tts_format", "pcm_s16le")
        pcm = event["pcm"]
        sequence = reply.delivered(event["text"], len(pcm) / 2 / event["sample_rate"])
        audio = to_wav(Synthesis(pcm, event["sample_rate"])) if audio_format == "wav" else pcm
        binary = options.get("tts_transport") == "binary"
        await self.send_json(
            protocol.tts_audio(
                request_id=reply.request_id,
                sequence=sequence,
                sample_rate=event["sample_rate"],
                audio_format=audio_format,
                is_final=is_final,
                text=event["text"],
                audio=None if binary else audio,
                encoding=options.get("tts_encoding", "hex"),
            )
        )
        if binary:
            await self.send(bytes_data=audio)

    async def tts_error(self, event: dict) -> None:
        reply = self.replies.get(event["request_id"])
        if reply is not None and self.session is not None:
            await self.reply_failed(reply, event["code"], event["message"])

    async def _finish_reply(self, reply: Reply) -> None:
        self.replies.pop(reply.request_id, None)
        metrics.reply_finished(reply.first_audio_latency)
        await self._persist_reply(reply)

    async def _stop_reply(self, reply: Reply, notify: bool = True) -> None:
        """Barge-in or `cancel`: nothing more is sent; the entry keeps what was heard."""
        self.replies.pop(reply.request_id, None)
        await Reply.cancel(reply.request_id)
        if reply.sentences:
            await self._persist_reply(reply)
        if notify:
            await self.send_json(
                protocol.status("reply_cancelled", request_id=reply.request_id, delivered_text=reply.delivered_text)
            )

    async def _barge_in(self) -> None:
        for reply in list(self.replies.values()):
            await self._stop_reply(reply)

    async def _persist_reply(self, reply: Reply) -> None:
        text = reply.delivered_text.strip()
        if not text:
            return
        await database_sync_to_async(services.add_assistant_reply)(
            self.session.id,
            text=text,
            language=reply.language,
            audio_duration=reply.audio_seconds,
            latency=reply.first_audio_latency,
        )

    def background(self, coroutine) -> None:
        """Run work tied to this connection (the responder); cancelled when it closes."""
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

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
            "pendingTranscriptions": int(self.transcriber.pending is not None),
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
