"""The voice chat page in a real browser (Debian's Chromium) against a real embedded server.

The fake microphone plays the JFK recording; the page captures it with its AudioWorklet,
streams 16 kHz PCM16 over the WebSocket and shows what the server transcribes.
"""

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jiwer
import numpy as np
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import embedded_server, open_chat
from tests.speech import JFK_TEXT, has_jfk_phrase, normalise

pytestmark = pytest.mark.browser

API = "/api/v1/audio-streaming/sessions"


def wait_until(condition, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, message() if callable(message) else message
        time.sleep(0.25)


def bubbles(page: Page, role: str = "") -> list[dict]:
    """The conversation bubbles on screen: text (without the speaker label and tags) and entry id."""
    return page.eval_on_selector_all(
        f"#transcript .bubble{'.' + role if role else ''}",
        "items => items.map(item => ({text: item.querySelector('.text').textContent,"
        " entryId: item.dataset.entryId ? Number(item.dataset.entryId) : null,"
        " classes: item.className}))",
    )


def said(page: Page) -> str:
    return normalise(" ".join(b["text"] for b in bubbles(page, "user")))


def persisted(page: Page, base: str) -> list[dict]:
    session_id = page.get_attribute("#chat", "data-session-id")
    response = page.request.get(f"{base}{API}/{session_id}/entries?page_size=200")
    assert response.ok, response.text()
    return response.json()["results"]


def connection_states(page: Page) -> None:
    """Record every state the connection indicator shows (window.connectionStates)."""
    page.evaluate(
        """() => {
          const status = document.getElementById('connection-status');
          window.connectionStates = [status.dataset.state];
          new MutationObserver(() => window.connectionStates.push(status.dataset.state))
            .observe(status, {attributes: true, attributeFilter: ['data-state']});
        }"""
    )


def track_sockets(page: Page) -> None:
    """Keep the page's WebSockets in window.sockets (to drop one, or to play the server)."""
    page.evaluate(
        """() => { const Native = window.WebSocket; window.sockets = [];
             window.WebSocket = class extends Native {
               constructor(...args) { super(...args); window.sockets.push(this); } }; }"""
    )


def server_says(page: Page, message: dict) -> None:
    """Deliver a message as if the server had sent it on the page's current socket."""
    page.evaluate(
        "message => window.sockets.at(-1).dispatchEvent(new MessageEvent('message', {data: message}))",
        json.dumps(message),
    )


def doubled(transcript: str) -> set[tuple[str, ...]]:
    """Three-word runs that occur more often than in what was said (the recording)."""

    def runs(text: str) -> Counter:
        words = normalise(text).split()
        return Counter(zip(words, words[1:], words[2:], strict=False))

    reference = runs(JFK_TEXT)
    return {run for run, count in runs(transcript).items() if count > max(1, reference[run])}


def reconnected(page: Page) -> list[str] | None:
    """The recorded states once the page lost its connection and got it back."""
    states = page.evaluate("window.connectionStates")
    return states if "reconnecting" in states and states[-1] == "connected" else None


def test_speech_shows_live_then_committed_transcript_and_is_persisted(live, chromium, artifacts):
    server, credentials = live
    page, errors = open_chat(chromium, server.base, credentials, login_screenshot=artifacts / "login-en.png")
    assert page.get_attribute("html", "lang") == "en"
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "idle")
    expect(page.locator("#transcript")).to_have_attribute("aria-live", "polite")  # finals are read out

    page.click("#start-recording")
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "connected", timeout=20_000)
    expect(page.locator("#chat")).to_have_attribute("data-recording", "true")
    expect(page.locator("#stop-recording")).to_be_enabled()
    # Live words while speaking, in a bubble of their own; the level meter moves with the voice.
    expect(page.locator("#live-utterance")).to_be_visible(timeout=30_000)
    page.screenshot(path=str(artifacts / "chat-en-live.png"))
    wait_until(lambda: int(page.get_attribute("#level-meter", "aria-valuenow")) > 30, 10, "the level meter never moved")
    wait_until(lambda: has_jfk_phrase(said(page)), 60, lambda: f"phrase not on the page: {said(page)!r}")
    expect(page.locator("#elapsed")).not_to_have_text("0:00")

    page.click("#stop-recording")
    expect(page.locator("#chat")).to_have_attribute("data-recording", "false")
    entries = wait_until(lambda: persisted(page, server.base), 10, "nothing persisted")
    assert has_jfk_phrase(" ".join(e["text"] for e in entries if e["role"] == "user")), entries
    shown = [b["entryId"] for b in bubbles(page)]
    assert shown == [e["id"] for e in entries], (shown, entries)  # every bubble is one persisted entry

    page.click("#refresh-stats")
    expect(page.locator('[data-stat="conversationEntries"]')).to_have_text(str(len(entries)))
    page.screenshot(path=str(artifacts / "chat-en.png"))
    assert not errors


