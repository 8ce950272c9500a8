"""Spoken replies for the audio consumer: text to the TTS workers, audio to the student.

A mixin of `AudioStreamConsumer`. Replies go out sentence by sentence, stop on barge-in or
`cancel`, and are persisted with what was actually delivered.
"""

import asyncio
import uuid

from django.conf import settings

from streaming import metrics, services
from streaming.core import protocol
from streaming.db import database_sync_to_async
from streaming.engines.tts.base import Synthesis
from streaming.engines.tts.wav import to_wav
from streaming.realtime.messages import TTS_CHANNEL
from streaming.realtime.replies import Reply


class SpokenRepliesMixin:
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
