"""Coqui TTS, an optional English voice for GPU servers (docs/tts.md says how to install it)."""

from pathlib import Path

import numpy as np

from streaming.engines.tts.base import Synthesis, TtsError, TtsUnavailable, primary_language
from streaming.engines.tts.wav import float_to_pcm16


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
        return primary_language(language) == "en"

    def synthesize(self, text: str, language: str) -> Synthesis:
        try:
            samples = np.asarray(self._tts.tts(text=text), dtype=np.float32)
        except Exception as exc:
            raise TtsError(f"Coqui could not synthesize {text[:40]!r}: {exc}") from exc
        return Synthesis(float_to_pcm16(samples), self.sample_rate)
