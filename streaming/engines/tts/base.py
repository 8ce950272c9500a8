"""What every TTS engine shares: the audio it returns, its interface, its errors, the settings
and the language-code spelling. Settings come in as a `TtsConfig`, so no engine needs Django."""

from dataclasses import dataclass
from typing import Protocol

ENGLISH_ENGINES = ("piper", "espeak", "coqui")


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


@dataclass(frozen=True)
class TtsConfig:
    english_engine: str = "piper"
    piper_model: str | None = None
    piper_config: str | None = None
    coqui_model_path: str | None = None
    coqui_config_path: str | None = None
    cache_bytes: int = 32 * 1024 * 1024


def normalise_language(language: str) -> str:
    """BCP-47-ish codes as clients send them ("en_US", "zh-CN") in eSpeak's spelling ("en-us")."""
    return language.strip().lower().replace("_", "-")


def primary_language(language: str) -> str:
    return normalise_language(language).split("-")[0]
