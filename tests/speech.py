"""Real speech for tests and benchmarks: the shared JFK recording and WER scoring."""

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import jiwer
import numpy as np

if TYPE_CHECKING:
    from streaming.engines.tts.piper import PiperEngine

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
JFK_PATH = SHARED_DATA / "jfk.flac"
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
JFK_END_S = 10.5  # with 0.5 s of leading silence, the last words end after this
# How far a streamed JFK may fall below the offline decode: two of its 22 words. On AVX2 kernels
# (CTranslate2's default where the CPU lacks AVX-512) tiny.en writes "And so am I" for "And so, my"
# in the 2-3.5 s windows of the opening, and two such windows agree (docs/decisions/0012).
JFK_STREAMING_MARGIN = 0.1


# Mandarin clips of the shared set and their references (../shared/data/README.md).
ZH_CLIPS = {
    "zh_yyp_test.wav": "近几年，不但我用书给女儿压岁，也劝说亲朋不要给女儿压岁钱，而改送压岁书。",
    "zh_cosyvoice_zero_shot_prompt.wav": "希望你以后能够做的比我还好呦。",
    "zh_funasr_asr_example.wav": "欢迎大家来体验达摩院推出的语音识别模型",
    "zh_funasr_llamacpp_sample.wav": "我想问我在滨海新区有房",
    "zh_paddlespeech_zh.wav": "我认为跑步最重要的就是给我带来了身体健康",
}


# English clips of the shared set and their references (../shared/data/README.md), JFK included.
EN_CLIPS = {
    "jfk.flac": JFK_TEXT,
    "en/en_joinly_OSR_us_000_0034_8k.wav": (
        "A gold ring will please most any girl. The long journey home took a year. She saw a cat in the neighbor's "
        "house. A pink shell was found on the sandy beach. Small children came to see him. The grass and bushes were "
        "wet with dew. The blind man counted his old coins. A severe storm tore down the barn. She called his name "
        "many times. When you hear the bell, come quickly."
    ),
    "en/en_leopard_test.wav": (
        "Mr. Quilter is the apostle of the middle classes and we are glad to welcome his gospel."
    ),
    "en/en_leopard_diarization_test.wav": (
        "and so it begins this is what a crocodile sounds like it's like meditating in the water and it's like ladies "
        "and gentlemen please fasten your seat belts we are expecting some turbulence thank you"
    ),
}


def shared_audio(name: str) -> np.ndarray:
    """A shared recording (a path under ../shared/data) as 16 kHz mono float32."""
    from streaming.core.audio import load_audio_file

    path = SHARED_DATA / name
    assert path.exists(), f"shared test data missing: {path}"
    return load_audio_file(str(path))


def load_zh_clip(name: str) -> np.ndarray:
    """A shared Mandarin recording as 16 kHz mono float32."""
    return shared_audio(f"zh/{name}")


def characters(text: str) -> str:
    """Chinese scoring key: Simplified, without punctuation or spaces (a CER counts characters)."""
    import opencc

    return re.sub(r"[\W_]", "", opencc.OpenCC("t2s").convert(text)).lower()


def cer(reference: str, hypothesis: str) -> float:
    return jiwer.cer(characters(reference), characters(hypothesis) or "-")


def normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(normalise(reference), normalise(hypothesis) or "<empty>")


@cache
def jfk_audio() -> np.ndarray:
    from streaming.core.audio import load_audio_file

    assert JFK_PATH.exists(), f"shared test data missing: {JFK_PATH}"
    return load_audio_file(str(JFK_PATH))


# JFK pauses after "ask not", which then stands alone as an utterance of a second, and tiny.en,
# decoding that and the next one from their first samples, slips there: "ask not what your" came
# out as "ask not like your", "as not like what your", "s ask knock like your", "ask not what you
# are your" (offline, at 18 of 60 window starts around the pause, whatever the encoder context or
# beam; in browser runs with beam 5 and with greedy decoding). The rest must be there, in order.
JFK_PHRASE_HEARD = re.compile(
    r"fellow americans (?:\w+ ){1,6}your country can do for you ask what you can do for your country"
)


def has_jfk_phrase(text: str) -> bool:
    return JFK_PHRASE_HEARD.search(normalise(text)) is not None


@cache
def offline_transcript(key: str = "jfk") -> str:
    """Whole-file transcription with the same bundled model: the WER baseline, as
    Whisper was designed (30 s windows, not the service's shorter context)."""
    from streaming.engines.asr.engine import AsrConfig, get_engine

    segments = get_engine(AsrConfig(min_context_s=30)).transcribe(jfk_audio(), language="en", prompt=None)
    return " ".join(s["text"].strip() for s in segments)


def frames(pcm: bytes, frame_bytes: int = 3200):
    """100 ms frames of 16 kHz PCM16, as a browser sends them."""
    for i in range(0, len(pcm), frame_bytes):
        yield pcm[i : i + frame_bytes]


@cache
def _steady_piper() -> "PiperEngine":
    from streaming.engines.tts.piper import PiperEngine  # here: it loads ONNX Runtime

    return PiperEngine(steady=True)


def piper_speech(text: str) -> np.ndarray:
    """`text` spoken by the service's Piper voice, as 16 kHz float32.

    Without Piper's sampling noise, so the same text is the same audio on every run: sampled,
    about one "The cat sat on the warm mat." in ten came out as "the cats out on the warm map"
    to tiny.en even offline, and a test then failed for the dice, not the code.
    """
    from streaming.core.audio import Resampler, pcm16_to_float32

    synthesis = _steady_piper().synthesize(text, "en")
    return Resampler(synthesis.sample_rate, 16000).process(pcm16_to_float32(synthesis.pcm), last=True)


def silence(seconds: float, rate: int = 16000) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.float32)


def mandarin_with_english_words() -> tuple[np.ndarray, tuple[str, str]]:
    """Two Mandarin recordings joined by "my fellow Americans" cut from JFK, the recordings' own
    silences trimmed and short gaps between the three: one phrase in which a student switches
    language for a moment. Returns the audio and the Chinese said before and after the English."""
    english = jfk_audio()[int(1.35 * 16000) : int(2.35 * 16000)]
    before, after = "zh_funasr_asr_example.wav", "zh_paddlespeech_zh.wav"
    gap = silence(0.15)
    speech = [trim_silence(load_zh_clip(before)), gap, english, gap, trim_silence(load_zh_clip(after))]
    return np.concatenate([silence(0.5), *speech, silence(1.0)]), (ZH_CLIPS[before], ZH_CLIPS[after])


def trim_silence(audio: np.ndarray, margin_s: float = 0.1) -> np.ndarray:
    """`audio` without its leading and trailing silence, less `margin_s` either side."""
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    margin = int(margin_s * 16000)
    return audio[max(0, loud[0] - margin) : loud[-1] + margin]
