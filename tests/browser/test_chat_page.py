"""The voice chat page in a real browser (Debian's Chromium) against a real embedded server.

The fake microphone plays the JFK recording; the page captures it with its AudioWorklet,
streams 16 kHz PCM16 over the WebSocket and shows what the server transcribes.
"""

import json
import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import open_chat
from tests.speech import normalise

pytestmark = pytest.mark.browser

PHRASE = "ask not what your country can do for you"
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


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_speech_shows_live_then_committed_transcript_and_is_persisted(live, chromium, artifacts, locale):
    server, credentials = live
    language = locale[:2]
    page, errors = open_chat(
        chromium, server.base, credentials, locale, login_screenshot=artifacts / f"login-{language}.png"
    )
    assert page.get_attribute("html", "lang") == {"en": "en", "zh": "zh-hans"}[language]
    expect(page.locator("h1")).to_have_text({"en": "Voice chat", "zh": "语音聊天"}[language])
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "idle")
    expect(page.locator("#transcript")).to_have_attribute("aria-live", "polite")

    page.click("#start-recording")
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "connected", timeout=20_000)
    expect(page.locator("#chat")).to_have_attribute("data-recording", "true")
    expect(page.locator("#stop-recording")).to_be_enabled()
    # Live words while speaking, in a bubble of their own; the level meter moves with the voice.
    expect(page.locator("#live-utterance")).to_be_visible(timeout=30_000)
    page.screenshot(path=str(artifacts / f"chat-{language}-live.png"))
    wait_until(lambda: int(page.get_attribute("#level-meter", "aria-valuenow")) > 30, 10, "the level meter never moved")
    wait_until(lambda: PHRASE in said(page), 60, lambda: f"phrase not on the page: {said(page)!r}")
    expect(page.locator("#elapsed")).not_to_have_text("0:00")

    page.click("#stop-recording")
    expect(page.locator("#chat")).to_have_attribute("data-recording", "false")
    entries = wait_until(lambda: persisted(page, server.base), 10, "nothing persisted")
    assert PHRASE in normalise(" ".join(e["text"] for e in entries if e["role"] == "user")), entries
    shown = [b["entryId"] for b in bubbles(page)]
    assert shown == [e["id"] for e in entries], (shown, entries)  # every bubble is one persisted entry

    page.click("#refresh-stats")
    expect(page.locator('[data-stat="conversationEntries"]')).to_have_text(str(len(entries)))
    page.screenshot(path=str(artifacts / f"chat-{language}.png"))
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

    # The bundled model is English-only: picking 中文 says so before and when the session is refused.
    page.select_option("#session-language", "zh")
    expect(page.locator("#language-note")).to_contain_text("English only")
    page.click("#open-session")
    expect(page.locator("#notice-text")).to_contain_text("Chinese speech recognition is not installed")
    page.select_option("#session-language", "en")
    expect(page.locator("#language-note")).to_be_hidden()

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


def test_refusals_and_failures_are_explained(live, chromium):
    server, credentials = live
    page, errors = open_chat(chromium, server.base, credentials)
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")

    # Push-to-talk: holding Space records, releasing it stops.
    page.keyboard.down("Space")
    expect(page.locator("#chat")).to_have_attribute("data-recording", "true", timeout=20_000)
    page.keyboard.up("Space")
    expect(page.locator("#chat")).to_have_attribute("data-recording", "false")

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
    assert not errors


def test_reconnects_to_the_same_session_after_the_server_restarts(live, chromium, artifacts):
    server, credentials = live
    page, errors = open_chat(chromium, server.base, credentials)
    page.click("#start-recording")
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "connected", timeout=20_000)
    connection_states(page)
    session_id = page.get_attribute("#chat", "data-session-id")

    # Mid-utterance: words are on screen and more speech is coming.
    wait_until(
        lambda: "fellow" in said(page) or "fellow" in normalise(page.inner_text("#live-utterance")), 30, "no words"
    )
    server.stop()
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "reconnecting", timeout=10_000)
    expect(page.locator("#connection-status")).to_contain_text(re.compile("Reconnecting"))
    server.start()
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "connected", timeout=30_000)
    states = page.evaluate("window.connectionStates")
    assert states[0] == "connected" and "reconnecting" in states and states[-1] == "connected", states

    # The utterance cut off and the speech spoken meanwhile were sent again: nothing lost or doubled.
    wait_until(lambda: "for your country" in said(page), 60, lambda: f"the rest never came: {said(page)!r}")
    page.click("#stop-recording")
    assert page.get_attribute("#chat", "data-session-id") == session_id
    transcript = said(page)
    for phrase in ("fellow americans", "your country can do for you", "what you can do for your country"):
        assert transcript.count(phrase) == 1, transcript
    entries = wait_until(lambda: persisted(page, server.base), 10, "nothing persisted")
    on_page = bubbles(page)
    assert [b["entryId"] for b in on_page] == [e["id"] for e in entries], (on_page, entries)
    assert [normalise(b["text"]) for b in on_page] == [normalise(e["text"]) for e in entries]
    page.screenshot(path=str(artifacts / "chat-reconnected.png"))
    assert not errors
