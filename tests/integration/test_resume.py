"""Resuming after a lost connection, through the real daphne and an ASR worker process (issue 20,
item 5): a client whose TCP connection drops mid-utterance gets that utterance's final on its
next connection, and a client whose daphne was killed re-sends from the resume point the
`connected` message gives, losing and doubling nothing (docs/decisions/0046); and issue 20's
combined count across every fault. These tests pause the shared Redis and refuse this run's test
database: run them under the heavy-test lock.
"""

import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from django.db import close_old_connections
from websockets.sync.client import ClientConnection, connect

from streaming.core.audio import SAMPLE_RATE, float32_to_pcm16
from streaming.models import ConversationEntry, EntryRole, StreamingSession
from tests.faults import pause_redis, refuse_database_for
from tests.live_server import daphne_process
from tests.speech import JFK_END_S, JFK_TEXT, frames, jfk_audio, normalise, silence, wer
from tests.support import asr_worker_process, make_session, production_env, token_for

pytestmark = pytest.mark.django_db(transaction=True)
PACE_S = 0.05  # 100 ms frames at twice real time
RECONNECT_AFTER_S = 0.5  # a client's back-off before it reconnects


@contextmanager
def open_live(base: str, session, token: str) -> Iterator[tuple[ClientConnection, dict]]:
    """An API client's connection and its `connected` status."""
    url = base.replace("http", "ws", 1) + f"/api/v1/audio-streaming/ws/{session.id}"
    with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None) as ws:
        connected = json.loads(ws.recv(timeout=60))
        assert connected["data"]["event"] == "connected", connected
        yield ws, connected["data"]


def send_audio(ws: ClientConnection, audio: np.ndarray) -> None:
    for frame in frames(float32_to_pcm16(audio)):
        ws.send(frame)
        time.sleep(PACE_S)


def finals_until(ws: ClientConnection, end_s: float, timeout: float = 120) -> list[dict]:
    """The finals received until one ends after `end_s` of session audio."""
    finals: list[dict] = []
    deadline = time.monotonic() + timeout
    while not finals or finals[-1]["end"] < end_s:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message["type"] == "transcription" and message["data"]["is_final"]:
            finals.append(message["data"])
    return finals


def no_message(ws: ClientConnection, seconds: float) -> bool:
    try:
        message = ws.recv(timeout=seconds)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected message: {message!r}")


def drop(ws: ClientConnection) -> None:
    """The client's TCP connection is lost: no close frame, the socket just ends."""
    ws.socket.shutdown(socket.SHUT_RDWR)
    ws.socket.close()


def saved_utterances(session) -> list[ConversationEntry]:
    return list(ConversationEntry.objects.filter(session=session, role=EntryRole.USER).order_by("sequence"))


def test_a_dropped_connection_s_turn_is_finished_and_its_final_sent_on_reconnect(live_daphne, user):
    """The connection drops 6 s into JFK, mid-utterance: its audio is decoded and saved, and the
    next connection says everything received is transcribed, then sends that turn's final, once."""
    session, token = make_session(user), token_for(user)
    speech = np.concatenate([silence(0.5), jfk_audio()[: 6 * SAMPLE_RATE]])
    with asr_worker_process("asr:en"):
        with open_live(live_daphne, session, token) as (ws, connected):
            assert connected["resume_from"] == 0.0
            send_audio(ws, speech)
            shown = json.loads(ws.recv(timeout=60))  # the turn showed text: its final is owed
            assert shown["type"] == "transcription" and not shown["data"]["is_final"], shown
            drop(ws)
        time.sleep(RECONNECT_AFTER_S)

        sent_s = len(speech) / SAMPLE_RATE
        with open_live(live_daphne, session, token) as (ws, connected):
            assert connected["resume_from"] == pytest.approx(sent_s, abs=1e-3), connected
            assert connected["audio_offset"] == connected["resume_from"]
            final = json.loads(ws.recv(timeout=10))
            assert final["type"] == "transcription" and final["data"]["is_final"], final
            assert final["data"]["utterance_id"] == shown["data"]["utterance_id"]
            (entry,) = saved_utterances(session)
            assert (entry.pk, entry.text) == (final["data"]["entry_id"], final["data"]["text"])
            # The words after the first ones shown, up to the drop, were decoded (tiny.en may slip
            # after "ask not": tests/speech.py).
            assert normalise(entry.text).startswith("and so my fellow americans ask not"), entry.text
            assert no_message(ws, 3)

        with open_live(live_daphne, session, token) as (ws, connected):  # handed over once
            assert connected["resume_from"] == pytest.approx(sent_s, abs=1e-3)
            assert no_message(ws, 2)
    assert len(saved_utterances(session)) == 1


