"""A loop outlives its dependency's failures, logging them, backing off and logging the recovery."""

import asyncio
import logging

import pytest

from streaming import outages
from streaming.outages import Backoff, keep_going


def test_retries_back_off_up_to_the_cap():
    backoff = Backoff("the thing", cap_s=1.0)
    delays = [backoff.failed(OSError("down")) for _ in range(5)]
    assert delays == [outages.RETRY_FIRST_S, 0.5, 1.0, 1.0, 1.0]
    backoff.succeeded()
    assert backoff.failed(OSError("down")) == outages.RETRY_FIRST_S  # a new outage starts over


async def test_a_failing_step_is_logged_retried_and_the_loop_goes_on(caplog, monkeypatch):
    monkeypatch.setattr(outages, "RETRY_FIRST_S", 0.01)
    calls = []

    async def step() -> None:
        calls.append(len(calls))
        if len(calls) in (2, 3):
            raise ConnectionError("database refused")

    with caplog.at_level(logging.WARNING, logger="streaming.outages"):
        task = asyncio.ensure_future(keep_going("the heartbeat", step, interval_s=0.05))
        while len(calls) < 6:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    messages = [(r.levelname, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert messages == [
        ("ERROR", "the heartbeat failed; retrying", True),
        ("WARNING", "the heartbeat failed again (2 in a row): ConnectionError: database refused", False),
        ("WARNING", "the heartbeat works again after 2 failures", False),
    ]
