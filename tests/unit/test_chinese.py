"""Mandarin end to end below the service: the bundled multilingual model (joined from its two
packages and verified), Simplified output, and the stabilizer working per character."""

import hashlib
import os
from pathlib import Path

import pytest
from faster_whisper.audio import decode_audio

from streaming.core.stabilizer import LocalAgreementStabilizer, Segment, SegmentFilter, Word, split_characters
from streaming.engines.asr.bundled import WHISPER_BASE, ModelUnavailable, SplitModel, assemble
from streaming.engines.asr.engine import AsrConfig, get_engine, resolve_model_path, to_simplified
from tests.speech import SHARED_DATA, ZH_CLIPS, cer, load_zh_clip

# --- the split model, joined once ---------------------------------------------------------------


def _fake_packages(root: Path, part1: bytes, part2: bytes) -> None:
    for name, files in {
        "llbfake_part1": {"model.bin.part1": part1, "config.json": b"{}", "vocabulary.txt": b"a\n"},
        "llbfake_part2": {"model.bin.part2": part2},
    }.items():
        (root / name / "data").mkdir(parents=True)
        (root / name / "__init__.py").write_text("")
        for file, content in files.items():
            (root / name / "data" / file).write_bytes(content)


def _fake_model(sha256: str) -> SplitModel:
    return SplitModel(
        name="fake",
        parts=(("llbfake_part1", "model.bin.part1"), ("llbfake_part2", "model.bin.part2")),
        files=(("llbfake_part1", "config.json"), ("llbfake_part1", "vocabulary.txt")),
        sha256=sha256,
    )


@pytest.fixture
def packages(tmp_path, monkeypatch):
    root = tmp_path / "site"
    _fake_packages(root, b"first half|", b"second half")
    monkeypatch.syspath_prepend(str(root))
    return root


def test_parts_are_joined_in_order_verified_and_renamed_into_place(packages, tmp_path):
    model = _fake_model(hashlib.sha256(b"first half|second half").hexdigest())
    target = assemble(model, tmp_path / "models")
    assert (target / "model.bin").read_bytes() == b"first half|second half"
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.bin", "vocabulary.txt"]
    assert os.listdir(tmp_path / "models") == ["fake"]  # no staging directory left behind
    assert assemble(model, tmp_path / "models") == target  # once: the second call finds it


def test_a_corrupted_part_names_the_packages_and_the_expected_hash(packages, tmp_path):
    expected = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(ModelUnavailable) as refused:
        assemble(_fake_model(expected), tmp_path / "models")
    message = str(refused.value)
    assert "llbfake-part1" in message and "llbfake-part2" in message and expected in message
    assert os.listdir(tmp_path / "models") == []  # nothing half-made is left to be loaded


def test_a_missing_package_says_which_to_install(tmp_path):
    model = SplitModel("fake", (("llb_no_such_package", "model.bin"),), (), WHISPER_BASE.sha256)
    with pytest.raises(ModelUnavailable, match="llb-no-such-package.*" + WHISPER_BASE.sha256):
        assemble(model, tmp_path / "models")


# --- the real multilingual model on real Mandarin -------------------------------------------------


@pytest.fixture(scope="module")
def base():
    return get_engine(AsrConfig(model="base"))


def test_the_bundled_multilingual_model_is_assembled_and_verified():
    path = Path(resolve_model_path("base"))
    digest = hashlib.sha256()
    with (path / "model.bin").open("rb") as model:
        while chunk := model.read(1 << 20):
            digest.update(chunk)
    assert digest.hexdigest() == WHISPER_BASE.sha256


def test_mandarin_clips_come_out_in_simplified_characters_close_to_their_references(base):
    assert base.supports_language("zh") and base.supports_language("auto")
    errors, total = 0.0, 0
    for clip, reference in ZH_CLIPS.items():
        segments = base.transcribe(decode_audio(str(SHARED_DATA / "zh" / clip), 16000), language="zh", prompt=None)
        text = "".join(s["text"] for s in segments)
        assert text == to_simplified(text), f"Traditional characters in {text!r}"
        assert all(s["language"] == "zh" for s in segments)
        errors += cer(reference, text) * len(reference)
        total += len(reference)
    assert errors / total <= 0.12  # offline with this model and decode: docs/benchmarks.md (Mandarin)


