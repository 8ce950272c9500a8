"""The reading practice page in a real browser (Debian's Chromium) against a real embedded server.

The practice text is JFK's sentence; the fake microphone plays JFK saying it.
"""

import json

import pytest
from playwright.sync_api import Page, expect

from streaming.core.reading import Reading, ReadingAligner, Reference
from streaming.core.stabilizer import Word
from tests.browser.conftest import open_chat
from tests.browser.test_chat_page import server_says, track_sockets
from tests.live_server import manage
from tests.speech import JFK_TEXT

pytestmark = pytest.mark.browser

JFK_TITLE = "Ask not (J. F. Kennedy, 1961)"


def add_jfk_text(env: dict) -> None:
    """JFK's sentence as a practice text (the bootstrap account is an operator: it sees every text)."""
    code = (
        "from reading.models import PracticeText; "
        f"PracticeText.objects.create(title={JFK_TITLE!r}, language='en', text={JFK_TEXT!r})"
    )
    manage(env, "shell", "-c", code)


def track_sent(page: Page) -> None:
    """Keep the JSON the page sends on its WebSockets in window.sent."""
    page.evaluate(
        """() => { window.sent = []; const send = WebSocket.prototype.send;
             WebSocket.prototype.send = function (data) {
               if (typeof data === 'string') window.sent.push(JSON.parse(data));
               return send.call(this, data); }; }"""
    )


def sent(page: Page, type_: str) -> list[dict]:
    return [m["data"] for m in page.evaluate("window.sent") if m["type"] == type_]


def readings(spoken: str) -> tuple[list[Reading], Reading]:
    """The alignment's progress word by word and its result for `spoken` read against JFK's text,
    one word every 0.4 s: what the server's `reading_progress` and `reading_result` carry."""
    aligner = ReadingAligner(Reference(JFK_TEXT, "en"))
    words = [Word(0.5 + 0.4 * i, 0.8 + 0.4 * i, " " + w) for i, w in enumerate(spoken.split())]
    progress = [aligner.update([word]) for word in words]
    return progress, aligner.finish()


def silent_microphone(page: Page) -> None:
    """A microphone that hears nothing: the test plays the server, and real speech would answer too."""
    page.evaluate(
        """() => { navigator.mediaDevices.getUserMedia = async () => {
             const context = new AudioContext({ sampleRate: 48000 });
             const silence = context.createConstantSource();
             silence.offset.value = 0;
             const out = context.createMediaStreamDestination();
             silence.connect(out);
             silence.start();
             return out.stream; }; }"""
    )


def statuses(page: Page) -> list[str]:
    return page.eval_on_selector_all("#reading-text .word", "words => words.map(w => w.dataset.status)")


def open_practice(chromium, live, locale: str = "en-US") -> tuple[Page, list[str]]:
    server, credentials = live
    add_jfk_text(server.env)
    return open_chat(chromium, server.base, credentials, locale, path="/practice/")


def test_the_page_lights_up_words_and_shows_the_result_word_by_word(live, chromium, artifacts):
    page, errors = open_practice(chromium, live)
    track_sockets(page)
    track_sent(page)
    silent_microphone(page)
    expect(page.locator("#texts .text-choice")).not_to_have_count(0)
    page.get_by_role("button", name=JFK_TITLE).click()
    expect(page.locator("#reader-title")).to_have_text(JFK_TITLE)
    assert len(statuses(page)) == len(Reference(JFK_TEXT, "en"))
    assert page.inner_text("#reading-text") == JFK_TEXT  # the text as written, punctuation and all

    # Listen first: one sentence at a time (JFK's text is one), then a word on its own.
    page.click("#listen")
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "connected", timeout=20_000)
    expect(page.locator("#practice")).to_have_attribute("data-phase", "listening")
    expect(page.locator("#reading-text .word.speaking")).to_have_count(len(statuses(page)))
    page.wait_for_function("window.sent.some(m => m.type === 'text_request')")
    assert sent(page, "text_request") == [{"text": JFK_TEXT}]
    expect(page.locator("#practice")).to_have_attribute("data-phase", "idle", timeout=30_000)  # heard to its end
    page.get_by_role("button", name="Americans,").click()
    page.wait_for_function("window.sent.filter(m => m.type === 'text_request').length === 2")
    assert sent(page, "text_request")[-1] == {"text": "Americans"}

    # Reading: the words light up as the progress comes, the reading position with them.
    session_id = page.get_attribute("#practice", "data-session-id")
    created = page.request.get(f"{live[0].base}/api/v1/audio-streaming/sessions/{session_id}")
    assert created.ok and created.json()["language"] == "en"
    page.click("#start-reading")
    expect(page.locator("#practice")).to_have_attribute("data-recording", "true", timeout=20_000)
    progress, _ = readings(JFK_TEXT)
    server_says(page, {"type": "reading_progress", "data": progress[5].as_dict(), "attempt": 1})
    shown = statuses(page)
    assert shown[:4] == ["correct"] * 4 and set(shown[6:]) == {"pending"}
    expect(page.locator("#reading-text .word.current")).to_have_count(1)
    assert page.inner_text("#reading-text .word.current") == progress[5].words[progress[5].position].text
    expect(page.locator("#reading-status")).to_have_text(f"Reading… {progress[5].position} of 22 words")
    page.screenshot(path=str(artifacts / "practice-en-live.png"))

    # Done: each word marked, the inserted word between them, and the figures.
    page.click("#done-reading")
    assert sent(page, "control")[-1] == {"command": "reading_done"}
    expect(page.locator("#practice")).to_have_attribute("data-recording", "false")
    # "fellow" misread, "um" said between two words, the last word never read.
    spoken = JFK_TEXT.replace("fellow", "yellow").replace("not what", "not um what").removesuffix(" country.")
    _, result = readings(spoken)
    server_says(page, {"type": "reading_result", "data": {**result.as_dict(), "attemptId": 7}, "attempt": 1})
    expect(page.locator("#results")).to_be_visible()
    shown = statuses(page)
    assert shown.count("misread") == 1 and shown.count("skipped") == 1 and "pending" not in shown
    assert (
        page.get_attribute("#reading-text .word[data-status=misread]", "aria-label")
        == "fellow (misread – heard “yellow”)"
    )
    expect(page.locator("#reading-text ins.inserted")).to_have_text(["um"])
    expect(page.locator("#reading-text .word.current")).to_have_count(0)
    figures = result.as_dict()["figures"]
    expect(page.locator("#figure-accuracy")).to_have_text(f"{round(figures['accuracy'] * 100)} %")
    expect(page.locator("#figure-wcpm")).to_have_text(str(round(figures["wcpm"])))
    expect(page.locator("#figure-correct")).to_have_text(f"{figures['correct']} / 22")
    expect(page.locator("#results")).to_have_attribute("data-attempt-id", "7")
    page.screenshot(path=str(artifacts / "practice-en-result.png"), full_page=True)

    # Try again: the server is told, the marks go, the microphone starts again.
    page.click("#try-again")
    assert {"command": "reading_restart"} in sent(page, "control")
    expect(page.locator("#practice")).to_have_attribute("data-recording", "true", timeout=20_000)
    assert set(statuses(page)) == {"pending"}
    # A late progress of the first attempt does not paint over the new one.
    server_says(page, {"type": "reading_progress", "data": progress[-1].as_dict(), "attempt": 1})
    assert set(statuses(page)) == {"pending"}

    # Back to the list: the practice session ends.
    page.click("#back")
    expect(page.locator("#text-list")).to_be_visible()
    ended = page.request.get(f"{live[0].base}/api/v1/audio-streaming/sessions/{session_id}")
    assert ended.json()["status"] != "active"
    assert not errors