def test_a_chinese_student_talks_mandarin_and_sees_simplified_characters(live, chromium_mandarin, artifacts):
    """The browser asks for Chinese: the page is in Chinese, the session is Mandarin, and what the
    student says appears live and is saved in Simplified characters."""
    server, credentials = live
    page, errors = open_chat(
        chromium_mandarin, server.base, credentials, "zh-CN", login_screenshot=artifacts / "login-zh.png"
    )
    assert page.get_attribute("html", "lang") == "zh-hans"
    expect(page.locator("h1")).to_have_text("语音聊天")
    expect(page.locator("#connection-status")).to_have_text("未连接")
    page.select_option("#session-language", "zh")
    expect(page.locator("#language-note")).to_be_hidden()  # the bundled models hear Mandarin
    page.click("#start-recording")
    expect(page.locator("#connection-status")).to_have_text("已连接", timeout=20_000)
    expect(page.locator("#recording-state")).to_have_text("正在录音")
    expect(page.locator("#live-utterance")).to_be_visible(timeout=30_000)
    page.screenshot(path=str(artifacts / "chat-zh-live.png"))
    heard = lambda: "".join(b["text"] for b in bubbles(page, "user"))  # noqa: E731
    wait_until(lambda: "欢迎大家" in heard() and "身体健康" in heard(), 90, lambda: f"not on the page: {heard()!r}")
    page.click("#stop-recording")
    entries = wait_until(lambda: persisted(page, server.base), 10, "nothing persisted")
    saved = "".join(e["text"] for e in entries if e["role"] == "user")
    assert "欢迎大家" in saved and "认为跑步" in saved and "認為" not in saved, saved  # Simplified, not 認為
    assert [b["entryId"] for b in bubbles(page)] == [e["id"] for e in entries]
    expect(page.locator("#transcript .bubble.user .speaker").first).to_have_text("我")
    page.click("#refresh-stats")
    expect(page.locator('[data-stat="status"]')).to_have_text("进行中")
    page.screenshot(path=str(artifacts / "chat-zh.png"))
    assert not errors


def test_the_english_only_warning_shows_once_where_the_model_cannot_hear_mandarin(tmp_path, chromium, artifacts):
    with embedded_server(tmp_path, WHISPER_MULTILINGUAL_MODEL="tiny.en") as (server, credentials):
        page, errors = open_chat(chromium, server.base, credentials, "zh-CN")
        page.select_option("#session-language", "zh")
        expect(page.locator("#language-note")).to_contain_text("只能识别英语")
        page.click("#open-session")
        expect(page.locator("#notice-text")).to_contain_text("此服务器未安装中文语音识别")
        expect(page.locator("#language-note")).to_be_hidden()  # said once: the notice replaces the note
        page.screenshot(path=str(artifacts / "chat-zh-english-only.png"))
        page.select_option("#session-language", "en")
        expect(page.locator("#language-note")).to_be_hidden()
        assert not errors


