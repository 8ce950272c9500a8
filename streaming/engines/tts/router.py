"""The router that picks the engine per language.

English goes to a neural voice (Piper by default) because students listen to it for long
stretches; Chinese and every other language go to eSpeak NG. Models load lazily, once per
process, and synthesized sentences are cached because a tutor repeats itself a lot.
"""

import threading

from streaming.engines.tts.base import ENGLISH_ENGINES, Synthesis, TtsConfig, TtsEngine, primary_language
from streaming.engines.tts.cache import AudioCache
from streaming.engines.tts.coqui import CoquiEngine
from streaming.engines.tts.espeak import EspeakEngine, espeak_voice_for
from streaming.engines.tts.piper import PiperEngine

_WARM_UP_TEXT = {"en": "Hello.", "zh": "你好。"}


class TtsRouter:
    """Picks the engine per language and caches per sentence; engines load lazily once per process."""

    def __init__(self, config: TtsConfig) -> None:
        if config.english_engine not in ENGLISH_ENGINES:
            raise ValueError(f"english_engine must be one of {ENGLISH_ENGINES}, not {config.english_engine!r}")
        self.config = config
        self.cache = AudioCache(config.cache_bytes)
        self._engines: dict[str, TtsEngine] = {}
        self._lock = threading.Lock()  # one load per engine even when several threads ask at once

    def _engine(self, key: str) -> TtsEngine:
        with self._lock:
            if key not in self._engines:
                self._engines[key] = self._load(key)
            return self._engines[key]

    def _load(self, key: str) -> TtsEngine:
        if key == "piper":
            return PiperEngine(self.config.piper_model, self.config.piper_config)
        if key == "coqui":
            return CoquiEngine(self.config.coqui_model_path, self.config.coqui_config_path)
        return EspeakEngine(key)

    def engine_for(self, language: str) -> tuple[TtsEngine, bool]:
        """The engine for `language` and whether it is a fallback (eSpeak NG English for unknown codes)."""
        if primary_language(language) == "en" and self.config.english_engine != "espeak":
            return self._engine(self.config.english_engine), False
        voice = espeak_voice_for(language)
        if voice is None:
            return self._engine("en"), True
        return self._engine(voice), False

    def synthesize(self, text: str, language: str) -> tuple[Synthesis, bool]:
        """Audio for `text` and whether it came from the cache."""
        engine, _ = self.engine_for(language)
        key = (engine.name, engine.voice, text)
        cached = self.cache.get(key)
        if cached is not None:
            return cached, True
        synthesis = engine.synthesize(text, language)
        self.cache.put(key, synthesis)
        return synthesis, False

    def warm_up(self) -> None:
        """Load the English and Chinese engines and run each once, uncached: Piper's first ONNX
        run is several times slower than the next, and a student should not wait for it."""
        for language, text in _WARM_UP_TEXT.items():
            engine, _ = self.engine_for(language)
            engine.synthesize(text, language)


_routers: dict[TtsConfig, TtsRouter] = {}
_routers_lock = threading.Lock()


def get_router(config: TtsConfig) -> TtsRouter:
    """The process's router for `config`, so every worker shares loaded models and the cache."""
    with _routers_lock:
        if config not in _routers:
            _routers[config] = TtsRouter(config)
        return _routers[config]
