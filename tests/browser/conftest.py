"""Browser tests: Debian's Chromium driven by Playwright against a real embedded daphne server.

The page gets the JFK recording as its microphone (Chromium's fake capture device reads a WAV).
"""

import subprocess
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from streaming.core.audio import float32_to_pcm16, load_audio_file
from tests.live_server import ROOT, bootstrap_login, daphne_command, embedded_env, free_port
from tests.speech import JFK_PATH, SHARED_DATA

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
MANDARIN_CLIPS = ("zh_funasr_asr_example.wav", "zh_paddlespeech_zh.wav")
CAPTURE_RATE = 48000  # a typical device rate: the page's worklet resamples it to 16 kHz


class DaphneServer:
    """daphne on a fixed port, which a test may stop and start again (the SQLite database stays)."""

    def __init__(self, env: dict, data_dir: Path) -> None:
        self.env = env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"daphne-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                daphne_command(self.port),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, self.log_path.read_text()
            try:
                httpx.get(f"{self.base}/accounts/login/", timeout=1)
                return
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)
        self.process = None


@contextmanager
def embedded_server(data_dir: Path, **settings: str):
    """A fresh embedded server (SQLite in data_dir) and the credentials of its first account."""
    env = embedded_env(data_dir, **settings)
    credentials = bootstrap_login(env)
    server = DaphneServer(env, data_dir)
    server.start()
    try:
        yield server, credentials
    finally:
        server.stop()


@pytest.fixture
def live(tmp_path):
    with embedded_server(tmp_path) as running:
        yield running


@pytest.fixture
def artifacts() -> Path:
    """Screenshots for a person to look at (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _microphone(path: Path, *clips: np.ndarray) -> Path:
    """A WAV for Chromium's fake microphone: 0.5 s of silence, the clips 1.2 s apart, silence after."""
    gap = np.zeros(int(1.2 * CAPTURE_RATE), np.float32)
    parts = [np.zeros(CAPTURE_RATE // 2, np.float32)]
    for clip in clips:
        parts += [clip, gap]
    parts.append(np.zeros(3 * CAPTURE_RATE, np.float32))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(CAPTURE_RATE)
        out.writeframes(float32_to_pcm16(np.concatenate(parts)))
    return path


@pytest.fixture(scope="session")
def microphone_wav(tmp_path_factory) -> Path:
    """The JFK recording as the fake microphone."""
    audio = load_audio_file(str(JFK_PATH), sample_rate=CAPTURE_RATE)
    return _microphone(tmp_path_factory.mktemp("microphone") / "jfk.wav", audio)


@pytest.fixture(scope="session")
def mandarin_microphone_wav(tmp_path_factory) -> Path:
    """Two of the shared Mandarin recordings as the fake microphone."""
    clips = [load_audio_file(str(SHARED_DATA / "zh" / name), sample_rate=CAPTURE_RATE) for name in MANDARIN_CLIPS]
    return _microphone(tmp_path_factory.mktemp("microphone") / "zh.wav", *clips)


@contextmanager
def launch_chromium(microphone: Path) -> Iterator[Browser]:
    """Debian's Chromium (never a downloaded browser) with the WAV as its microphone."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={microphone}%noloop",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def chromium(microphone_wav):
    with launch_chromium(microphone_wav) as browser:
        yield browser


@pytest.fixture
def chromium_mandarin(mandarin_microphone_wav):
    with launch_chromium(mandarin_microphone_wav) as browser:
        yield browser


def open_chat(
    chromium,
    base: str,
    credentials: tuple[str, str],
    locale: str = "en-US",
    login_screenshot: Path | None = None,
    path: str = "/chat/",
) -> tuple[Page, list[str]]:
    """Log in through the login form and land on `path` (the chat page); returns the page and its
    script errors."""
    context = chromium.new_context(locale=locale, viewport={"width": 1280, "height": 860})
    context.grant_permissions(["microphone"], origin=base)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and print(f"[browser] {message.text}"))
    page.goto(f"{base}{path}")
    assert "/accounts/login/" in page.url
    if login_screenshot is not None:
        page.screenshot(path=str(login_screenshot))
    page.fill("#id_username", credentials[0])
    page.fill("#id_password", credentials[1])
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}{path}")
    return page, errors