def test_a_killed_daphne_loses_and_doubles_nothing_when_the_client_resends_from_the_resume_point(user, tmp_path):
    """Three JFK passes; daphne is killed (SIGKILL) 5 s into the second, and the turn in progress
    dies with it. A new daphne's `connected` gives the resume point: the client sends its
    recording again from there, and the transcript has every pass once."""
    session, token = make_session(user), token_for(user)
    one_pass = np.concatenate([silence(0.5), jfk_audio(), silence(2.0)])
    recording = np.concatenate([one_pass] * 3)  # the client's audio, from session time 0
    pass_s = len(one_pass) / SAMPLE_RATE
    killed_at = len(one_pass) + 5 * SAMPLE_RATE
    env = production_env(LLB_DATA_DIR=str(tmp_path))
    with asr_worker_process("asr:en"):
        with daphne_process(env) as (base, daphne), open_live(base, session, token) as (ws, _):
            send_audio(ws, recording[:killed_at])
            finals = finals_until(ws, JFK_END_S)
            os.kill(daphne.pid, signal.SIGKILL)
            daphne.wait(10)
        received_s = StreamingSession.objects.get(pk=session.pk).audio_seconds

        with daphne_process(env) as (base, _), open_live(base, session, token) as (ws, connected):
            resume = connected["resume_from"]
            # After the first pass's saved words, before the second's "fellow Americans" (its
            # speech starts 0.3 s into the clip, the turn where the VAD put it): the rest of the
            # check is the transcript below.
            assert finals[-1]["end"] <= resume <= pass_s + 0.5 + 0.6, (connected, finals)
            assert connected["audio_offset"] == resume < received_s
            send_audio(ws, recording[round(resume * SAMPLE_RATE) :])
            finals += finals_until(ws, 2 * pass_s + JFK_END_S)

    entries = saved_utterances(session)
    assert [(e.pk, e.text) for e in entries] == [(f["entry_id"], f["text"]) for f in finals if f["text"]]
    transcript = " ".join(e.text for e in entries)
    assert wer(" ".join([JFK_TEXT] * 3), transcript) <= 0.15, transcript
    assert entries[-1].audio_end == pytest.approx(2 * pass_s + JFK_END_S, abs=1.0)


def test_three_passes_through_every_fault_lose_and_double_no_final(user, tmp_path):
    """Issue 20's target: three JFK passes with pauses, spoken through a worker killed and
    restarted, a Redis pause, a client drop, a 6 s database outage and a daphne killed (the client
    re-sending from the resume point): every final saved once, every word there once."""
    session, token = make_session(user), token_for(user)
    one_pass = np.concatenate([silence(0.5), jfk_audio(), silence(2.0)])
    recording = np.concatenate([one_pass] * 3)
    size = len(one_pass)
    env = production_env(LLB_DATA_DIR=str(tmp_path), ASR_TIMEOUT="3")
    finals: list[dict] = []
    with contextlib.ExitStack() as workers:
        worker = workers.enter_context(asr_worker_process("asr:en"))
        with daphne_process(env) as (base, daphne):
            with open_live(base, session, token) as (ws, _):
                send_audio(ws, recording[: 4 * SAMPLE_RATE])
                os.kill(worker.pid, signal.SIGKILL)  # 4 s into the first pass
                workers.enter_context(asr_worker_process("asr:en"))
                send_audio(ws, recording[4 * SAMPLE_RATE : 8 * SAMPLE_RATE])
                pause_redis(2000)
                send_audio(ws, recording[8 * SAMPLE_RATE : size + 5 * SAMPLE_RATE])
                finals += finals_until(ws, JFK_END_S)
                drop(ws)  # 5 s into the second pass
            time.sleep(RECONNECT_AFTER_S)
            with open_live(base, session, token) as (ws, connected):
                assert connected["resume_from"] == pytest.approx((size + 5 * SAMPLE_RATE) / SAMPLE_RATE, abs=1e-3)
                finals += finals_until(ws, 0)  # the dropped turn's final
                outage = threading.Thread(target=refuse_database_for, args=(6,))
                outage.start()
                send_audio(ws, recording[size + 5 * SAMPLE_RATE : 2 * size + 5 * SAMPLE_RATE])
                outage.join()
                finals += finals_until(ws, size / SAMPLE_RATE + JFK_END_S)
                os.kill(daphne.pid, signal.SIGKILL)  # 5 s into the third pass
                daphne.wait(10)
        close_old_connections()
        with daphne_process(env) as (base, _), open_live(base, session, token) as (ws, connected):
            send_audio(ws, recording[round(connected["resume_from"] * SAMPLE_RATE) :])
            finals += finals_until(ws, 2 * size / SAMPLE_RATE + JFK_END_S)

    entries = saved_utterances(session)
    assert [(e.pk, e.text) for e in entries] == [(f["entry_id"], f["text"]) for f in finals if f["text"]]
    transcript = " ".join(e.text for e in entries)
    assert wer(" ".join([JFK_TEXT] * 3), transcript) <= 0.15, transcript
