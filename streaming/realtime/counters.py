"""A connection's session counters, written once per second rather than once per audio frame."""

import time
from collections.abc import Callable
from uuid import UUID

from streaming import live_stats, services
from streaming.db import database_sync_to_async

FLUSH_INTERVAL_S = 1.0


def _nothing_counted() -> dict:
    return {"audio_seconds": 0.0, "chunks": 0, "nbytes": 0}


class SessionCounters:
    """Audio received since the last write; each write also publishes the connection's live figures
    (`live_figures`) for the dashboard."""

    def __init__(self, session_id: UUID, live_figures: Callable[[], dict]) -> None:
        self.session_id = session_id
        self.live_figures = live_figures
        self.unflushed = _nothing_counted()
        self.last_flush = time.monotonic()

    def add_audio(self, seconds: float, nbytes: int) -> None:
        self.unflushed["audio_seconds"] += seconds
        self.unflushed["chunks"] += 1
        self.unflushed["nbytes"] += nbytes

    async def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_flush < FLUSH_INTERVAL_S:
            return
        self.last_flush = now
        pending, self.unflushed = self.unflushed, _nothing_counted()
        await database_sync_to_async(services.touch_session)(self.session_id, **pending)
        await live_stats.apublish(self.session_id, self.live_figures())
