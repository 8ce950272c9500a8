"""Mandarin through the real service: the WebSocket, the in-memory layer, in-process workers and
the bundled multilingual model on the shared Mandarin recordings."""

import re

import numpy as np
import pytest
from asgiref.sync import sync_to_async

from streaming.engines.asr.engine import AsrConfig, get_engine, to_simplified
from streaming.models import ConversationEntry, WorkerHeartbeat
from tests.integration.test_streaming import assert_committed_never_revised, collect_until_final, stream
from tests.speech import (
    JFK_TEXT,
    ZH_CLIPS,
    cer,
    characters,
    jfk_audio,
    load_zh_clip,
    mandarin_with_english_words,
    silence,
    wer,
)
from tests.support import asr_worker_process, in_process_workers, make_session, open_socket, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
PAUSE_S = 1.2
REAL_TIME = 0.1  # 100 ms frames: the decodes a student would get, not a 4x flood's busy ones


def transcriptions(messages: list[dict]) -> list[dict]:
    return [m["data"] for m in messages if m["type"] == "transcription"]


def offline_cer() -> float:
    """Pooled CER of whole-clip decodes with the same model, as Whisper was designed."""
    engine = get_engine(AsrConfig(model="base", min_context_s=30))
    errors = total = 0.0
    for clip, reference in ZH_CLIPS.items():
        text = "".join(s["text"] for s in engine.transcribe(load_zh_clip(clip), language="zh", prompt=None))
        errors += cer(reference, text) * len(reference)
        total += len(reference)
    return errors / total


async def test_mandarin_appears_live_in_simplified_characters_and_is_saved(memory_layer, user):
    session = await sync_to_async(make_session)(user, language="zh")
    audio = np.concatenate([silence(0.5), *(part for c in ZH_CLIPS for part in (load_zh_clip(c), silence(PAUSE_S)))])
    async with in_process_workers(("asr",)):
        communicator, _, first = await open_socket(session.id, token=await sync_to_async(token_for)(user))
        assert first["data"]["event"] == "connected"
        await stream(communicator, audio, pace=REAL_TIME)
        messages = await collect_until_final(communicator, after_s=len(audio) / 16000 - PAUSE_S - 1.0, timeout=180)
        await communicator.disconnect()
    shown = transcriptions(messages)
    finals = [t for t in shown if t["is_final"]]
    assert any(not t["is_final"] and t["text"] for t in shown), "characters must appear while speaking"
    for update in shown:
        assert update["text"] == to_simplified(update["text"]), update["text"]  # no Traditional-only characters
        assert "\ufffd" not in update["text"]
    assert_committed_never_revised(messages)
    text = "".join(f["text"] for f in finals)
    assert cer("".join(ZH_CLIPS.values()), text) <= offline_cer() + 0.05, text
    entries = await sync_to_async(list)(ConversationEntry.objects.filter(session=session).order_by("sequence"))
    assert [e.text for e in entries] == [f["text"] for f in finals]  # one entry per utterance
    assert {e.language for e in entries} == {"zh"}


async def test_auto_saves_the_language_each_utterance_was_spoken_in(memory_layer, user):
    session = await sync_to_async(make_session)(user, language="auto")
    mandarin = load_zh_clip("zh_funasr_asr_example.wav")
    audio = np.concatenate([silence(0.5), mandarin, silence(PAUSE_S), jfk_audio(), silence(1.5)])
    async with in_process_workers(("asr",)):
        communicator, _, _ = await open_socket(session.id, token=await sync_to_async(token_for)(user))
        await stream(communicator, audio)
        messages = await collect_until_final(communicator, after_s=len(audio) / 16000 - 2.5, timeout=180)
        await communicator.disconnect()
    entries = await sync_to_async(list)(ConversationEntry.objects.filter(session=session).order_by("sequence"))
    first, rest = entries[0], [e for e in entries[1:]]
    assert first.language == "zh" and cer(ZH_CLIPS["zh_funasr_asr_example.wav"], first.text) <= 0.2, first.text
    assert {e.language for e in rest} == {"en"}
    assert wer(JFK_TEXT, " ".join(e.text for e in rest)) <= 0.2
    assert [f["text"] for f in transcriptions(messages) if f["is_final"]] == [e.text for e in entries]


