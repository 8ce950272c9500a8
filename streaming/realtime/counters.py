"""A connection's session counters, written once per second rather than once per audio frame.

While the database is away the counts stay here and go with the next write: the audio seconds
of a session stay exact through an outage (docs/decisions/0036).
"""

import logging
import time
from collections.abc import Callable
from uuid import UUID

from streaming import live_stats, services
from streaming.db import database_sync_to_async
from streaming.outages import DATABASE_DOWN, DatabaseUnavailable, call_database, try_redis

log = logging.getLogger(__name__)
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
        self.kept = False  # a write failed: the counts wait for the database
        # The resume point (`StreamTranscriber.resume_point`), written with the counts.
        self.transcribed_until: float | None = None

    def add_audio(self, seconds: float, nbytes: int) -> None:
        self.unflushed["audio_seconds"] += seconds
        self.unflushed["chunks"] += 1
        self.unflushed["nbytes"] += nbytes

    async def flush(self, force: bool = False) -> None:
        """Write what was counted, once per FLUSH_INTERVAL_S. A periodic write that fails keeps the
        counts for the next one; a forced write (before the counts are read, or at the end) is
        retried until the database is back or DATABASE_RETRY_WINDOW has passed."""
        now = time.monotonic()
        if not force and now - self.last_flush < FLUSH_INTERVAL_S:
            return
        self.last_flush = now
        pending, self.unflushed = self.unflushed, _nothing_counted()
        try:
            resume = {"transcribed_seconds": self.transcribed_until}
            if force:
                await call_database(
                    "writing the session counters", services.touch_session, self.session_id, **pending, **resume
                )
            else:
                await database_sync_to_async(services.touch_session)(self.session_id, **pending, **resume)
        except (*DATABASE_DOWN, DatabaseUnavailable) as exc:
            for name, value in pending.items():
                self.unflushed[name] += value
            if not self.kept:
                log.warning("session %s: counters kept until the database is back: %s", self.session_id, exc)
            self.kept = True
            if force:
                raise
            return
        if self.kept:
            log.info("session %s: kept counters written", self.session_id)
            self.kept = False
        await try_redis("publishing the live figures", live_stats.apublish(self.session_id, self.live_figures()))
