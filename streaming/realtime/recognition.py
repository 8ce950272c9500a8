"""Speech recognition for the audio consumer: audio in, ASR requests out, transcripts back.

A mixin of `AudioStreamConsumer` (the state lives on the connection); the decisions are made by
the pure `StreamTranscriber`, this part only moves messages and persists finished utterances.
"""

import asyncio
import logging
import time

from django.conf import settings

from streaming import metrics, services
from streaming.core import protocol
from streaming.core.audio import float32_to_pcm16, pcm16_to_float32
from streaming.core.transcriber import TranscriberConfig, TranscriptUpdate
from streaming.core.vad import VadConfig
from streaming.db import database_sync_to_async
from streaming.realtime.channel_layers import QUEUE_RANK
from streaming.realtime.messages import ASR_CHANNEL, ASR_FINAL_CHANNEL
from streaming.realtime.responder import respond

log = logging.getLogger(__name__)


def queue_rank(sent_at: float, closing: bool) -> float:
    """A partial's place in the `asr` queue (streaming/realtime/channel_layers.py): its send time, a
    closing partial's ASR_CLOSING_HEAD_START earlier.

    A closing partial is sent once a pause has lasted the VAD's padding, and its answer usually
    ends the utterance without a final decode: the final delay is its queue wait, the other
    partials' only their next update. Yet a partial that has waited longer than the head start
    still goes first, so none starves.
    """
    return sent_at - settings.ASR_CLOSING_HEAD_START if closing else sent_at


def transcriber_config() -> TranscriberConfig:
    return TranscriberConfig(
        sample_rate=settings.SAMPLE_RATE,
        max_buffer_bytes=settings.MAX_BUFFER_SIZE,
        min_interval_s=settings.MIN_UPDATE_INTERVAL,
        max_interval_s=max(settings.CHUNK_DURATION, settings.MIN_UPDATE_INTERVAL),
        interval_per_round_trip=settings.UPDATE_INTERVAL_ROUND_TRIPS,
        overlap_s=settings.OVERLAP_DURATION,
        max_window_s=settings.MAX_WINDOW_DURATION,
        vad=VadConfig(threshold=settings.VAD_THRESHOLD, min_silence_s=settings.VAD_MIN_SILENCE),
    )


class RecognitionMixin:
    async def _on_audio(self, chunk: protocol.AudioChunk) -> None:
        if chunk.chunk_index is not None:
            if self.chunk_order.is_resend(chunk.chunk_index):
                return  # a resend of a chunk already accepted
            gap = self.chunk_order.accept(chunk.chunk_index)
            if gap is not None:
                await self.send_json(gap)
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
        sent_at = time.time()
        await self.channel_layer.send(
            ASR_FINAL_CHANNEL if request.is_final else ASR_CHANNEL,
            {
                "type": "asr.transcribe",
                "request_id": request.request_id,
                "sequence": int(request.request_id),  # a worker skips one older than one it started
                "reply_channel": self.channel_name,
                "audio": float32_to_pcm16(request.audio),
                "language": self.session.language,
                "prompt": request.prompt,
                "sent_at": sent_at,  # how long it queued and whether the session is behind
                QUEUE_RANK: queue_rank(sent_at, request.closing),  # closing partials go ahead
                "behind": request.behind,  # the worker then decodes the cheaper, busy way
                "deadline": sent_at + settings.ASR_TIMEOUT,  # a worker drops it after this
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