def test_auto_detects_mandarin_and_english(base):
    def detect(path: Path) -> list[dict]:
        return base.transcribe(decode_audio(str(path), 16000), language="auto", prompt=None)

    zh, en = detect(SHARED_DATA / "zh" / "zh_funasr_asr_example.wav"), detect(SHARED_DATA / "jfk.flac")
    assert {s["language"] for s in zh} == {"zh"} and {s["language"] for s in en} == {"en"}


# --- characters, not whitespace words -------------------------------------------------------------


def _segment(words: list[tuple[float, float, str]], text: str | None = None) -> Segment:
    parsed = Segment.from_dict(
        {
            "start": words[0][0],
            "end": words[-1][1],
            "text": text if text is not None else "".join(w for _, _, w in words),
            "no_speech_prob": 0.01,
            "avg_logprob": -0.2,
            "compression_ratio": 1.1,
            "words": [{"start": s, "end": e, "word": w, "probability": 0.9} for s, e, w in words],
        }
    )
    return parsed


def test_chinese_words_become_characters_sharing_the_word_time():
    assert [(w.text, w.start, w.end) for w in split_characters(Word(1.0, 1.5, "我想"))] == [
        ("我", 1.0, 1.25),
        ("想", 1.25, 1.5),
    ]
    assert [w.text for w in split_characters(Word(0.0, 1.0, "我喜欢apple。"))] == ["我", "喜", "欢", "apple。"]
    assert split_characters(Word(0.0, 1.0, " ask")) == (Word(0.0, 1.0, " ask"),)  # English untouched


def test_half_a_character_is_never_shown():
    assert [w.text for w in split_characters(Word(0.0, 1.0, "好\ufffd"))] == ["好"]
    assert split_characters(Word(0.0, 1.0, "\ufffd")) == ()
    assert "\ufffd" not in _segment([(0.0, 0.5, "你"), (0.5, 1.0, "\ufffd")], text="你\ufffd").text


FIRST = [(0.0, 0.6, "欢迎"), (0.6, 1.2, "大家"), (1.2, 1.5, "来")]
SECOND = [(0.0, 0.3, "欢"), (0.3, 0.6, "迎"), (0.6, 1.2, "大家"), (1.2, 1.6, "来体")]


def test_agreement_counts_characters_whatever_tokens_the_decodes_grouped():
    stabilizer = LocalAgreementStabilizer()
    stabilizer.update([_segment(FIRST)], window_s=3.0)
    update = stabilizer.update([_segment(SECOND)], window_s=3.5)
    assert "".join(w.text for w in update.committed) == "欢迎大家来"
    assert "".join(w.text for w in update.tentative) == "体"


def test_chinese_commits_only_from_windows_of_three_seconds():
    """English commits from 2 s windows; a Chinese misreading of two short windows must not."""
    stabilizer = LocalAgreementStabilizer()
    stabilizer.update([_segment(FIRST)], window_s=2.5)
    assert stabilizer.update([_segment(SECOND)], window_s=2.9).committed == ()


@pytest.mark.parametrize(
    "stock", ["请不吝点赞 订阅 转发 打赏支持明镜与点点栏目", "字幕由Amara.org社区提供", "谢谢观看!"]
)
def test_whispers_chinese_stock_phrases_are_never_accepted(stock):
    assert not SegmentFilter().accepts(_segment([(0.0, 2.0, stock)]))
    assert SegmentFilter().accepts(_segment([(0.0, 2.0, "谢谢老师")]))


def test_a_window_starting_right_at_the_speech_is_heard_to_its_end(base):
    """Without silence before it, the multilingual model stopped after 我在冰海 (mid-character)."""
    clip = load_zh_clip("zh_funasr_llamacpp_sample.wav")
    onset = round(3.492 * 16000)  # where the VAD starts the clip's second utterance
    segments = base.transcribe(clip[onset : round(5.6 * 16000)], language="zh", prompt=None)
    text = "".join(s["text"] for s in segments)
    assert text.endswith("区有房") and "\ufffd" not in text, text
    assert 0.0 <= segments[0]["words"][0]["start"] < 0.5  # times are the window's, not the padded audio's
