"""Hands the C heap's free pages back to the operating system now and then.

Every decode allocates and frees CTranslate2 buffers. glibc keeps freed pages inside its heaps,
so a worker's RSS steps up and down over an hour without any of it being in use
(docs/decisions/0020). `malloc_trim(0)` returns them quickly; the next decode on each replica
touches its buffers again, once per interval, not per decode.
"""

import asyncio
import ctypes
import functools
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS); looked up once."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None


def release_free_memory() -> bool:
    """Return the process's free heap pages to the system now; False where that cannot be done."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


async def release_periodically(interval_s: float) -> None:
    """`release_free_memory` every `interval_s` seconds, off the event loop, until cancelled."""
    if _malloc_trim() is None:
        log.info("this C library cannot return free heap pages: memory is not trimmed")
        return
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval_s)
        await loop.run_in_executor(None, release_free_memory)
