"""Shared parts of the benchmarks: servers to measure, speech clips, the streaming client, figures.

Everything stays on loopback. The embedded server is the one the test suite starts
(`tests.live_server`); a remote one is reached with `--url`/`--token`. Clients stream PCM16 frames
on an absolute real-time schedule; what they saw is scored by `bench.analysis` (a word counts once
it is shown as itself, timed from its end in the audio: docs/decisions/0032).
"""

import argparse
import asyncio
import datetime
import itertools
import json
import os
import platform
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.analysis import (  # noqa: E402
    RefWord,
    WordTimes,
    doubled_ngrams,
    error_rate,
    follow,
    pooled_error_rate,
    timed_reference,
    tokens,
    within_speech,
    word_times,
)
from streaming.core.audio import float32_to_pcm16, load_audio_file  # noqa: E402
from tests.live_server import bootstrap_login, embedded_env, login, running_server  # noqa: E402
from tests.speech import (  # noqa: E402
    JFK_TEXT,
    SHARED_DATA,
    ZH_CLIPS,
    frames,
    jfk_audio,
    silence,
)

RESULTS_DIR = ROOT / "bench" / "results"
SAMPLE_RATE = 16000
FRAME_S = 0.1  # 100 ms binary frames, as the browser page sends them
PAUSE_S = 0.8  # a gap between words this long is a pause between sentences (Clip.rotated)
SESSIONS_PATH = "/api/v1/audio-streaming/sessions"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# --- output ----------------------------------------------------------------------------------


def load_avg() -> float:
    """The 1-minute load average (the machine is shared; every record carries it)."""
    return round(os.getloadavg()[0], 2)


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_avg": list(np.round(os.getloadavg(), 2)),
    }


class Emitter:
    """Prints one JSON object per line to stdout and, optionally, appends it to a .jsonl file."""

    def __init__(self, out: str | Path | None = None) -> None:
        self.path = Path(out) if out else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        line = json.dumps(record, ensure_ascii=False, default=_json_default)
        print(line, flush=True)
        if self.path is not None:
            with self.path.open("a") as out:
                out.write(line + "\n")
        return record


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries only JSON lines."""
    print(f"[bench {time.strftime('%H:%M:%S')} load {load_avg()}] {message}", file=sys.stderr, flush=True)


def stats(values: Sequence[float], prefix: str) -> dict[str, float | int | None]:
    """p50/p95/max/count of `values`, rounded to milliseconds."""
    if not len(values):
        return {f"{prefix}_p50": None, f"{prefix}_p95": None, f"{prefix}_max": None, f"{prefix}_n": 0}
    array = np.asarray(values, dtype=float)
    return {
        f"{prefix}_p50": round(float(np.percentile(array, 50)), 3),
        f"{prefix}_p95": round(float(np.percentile(array, 95)), 3),
        f"{prefix}_max": round(float(array.max()), 3),
        f"{prefix}_n": len(array),
    }


# --- processes -------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat fields after the command name (field 3, `state`, is index 0)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(int(entry.name))
            except (OSError, IndexError):
                continue
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU of the processes and their descendants (threads included; reaped
    children through cutime/cstime)."""
    total = 0.0
    for pid in {p for root in pids for p in descendants(root)}:
        try:
            utime, stime, cutime, cstime = (int(v) for v in _stat_fields(pid)[11:15])
        except (OSError, IndexError):
            continue
        total += (utime + stime + cutime + cstime) / CLK_TCK
    return total


def rss_mb(pids: Sequence[int]) -> float:
    """Resident memory (VmRSS) of the processes and their descendants, in MB."""
    total_kb = 0
    for pid in {p for root in pids for p in descendants(root)}:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return round(total_kb / 1024, 1)