def test_typed_text_is_spoken_to_the_end_and_can_be_stopped(live, chromium):
    server, credentials = live
    page, errors = open_chat(chromium, server.base, credentials)
    received: list[dict] = []
    page.on(
        "websocket",
        lambda socket: socket.on(
            "framereceived",
            lambda frame: received.append(json.loads(frame)) if isinstance(frame, str) else None,
        ),
    )

    page.fill("#reply-text", "Well done. Keep going!")
    page.press("#reply-text", "Enter")
    expect(page.locator("#chat")).to_have_attribute("data-playback", "playing", timeout=30_000)
    expect(page.locator("#stop-playback")).to_be_enabled()
    expect(page.locator("#chat")).to_have_attribute("data-playback", "ended", timeout=30_000)
    expect(page.locator("#notice")).to_be_hidden()
    audio = [m["data"] for m in received if m["type"] == "tts_audio"]
    assert [a["sequence"] for a in audio] == [0, 1] and audio[-1]["is_final"], audio
    assert all(a["sample_rate"] == 22050 for a in audio)
    assert bubbles(page, "assistant")[0]["text"] == "Well done. Keep going!"
    wait_until(lambda: [e["role"] for e in persisted(page, server.base)] == ["assistant"], 10, "reply not persisted")

    # A long reply stops at once with the Stop button (the server is told to cancel the rest).
    page.fill("#reply-text", " ".join(["This is a long answer that goes on and on."] * 6))
    page.click("#send-text")
    expect(page.locator("#chat")).to_have_attribute("data-playback", "playing", timeout=30_000)
    page.click("#stop-playback")
    expect(page.locator("#chat")).to_have_attribute("data-playback", "stopped")

    # Reloading the page offers to resume the session and shows its history from the entries API.
    session_id = page.get_attribute("#chat", "data-session-id")
    page.reload()
    expect(page.locator("#session-select")).to_have_value(session_id)
    expect(page.locator("#open-session")).to_have_text("Resume session")
    expect(page.locator("#transcript .bubble.assistant").first).to_contain_text("Well done. Keep going!")
    page.click("#open-session")
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "connected")
    assert [b["entryId"] for b in bubbles(page)] == [e["id"] for e in persisted(page, server.base)]

    # Ending the session: DELETE with the CSRF token; the socket closes and the panel resets.
    page.click("#end-session")
    expect(page.locator("#notice")).to_have_attribute("data-kind", "info")
    expect(page.locator("#notice-text")).to_have_text("Session ended.")
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "closed")
    expect(page.locator('[data-stat="status"]')).to_have_text("closed")
    expect(page.locator("#session-select")).to_have_value("new")
    assert page.request.get(f"{server.base}{API}/{session_id}").json()["status"] == "closed"
    assert not errors


def test_refusals_and_failures_are_explained(live, chromium, artifacts):
    server, credentials = live
    page, errors = open_chat(chromium, server.base, credentials)
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    track_sockets(page)

    # Push-to-talk: holding Space records, releasing it stops.
    page.keyboard.down("Space")
    expect(page.locator("#chat")).to_have_attribute("data-recording", "true", timeout=20_000)
    page.keyboard.up("Space")
    expect(page.locator("#chat")).to_have_attribute("data-recording", "false")
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "connected")

    # The server falls behind, then reports an error: both are said plainly.
    lagging = {"utterance_id": 9, "committed": "", "tentative": "hello", "is_final": False, "lag": 3.5}
    server_says(page, {"type": "transcription", "data": lagging})
    expect(page.locator("#lag-warning")).to_have_text("The server is 3.5 s behind; the transcript may arrive late.")
    server_says(page, {"type": "transcription", "data": {**lagging, "lag": 0.2}})
    expect(page.locator("#lag-warning")).to_be_hidden()
    expect(page.locator("#live-utterance .tentative")).to_have_text("hello")
    # The guess was not speech: the utterance ends with an empty final, and the guess goes.
    empty_final = {**lagging, "tentative": "", "is_final": True, "lag": 0.0, "entry_id": None}
    server_says(page, {"type": "transcription", "data": empty_final})
    expect(page.locator("#live-utterance")).to_be_hidden()
    server_says(page, {"type": "error", "data": {"code": "text_too_long", "message": "data.text is too long."}})
    expect(page.locator("#notice-text")).to_have_text("Server error: data.text is too long.")

    # The student refuses the microphone.
    page.evaluate(
        """() => { navigator.mediaDevices.getUserMedia = () =>
             Promise.reject(new DOMException('Permission denied', 'NotAllowedError')); }"""
    )
    page.click("#start-recording")
    expect(page.locator("#notice-text")).to_contain_text("Microphone access was denied")
    expect(page.locator("#chat")).to_have_attribute("data-recording", "false")
    expect(page.locator("#start-recording")).to_be_enabled()

    # The session is ended elsewhere (another tab, a teacher): the page says so and stops.
    session_id = page.get_attribute("#chat", "data-session-id")
    assert page.request.delete(f"{server.base}{API}/{session_id}", headers={"X-CSRFToken": csrf}).ok
    expect(page.locator("#notice-text")).to_have_text("This session has ended. Start a new session to keep talking.")
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "closed")

    # Too many sessions of one's own (HTTP 429), and the service full (HTTP 503).
    for _ in range(3):
        assert page.request.post(f"{server.base}{API}", data={}, headers={"X-CSRFToken": csrf}).status == 201
    page.click("#open-session")
    expect(page.locator("#notice-text")).to_contain_text("too many open sessions")
    page.route(
        f"{server.base}{API}",
        lambda route: route.fulfill(
            status=503,
            content_type="application/json",
            body=json.dumps({"error": {"code": "server_full", "message": "The service is at its session limit."}}),
        ),
    )
    page.click("#open-session")
    expect(page.locator("#notice-text")).to_have_text(
        "The service is full right now. Please try again in a few minutes."
    )
    page.screenshot(path=str(artifacts / "chat-en-refused.png"))
    assert not errors


