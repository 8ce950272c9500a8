"""Speech recognition of one connection: audio in, ASR requests out, transcripts back.

The decisions are made by the pure `StreamTranscriber`; this part only moves messages and
persists finished utterances.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from django.conf import settings

from streaming import asr_models, metrics, services
from streaming.core import protocol
from streaming.core.audio import SAMPLE_RATE, Resampler, float32_to_pcm16, pcm16_to_float32
from streaming.core.transcriber import AsrRequest as TranscriberRequest
from streaming.core.transcriber import StreamTranscriber, TranscriberConfig, TranscriptUpdate
from streaming.core.vad import VadConfig
from streaming.outages import call_database
from streaming.realtime.counters import SessionCounters
from streaming.realtime.link import Link
from streaming.realtime.messages import AsrRequest, AsrResult

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
        sample_rate=SAMPLE_RATE,
        max_buffer_bytes=settings.MAX_BUFFER_SIZE,
        min_interval_s=settings.MIN_UPDATE_INTERVAL,
        max_interval_s=max(settings.CHUNK_DURATION, settings.MIN_UPDATE_INTERVAL),
        interval_per_round_trip=settings.UPDATE_INTERVAL_ROUND_TRIPS,
        overlap_s=settings.OVERLAP_DURATION,
        max_window_s=settings.MAX_WINDOW_DURATION,
        turn_pause_s=settings.TURN_PAUSE,
        vad=VadConfig(threshold=settings.VAD_THRESHOLD, min_silence_s=settings.VAD_MIN_SILENCE),
    )


class Recognition:
    """The transcriber of one connection and its round trips to the ASR workers.

    `on_speech_start` is awaited when the student starts speaking (barge-in), `on_final_text`
    with the text of each utterance persisted (the responder's cue), `on_update` (if given) with
    every transcript update.
    """

    def __init__(
        self,
        link: Link,
        *,
        language: str,
        input_rate: int,
        audio_offset_s: float,
        first_utterance_id: int,
        counters: SessionCounters,
        on_speech_start: Callable[[], Awaitable[None]],
        on_final_text: Callable[[str], Awaitable[None]],
        on_update: Callable[[TranscriptUpdate], Awaitable[None]] | None = None,
    ) -> None:
        self.link = link
        self.language = language
        self.model = asr_models.model_for(language)  # which model's workers decode this session
        self.input_rate = input_rate
        self.resampler = Resampler(input_rate, SAMPLE_RATE) if input_rate != SAMPLE_RATE else None
        self.transcriber = StreamTranscriber(
            transcriber_config(), session_offset_s=audio_offset_s, first_utterance_id=first_utterance_id
        )
        self.counters = counters
        self.on_speech_start = on_speech_start
        self.on_final_text = on_final_text
        self.on_update = on_update  # every transcript update, after its message (reading practice)
        self.chunk_order = protocol.ChunkOrder()
        self.timeout_task: asyncio.Task | None = None
        self.retried = False

    def live_figures(self) -> dict:
        return {
            "bufferChunks": self.transcriber.buffer.chunks,
            "bufferSize": self.transcriber.buffer.size_bytes,
            "pendingTranscriptions": len(self.transcriber.in_flight),
        }

    async def reset(self) -> None:
        """The client's `reset`: drop the audio and the phrase in progress; a turn that showed
        text ends (its final, with the phrases already settled)."""
        self.cancel_timeout()
        update = self.transcriber.reset(time.monotonic())
        if update is not None:
            await self._on_update(update)

    def cancel_timeout(self) -> None:
        if self.timeout_task:
            self.timeout_task.cancel()

    async def keep_interrupted(self) -> None:
        """The connection closes: keep the words already shown of an utterance it cut off."""
        update = self.transcriber.interrupted(time.monotonic())
        if update is not None:
            await self._persist_utterance(update)
        self.counters.transcribed_until = self.transcriber.resume_point(closing=True)

    @property
    def in_turn(self) -> bool:
        return self.transcriber.in_utterance

    async def finish_dropped(
        self, reply_channel: str, receive: Callable[[], Awaitable[dict]], within_s: float
    ) -> list[dict]:
        """The client went away mid-turn: decode the rest of the audio it sent, end the turn and save
        it, within `within_s`; the finals it will never receive on this connection (for the next).

        The workers answer on a new `reply_channel`, read with `receive`, as the consumer no longer
        dispatches; what was in flight to the old one is sent again. Past `within_s`, the words
        already shown are kept, as `keep_interrupted` does.
        Nothing is spoken in reply: no one is listening (docs/decisions/0046).
        """
        unsent: list[dict] = []

        async def keep_finals(message: dict) -> None:
            if message["type"] == "transcription" and message["data"]["is_final"]:
                unsent.append(message)

        async def no_reply(text: str) -> None:
            return None

        self.link = replace(self.link, reply_channel=reply_channel, send_json=keep_finals)
        self.on_final_text = no_reply
        give_up_at = time.monotonic() + within_s
        if self.transcriber.in_utterance:
            self.transcriber.end_utterance()
            again = self.transcriber.retry(time.monotonic())
            if again is not None:
                self.retried = False
                await self._send_asr(again)
            await self._request_asr()
        try:
            while self.transcriber.in_utterance:
                message = await asyncio.wait_for(receive(), max(0.0, give_up_at - time.monotonic()))
                if message.get("type") == "asr.result":
                    await self.on_result(AsrResult.from_message(message))
        except TimeoutError:
            log.warning("session %s: a dropped turn was not decoded in time: shown words kept", self.link.session_id)
        finally:
            self.cancel_timeout()
        update = self.transcriber.interrupted(time.monotonic())
        if update is not None:
            await self._on_update(update)
        self.counters.transcribed_until = self.transcriber.resume_point(closing=True)
        return unsent

    async def on_audio(self, chunk: protocol.AudioChunk) -> None:
        if chunk.chunk_index is not None:
            if self.chunk_order.is_resend(chunk.chunk_index):
                return  # a resend of a chunk already accepted
            gap = self.chunk_order.accept(chunk.chunk_index)
            if gap is not None:
                await self.link.send_json(gap)
        if chunk.pcm:
            samples = pcm16_to_float32(chunk.pcm)
            if self.resampler is not None:
                samples = self.resampler.process(samples)
            turn_before = self.transcriber.utterance_id
            self.transcriber.feed(samples, time.monotonic())
            if self.transcriber.utterance_id not in (None, turn_before):
                await self.on_speech_start()
            seconds = len(chunk.pcm) / 2 / self.input_rate
            metrics.audio_received(seconds)
            self.counters.add_audio(seconds, len(chunk.pcm))
        if chunk.is_final:
            self.transcriber.end_utterance()
        await self._request_asr()
        self.counters.transcribed_until = self.transcriber.resume_point()
        await self.counters.flush()

    async def _request_asr(self) -> None:
        now = time.monotonic()
        # A turn that was over, then the phrase that followed it settled: one call each.
        while (update := self.transcriber.finish_without_decode(now)) is not None:
            await self._on_update(update)
        request = self.transcriber.next_request(now)
        if request is None:
            return
        self.retried = False
        await self._send_asr(request)

    async def _send_asr(self, request: TranscriberRequest) -> None:
        sent_at = time.time()
        await self.link.send_to_worker(
            self.model.final_channel if request.is_final else self.model.channel,
            AsrRequest(
                request_id=request.request_id,
                sequence=int(request.request_id),
                reply_channel=self.link.reply_channel,
                audio=float32_to_pcm16(request.audio),
                language=self.language,
                prompt=request.prompt,
                sent_at=sent_at,
                queue_rank=queue_rank(sent_at, request.closing),
                behind=request.behind,
                deadline=sent_at + settings.ASR_TIMEOUT,
            ),
        )
        self.cancel_timeout()
        self.timeout_task = asyncio.ensure_future(self._asr_timeout(request.request_id))

    async def _asr_timeout(self, request_id: str) -> None:
        await asyncio.sleep(settings.ASR_TIMEOUT)
        pending = self.transcriber.pending
        if pending is None or pending.request_id != request_id:
            return
        if not self.retried:
            self.retried = True
            log.warning("ASR request %s timed out; retrying once", request_id)
            again = self.transcriber.retry(time.monotonic())
            assert again is not None  # `pending` is still in flight: nothing was awaited since
            await self._send_asr(again)
            return
        update = self.transcriber.abandon(time.monotonic())
        await self.link.send_json(
            protocol.error("asr_timeout", "Speech recognition did not answer in time; audio was skipped.")
        )
        if update is not None:
            await self._on_update(update)

    async def on_result(self, result: AsrResult) -> None:
        """A worker's answer."""
        if result.segments is None:
            pending = self.transcriber.pending
            if pending is not None and pending.request_id == result.request_id:
                self.cancel_timeout()
                update = self.transcriber.abandon(time.monotonic())
                await self.link.send_json(protocol.error("asr_failed", f"Speech recognition failed: {result.error}"))
                if update is not None:
                    await self._on_update(update)
            return
        update = self.transcriber.on_result(result.request_id, result.segments, time.monotonic())
        if update is None:
            return
        self.cancel_timeout()
        await self._on_update(update)
        await self._request_asr()

    async def _on_update(self, update: TranscriptUpdate) -> None:
        metrics.words_shown(update.word_latencies)
        entry_id = await self._persist_utterance(update) if update.is_final else None
        if entry_id is not None:
            metrics.utterance_finished(update.end - update.start, update.final_delay)
        # A final goes even with no text: the turn showed guesses, and the page clears them.
        if update.committed or update.tentative or update.is_final:
            await self.link.send_json(self._transcription_message(update, entry_id))
        if self.on_update is not None:
            await self.on_update(update)
        if entry_id is not None:
            await self.on_final_text(update.committed)

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
        entry = await call_database(
            "saving an utterance",
            services.add_user_utterance,
            self.link.session_id,
            text=update.committed,
            language=update.language or self.language,
            audio_duration=update.end - update.start,
            audio_start=update.start,
            audio_end=update.end,
            latency=update.final_delay,
            word_latency=update.word_latency,
        )
        return entry.pk