def own_cpu_seconds() -> float:
    """CPU used by this (client) process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def pid_listening_on(port: int) -> int:
    """The child process of this one whose command line names `port` (the daphne we started)."""
    for pid in descendants(os.getpid())[1:]:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(port).encode() in argv:
            return pid
    raise RuntimeError(f"no child process serves port {port}")


class Sampler:
    """Samples the RSS of server processes while a measurement runs."""

    def __init__(self, pids: Sequence[int], interval_s: float = 1.0) -> None:
        self.pids = list(pids)
        self.interval_s = interval_s
        self.samples: list[tuple[float, float]] = []  # (monotonic time, MB)

    async def run(self) -> None:
        while self.pids:
            self.samples.append((time.monotonic(), rss_mb(self.pids)))
            await asyncio.sleep(self.interval_s)

    @property
    def peak(self) -> float | None:
        return max((mb for _, mb in self.samples), default=None)


# --- servers ---------------------------------------------------------------------------------


@dataclass
class Target:
    """A running service to measure: its web base URLs, an authenticated HTTP client, and the
    pids of its processes by role (empty for a remote server)."""

    mode: str
    bases: list[str]
    http: httpx.Client
    token: str | None = None
    pids: dict[str, list[int]] = field(default_factory=dict)
    asr_workers: int | None = None
    env: dict[str, str] = field(default_factory=dict)  # settings overridden for this run

    @property
    def all_pids(self) -> list[int]:
        return [pid for pids in self.pids.values() for pid in pids]

    def _headers(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return {"X-CSRFToken": self.http.cookies["csrftoken"]}

    def create_session(self, **options: Any) -> dict:
        response = self.http.post(f"{self.bases[0]}{SESSIONS_PATH}", json=options, headers=self._headers())
        if response.status_code != 201:
            raise RuntimeError(f"session not created: {response.status_code} {response.text[:300]}")
        return response.json()

    def end_session(self, session_id: str) -> None:
        self.http.delete(f"{self.bases[0]}{SESSIONS_PATH}/{session_id}", headers=self._headers())

    def connect_args(self, session: dict, index: int = 0) -> dict[str, Any]:
        """websockets.connect arguments for a client; clients are spread over the web processes."""
        base = self.bases[index % len(self.bases)]
        url = base.replace("http", "ws", 1) + session["websocketUrl"]
        if self.token:
            return {"uri": url, "additional_headers": {"Authorization": f"Bearer {self.token}"}}
        cookie = f"sessionid={self.http.cookies['sessionid']}"
        return {"uri": url, "additional_headers": {"Cookie": cookie}, "origin": base}

    def describe(self) -> dict[str, Any]:
        described = {"mode": self.mode, "web_processes": len(self.bases), "asr_workers": self.asr_workers}
        return {**described, "env": self.env} if self.env else described


BENCH_ENV = {"MAX_SESSIONS_PER_USER": "64", "MAX_ACTIVE_SESSIONS": "128"}


@contextmanager
def embedded_target(workers: int = 2, **extra: str) -> Iterator[Target]:
    """The `make run` server (SQLite, in-memory layer, workers in-process) in a scratch directory."""
    with tempfile.TemporaryDirectory(prefix="llb-bench-") as tmp:
        env = embedded_env(Path(tmp), NUM_WORKERS=str(workers), **BENCH_ENV, **extra)
        username, password = bootstrap_login(env)
        with running_server(env) as base, closing(login(base, username, password)) as client:
            pid = pid_listening_on(int(base.rsplit(":", 1)[1]))
            overrides = {k: v for k, v in extra.items() if k != "TTS_CACHE_BYTES"}
            target = Target("embedded", [base], client, pids={"web": [pid]}, asr_workers=workers, env=overrides)
            warm_up(target)
            yield target


@contextmanager
def remote_target(url: str, token: str, pids: Sequence[int] = ()) -> Iterator[Target]:
    """A server someone else runs (loopback only), reached with an API token."""
    with httpx.Client(timeout=30) as client:
        yield Target("remote", [url.rstrip("/")], client, token=token, pids={"server": list(pids)})


def add_target_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="base URL of a running server (default: start an embedded one)")
    parser.add_argument("--token", help="API token for --url (admin -> API tokens)")
    parser.add_argument("--server-pid", type=int, action="append", default=[], help="pid(s) for CPU/RSS with --url")
    parser.add_argument("--workers", type=int, default=2, help="embedded ASR workers (NUM_WORKERS)")
    parser.add_argument("--out", help="also append the JSON lines to this file (e.g. bench/results/x.jsonl)")
    add_env_arg(parser, "a setting for the embedded server (tuning)")
    add_phased_arg(parser)


def add_phased_arg(parser: argparse.ArgumentParser) -> None:
    """`--phased`: see `run_level`. Off by default, so figures stay comparable with earlier runs."""
    parser.add_argument(
        "--phased",
        action="store_true",
        help="clients speak the stream from different sentences (a classroom), not all in step",
    )


def add_env_arg(parser: argparse.ArgumentParser, help: str) -> None:
    """`--env NAME=VALUE`, repeatable: settings to try; `env_settings` reads them back."""
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help=help)


def env_settings(args: argparse.Namespace) -> dict[str, str]:
    return dict(item.split("=", 1) for item in args.env)


@contextmanager
def open_target(args: argparse.Namespace, **extra: str) -> Iterator[Target]:
    if args.url:
        if not args.token:
            raise SystemExit("--url needs --token")
        with remote_target(args.url, args.token, args.server_pid) as target:
            yield target
    else:
        with embedded_target(args.workers, **env_settings(args), **extra) as target:
            yield target


def warm_up(target: Target) -> None:
    """Load the models (lazily loaded on the first connection) before anything is timed."""
    clip = jfk_clip()
    sessions = [target.create_session() for _ in target.bases]

    async def run() -> None:
        await asyncio.gather(*(stream_clip(target.connect_args(s, i), clip, speed=4.0) for i, s in enumerate(sessions)))

    try:
        asyncio.run(run())
    finally:
        for session in sessions:
            target.end_session(session["id"])


# --- speech ----------------------------------------------------------------------------------


@dataclass
class Clip:
    """Audio to stream, its reference text (for WER) and the offline decode's words and times
    (the reference words' times, and the WER baseline)."""

    name: str
    audio: np.ndarray  # float32 mono 16 kHz
    reference: str
    words: list[RefWord]
    offline_text: str
    language: str = "en"  # the session language its clients ask for

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @cached_property
    def reference_words(self) -> list[RefWord]:
        """The reference tokens, timed by the offline words aligned to them, cut to the speech
        (what latency counts)."""
        return timed_reference(tokens(self.reference, self.language), within_speech(self.words, speech(self.audio)))

    @cached_property
    def frames(self) -> list[bytes]:
        return list(frames(float32_to_pcm16(self.audio), int(FRAME_S * SAMPLE_RATE) * 2))

    def repeated(self, times: int) -> "Clip":
        """The clip `times` times back to back (the soak test)."""
        words = [
            RefWord(w.word, w.start + i * self.duration, w.end + i * self.duration)
            for i in range(times)
            for w in self.words
        ]
        clip = Clip(
            f"{self.name}x{times}",
            np.tile(self.audio, times),
            " ".join([self.reference] * times),
            words,
            " ".join([self.offline_text] * times),
            self.language,
        )
        # The same alignment shifted, rather than one over the whole repeated text (slow, and it
        # could pair a word with another repetition).
        clip.reference_words = [
            RefWord(w.word, w.start + i * self.duration, w.end + i * self.duration, w.timed)
            for i in range(times)
            for w in self.reference_words
        ]
        return clip

    def rotated(self, at_s: float) -> "Clip":
        """The clip from the sentence pause nearest `at_s` on, wrapping round to its start: the
        same stream in another phase, so clients started together do not pause together (a
        classroom's students do not)."""
        reference = tokens(self.reference, self.language)
        if len(reference) != len(self.words):
            raise ValueError(f"{self.name}: rotating needs as many offline words as reference words")
        pauses = [(a.end + b.start) / 2 for a, b in itertools.pairwise(self.words) if b.start - a.end >= PAUSE_S]
        if at_s <= 0 or not pauses:
            return self
        cut = round(min(pauses, key=lambda t: abs(t - at_s)) * SAMPLE_RATE)
        cut_s = cut / SAMPLE_RATE
        k = sum(1 for w in self.words if w.end <= cut_s)
        after = [RefWord(w.word, w.start - cut_s, w.end - cut_s) for w in self.words[k:]]
        wrapped = self.duration - cut_s
        before = [RefWord(w.word, w.start + wrapped, w.end + wrapped) for w in self.words[:k]]
        joiner = "" if self.language == "zh" else " "
        text = joiner.join(reference[k:] + reference[:k])
        offline = joiner.join(w.word for w in after + before)
        audio = np.concatenate([self.audio[cut:], self.audio[:cut]])
        return Clip(f"{self.name}@{cut_s:.1f}", audio, text, after + before, offline, self.language)


def speech(audio: np.ndarray) -> list[tuple[float, float]]:
    """Stretches of speech (seconds) by Silero VAD: pauses from 0.1 s, 50 ms of padding."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=100, speech_pad_ms=50)
    return [(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in get_speech_timestamps(audio, options)]


def offline_words(audio: np.ndarray, offset: float = 0.0, language: str = "en") -> tuple[list[RefWord], str]:
    """Token times and text of a whole-file decode with the service's engine and the model of the
    language, as Whisper was designed (30 s windows, not the service's shorter context). Chinese
    words are split into characters as the service splits them."""
    from streaming.core.stabilizer import Segment
    from streaming.engines.asr.engine import BUNDLED_MODEL, BUNDLED_MULTILINGUAL_MODEL, AsrConfig, get_engine

    model = BUNDLED_MODEL if language == "en" else BUNDLED_MULTILINGUAL_MODEL
    segments = get_engine(AsrConfig(model=model, min_context_s=30)).transcribe(audio, language=language, prompt=None)
    words = [
        RefWord(token, w.start, w.end)
        for segment in segments
        for w in Segment.from_dict(segment, offset).words
        for token in tokens(w.text, language)
    ]
    return words, ("" if language == "zh" else " ").join(s["text"].strip() for s in segments)


def recording_clip(name: str, audio: np.ndarray, reference: str, language: str = "en") -> Clip:
    """A recording (16 kHz float32) with 0.5 s of silence before and 1.5 s after, as a student
    would start and stop speaking; word times from its offline decode."""
    lead = 0.5
    words, text = offline_words(audio, lead, language)
    padded = np.concatenate([silence(lead), audio, silence(1.5)]).astype(np.float32)
    return Clip(name, padded, reference, words, text, language)


def jfk_clip() -> Clip:
    """The shared JFK recording (44.1 kHz stereo, decoded to 16 kHz mono)."""
    return recording_clip("jfk", jfk_audio(), JFK_TEXT)


ZH_PAUSES_S = (1.2, 1.0, 1.5, 0.9, 1.3)


def zh_clip() -> Clip:
    """The shared Mandarin recordings twice over (the second time in reverse order), with pauses
    of 0.9-1.5 s between them: about a minute of a class reading aloud."""
    names = list(ZH_CLIPS) + list(reversed(ZH_CLIPS))
    pieces, words, offline, reference = [silence(0.5)], [], [], []
    position = 0.5
    for i, name in enumerate(names):
        audio = load_audio_file(str(SHARED_DATA / "zh" / name))
        piece_words, piece_text = offline_words(audio, position, "zh")
        words += piece_words
        offline.append(piece_text)
        reference.append(ZH_CLIPS[name])
        pause = ZH_PAUSES_S[i % len(ZH_PAUSES_S)]
        pieces += [audio, silence(pause)]
        position += len(audio) / SAMPLE_RATE + pause
    pieces.append(silence(1.5))
    return Clip("zh", np.concatenate(pieces).astype(np.float32), "".join(reference), words, "".join(offline), "zh")


def load_clip(name: str) -> Clip:
    if name == "jfk":
        return jfk_clip()
    if name == "zh":
        return zh_clip()
    if name == "long":
        from bench.make_long_stream import long_clip

        return long_clip()
    raise SystemExit(f"unknown clip {name!r} (jfk, long, zh)")


# --- the streaming client --------------------------------------------------------------------


@dataclass
class StreamResult:
    """What one client sent and saw."""

    send_times: list[float] = field(default_factory=list)  # when each frame had been sent
    transcripts: list[tuple[float, dict]] = field(default_factory=list)  # (received, data)
    errors: list[dict] = field(default_factory=list)
    readings: list[tuple[float, dict]] = field(default_factory=list)  # (received, reading_progress/_result)
    started: float = 0.0
    finished: float = 0.0
    speed: float = 1.0  # audio seconds per wall second: clip time t was spoken at started + t / speed


async def _receive(ws: Any, result: StreamResult) -> None:
    async for raw in ws:
        if isinstance(raw, bytes):
            continue
        message = json.loads(raw)
        if message["type"] == "transcription":
            result.transcripts.append((time.monotonic(), message["data"]))
        elif message["type"] == "error":
            result.errors.append(message["data"])
        elif message["type"] in ("reading_progress", "reading_result"):
            result.readings.append((time.monotonic(), message))


async def stream_clip(
    connect: dict[str, Any],
    clip: Clip,
    *,
    speed: float = 1.0,
    start_delay: float = 0.0,
    settle_s: float = 60.0,
) -> StreamResult:
    """Stream `clip` in 100 ms frames, frame k sent when its audio would have been captured
    (`(k + 1) * 0.1 / speed` after the start), then wait for the last utterance's final."""
    result = StreamResult(speed=speed)
    await asyncio.sleep(start_delay)
    async with websockets.connect(**connect, max_size=2**24, open_timeout=60, close_timeout=5) as ws:
        hello = json.loads(await ws.recv())
        if hello["type"] != "status":
            raise RuntimeError(f"refused: {hello}")
        receiver = asyncio.ensure_future(_receive(ws, result))
        try:
            result.started = start = time.monotonic()
            for k, frame in enumerate(clip.frames):
                delay = start + (k + 1) * FRAME_S / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await ws.send(frame)
                result.send_times.append(time.monotonic())
            await ws.send(json.dumps({"type": "audio_chunk", "data": {"audio_data": "", "is_final": True}}))
            await _settle(result, clip, settle_s)
        finally:
            receiver.cancel()
        result.finished = time.monotonic()
    return result


async def _settle(result: StreamResult, clip: Clip, limit_s: float) -> None:
    """Wait until a final covers the last reference word, or nothing came for 10 s after a final."""
    last_end = clip.words[-1].end if clip.words else 0.0
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if not result.transcripts:
            if time.monotonic() - result.send_times[-1] > 10:
                return
            continue
        received, last = result.transcripts[-1]
        if last["is_final"] and (last["end"] >= last_end - 0.3 or time.monotonic() - received > 10):
            return


# --- figures ---------------------------------------------------------------------------------


@dataclass
class ClientFigures:
    times: WordTimes  # word latency, final delay, turn close delay (docs/decisions/0032)
    wer: float  # the finals against the reference
    wer_vs_offline: float  # the finals against the offline decode of the same audio, same model
    utterances: int  # `is_final` messages
    entries: int  # of them with text (the conversation's entries)
    finals_missing: int  # turns that showed text and never got an `is_final`
    stock_phrases: dict[str, int]  # stock phrases shown that are not reference words said there
    doubled: list[str]  # n-grams the finals say twice in a row and the reference once
    lag_max: float
    send_lag_max: float  # how far this client's sends fell behind their schedule
    errors: dict[str, int]
    finals: list[str]  # the finals' texts (the entries, and empty finals), for reading the errors

    @property
    def text(self) -> str:
        return " ".join(self.finals)


def analyse(clip: Clip, result: StreamResult) -> ClientFigures:
    """One client's stream scored by the honest rule (`bench.analysis.follow`): a reference word
    counts as shown from the message from which the word shown there is that word for good, and
    its latency runs from its end in the audio (`result.started` + clip time / speed), not from
    when a frame was sent. Assumes a fresh session (transcript times = clip times)."""
    words = clip.reference_words
    seen = follow(words, result.transcripts, clip.language)
    text = " ".join(seen.finals)
    schedule = [result.started + (k + 1) * FRAME_S / result.speed for k in range(len(result.send_times))]
    errors: dict[str, int] = {}
    for error in result.errors:
        errors[error.get("code", "?")] = errors.get(error.get("code", "?"), 0) + 1
    return ClientFigures(
        times=word_times(words, seen, lambda t: result.started + t / result.speed),
        wer=error_rate(clip.reference, text, clip.language),
        wer_vs_offline=error_rate(clip.offline_text, text, clip.language),
        utterances=len(seen.finals),
        entries=sum(1 for final in seen.finals if final.strip()),
        finals_missing=seen.finals_missing,
        stock_phrases=dict(seen.stock_phrases),
        doubled=doubled_ngrams(tokens(text, clip.language), tokens(clip.reference, clip.language)),
        lag_max=max((d.get("lag", 0.0) for _, d in result.transcripts), default=0.0),
        send_lag_max=max((sent - due for sent, due in zip(result.send_times, schedule, strict=True)), default=0.0),
        errors=errors,
        finals=seen.finals,
    )


@dataclass
class Level:
    """One measurement: `clients` concurrent streams of the same clip."""

    figures: list[ClientFigures]
    clips: list[Clip]
    results: list[StreamResult]
    wall_s: float
    cpu_s: float | None
    cpu_by_role: dict[str, float]
    client_cpu_s: float
    rss_before: float | None
    rss_after: float | None
    samples: list[tuple[float, float]]
    load_before: float
    load_after: float


def run_level(
    target: Target,
    clip: Clip,
    clients: int,
    *,
    speed: float = 1.0,
    sample_s: float = 1.0,
    phased: bool = False,
    mix: Clip | None = None,
    session_options: dict[str, Any] | None = None,
) -> Level:
    """Stream `clip` from `clients` concurrent sessions (starts spread over one frame schedule
    second) and measure server CPU and memory around it. `phased`: client i streams the clip
    rotated by i/clients of its length, so the sessions pause at different times. `mix`: every
    other client streams this clip instead, in a session of its language (a mixed classroom).
    `session_options`: more fields of each session's creation (a practice text to read)."""
    spoken = [mix if mix is not None and i % 2 else clip for i in range(clients)]
    clips = [c.rotated(i * c.duration / clients) if phased else c for i, c in enumerate(spoken)]
    sessions = [target.create_session(language=c.language, **(session_options or {})) for c in clips]
    pids = target.all_pids
    load_before = load_avg()
    try:
        rss_before = rss_mb(pids) if pids else None
        roles_before = {role: cpu_seconds(role_pids) for role, role_pids in target.pids.items()}
        cpu_before, own_before, wall_before = cpu_seconds(pids), own_cpu_seconds(), time.monotonic()
        sampler = Sampler(pids, sample_s)

        async def run() -> list[StreamResult]:
            sampling = asyncio.ensure_future(sampler.run())
            try:
                return await asyncio.gather(
                    *(
                        stream_clip(target.connect_args(s, i), clips[i], speed=speed, start_delay=i / clients)
                        for i, s in enumerate(sessions)
                    )
                )
            finally:
                sampling.cancel()

        results = asyncio.run(run())
        wall = time.monotonic() - wall_before
        cpu = cpu_seconds(pids) - cpu_before if pids else None
        by_role = {role: cpu_seconds(role_pids) - roles_before[role] for role, role_pids in target.pids.items()}
        own = own_cpu_seconds() - own_before
    finally:
        for session in sessions:
            target.end_session(session["id"])
    return Level(
        figures=[analyse(c, r) for c, r in zip(clips, results, strict=True)],
        clips=clips,
        results=results,
        wall_s=wall,
        cpu_s=cpu,
        cpu_by_role={role: cpu for role, cpu in by_role.items() if target.pids[role]},
        client_cpu_s=own,
        rss_before=rss_before,
        rss_after=rss_mb(pids) if pids else None,
        samples=sampler.samples,
        load_before=load_before,
        load_after=load_avg(),
    )


def level_record(bench: str, target: Target, clip: Clip, clients: int, level: Level, speed: float) -> dict[str, Any]:
    """The summary object of a level: pooled word latencies and final delays over all clients."""
    audio_s = clients * clip.duration
    errors: dict[str, int] = {}
    for f in level.figures:
        for code, count in f.errors.items():
            errors[code] = errors.get(code, 0) + count
    peak = max((mb for _, mb in level.samples), default=None)
    record: dict[str, Any] = {
        "bench": bench,
        **target.describe(),
        "clip": clip.name,
        "error_metric": "cer" if clip.language == "zh" else "wer",
        "clients": clients,
        "speed": speed,
        "audio_s": round(audio_s, 1),
        "wall_s": round(level.wall_s, 1),
        **transcript_figures(list(zip(level.clips, level.figures, strict=True))),
        "errors": errors,
        "cpu_per_audio_s": None if level.cpu_s is None else round(level.cpu_s / audio_s, 3),
        "server_cores_busy": None if level.cpu_s is None else round(level.cpu_s / level.wall_s, 2),
        "cpu_per_audio_s_by_role": {role: round(cpu / audio_s, 3) for role, cpu in level.cpu_by_role.items()},
        "client_cpu_per_audio_s": round(level.client_cpu_s / audio_s, 3),
        "rss_before_mb": level.rss_before,
        "rss_peak_mb": peak,
        "rss_after_mb": level.rss_after,
        "rss_per_session_mb": None
        if peak is None or level.rss_before is None
        else round((peak - level.rss_before) / clients, 1),
        "load_before": level.load_before,
        "load_after": level.load_after,
    }
    languages = sorted({c.language for c in level.clips})
    if len(languages) > 1:
        record["by_language"] = {language: _language_figures(level, language) for language in languages}
    return record


def _language_figures(level: Level, language: str) -> dict[str, Any]:
    """A mixed level's figures for the clients of one language."""
    streams = [(c, f) for c, f in zip(level.clips, level.figures, strict=True) if c.language == language]
    metric = "cer" if language == "zh" else "wer"
    return {"clients": len(streams), "error_metric": metric, **transcript_figures(streams)}


def transcript_figures(streams: Sequence[tuple[Clip, ClientFigures]]) -> dict[str, Any]:
    """What the students saw, pooled over `streams`: word latency, final delay and turn close
    delay (docs/decisions/0032), WER of the finals against the references and against the offline
    decodes (errors over words, pooled; per-stream rates averaged when languages are mixed), and
    the transcript faults of issue 19."""
    figures = [f for _, f in streams]
    languages = {c.language for c, _ in streams}
    stock: Counter[str] = Counter()
    for f in figures:
        stock.update(f.stock_phrases)

    def pooled(pairs: list[tuple[str, str]], rates: list[float]) -> float:
        if len(languages) > 1:
            return round(float(np.mean(rates)), 4)
        return round(pooled_error_rate(pairs, next(iter(languages))), 4)

    return {
        **stats([x for f in figures for x in f.times.word_latencies], "word_latency"),
        **stats([x for f in figures for x in f.times.final_delays], "final_delay"),
        **stats([x for f in figures for x in f.times.turn_close_delays], "turn_close_delay"),
        "wer": pooled([(c.reference, f.text) for c, f in streams], [f.wer for f in figures]),
        "wer_max": round(max(f.wer for f in figures), 4),
        "wer_offline": pooled(
            [(c.reference, c.offline_text) for c, _ in streams],
            [error_rate(c.reference, c.offline_text, c.language) for c, _ in streams],
        ),
        "wer_vs_offline": pooled([(c.offline_text, f.text) for c, f in streams], [f.wer_vs_offline for f in figures]),
        "utterances": sum(f.utterances for f in figures),
        "entries": sum(f.entries for f in figures),
        "finals_missing": sum(f.finals_missing for f in figures),
        "stock_phrases_shown": sum(stock.values()),
        "stock_phrases": dict(stock),
        "doubled_ngrams": [d for f in figures for d in f.doubled],
        "words_missed": sum(f.times.words_missed for f in figures),
        "phrase_ends_missed": sum(f.times.phrase_ends_missed for f in figures),
        "lag_max": round(max(f.lag_max for f in figures), 3),
        "send_lag_max": round(max(f.send_lag_max for f in figures), 3),
    }
