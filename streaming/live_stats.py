"""Live per-connection figures (buffer, pending work) shared through the cache.

The consumer holding a session publishes them; REST stats in any process read them.
"""

from django.core.cache import cache

TTL_SECONDS = 120
LIVE_FIELDS = ("bufferChunks", "bufferSize", "pendingTranscriptions", "pendingResponses")


def _key(session_id) -> str:
    return f"live-stats:{session_id}"


def publish(session_id, figures: dict) -> None:
    cache.set(_key(session_id), {k: figures[k] for k in LIVE_FIELDS}, TTL_SECONDS)


async def apublish(session_id, figures: dict) -> None:
    await cache.aset(_key(session_id), {k: figures[k] for k in LIVE_FIELDS}, TTL_SECONDS)


def clear(session_id) -> None:
    cache.delete(_key(session_id))


async def aclear(session_id) -> None:
    await cache.adelete(_key(session_id))


def read(session_id) -> dict:
    return cache.get(_key(session_id)) or {k: 0 for k in LIVE_FIELDS}
