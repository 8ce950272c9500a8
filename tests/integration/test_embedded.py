"""The embedded mode as `make run` starts it: SQLite, in-memory channel layer, workers in-process."""

import asyncio
import json

import numpy as np
import websockets

from streaming.core.audio import float32_to_pcm16
from tests.live_server import bootstrap_login, embedded_env, login, manage, running_server
from tests.speech import JFK_TEXT, frames, jfk_audio, silence, wer


async def talk(ws_url: str, cookie: str, origin: str) -> dict:
    async with websockets.connect(ws_url, additional_headers={"Cookie": cookie}, origin=origin) as ws:
        assert json.loads(await ws.recv())["data"]["event"] == "connected"
        await ws.send(json.dumps({"type": "control", "data": {"command": "ping"}}))
        assert json.loads(await ws.recv())["type"] == "pong"
        for frame in frames(float32_to_pcm16(np.concatenate([silence(0.5), jfk_audio(), silence(1.5)]))):
            await ws.send(frame)
            await asyncio.sleep(0.02)
        finals = []
        while not finals or finals[-1]["end"] < 10.5:
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if message["type"] == "transcription" and message["data"]["is_final"]:
                finals.append(message["data"])
        await ws.send(json.dumps({"type": "text_request", "data": {"text": "Well done. Keep going!"}}))
        audio = []
        while not audio or not audio[-1]["is_final"]:
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if message["type"] == "tts_audio":
                audio.append(message["data"])
        return {"text": " ".join(f["text"] for f in finals), "finals": len(finals), "audio": audio}


def test_embedded_server_end_to_end(tmp_path):
    env = embedded_env(tmp_path)
    username, password = bootstrap_login(env)
    assert "Accounts exist" in manage(env, "bootstrap")  # a second run creates nobody
    assert (tmp_path / "db.sqlite3").exists() and (tmp_path / "secret_key").exists()
    with running_server(env) as base:
        client = login(base, username, password)
        created = client.post(
            "/api/v1/audio-streaming/sessions", json={}, headers={"X-CSRFToken": client.cookies["csrftoken"]}
        )
        assert created.status_code == 201, created.text
        session = created.json()
        cookie = f"sessionid={client.cookies['sessionid']}"
        result = asyncio.run(talk(base.replace("http", "ws") + session["websocketUrl"], cookie, base))
        assert wer(JFK_TEXT, result["text"]) <= 0.15, result["text"]
        assert [a["sequence"] for a in result["audio"]] == [0, 1]
        assert all(a["sample_rate"] == 22050 and len(a["audio_data"]) > 1000 for a in result["audio"])
        health = client.get("/api/v1/audio-streaming/sessions").json()["serviceStatus"]
        assert health["isInitialized"] and health["ttsInitialized"] and health["transcriptionWorkers"] >= 1
        entries = client.get(f"/api/v1/audio-streaming/sessions/{session['id']}/entries").json()["results"]
        assert [e["role"] for e in entries] == ["user"] * result["finals"] + ["assistant"]
        assert entries[-1]["text"] == "Well done. Keep going!"
