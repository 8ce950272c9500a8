"""Channel-layer worker consumers: `asr` (faster-whisper) and `tts` (Piper / eSpeak NG).

Workers are stateless: any worker serves any session. A consumer handles as many messages at once
as its channel has slots in its `ServiceWorker` (`scope["slots"]`), each model call in a thread of
its own so the event loop stays free, and frees the slot when the message is done
(`scope["slot_done"]`). `scope["shared_slots"]` is the worker's slot count outside reserved
channels, which sizes the ASR engines.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from channels.consumer import AsyncConsumer
from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.conf import settings

from streaming import asr_models
from streaming.core.audio import pcm16_to_float32
from streaming.core.text_split import split_sentences
from streaming.engines.asr.engine import AsrConfig, get_engine
from streaming.engines.tts.base import TtsConfig
from streaming.engines.tts.router import get_router
from streaming.outages import call_redis
from streaming.realtime.messages import (
    AsrRequest,
    AsrResult,
    TtsAudio,
    TtsError,
    TtsRequest,
)
from streaming.realtime.replies import Reply
from streaming.workers import heartbeat

log = logging.getLogger(__name__)


def reserved_slots(channel: str) -> int | None:
    """Slots a worker keeps for `channel` alone, besides its shared ones (None: it shares them)."""
    return settings.ASR_FINAL_SLOTS if channel in asr_models.final_channels() else None


def asr_config(channel: str = asr_models.ASR_CHANNEL, shared_slots: int = 1) -> AsrConfig:
    """The engine that decodes `channel`'s requests in a worker with `shared_slots` partial slots,
    a CTranslate2 replica per slot so they all decode in parallel; the channel's model
    (streaming/asr_models.py) decides which Whisper model.

    With ASR_PARTIAL_NICE the partials decode on a model of their own whose threads are niced:
    when a final needs a core, the kernel gives it one at once instead of sharing it with every
    other session's partials (bench/asr_priority.py, docs/decisions/0016). Without it, one model
    serves every slot.
    """
    finals = settings.ASR_FINAL_SLOTS
    model = asr_models.model_for_channel(channel)
    if settings.ASR_PARTIAL_NICE <= 0:
        workers, nice = shared_slots + finals, 0
    elif channel == model.final_channel:
        workers, nice = finals, 0
    else:
        workers, nice = shared_slots, settings.ASR_PARTIAL_NICE
    return AsrConfig(
        model=model.name,
        models_dir=settings.MODELS_DIR,
        device=settings.WHISPER_DEVICE,
        compute_type=settings.WHISPER_COMPUTE_TYPE,
        cpu_threads=settings.WHISPER_CPU_THREADS,
        beam_size=settings.WHISPER_BEAM_SIZE,
        min_context_s=settings.WHISPER_MIN_CONTEXT,
        busy_beam_size=settings.WHISPER_BUSY_BEAM_SIZE,
        busy_min_context_s=settings.WHISPER_BUSY_MIN_CONTEXT,
        num_workers=workers,
        nice=nice,
    )


QUEUE_WAIT_WEIGHT = 0.3  # the newest request's share of a pool's smoothed queue wait


def is_busy(queued_s: float, behind: bool, pool_wait_s: float) -> bool:
    """Whether to decode cheaply: the request queued `queued_s` before a slot took it, the pool's
    requests have lately queued `pool_wait_s` (smoothed), or its session's round trips already
    exceed its shortest update interval (`behind`).

    Each means the service is short of CPU. Greedy search and a shorter context are what keep a
    loaded service within its latency targets, while beam 5 and the full context read short
    utterances better when there is time for them (docs/decisions/0006). The pool's wait counts for
    the closing partials, which are taken ahead and so queue little even when the others queue.
    """
    return behind or max(queued_s, pool_wait_s) > settings.ASR_BUSY_WAIT


def tts_config() -> TtsConfig:
    return TtsConfig(
        english_engine=settings.TTS_ENGLISH_ENGINE,
        piper_model=settings.PIPER_MODEL,
        piper_config=settings.PIPER_CONFIG,
        coqui_model_path=settings.COQUI_MODEL_PATH,
        coqui_config_path=settings.COQUI_CONFIG_PATH,
        cache_bytes=settings.TTS_CACHE_BYTES,
    )


class _ModelWorker(AsyncConsumer):
    """Each message in a task of its own, up to the worker's slots; model calls in threads."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.executor: ThreadPoolExecutor | None = None
        self.running: set[asyncio.Task] = set()  # referenced until done: asyncio keeps only weak refs

    @property
    def slots(self) -> int:
        return self.scope.get("slots", 1)

    async def __call__(self, scope, receive, send) -> None:
        """AsyncConsumer's, without a channel of its own: a worker is handed its messages by its
        listener and only sends, so a private channel would cost a Redis connection held in a
        blocking pop per consumer, and a pop that outlived the worker's cancellation (redis-py
        retries it) hung the event loop's shutdown."""
        self.scope = scope
        self.channel_layer = get_channel_layer()
        self.base_send = send
        try:
            await await_many_dispatch([receive], self.dispatch)
        except StopConsumer:
            pass
        finally:  # a stopped worker's messages stop with it
            for task in self.running:
                task.cancel()
            await asyncio.gather(*self.running, return_exceptions=True)

    async def dispatch(self, message: dict) -> None:
        task = asyncio.ensure_future(super().dispatch(message))
        self.running.add(task)
        task.add_done_callback(self._message_done)

    def _message_done(self, task: asyncio.Task) -> None:
        self.running.discard(task)
        self.scope.get("slot_done", lambda: None)()
        if not task.cancelled() and task.exception() is not None:
            log.error("worker message failed", exc_info=task.exception())

    async def in_thread(self, fn, *args):
        if self.executor is None:
            self.executor = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix=type(self).__name__)
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)


