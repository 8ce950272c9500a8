"""Channel-layer worker consumers: `asr` (faster-whisper) and `tts` (Piper / eSpeak NG).

Workers are stateless: any worker serves any session. Each consumer instance handles its
messages one at a time and runs the model in its own thread, so the event loop stays free.
"""

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from channels.consumer import AsyncConsumer
from django.conf import settings

from . import heartbeat
from .asr_engine import AsrConfig, get_engine
from .audio import pcm16_to_float32
from .replies import Reply
from .text_split import split_sentences
from .tts_engine import TtsConfig, get_router

log = logging.getLogger(__name__)


def asr_config() -> AsrConfig:
    return AsrConfig(
        model=settings.WHISPER_MODEL,
        device=settings.WHISPER_DEVICE,
        compute_type=settings.WHISPER_COMPUTE_TYPE,
        cpu_threads=settings.WHISPER_CPU_THREADS,
        beam_size=settings.WHISPER_BEAM_SIZE,
        # Embedded workers share one model: one CTranslate2 replica each, so they decode in parallel.
        num_workers=settings.NUM_WORKERS if settings.EMBEDDED_WORKERS else 1,
    )


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
    """One thread per consumer instance: a model call never blocks the event loop."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=type(self).__name__)

    async def in_thread(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)


class AsrWorker(_ModelWorker):
    async def asr_transcribe(self, message: dict) -> None:
        reply = {"type": "asr.result", "request_id": message["request_id"]}
        started = time.perf_counter()
        try:
            engine = await self.in_thread(get_engine, asr_config())
            audio = pcm16_to_float32(message["audio"])
            language = message.get("language") or "en"
            segments = await self.in_thread(
                lambda: engine.transcribe(audio, language=language, prompt=message.get("prompt") or None)
            )
            reply.update(segments=segments, compute_s=time.perf_counter() - started)
        except Exception as exc:  # the session must hear about any failure, never wait forever
            log.exception("ASR request %s failed", message["request_id"])
            reply["error"] = f"{type(exc).__name__}: {exc}"
        heartbeat.handled["asr"] += 1
        await self.channel_layer.send(message["reply_channel"], reply)


class TtsWorker(_ModelWorker):
    async def tts_synthesize(self, message: dict) -> None:
        request_id, reply_channel = message["request_id"], message["reply_channel"]
        sentences = split_sentences(message["text"])
        if not sentences:
            await self.channel_layer.send(
                reply_channel,
                {"type": "tts.error", "request_id": request_id, "code": "text_empty", "message": "Nothing to say."},
            )
            return
        try:
            router = await self.in_thread(get_router, tts_config())
            for sequence, sentence in enumerate(sentences):
                if await self.in_thread(Reply.is_cancelled, request_id):
                    return
                synthesis, fallback = await self.in_thread(self._synthesize, router, sentence, message["language"])
                await self.channel_layer.send(
                    reply_channel,
                    {
                        "type": "tts.audio",
                        "request_id": request_id,
                        "sequence": sequence,
                        "text": sentence,
                        "pcm": synthesis.pcm,
                        "sample_rate": synthesis.sample_rate,
                        "is_final": sequence == len(sentences) - 1,
                        "fallback": fallback,
                    },
                )
        except Exception as exc:
            log.exception("TTS request %s failed", request_id)
            await self.channel_layer.send(
                reply_channel,
                {
                    "type": "tts.error",
                    "request_id": request_id,
                    "code": "tts_failed",
                    "message": f"Speech synthesis failed: {type(exc).__name__}: {exc}",
                },
            )
        finally:
            heartbeat.handled["tts"] += 1

    @staticmethod
    def _synthesize(router, sentence: str, language: str):
        """The sentence's audio, and whether the language fell back to another voice."""
        fallback = router.engine_for(language)[1]
        return router.synthesize(sentence, language)[0], fallback
