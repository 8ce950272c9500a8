"""Which session languages the configured Whisper model can transcribe."""

from pathlib import Path
from typing import Literal, get_args

SessionLanguage = Literal["en", "zh", "auto"]
SESSION_LANGUAGES: tuple[str, ...] = get_args(SessionLanguage)
MULTILINGUAL_VOCABULARY = 51865  # Whisper's multilingual vocabulary; English-only models have one less


def model_is_english_only(model: str) -> bool:
    """`*.en` model names (the bundled default is tiny.en) know English only.

    For a local CTranslate2 directory the vocabulary size decides, as faster-whisper does.
    """
    vocabulary = Path(model) / "vocabulary.txt"
    if vocabulary.is_file():
        with vocabulary.open(encoding="utf-8") as fh:
            return sum(1 for _ in fh) < MULTILINGUAL_VOCABULARY
    return model.rstrip("/").endswith(".en")


def asr_supports(model: str, language: str) -> bool:
    return language == "en" or not model_is_english_only(model)