class NewestStarted:
    """The newest request of each session whose decode this process started, by reply channel.

    A request overtaken by a newer one of its session (a closing partial or a final, taken
    ahead) would be answered after it, and a session ignores an answer older than one it
    applied: decoding it would only spend CPU that other sessions wait for. The least recently
    seen sessions are forgotten past `size`.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.newest: OrderedDict[str, int] = OrderedDict()

    def start(self, session: str, sequence: int) -> bool:
        """Record request `sequence` of `session` as started; False if a newer one already was."""
        if self.newest.get(session, sequence) > sequence:
            return False
        self.newest[session] = sequence
        self.newest.move_to_end(session)
        if len(self.newest) > self.size:
            self.newest.popitem(last=False)
        return True


class AsrWorker(_ModelWorker):
    started = NewestStarted()  # one per process: finals and partials overtake each other

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.queue_wait_s = 0.0  # smoothed over the requests this pool took: the load signal

    async def asr_transcribe(self, message: dict) -> None:
        request = AsrRequest.from_message(message)
        if time.time() > request.deadline:
            # Its session stopped waiting (and retried): decoding it would only delay the others.
            log.info("dropped ASR request %s: past its deadline", request.request_id)
            return
        if not self.started.start(request.reply_channel, request.sequence):
            log.debug("skipped ASR request %s: a newer one of its session has started", request.request_id)
            return
        queued = time.time() - request.sent_at
        self.queue_wait_s += QUEUE_WAIT_WEIGHT * (queued - self.queue_wait_s)
        busy = is_busy(queued, request.behind, self.queue_wait_s)
        started = time.perf_counter()
        try:
            config = asr_config(self.scope["channel"], self.scope.get("shared_slots", self.slots))
            engine = await self.in_thread(get_engine, config)
            audio = pcm16_to_float32(request.audio)
            prompt = request.prompt or None
            segments = await self.in_thread(
                lambda: engine.transcribe(audio, language=request.language, prompt=prompt, busy=busy)
            )
            result = AsrResult(request.request_id, busy, segments=segments, compute_s=time.perf_counter() - started)
        except Exception as exc:  # the session must hear about any failure, never wait forever
            log.exception("ASR request %s failed", request.request_id)
            result = AsrResult(request.request_id, busy, error=f"{type(exc).__name__}: {exc}")
        heartbeat.handled["asr"] += 1
        await call_redis("answering a session", self.channel_layer.send, request.reply_channel, result.to_message())


class TtsWorker(_ModelWorker):
    async def tts_synthesize(self, message: dict) -> None:
        request = TtsRequest.from_message(message)
        sentences = split_sentences(request.text)
        if not sentences:
            await self._reply(request, TtsError(request.request_id, "text_empty", "Nothing to say."))
            return
        try:
            router = await self.in_thread(get_router, tts_config())
            for sequence, sentence in enumerate(sentences):
                if await self.in_thread(Reply.is_cancelled, request.request_id):
                    return
                synthesis, fallback = await self.in_thread(self._synthesize, router, sentence, request.language)
                audio = TtsAudio(
                    request_id=request.request_id,
                    sequence=sequence,
                    text=sentence,
                    pcm=synthesis.pcm,
                    sample_rate=synthesis.sample_rate,
                    is_final=sequence == len(sentences) - 1,
                    fallback=fallback,
                )
                await self._reply(request, audio)
        except Exception as exc:
            log.exception("TTS request %s failed", request.request_id)
            failure = f"Speech synthesis failed: {type(exc).__name__}: {exc}"
            await self._reply(request, TtsError(request.request_id, "tts_failed", failure))
        finally:
            heartbeat.handled["tts"] += 1

    async def _reply(self, request: TtsRequest, answer: TtsAudio | TtsError) -> None:
        await call_redis("answering a session", self.channel_layer.send, request.reply_channel, answer.to_message())

    @staticmethod
    def _synthesize(router, sentence: str, language: str):
        """The sentence's audio, and whether the language fell back to another voice."""
        fallback = router.engine_for(language)[1]
        return router.synthesize(sentence, language)[0], fallback
