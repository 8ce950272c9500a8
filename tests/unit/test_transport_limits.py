"""Every place daphne is started lets the protocol's largest message through (W4, issue 20).

daphne cuts a WebSocket message over its limit by closing the connection; the protocol promises
`chunk_too_large` and an open connection instead, so the limit must sit above the largest message
the protocol accepts (docs/decisions/0034-websocket-message-size.md).
"""

import re

import pytest
from django.conf import settings

from streaming.core import protocol
from tests.live_server import ROOT, WEBSOCKET_LIMIT, daphne_command

FLAGS = ("--websocket-max-message-size", "--websocket-max-frame-size")


def daphne_commands(text: str) -> list[str]:
    """Each command line that starts the application under daphne, continuations joined and the
    Makefile's DAPHNE_LIMITS expanded."""
    text = text.replace("\\\n", " ")
    limits = re.search(r"^DAPHNE_LIMITS := (.*)$", text, re.M)
    if limits:
        text = text.replace("$(DAPHNE_LIMITS)", limits.group(1))
    return [line for line in text.splitlines() if re.search(r"daphne\s.*llb\.asgi:application", line)]


@pytest.mark.parametrize("path", ["Makefile", "docs/deployment.md"])
def test_every_daphne_command_raises_the_websocket_limits(path):
    commands = daphne_commands((ROOT / path).read_text())
    assert commands, f"no daphne command in {path}"
    for command in commands:
        for flag in FLAGS:
            found = re.search(rf"{flag}[ =](\d+)", command)
            assert found, f"{path}: {flag} missing in {command!r}"
            assert int(found.group(1)) >= protocol.max_text_frame(settings.MAX_CHUNK_SIZE), command


def test_the_test_server_runs_with_the_same_limits():
    command = daphne_command(8000)
    assert protocol.max_text_frame(settings.MAX_CHUNK_SIZE) <= WEBSOCKET_LIMIT
    for flag in FLAGS:
        assert command[command.index(flag) + 1] == str(WEBSOCKET_LIMIT)
    makefile = daphne_commands((ROOT / "Makefile").read_text())[0]
    assert f"--websocket-max-message-size {WEBSOCKET_LIMIT}" in makefile