@pytest.mark.parametrize("language", ["zh", "auto"])
async def test_english_words_inside_a_mandarin_utterance_do_not_break_it(memory_layer, user, language):
    session = await sync_to_async(make_session)(user, language=language)
    audio, (before, after) = mandarin_with_english_words()
    async with in_process_workers(("asr",)):
        communicator, _, _ = await open_socket(session.id, token=await sync_to_async(token_for)(user))
        await stream(communicator, audio, pace=REAL_TIME)
        await communicator.send_json_to({"type": "audio_chunk", "data": {"audio_data": "", "is_final": True}})
        messages = await collect_until_final(communicator, timeout=180)
        await communicator.disconnect()
    finals = [t["text"] for t in transcriptions(messages) if t["is_final"]]
    entries = await sync_to_async(list)(ConversationEntry.objects.filter(session=session))
    assert len(finals) == 1 and [e.text for e in entries] == finals, finals  # one utterance, one entry
    (entry,) = entries
    assert entry.language == "zh"
    assert_committed_never_revised(messages)
    chinese = characters(re.sub(r"[A-Za-z']+", "", entry.text))
    assert cer(after, chinese[-len(after) :]) <= 0.15, entry.text  # the Mandarin after the switch is kept
    # and the Mandarin before it, less strictly: with the English after it in the window, `base` misreads
    # 达摩院 and 语音识别 offline too, by how much depends on the CPU's kernels and the windows decoded
    assert cer(before + after, chinese) <= 0.3, entry.text
    # The English is shown as English words. `base` drops it from some windows' decodes (which ones
    # move with the decode timing), so it is looked for in what the student saw, not in the entry.
    shown = " ".join(t["committed"] + " " + t["text"] for t in transcriptions(messages))
    assert any(len(word) >= 4 for word in re.findall(r"[A-Za-z']+", shown)), shown
    assert "\ufffd" not in entry.text and entry.text == to_simplified(entry.text)


async def test_silence_noise_and_hum_in_a_mandarin_session_produce_nothing(memory_layer, user):
    session = await sync_to_async(make_session)(user, language="zh")
    rng = np.random.default_rng(7)
    t = np.arange(16000 * 3) / 16000
    hum = 0.1 * np.sin(2 * np.pi * 50 * t) + 0.05 * np.sin(2 * np.pi * 150 * t)
    audio = np.concatenate(
        [silence(3), rng.standard_normal(16000 * 4) * 0.003, rng.standard_normal(16000 * 3) * 0.05, hum, silence(1)]
    ).astype(np.float32)
    async with in_process_workers(("asr",)):
        communicator, _, _ = await open_socket(session.id, token=await sync_to_async(token_for)(user))
        await stream(communicator, audio, pace=0.005)
        await communicator.send_json_to({"type": "audio_chunk", "data": {"audio_data": "", "is_final": True}})
        await communicator.send_json_to({"type": "control", "data": {"command": "stats"}})
        stats = await communicator.receive_json_from(timeout=30)
        assert stats["type"] == "stats", stats  # no transcription came before it
        await communicator.disconnect()
    assert await sync_to_async(ConversationEntry.objects.filter(session=session).count)() == 0


@pytest.fixture
def multilingual_worker(user):
    """Production scales each model on its own: this worker serves only the multilingual channels."""
    with asr_worker_process("asr:zh") as process:
        yield process


async def test_a_worker_process_of_the_multilingual_model_alone_serves_mandarin_over_redis(user, multilingual_worker):
    session = await sync_to_async(make_session)(user, language="zh")
    clip = load_zh_clip("zh_funasr_llamacpp_sample.wav")
    audio = np.concatenate([silence(0.5), clip, silence(1.5)])
    communicator, _, _ = await open_socket(session.id, token=await sync_to_async(token_for)(user))
    await stream(communicator, audio)
    await communicator.send_json_to({"type": "audio_chunk", "data": {"audio_data": "", "is_final": True}})
    messages = await collect_until_final(communicator, after_s=len(audio) / 16000 - 2.5, timeout=120)
    await communicator.disconnect()
    heartbeat = await sync_to_async(WorkerHeartbeat.objects.get)(kind="asr", pid=multilingual_worker.pid)
    text = "".join(t["text"] for t in transcriptions(messages) if t["is_final"])
    assert cer(ZH_CLIPS["zh_funasr_llamacpp_sample.wav"], text) <= 0.3, text
    assert heartbeat.model == "base"
