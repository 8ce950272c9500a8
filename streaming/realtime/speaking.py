"""Spoken replies of one connection: text to the TTS workers, audio to the student.

Replies go out sentence by sentence, stop on barge-in or `cancel`, and are persisted with what
was actually delivered. Every reply ends: a part that no worker answers within TTS_TIMEOUT is
sent once more, then the reply fails with `tts_failed` (docs/decisions/0037).
"""

import asyncio
import logging
import uuid

from django.conf import settings

from streaming import metrics, services
from streaming.core import protocol
from streaming.core.audio import SAMPLE_RATE
from streaming.engines.tts.base import Synthesis
from streaming.engines.tts.wav import to_wav
from streaming.outages import call_database
from streaming.realtime.link import Link
from streaming.realtime.messages import TTS_CHANNEL, TtsAudio, TtsError, TtsRequest
from streaming.realtime.replies import Reply

log = logging.getLogger(__name__)


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
        self.deadlines: dict[str, asyncio.Task] = {}  # by reply: the in-flight part's TTS_TIMEOUT

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
        """End the reply with an error that says what was heard; the entry keeps that."""
        if not self._forget(reply):
            return
        await self.link.send_json(
            protocol.error(code, message, request_id=reply.request_id, delivered_text=reply.delivered_text)
        )
        if reply.sentences:
            await self._persist_reply(reply)

    def _forget(self, reply: Reply) -> bool:
        """The reply is over: no deadline, no more audio. False if it already was."""
        deadline = self.deadlines.pop(reply.request_id, None)
        if deadline is not None:
            deadline.cancel()
        return self.replies.pop(reply.request_id, None) is not None

    async def _send_next_part(self, reply: Reply) -> None:
        part = reply.next_part()
        if part is not None:
            await self._send_part(reply, part)

    async def _send_part(self, reply: Reply, text: str) -> None:
        request = TtsRequest(reply.worker_request_id, self.link.reply_channel, text=text, language=reply.language)
        self._restart_deadline(reply)
        await self.link.send_to_worker(TTS_CHANNEL, request)

    def _restart_deadline(self, reply: Reply) -> None:
        """TTS_TIMEOUT from now, the part in flight must have been heard from again."""
        previous = self.deadlines.pop(reply.request_id, None)
        if previous is not None:
            previous.cancel()
        self.deadlines[reply.request_id] = asyncio.ensure_future(self._part_deadline(reply))

    async def _part_deadline(self, reply: Reply) -> None:
        """No audio for TTS_TIMEOUT: the worker died or its queue is stuck. The part is sent again,
        less what was heard, once; then the reply fails. The silent attempt is cancelled, and
        its late audio would be ignored (`_current`)."""
        await asyncio.sleep(settings.TTS_TIMEOUT)
        self.deadlines.pop(reply.request_id, None)  # this task: from here on it is not cancelled
        if self.replies.get(reply.request_id) is not reply or not reply.in_flight:
            return
        silent = reply.worker_request_id
        if reply.part_retried:
            log.warning("TTS request %s unanswered after a retry: the reply fails", silent)
            await self.reply_failed(reply, "tts_failed", "Speech synthesis did not answer in time.")
        else:
            log.warning("TTS request %s unanswered for %.0f s; sending it again", silent, settings.TTS_TIMEOUT)
            await self._send_part(reply, reply.retry_part())
        await Reply.cancel(silent)

    def _current(self, worker_request_id: str) -> Reply | None:
        """The reply this worker answer belongs to, unless it answers an attempt given up."""
        reply = self.replies.get(Reply.id_of(worker_request_id))
        return reply if reply is not None and reply.worker_request_id == worker_request_id else None

    async def on_audio(self, audio: TtsAudio) -> None:
        """A synthesized sentence from a worker."""
        reply = self._current(audio.request_id)
        if reply is None:
            return  # cancelled, finished, or an attempt given up: nothing more is sent
        reply.part_heard += 1
        if audio.is_final:
            reply.in_flight = False
        else:
            self._restart_deadline(reply)
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
        reply = self._current(error.request_id)
        if reply is not None:
            await self.reply_failed(reply, error.code, error.message)

    async def _finish_reply(self, reply: Reply) -> None:
        self._forget(reply)
        metrics.reply_finished(reply.first_audio_latency)
        await self._persist_reply(reply)

    async def stop_all(self, notify: bool = True) -> None:
        """Barge-in, `cancel` or the connection closing: nothing more is sent; each entry keeps
        what was heard, and unless the connection is gone the client hears which were cut."""
        for reply in list(self.replies.values()):
            await self._stop_reply(reply, notify)

    async def _stop_reply(self, reply: Reply, notify: bool) -> None:
        self._forget(reply)
        await Reply.cancel(reply.worker_request_id)
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
        await call_database(
            "saving a reply",
            services.add_assistant_reply,
            self.link.session_id,
            text=text,
            language=reply.language,
            audio_duration=reply.audio_seconds,
            latency=reply.first_audio_latency,
        )
