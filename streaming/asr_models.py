"""Which Whisper model serves which session language, and on which worker channels.

English sessions go to WHISPER_MODEL (the fast `tiny.en` by default); Mandarin and language
detection (`auto`) to WHISPER_MULTILINGUAL_MODEL (the bundled multilingual `base`). Each model
has a channel for partial decodes and one for finals, so production can run workers per model
(`runworker asr asr-final`, `runworker asr-multilingual asr-multilingual-final`) and scale them
independently; the embedded server serves them all. When both settings name the same multilingual
model, one set of channels serves every language.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from streaming.engines.asr.bundled import SPLIT_MODELS, ModelUnavailable, assemble
from streaming.engines.asr.languages import SESSION_LANGUAGES, asr_supports, model_is_english_only

# The first model's channels keep the names every deployment has used; a second model has its own.
ASR_CHANNEL, ASR_FINAL_CHANNEL = "asr", "asr-final"
MULTILINGUAL_CHANNEL, MULTILINGUAL_FINAL_CHANNEL = "asr-multilingual", "asr-multilingual-final"


@dataclass(frozen=True)
class AsrModel:
    name: str  # the setting's value: a bundled name, a model directory or a faster-whisper name
    channel: str  # partial decodes
    final_channel: str  # decodes that end an utterance (slots reserved in every worker)
    languages: tuple[str, ...]  # the session languages it serves

    @property
    def channels(self) -> tuple[str, str]:
        return (self.channel, self.final_channel)


def asr_models() -> tuple[AsrModel, ...]:
    """The configured models, English first (its channels keep their historical names)."""
    english, multilingual = settings.WHISPER_MODEL, settings.WHISPER_MULTILINGUAL_MODEL
    if english == multilingual and not model_is_english_only(english):
        return (AsrModel(english, ASR_CHANNEL, ASR_FINAL_CHANNEL, SESSION_LANGUAGES),)
    others = tuple(language for language in SESSION_LANGUAGES if language != "en")
    return (
        AsrModel(english, ASR_CHANNEL, ASR_FINAL_CHANNEL, ("en",)),
        AsrModel(multilingual, MULTILINGUAL_CHANNEL, MULTILINGUAL_FINAL_CHANNEL, others),
    )


def model_for(language: str) -> AsrModel:
    return next(model for model in asr_models() if language in model.languages)


def model_for_channel(channel: str) -> AsrModel:
    return next(model for model in asr_models() if channel in model.channels)


def asr_channels() -> tuple[str, ...]:
    return tuple(channel for model in asr_models() for channel in model.channels)


def all_asr_channels() -> tuple[str, ...]:
    """Every channel an ASR worker may be told to serve, whichever models are configured."""
    return (ASR_CHANNEL, ASR_FINAL_CHANNEL, MULTILINGUAL_CHANNEL, MULTILINGUAL_FINAL_CHANNEL)


def final_channels() -> tuple[str, ...]:
    return tuple(model.final_channel for model in asr_models())


def supports(language: str) -> bool:
    """Whether the model configured for `language` can transcribe it at all."""
    return language in SESSION_LANGUAGES and asr_supports(model_for(language).name, language)


def unavailable_reason(language: str) -> str | None:
    """Why the model for `language` cannot be loaded here (a bundled split model that does not
    assemble), or None. Joining is a one-time step: once joined, this is a file check."""
    name = model_for(language).name
    if name not in SPLIT_MODELS:
        return None
    try:
        assemble(SPLIT_MODELS[name], Path(settings.MODELS_DIR))
    except ModelUnavailable as exc:
        return str(exc)
    return None


# A worker's heartbeat names the models it loaded ("tiny.en, base"); one that failed says so.
_SEPARATOR, _FAILED = ", ", " (failed)"


def heartbeat_label(loaded: dict[str, bool]) -> str:
    """The heartbeat's `model` field for {model name: loaded}."""
    return _SEPARATOR.join(name if ok else name + _FAILED for name, ok in loaded.items())


def workers_per_model(labels: Iterable[str]) -> dict[str, int]:
    """How many of the workers with these heartbeat labels serve each configured model."""
    served = [set(label.split(_SEPARATOR)) for label in labels]
    return {model.name: sum(model.name in names for names in served) for model in asr_models()}
