"""How intelligible the service's voice is: ten school sentences spoken and heard back.

Each sentence goes through the TTS router as the workers build it (`TtsConfig` defaults, the
cache off), is resampled to 16 kHz and transcribed whole by the service's Whisper model for the
language (the bundled multilingual "base" for Chinese, "tiny.en" for English), then scored against
the text: pooled CER for Chinese (characters, Simplified, no punctuation), pooled WER for English.
Whisper is no student, so the rate is a proxy, but it tells voices apart clearly
(docs/decisions/0026 compares Mandarin voices this way). Also prints the real-time factor of
synthesis (after one warm-up sentence). Piper samples its voice as in the service, so English
figures move a little between runs; eSpeak NG is deterministic.

    .venv/bin/python bench/tts_roundtrip.py                 # Chinese: eSpeak NG cmn
    .venv/bin/python bench/tts_roundtrip.py --language en   # English: Piper
    .venv/bin/python bench/tts_roundtrip.py --language en --english-engine espeak
"""

import argparse
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SAMPLE_RATE, Emitter, load_avg, log, machine_info, offline_words  # noqa: E402
from streaming.core.audio import Resampler, pcm16_to_float32  # noqa: E402
from streaming.engines.tts.base import ENGLISH_ENGINES, TtsConfig  # noqa: E402
from streaming.engines.tts.router import TtsRouter  # noqa: E402
from tests.speech import cer, characters, normalise, wer  # noqa: E402

SENTENCES = {
    "zh": (
        "你好，欢迎使用爱学伴！",
        "今天我们学习十以内的加法。",
        "请同学们打开课本，翻到第二十页。",
        "小明每天早上七点起床去上学。",
        "下课以后，我们一起去操场踢足球吧。",
        "老师说，做完作业要认真检查一遍。",
        "春天来了，公园里的花都开了。",
        "你能用这个词语造一个句子吗？",
        "图书馆在教学楼的东边。",
        "妈妈给我买了一本新的故事书。",
    ),
    "en": (
        "Hello, and welcome to our English class!",
        "Today we are going to learn how to add small numbers.",
        "Please open your books and turn to the next page.",
        "Tom gets up early every morning and walks to school.",
        "After class, let us play football on the playground.",
        "The teacher says we should check our homework carefully.",
        "Spring is here, and the flowers in the park are open.",
        "Can you make a sentence with this word?",
        "The library is next to the big classroom building.",
        "My mother bought me a new book of stories.",
    ),
}
WARM_UP = {"zh": "你好。", "en": "Hello."}


def scored(reference: str, heard: str, language: str) -> tuple[int, int]:
    """(errors, reference length) in characters for Chinese, words otherwise, so rates pool."""
    if language == "zh":
        length = len(characters(reference))
        return round(cer(reference, heard) * length), length
    length = len(normalise(reference).split())
    return round(wer(reference, heard) * length), length


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--language", choices=sorted(SENTENCES), default="zh")
    parser.add_argument("--english-engine", choices=ENGLISH_ENGINES, default=TtsConfig.english_engine)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    language = args.language
    emit = Emitter(args.out)
    emit({"bench": "machine", **machine_info()})
    router = TtsRouter(TtsConfig(english_engine=args.english_engine, cache_bytes=0))
    engine, fallback = router.engine_for(language)
    log(f"tts_roundtrip: {language}, {engine.name} {engine.voice}")
    engine.synthesize(WARM_UP[language], language)
    load_before = load_avg()
    metric = "cer" if language == "zh" else "wer"
    synth_s = audio_s = 0.0
    errors = length = 0
    rtfs = []
    for i, text in enumerate(SENTENCES[language]):
        started = time.perf_counter()
        synthesis, _ = router.synthesize(text, language)
        seconds = time.perf_counter() - started
        audio = Resampler(synthesis.sample_rate, SAMPLE_RATE).process(pcm16_to_float32(synthesis.pcm), last=True)
        _, heard = offline_words(audio, language=language)
        sentence_errors, sentence_length = scored(text, heard, language)
        synth_s, audio_s = synth_s + seconds, audio_s + synthesis.duration_s
        errors, length = errors + sentence_errors, length + sentence_length
        rtfs.append(seconds / synthesis.duration_s)
        emit(
            {
                "bench": "tts_roundtrip.sentence",
                "language": language,
                "i": i,
                "text": text,
                "heard": heard.strip(),
                "audio_s": round(synthesis.duration_s, 2),
                "synth_s": round(seconds, 4),
                "errors": sentence_errors,
                "length": sentence_length,
            }
        )
    return emit(
        {
            "bench": "tts_roundtrip",
            "language": language,
            "engine": engine.name,
            "voice": engine.voice,
            "fallback": fallback,
            "sample_rate": engine.sample_rate,
            "sentences": len(SENTENCES[language]),
            "audio_s": round(audio_s, 2),
            "synth_s": round(synth_s, 3),
            "rtf": round(synth_s / audio_s, 4),
            "rtf_max": round(max(rtfs), 4),
            "error_metric": metric,
            metric: round(errors / length, 3),
            "errors": errors,
            "length": length,
            "load_before": load_before,
            "load_after": load_avg(),
        }
    )


if __name__ == "__main__":
    main()
