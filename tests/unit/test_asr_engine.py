"""faster-whisper engine: configuration resolution and real decodes with the bundled model."""

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from faster_whisper import WhisperModel

from streaming.core.stabilizer import Segment, SegmentFilter
from streaming.engines.asr import engine as asr_engine
from streaming.engines.asr.engine import (
    AsrConfig,
    AsrEngine,
    encoder_frames,
    get_engine,
    resolve_compute_type,
    resolve_device,
    resolve_model_path,
)
from tests.speech import JFK_PATH, JFK_TEXT, wer

SAMPLE_RATE = 16000
SEGMENT_KEYS = {"language", "start", "end", "text", "no_speech_prob", "avg_logprob", "compression_ratio", "words"}
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


def _thread_niceness() -> dict[int, int]:
    """Every live thread of this process and its niceness (field 19 of /proc/self/task/TID/stat);
    a thread that ends between the listing and the read (earlier tests' helpers) is left out."""
    niceness = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            niceness[int(task.name)] = int((task / "stat").read_text().rsplit(")", 1)[1].split()[16])
        except (FileNotFoundError, ProcessLookupError):  # ENOENT or ESRCH, by the moment of the read
            continue
    return niceness


def test_a_niced_engine_decodes_in_threads_of_that_niceness_and_leaves_the_rest_alone(jfk):
    """Partials decode at ASR_PARTIAL_NICE so finals get the cores first: CTranslate2's replica
    threads, started when the model is built, carry the niceness; no other thread does."""
    before = _thread_niceness()
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    niced = AsrEngine(AsrConfig(num_workers=2, nice=7))
    started = [nice for tid, nice in _thread_niceness().items() if tid not in before]
    assert started.count(base + 7) >= 2  # a thread per replica, at least (others may come and go meanwhile)
    assert all(_thread_niceness().get(tid, nice) == nice for tid, nice in before.items())
    assert wer(JFK_TEXT, " ".join(s["text"] for s in niced.transcribe(jfk, language="en", prompt=None))) < 0.1


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
        assert type(s["text"]) is str and s["language"] == "en"
        for key in SEGMENT_KEYS - {"text", "words", "language"}:
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


# --- the shortened encoder context ---------------------------------------------------------


def _padded(content_frames: int) -> np.ndarray:
    """Mel features as faster-whisper hands them to `encode`: content, then zeros to 30 s."""
    features = np.zeros((80, 3000), dtype=np.float32)
    features[:, :content_frames] = np.random.default_rng(0).uniform(-1, 1, (80, content_frames))
    return features


@pytest.mark.parametrize(
    ("content", "min_frames", "expected"),
    [
        (0, 1000, 1000),  # silence: the minimum
        (401, 1000, 1000),  # 4 s of audio: the minimum context
        (1101, 1000, 1400),  # 11 s + 2 s margin, rounded up to 2 s
        (1200, 1000, 1400),
        (2900, 1000, 3000),  # never past Whisper's 30 s
        (401, 3000, 3000),  # min 30 s: Whisper's full padding
    ],
)
def test_encoder_frames_cover_the_audio_and_a_margin(content, min_frames, expected):
    assert encoder_frames(_padded(content), min_frames) == expected
    assert encoder_frames(_padded(content)[None], min_frames) == expected  # batched input


def test_short_context_encodes_fewer_frames(engine, jfk, monkeypatch):
    """A 4 s clip: 15 s of context by default, 10 s when busy, Whisper's 30 s on request."""
    encoded = []
    real_encode = WhisperModel.encode
    monkeypatch.setattr(WhisperModel, "encode", lambda self, f: encoded.append(f.shape[-1]) or real_encode(self, f))
    clip = jfk[: 4 * SAMPLE_RATE]
    for busy in (False, True):
        engine.transcribe(clip, language="en", prompt=None, busy=busy)
    get_engine(AsrConfig(min_context_s=30)).transcribe(clip, language="en", prompt=None)
    assert set(encoded) == {1500, 1000, 3000} and encoded[0] == 1500 and encoded[-1] == 3000


def test_short_context_transcribes_like_the_full_window(engine, jfk):
    """The default 15 s context reads JFK as well as Whisper's 30 s, with the same word times
    (within 0.5 s)."""
    full = get_engine(AsrConfig(min_context_s=30))
    for clip in (jfk, jfk[: int(4.5 * SAMPLE_RATE)], jfk[int(3.5 * SAMPLE_RATE) : int(8 * SAMPLE_RATE)]):
        short_words = [w for s in engine.transcribe(clip, language="en", prompt=None) for w in s["words"]]
        full_words = [w for s in full.transcribe(clip, language="en", prompt=None) for w in s["words"]]
        short_text = "".join(w["word"] for w in short_words)
        full_text = "".join(w["word"] for w in full_words)
        assert wer(full_text, short_text) <= 0.15, (full_text, short_text)
        if len(short_words) == len(full_words):
            assert all(abs(a["end"] - b["end"]) <= 0.5 for a, b in zip(short_words, full_words, strict=True))
    whole = "".join(w["word"] for s in engine.transcribe(jfk, language="en", prompt=None) for w in s["words"])
    assert wer(JFK_TEXT, whole) == 0


def test_busy_decodes_still_read_jfk(engine, jfk):
    """Workers short of CPU decode greedily at a 10 s context (`busy`); tiny.en still reads JFK."""
    assert (engine.config.busy_beam_size, engine.config.busy_min_context_s) == (1, 10.0)
    busy = "".join(s["text"] for s in engine.transcribe(jfk, language="en", prompt=None, busy=True))
    assert wer(JFK_TEXT, busy) <= 0.05, busy


def test_a_hallucination_loop_is_cut_by_the_token_budget(jfk):
    """tiny.en loops on JFK's first 4 s at a 4 s context ("ask, ask, ask, ..." ~110 words, 1.6 s);
    the token budget for 4 s of audio stops it."""
    looping = get_engine(AsrConfig(min_context_s=4))
    words = [w for s in looping.transcribe(jfk[: 4 * SAMPLE_RATE], language="en", prompt=None) for w in s["words"]]
    assert 5 <= len(words) <= asr_engine.TOKENS_PER_S * 4 + 16
