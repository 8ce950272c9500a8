"""faster-whisper engine: configuration resolution and real decodes with the bundled model."""

from pathlib import Path

import numpy as np
import pytest

from streaming import asr_engine
from streaming.asr_engine import (
    AsrConfig,
    AsrEngine,
    get_engine,
    resolve_compute_type,
    resolve_device,
    resolve_model_path,
)
from streaming.stabilizer import Segment, SegmentFilter
from tests.speech import JFK_PATH, JFK_TEXT, wer

SAMPLE_RATE = 16000
SEGMENT_KEYS = {"start", "end", "text", "no_speech_prob", "avg_logprob", "compression_ratio", "words"}
WORD_KEYS = {"start", "end", "word", "probability"}


@pytest.fixture(scope="module")
def engine() -> AsrEngine:
    return get_engine(AsrConfig())


@pytest.fixture(scope="module")
def jfk() -> np.ndarray:
    from faster_whisper.audio import decode_audio

    return decode_audio(str(JFK_PATH), sampling_rate=SAMPLE_RATE)


# --- configuration -------------------------------------------------------------------------


def test_bundled_model_resolves_to_its_directory():
    path = Path(resolve_model_path("tiny.en"))
    assert (path / "model.bin").is_file() and (path / "config.json").is_file()


def test_local_paths_are_used_as_is_and_other_names_go_to_faster_whisper(tmp_path):
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)
    assert resolve_model_path("large-v3") == "large-v3"


@pytest.mark.parametrize(("gpus", "expected"), [(0, "cpu"), (1, "cuda")])
def test_auto_device_follows_the_gpus_ctranslate2_sees(monkeypatch, gpus, expected):
    monkeypatch.setattr(asr_engine.ctranslate2, "get_cuda_device_count", lambda: gpus)
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("cuda") == "cuda"


def test_unknown_device_is_a_configuration_error():
    with pytest.raises(ValueError, match="tpu"):
        resolve_device("tpu")


def test_compute_type_auto_picks_per_device():
    assert resolve_compute_type("auto", "cpu") == "int8"
    assert resolve_compute_type("auto", "cuda") == "float16"
    assert resolve_compute_type("int8_float16", "cuda") == "int8_float16"


# --- the loaded model ----------------------------------------------------------------------


def test_engine_describes_its_model(engine):
    assert engine.model_name == "tiny.en"
    assert engine.device in {"cpu", "cuda"}
    assert engine.compute_type == resolve_compute_type("auto", engine.device)
    assert engine.is_multilingual is False


def test_get_engine_loads_each_config_once(engine):
    assert get_engine(AsrConfig()) is engine


def test_english_only_model_supports_only_english(engine):
    assert engine.supports_language("en")
    assert not engine.supports_language("zh")
    assert not engine.supports_language("auto")


def test_transcribe_jfk_returns_plain_segments_with_word_timestamps(engine, jfk):
    segments = engine.transcribe(jfk, language="en", prompt=None)
    duration = len(jfk) / SAMPLE_RATE
    assert segments
    words = [w for s in segments for w in s["words"]]
    for s in segments:
        assert set(s) == SEGMENT_KEYS
        assert type(s["text"]) is str
        for key in SEGMENT_KEYS - {"text", "words"}:
            assert type(s[key]) is float, key
    for w in words:
        assert set(w) == WORD_KEYS
        assert all(type(w[key]) is float for key in ("start", "end", "probability"))
        assert type(w["word"]) is str
        assert 0.0 <= w["start"] <= w["end"] <= duration + 0.05
    assert wer(JFK_TEXT, "".join(w["word"] for w in words)) <= 0.1


def test_english_only_model_ignores_a_requested_language(engine, jfk):
    clip = jfk[: 3 * SAMPLE_RATE]
    assert engine.transcribe(clip, language="auto", prompt=None) == engine.transcribe(clip, language="en", prompt=None)


def test_silence_yields_no_accepted_words(engine):
    segments = engine.transcribe(np.zeros(3 * SAMPLE_RATE, dtype=np.float32), language="en", prompt=None)
    accepts = SegmentFilter().accepts
    assert all(not s["words"] or not accepts(Segment.from_dict(s)) for s in segments)
