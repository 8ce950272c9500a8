"""The worker's memory of each session's newest started request, what `runworker` serves, and
which process runs the background tasks (no model, no channel layer)."""

import asyncio

import pytest

from streaming.workers.consumers import NewestStarted
from streaming.workers.runtime import EmbeddedRuntime, served_channels


def test_a_request_older_than_one_started_of_its_session_is_refused():
    started = NewestStarted()
    assert started.start("a", 2) and started.start("b", 1)
    assert not started.start("a", 1)  # overtaken
    assert started.start("a", 2) and started.start("a", 3)  # the same again (a duplicate delivery) or a newer one


def test_the_least_recently_seen_sessions_are_forgotten():
    started = NewestStarted(size=2)
    assert started.start("a", 2) and started.start("b", 1) and started.start("c", 1)
    assert list(started.newest) == ["b", "c"]
    assert started.start("a", 1)  # forgotten: decoded, as before the registry


def test_runworker_names_a_kind_a_languages_model_or_a_channel():
    assert served_channels("asr") == ("asr", "asr-final", "asr-multilingual", "asr-multilingual-final")
    assert served_channels("asr:zh") == served_channels("asr:auto") == ("asr-multilingual", "asr-multilingual-final")
    assert served_channels("asr:en") == ("asr", "asr-final")
    assert served_channels("tts") == ("tts",) and served_channels("asr-final") == ("asr-final",)


@pytest.mark.asyncio
async def test_the_server_starts_the_background_tasks_at_its_first_connection_and_a_worker_never():
    async def application(scope, receive, send) -> None:
        pass

    runtime = EmbeddedRuntime(application)
    await runtime({"type": "channel", "channel": "asr"}, None, None)
    assert runtime.tasks == []  # a runworker process: the web processes sweep (docs/deployment.md)
    await runtime({"type": "websocket", "path": "/"}, None, None)
    try:
        assert len(runtime.tasks) == 1  # the expiry sweep; no embedded workers in the test settings
    finally:
        for task in runtime.tasks:
            task.cancel()
        await asyncio.gather(*runtime.tasks, return_exceptions=True)
