"""Outages of a dependency (the database, Redis): what a background loop or a live connection does
while one lasts.

A loop never ends because a call failed: the heartbeats once stopped for good after a 6 s database
outage, and /readyz said "no worker" for as long as the workers lived. A live connection never
closes because a write failed: its writes are retried until the database is back, within
DATABASE_RETRY_WINDOW, and its channel-layer calls until Redis is back, within REDIS_RETRY_WINDOW.
Either way the failure is logged once with its traceback, the retries back off, and the recovery
is logged (docs/decisions/0036, 0049).
"""

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import NoReturn, TypeVar

import redis.exceptions
from channels.layers import BaseChannelLayer
from django.conf import settings
from django.db import InterfaceError, OperationalError

from streaming.db import database_sync_to_async
from streaming.errors import ServiceError

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_FIRST_S = 0.25  # the first retry's delay; each next one doubles, up to the caller's cap
# What an unreachable database raises: refused or ended connections. Anything else is a bug or a
# constraint, and retrying would only repeat it.
DATABASE_DOWN = (OperationalError, InterfaceError)
# What an unreachable Redis (the channel layer, the cache) raises: a refused, closed or timed-out
# connection. Its commands are not retried by the client library once the connection is gone.
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class Unavailable(ServiceError):
    """A dependency stayed unreachable for the whole retry window: try again shortly (503, 1013)."""

    def __init__(self, code: str, what: str) -> None:
        super().__init__(code, f"{what} is unavailable; try again shortly.", HTTPStatus.SERVICE_UNAVAILABLE)


class DatabaseUnavailable(Unavailable):
    def __init__(self) -> None:
        super().__init__("database_unavailable", "The database")


class RedisUnavailable(Unavailable):
    def __init__(self) -> None:
        super().__init__("redis_unavailable", "The message broker (Redis)")


class Backoff:
    """The failures in a row of one repeated call: each logged (the first with its traceback unless
    `brief`, the others in a line), the delay before the next try, and the recovery logged.

    `brief` is for a call every live connection makes: an outage would log one traceback each.
    """

    def __init__(self, what: str, cap_s: float, *, brief: bool = False) -> None:
        self.what = what
        self.cap_s = cap_s
        self.brief = brief
        self.failures = 0

    def failed(self, exc: BaseException) -> float:
        """Log the failure; the seconds to wait before trying again."""
        self.failures += 1
        if self.failures == 1 and self.brief:
            log.warning("%s failed; retrying: %s: %s", self.what, type(exc).__name__, exc)
        elif self.failures == 1:
            log.error("%s failed; retrying", self.what, exc_info=exc)
        else:
            log.warning("%s failed again (%d in a row): %s: %s", self.what, self.failures, type(exc).__name__, exc)
        return min(self.cap_s, RETRY_FIRST_S * 2 ** (self.failures - 1))

    def succeeded(self) -> None:
        if self.failures:
            log.warning("%s works again after %d failures", self.what, self.failures)
        self.failures = 0


async def keep_going(what: str, step: Callable[[], Awaitable[object]], interval_s: float) -> NoReturn:
    """Await `step` every `interval_s` seconds until cancelled. A failure is retried sooner (backing
    off up to the interval, so a loop recovers within one interval of its dependency)."""
    backoff = Backoff(what, cap_s=interval_s)
    while True:
        try:
            await step()
        except Exception as exc:  # whatever broke, the loop must go on: it is logged
            await asyncio.sleep(backoff.failed(exc))
            continue
        backoff.succeeded()
        await asyncio.sleep(interval_s)


async def receive_retried(
    layer: BaseChannelLayer,
    channel: str,
    backoff: Backoff,
    rejoin: Callable[[], Awaitable[object]] | None = None,
) -> dict:
    """The next message on `channel`, the read retried after `backoff`'s delay while the channel
    layer fails (Redis away: the channel must be read again once it is back). `rejoin` runs before
    each retry: a restarted Redis has lost the groups the reader was in."""
    while True:
        try:
            if backoff.failures and rejoin is not None:
                await rejoin()
            message = await layer.receive(channel)
        except Exception as exc:  # whatever broke, the reader must go on: it is logged
            await asyncio.sleep(backoff.failed(exc))
            continue
        backoff.succeeded()
        return message


async def try_redis(what: str, call: Awaitable[object]) -> None:
    """Await a Redis call whose work may be skipped in an outage (what it writes expires, or is
    written again soon): the outage is logged, not raised."""
    try:
        await call
    except REDIS_DOWN as exc:
        log.warning("%s skipped, Redis unreachable: %s: %s", what, type(exc).__name__, exc)


async def call_database(what: str, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """`fn(*args, **kwargs)` in the database thread, tried again while the database is unreachable,
    for up to DATABASE_RETRY_WINDOW seconds; then DatabaseUnavailable. For what a live connection
    must not lose (its entries, its counters) or cannot do without.

    A write whose connection broke after its commit would be written twice; a refused connection,
    the usual outage, writes nothing (docs/decisions/0036).
    """
    attempt = functools.partial(database_sync_to_async(fn), *args, **kwargs)
    return await _retried(what, attempt, DATABASE_DOWN, settings.DATABASE_RETRY_WINDOW, DatabaseUnavailable)


async def call_redis(what: str, fn: Callable[..., Awaitable[T]], *args: object, **kwargs: object) -> T:
    """`await fn(*args, **kwargs)` (a channel-layer call), tried again while Redis is unreachable,
    for up to REDIS_RETRY_WINDOW seconds; then RedisUnavailable. For the requests and answers
    between a live connection and the workers (docs/decisions/0049)."""
    attempt = functools.partial(fn, *args, **kwargs)
    return await _retried(what, attempt, REDIS_DOWN, settings.REDIS_RETRY_WINDOW, RedisUnavailable)


async def _retried(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    down: tuple[type[BaseException], ...],
    window_s: float,
    unavailable: Callable[[], Unavailable],
) -> T:
    backoff = Backoff(what, cap_s=2.0, brief=True)
    give_up_at = time.monotonic() + window_s
    while True:
        try:
            result = await attempt()
        except down as exc:
            delay = backoff.failed(exc)
            if time.monotonic() + delay > give_up_at:
                raise unavailable() from exc
            await asyncio.sleep(delay)
            continue
        backoff.succeeded()
        return result