class ChatCompletions(BaseHTTPRequestHandler):
    """A tiny OpenAI-compatible streaming endpoint standing in for the tutor's language model."""

    answer = (
        "Good thinking! That is a famous speech. President Kennedy gave it in nineteen sixty one, "
        "and people still remember it today. What do you think he meant?"
    )

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for token in self.answer.split(" "):
            chunk = {"choices": [{"delta": {"content": token + " "}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def tutor(tmp_path):
    """A server whose responder answers every utterance by itself."""
    model = ThreadingHTTPServer(("127.0.0.1", 0), ChatCompletions)
    threading.Thread(target=model.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{model.server_port}/v1/chat/completions"
    try:
        # JFK's pauses (about 1 s) end turns only under a turn pause this short: several utterances.
        with embedded_server(tmp_path, RESPONDER="openai", RESPONDER_URL=url, TURN_PAUSE="0.6") as running:
            yield running
    finally:
        model.shutdown()


def test_replies_come_by_themselves_and_stop_when_the_student_speaks_again(tutor, chromium, artifacts):
    server, credentials = tutor
    page, errors = open_chat(chromium, server.base, credentials)
    expect(page.locator(".controls")).to_contain_text("The tutor answers by itself when you finish speaking.")
    page.evaluate(
        """() => { const chat = document.getElementById('chat'); window.playbackStates = [];
             new MutationObserver(() => window.playbackStates.push(chat.dataset.playback))
               .observe(chat, {attributes: true, attributeFilter: ['data-playback']}); }"""
    )
    page.click("#start-recording")
    # Each utterance gets an answer; the next utterance interrupts it (barge-in) and the answer to
    # the last one is heard to the end.
    expect(page.locator("#transcript .bubble.assistant").first).to_contain_text("Good thinking!", timeout=60_000)
    wait_until(lambda: "for your country" in said(page), 60, lambda: f"speech never finished: {said(page)!r}")
    expect(page.locator("#chat")).to_have_attribute("data-playback", "ended", timeout=60_000)
    states = page.evaluate("window.playbackStates")
    assert "playing" in states and "stopped" in states and states[-1] == "ended", states
    page.click("#stop-recording")
    roles = [e["role"] for e in persisted(page, server.base)]
    assert roles.count("assistant") >= 2 and roles.count("user") >= 3, roles
    page.screenshot(path=str(artifacts / "chat-en-tutor.png"))
    assert not errors


@pytest.mark.parametrize("drop", ["server restart", "socket drop"])
def test_reconnects_to_the_same_session_without_losing_or_doubling_text(live, chromium, artifacts, drop):
    """A crash loses what the server held in memory; a dropped socket lets it save the utterance."""
    server, credentials = live
    page, errors = open_chat(chromium, server.base, credentials)
    track_sockets(page)
    page.click("#start-recording")
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "connected", timeout=20_000)
    connection_states(page)
    session_id = page.get_attribute("#chat", "data-session-id")

    # Mid-utterance: words are on screen and more speech is coming.
    wait_until(
        lambda: "fellow" in said(page) or "fellow" in normalise(page.inner_text("#live-utterance")), 30, "no words"
    )
    if drop == "server restart":  # daphne on the same port; the embedded SQLite database stays
        server.stop()
        expect(page.locator("#connection-status")).to_have_attribute("data-state", "reconnecting", timeout=10_000)
        expect(page.locator("#connection-status")).to_contain_text("Reconnecting")
        server.start()
    else:
        page.evaluate("window.sockets.at(-1).close(4999)")
    states = wait_until(lambda: reconnected(page), 30, lambda: page.evaluate("window.connectionStates"))
    assert states[0] == "connected", states

    # The utterance cut off and the speech spoken meanwhile were sent again: nothing lost or doubled.
    wait_until(lambda: "for your country" in said(page), 60, lambda: f"the rest never came: {said(page)!r}")
    page.click("#stop-recording")
    assert page.get_attribute("#chat", "data-session-id") == session_id
    transcript = said(page)
    heard = jiwer.process_words(normalise(JFK_TEXT), transcript)
    assert heard.deletions <= 2 and heard.wer <= 0.3, transcript  # nothing lost but a misheard word or two
    assert not doubled(transcript), transcript
    entries = wait_until(lambda: persisted(page, server.base), 10, "nothing persisted")
    on_page = bubbles(page)
    assert [b["entryId"] for b in on_page] == [e["id"] for e in entries], (on_page, entries)
    assert [normalise(b["text"]) for b in on_page] == [normalise(e["text"]) for e in entries]
    page.screenshot(path=str(artifacts / f"chat-after-{drop.replace(' ', '-')}.png"))
    assert not errors


@pytest.mark.parametrize("device_rate", [44100, 48000])
def test_capture_worklet_sends_100_ms_frames_of_16_khz_pcm16_without_aliasing(live, chromium, device_rate):
    """The page's AudioWorklet, run offline on 1 kHz (kept) plus 12 kHz (above 8 kHz: filtered out)."""
    server, credentials = live
    page, errors = open_chat(chromium, server.base, credentials)
    frames = page.evaluate(
        """async (rate) => {
          const context = new OfflineAudioContext(1, rate, rate);
          await context.audioWorklet.addModule('/static/js/capture-worklet.js');
          const node = new AudioWorkletNode(context, 'pcm16-capture',
            {processorOptions: {targetRate: 16000, frameSamples: 1600}});
          const frames = [];
          node.port.onmessage = ({data}) => frames.push(Array.from(new Int16Array(data.pcm)));
          const tones = context.createBuffer(1, rate, rate);
          const samples = tones.getChannelData(0);
          for (let i = 0; i < rate; i++) {
            samples[i] = 0.4 * Math.sin(2 * Math.PI * 1000 * i / rate) + 0.4 * Math.sin(2 * Math.PI * 12000 * i / rate);
          }
          const source = context.createBufferSource();
          source.buffer = tones;
          source.connect(node);
          node.connect(context.destination);
          source.start();
          await context.startRendering();
          await new Promise((resolve) => setTimeout(resolve, 300));
          return frames;
        }""",
        device_rate,
    )
    assert len(frames) >= 9 and {len(frame) for frame in frames} == {1600}  # 100 ms each
    signal = np.concatenate([np.array(frame, np.float32) / 32768 for frame in frames])[1600:]  # past the start
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal)))) / (np.hanning(len(signal)).sum() / 2)
    frequency = np.fft.rfftfreq(len(signal), 1 / 16000)
    amplitude = {hz: spectrum[np.argmin(np.abs(frequency - hz))] for hz in (1000, 4000)}
    assert amplitude[1000] == pytest.approx(0.4, rel=0.05)
    assert amplitude[4000] < 0.004  # 12 kHz would alias to 4 kHz at 16 kHz without the low-pass filter
    assert not errors
