"""Spoken-reply latency over the WebSocket: time to first audio and real-time factor per engine.

For each engine, one session sends `text_request`s of typical two-sentence replies, one at a
time, and times `text_request` sent -> first `tts_audio` (first audio) and -> last `tts_audio`
(whole reply); RTF = whole-reply time / seconds of audio received. The embedded servers run with
the TTS cache off (TTS_CACHE_BYTES=0) and every text is distinct anyway. Engines: Piper English
(default server), eSpeak NG Chinese (same server, `language: zh`) and eSpeak NG English (a
second server with TTS_ENGLISH_ENGINE=espeak).

    .venv/bin/python bench/tts_latency.py --requests 20
"""

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import websockets

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Emitter,
    Target,
    add_target_args,
    embedded_target,
    load_avg,
    log,
    machine_info,
    open_target,
    stats,
)

ENGLISH = (
    "Great question! Plants make their food from sunlight, water and air.",
    "Well done. Now try the next exercise on your own.",
    "That is almost right! Remember that the moon does not make its own light.",
    "Let us read it again. Listen carefully to the last word of each line.",
    "Good thinking! Can you tell me why the ice melted so quickly?",
    "Nice work today. Tomorrow we will practise fractions together.",
    "Not quite. Seven times eight is fifty six, so try that step once more.",
    "Excellent! You found all the verbs in the sentence.",
    "Take your time. What do you notice about the shape of the leaf?",
    "You are right! Water boils at one hundred degrees at sea level.",
)
CHINESE = (
    "回答得很好！植物利用阳光、水和空气制造食物。",
    "做得不错。现在请你自己试试下一道题。",
    "差不多对了！记住，月亮自己不会发光。",
    "我们再读一遍。请仔细听每一行的最后一个字。",
    "想得很好！你能告诉我冰为什么融化得这么快吗？",
    "今天表现很棒。明天我们一起练习分数。",
    "还不太对。七乘八等于五十六，再试一次这一步吧。",
    "太棒了！你找到了句子里所有的动词。",
    "慢慢来。你注意到叶子的形状有什么特点吗？",
    "你说对了！在海平面，水在一百度时沸腾。",
)


def texts(pool: tuple[str, ...], count: int) -> list[str]:
    """`count` distinct texts: the pool, then the pool with a numbered opening."""
    out = []
    for i in range(count):
        text, round_ = pool[i % len(pool)], i // len(pool)
        if round_:
            text = f"第{round_}次。{text}" if pool is CHINESE else f"Round {round_}. {text}"
        out.append(text)
    return out


async def _replies(target: Target, session: dict, language: str, requests: list[str]) -> list[dict[str, float]]:
    timings = []
    async with websockets.connect(**target.connect_args(session), max_size=2**24, open_timeout=60) as ws:
        assert json.loads(await ws.recv())["type"] == "status"
        for text in requests:
            sent = time.monotonic()
            await ws.send(json.dumps({"type": "text_request", "data": {"text": text, "language": language}}))
            first, audio_s = None, 0.0
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if message["type"] == "error":
                    raise RuntimeError(message["data"])
                if message["type"] != "tts_audio":
                    continue
                data = message["data"]
                first = first if first is not None else time.monotonic() - sent
                audio_s += len(data["audio_data"] or "") / 4 / data["sample_rate"]  # hex PCM16
                if data["is_final"]:
                    break
            total = time.monotonic() - sent
            timings.append({"first": first, "total": total, "audio_s": audio_s, "rtf": total / audio_s})
    return timings


def measure(target: Target, engine: str, language: str, count: int, emit: Emitter) -> dict[str, Any]:
    log(f"tts_latency: {engine}, {count} requests")
    session = target.create_session()
    load_before = load_avg()
    try:
        pool = CHINESE if language == "zh" else ENGLISH
        timings = asyncio.run(_replies(target, session, language, texts(pool, count)))
    finally:
        target.end_session(session["id"])
    return emit(
        {
            "bench": "tts_latency",
            "mode": target.mode,
            "engine": engine,
            "language": language,
            "requests": count,
            **stats([t["first"] for t in timings], "first_audio"),
            **stats([t["rtf"] for t in timings], "rtf"),
            "reply_audio_s_p50": round(sorted(t["audio_s"] for t in timings)[count // 2], 2),
            "load_before": load_before,
            "load_after": load_avg(),
        }
    )


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_target_args(parser)
    parser.add_argument("--requests", type=int, default=20, help="replies per engine")
    args = parser.parse_args(argv)
    emit = Emitter(args.out)
    emit({"bench": "machine", **machine_info()})
    records = []
    with open_target(args, TTS_CACHE_BYTES="0") as target:
        records.append(measure(target, "piper", "en", args.requests, emit))
        records.append(measure(target, "espeak", "zh", args.requests, emit))
    if not args.url:
        with embedded_target(args.workers, TTS_CACHE_BYTES="0", TTS_ENGLISH_ENGINE="espeak") as target:
            records.append(measure(target, "espeak", "en", args.requests, emit))
    return records


if __name__ == "__main__":
    main()