def test_the_page_speaks_chinese(live, chromium, artifacts):
    """The page in Chinese: labels, the character count and the figure for characters."""
    page, errors = open_practice(chromium, live, "zh-CN")
    expect(page.locator("#practice-title")).to_have_text("朗读练习")
    zh_title = page.evaluate(
        "JSON.parse(document.getElementById('practice-config').textContent).texts.find(t => t.language === 'zh').title"
    )
    page.get_by_role("button", name=zh_title).click()
    assert page.get_attribute("#reading-text", "lang") == "zh-Hans"
    words = page.eval_on_selector_all("#reading-text .word", "words => words.map(w => w.textContent)")
    assert all(len(word) == 1 for word in words)  # one character each
    track_sockets(page)
    silent_microphone(page)
    page.click("#start-reading")
    expect(page.locator("#practice")).to_have_attribute("data-recording", "true", timeout=20_000)
    config = json.loads(page.inner_text("#practice-config"))
    text = next(t for t in config["texts"] if t["title"] == zh_title)
    reference = Reference(text["text"], "zh")
    aligner = ReadingAligner(reference)
    characters = [t.text for t in reference.tokens]
    heard = characters[:5] + ["冰"] + characters[6:-4]  # one misread, the last four never read
    aligner.update([Word(0.5 + 0.3 * i, 0.7 + 0.3 * i, c) for i, c in enumerate(heard)])
    result = aligner.finish()
    page.click("#done-reading")
    server_says(page, {"type": "reading_result", "data": {**result.as_dict(), "attemptId": 1}, "attempt": 1})
    expect(page.locator("#figure-wcpm-label")).to_have_text("每分钟读对字数")
    expect(page.locator("#try-again")).to_have_text("再试一次")
    assert statuses(page).count("skipped") == 4
    page.screenshot(path=str(artifacts / "practice-zh-result.png"), full_page=True)
    assert not errors


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_reading_jfk_aloud_lights_up_his_words_and_scores_the_reading(live, chromium, artifacts, locale):
    """End to end: the fake microphone says JFK's sentence while the page shows it as the practice
    text; the real server aligns the live transcript to it (a Chinese student's page reads English)."""
    page, errors = open_practice(chromium, live, locale)
    page.get_by_role("button", name=JFK_TITLE).click()
    page.click("#start-reading")
    expect(page.locator("#practice")).to_have_attribute("data-recording", "true", timeout=20_000)

    # Words light up while he speaks: correct ones on screen before the result is there.
    page.wait_for_function(
        """() => document.querySelectorAll('#reading-text .word[data-status=correct]').length >= 3
                 && document.getElementById('results').hidden""",
        timeout=60_000,
    )
    assert page.locator("#reading-text .word.current").count() == 1
    page.screenshot(path=str(artifacts / f"practice-{locale[:2]}-live.png"))

    # His turn ends at the end of the text: the attempt ends by itself and is scored.
    expect(page.locator("#results")).to_be_visible(timeout=90_000)
    shown = statuses(page)
    assert shown.count("correct") >= 0.9 * len(shown), shown
    accuracy = int(page.inner_text("#figure-accuracy").removesuffix(" %"))
    wcpm = int(page.inner_text("#figure-wcpm"))
    assert accuracy >= 90 and 90 <= wcpm <= 200, (accuracy, wcpm)
    attempt_id = page.get_attribute("#results", "data-attempt-id")
    saved = page.request.get(f"{live[0].base}/api/v1/audio-streaming/reading-attempts/{attempt_id}")
    assert saved.ok, saved.text()
    assert abs(saved.json()["wcpm"] - wcpm) <= 0.5  # shown rounded
    page.screenshot(path=str(artifacts / f"practice-{locale[:2]}.png"), full_page=True)
    assert not errors
