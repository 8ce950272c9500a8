"""Live per-connection figures (buffer, pending work) shared through the cache.

The consumer holding a session publishes them; REST stats in any process read them.
"""

import logging

from django.core.cache import cache

from streaming.outages import REDIS_DOWN

log = logging.getLogger(__name__)
TTL_SECONDS = 120
LIVE_FIELDS = ("bufferChunks", "bufferSize", "pendingTranscriptions", "pendingResponses")


def _key(session_id) -> str:
    return f"live-stats:{session_id}"


async def apublish(session_id, figures: dict) -> None:
    await cache.aset(_key(session_id), {k: figures[k] for k in LIVE_FIELDS}, TTL_SECONDS)


async def aclear(session_id) -> None:
    await cache.adelete(_key(session_id))


def read(session_id) -> dict:
    """The figures last published, zeros if none (no live connection) or Redis is unreachable: the
    stats and the admin's session page answer without them rather than fail."""
    try:
        figures = cache.get(_key(session_id))
    except REDIS_DOWN as exc:
        log.warning("live figures of session %s unread, Redis unreachable: %s", session_id, exc)
        figures = None
    return figures or {k: 0 for k in LIVE_FIELDS}
