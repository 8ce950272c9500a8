"""Spoken replies of one connection: text to the TTS workers, audio to the student.

Replies go out sentence by sentence, stop on barge-in or `cancel`, and are persisted with what
was actually delivered.
"""

import uuid

from django.conf import settings

from streaming import metrics, services
from streaming.core import protocol
from streaming.core.audio import SAMPLE_RATE
from streaming.db import database_sync_to_async
from streaming.engines.tts.base import Synthesis
from streaming.engines.tts.wav import to_wav
from streaming.realtime.link import Link
from streaming.realtime.messages import TTS_CHANNEL, TtsAudio, TtsError, TtsRequest
from streaming.realtime.replies import Reply


class SpokenReplies:
    """The replies of one connection in progress, by request id, and how their audio is sent
    (the session's `tts_format`, `tts_transport` and `tts_encoding` options)."""

    def __init__(self, link: Link, *, session_language: str, options: dict) -> None:
        self.link = link
        self.session_language = session_language
        self.audio_format = options.get("tts_format", "pcm_s16le")
        self.binary = options.get("tts_transport") == "binary"
        self.encoding = options.get("tts_encoding", "hex")
        self.replies: dict[str, Reply] = {}

    @property
    def pending(self) -> int:
        return len(self.replies)

    async def on_text_request(self, request: protocol.TextRequest) -> None:
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
        return "en" if self.session_language == "auto" else self.session_language

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
            await self._send_audio(reply, "", b"", SAMPLE_RATE, True)
            await self._finish_reply(reply)

    async def reply_failed(self, reply: Reply, code: str, message: str) -> None:
        if self.replies.pop(reply.request_id, None) is None:
            return
        await self.link.send_json(protocol.error(code, message, request_id=reply.request_id))
        if reply.sentences:
            await self._persist_reply(reply)

    async def _send_next_part(self, reply: Reply) -> None:
        part = reply.next_part()
        if part is not None:
            request = TtsRequest(reply.request_id, self.link.reply_channel, text=part, language=reply.language)
            await self.link.send_to_worker(TTS_CHANNEL, request)

    async def on_audio(self, audio: TtsAudio) -> None:
        """A synthesized sentence from a worker."""
        reply = self.replies.get(audio.request_id)
        if reply is None:
            return  # cancelled or finished: nothing more is sent
        if audio.is_final:
            reply.in_flight = False
        if audio.fallback and reply.next_sequence == 0:
            await self.link.send_json(
                protocol.status(
                    "tts_fallback",
                    request_id=reply.request_id,
                    language=reply.language,
                    message="No voice for this language; using eSpeak NG English.",
                )
            )
        await self._send_audio(reply, audio.text, audio.pcm, audio.sample_rate, reply.finished)
        if reply.finished:
            await self._finish_reply(reply)
        elif audio.is_final:
            await self._send_next_part(reply)

    async def _send_audio(self, reply: Reply, text: str, pcm: bytes, sample_rate: int, is_final: bool) -> None:
        sequence = reply.delivered(text, len(pcm) / 2 / sample_rate)
        audio = to_wav(Synthesis(pcm, sample_rate)) if self.audio_format == "wav" else pcm
        await self.link.send_json(
            protocol.tts_audio(
                request_id=reply.request_id,
                sequence=sequence,
                sample_rate=sample_rate,
                audio_format=self.audio_format,
                is_final=is_final,
                text=text,
                audio=None if self.binary else audio,
                encoding=self.encoding,
            )
        )
        if self.binary:
            await self.link.send_bytes(audio)

    async def on_error(self, error: TtsError) -> None:
        reply = self.replies.get(error.request_id)
        if reply is not None:
            await self.reply_failed(reply, error.code, error.message)

    async def _finish_reply(self, reply: Reply) -> None:
        self.replies.pop(reply.request_id, None)
        metrics.reply_finished(reply.first_audio_latency)
        await self._persist_reply(reply)

    async def stop_all(self, notify: bool = True) -> None:
        """Barge-in, `cancel` or the connection closing: nothing more is sent; each entry keeps
        what was heard, and unless the connection is gone the client hears which were cut."""
        for reply in list(self.replies.values()):
            await self._stop_reply(reply, notify)

    async def _stop_reply(self, reply: Reply, notify: bool) -> None:
        self.replies.pop(reply.request_id, None)
        await Reply.cancel(reply.request_id)
        if reply.sentences:
            await self._persist_reply(reply)
        if notify:
            await self.link.send_json(
                protocol.status("reply_cancelled", request_id=reply.request_id, delivered_text=reply.delivered_text)
            )

    async def _persist_reply(self, reply: Reply) -> None:
        text = reply.delivered_text.strip()
        if not text:
            return
        await database_sync_to_async(services.add_assistant_reply)(
            self.link.session_id,
            text=text,
            language=reply.language,
            audio_duration=reply.audio_seconds,
            latency=reply.first_audio_latency,
        )
