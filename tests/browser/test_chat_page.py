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

    # The speech spoken meanwhile was kept and sent after the reconnect; nothing is doubled.
    wait_until(lambda: "for your country" in said(page), 60, lambda: f"the rest never came: {said(page)!r}")
    page.click("#stop-recording")
    assert page.get_attribute("#chat", "data-session-id") == session_id
    entries = wait_until(lambda: persisted(page, server.base), 10, "nothing persisted")
    on_page = bubbles(page)
    texts = [normalise(b["text"]) for b in on_page]
    assert len(texts) == len(set(texts)), texts
    for phrase in ("fellow americans", "your country can do for you", "what you can do for your country"):
        assert said(page).count(phrase) <= 1, said(page)
    saved_ids = [e["id"] for e in entries]
    shown_ids = [b["entryId"] for b in on_page if b["entryId"] is not None]
    assert shown_ids == saved_ids, (on_page, entries)
    page.screenshot(path=str(artifacts / "chat-reconnected.png"))
    assert not errors
