"""Channel layers whose queues hand out the message of lowest `queue_rank` first.

A rank is a time: when a message counts as sent. Messages without one rank by their arrival,
so a channel is first in, first out unless a sender says otherwise. The ASR workers' partial
queue needs it: a closing partial (its answer usually ends the utterance) counts as sent
ASR_CLOSING_HEAD_START earlier than it was, ahead of the other sessions' partials, yet behind
a partial that has waited longer than that.

The order lives in the queue, not in the worker, because only there is it shared by every
worker: a worker that held requests of two channels to choose between them took them from
the others while it was busy, so closing partials queued longer in the production topology
than in the embedded server (docs/decisions/0019), and a pending receive cannot be cancelled
without risking its message.
"""

import asyncio
import heapq
import itertools
import time
from collections.abc import Sequence

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer

QUEUE_RANK = "queue_rank"


class _Ranked(tuple):
    """An (expiry, message) item, as the in-memory layer stores it, that sorts by its rank."""

    order: tuple[float, int]

    def __new__(cls, item: tuple[float, dict], order: tuple[float, int]) -> "_Ranked":
        ranked = super().__new__(cls, item)
        ranked.order = order
        return ranked

    def __lt__(self, other: tuple) -> bool:
        return self.order < other.order if isinstance(other, _Ranked) else NotImplemented


class _RankedQueue(asyncio.Queue):
    """asyncio.Queue of the lowest rank first; an unranked message ranks by its arrival time,
    and ties go by arrival."""

    def _init(self, maxsize: int) -> None:
        self._queue: list[_Ranked] = []
        self._arrivals = itertools.count()

    def _put(self, item: tuple[float, dict]) -> None:
        rank = item[1].get(QUEUE_RANK, time.time())
        heapq.heappush(self._queue, _Ranked(item, (rank, next(self._arrivals))))

    def _get(self) -> tuple[float, dict]:
        return heapq.heappop(self._queue)


class RankedInMemoryChannelLayer(InMemoryChannelLayer):
    """The embedded server's layer: Channels' in-memory layer with ranked queues.

    Channels creates a channel's queue on first use, in `send` or `receive`, and drops it once
    empty; both make sure a ranked one is there first. Expiry reads the head's (expiry, message)
    as before, so an expired message behind the head is dropped once it reaches the head.
    """

    def _ranked_queue(self, channel: str) -> None:
        if channel not in self.channels:
            self.channels[channel] = _RankedQueue(maxsize=self.get_capacity(channel))

    async def send(self, channel: str, message: dict) -> None:
        self._ranked_queue(channel)
        await super().send(channel, message)

    async def receive(self, channel: str) -> dict:
        self._ranked_queue(channel)
        return await super().receive(channel)


class RankedRedisChannelLayer(RedisChannelLayer):
    """The production layer: channels-redis keeps a channel in a sorted set scored by the send
    time and pops the lowest score (BZPOPMIN); a ranked message is scored by its rank instead.

    Only `send`'s path for a ranked message on a general channel is written here, as
    channels-redis 4 writes it (expire old messages, check capacity, add, refresh the key's
    expiry); everything else, receiving included, is channels-redis's own.
    """

    async def send(self, channel: str, message: dict) -> None:
        rank = message.get(QUEUE_RANK)
        if rank is None or "!" in channel:
            await super().send(channel, message)
            return
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        channel_key = self.prefix + channel
        connection = self.connection(next(self._send_index_generator))
        await connection.zremrangebyscore(channel_key, min=0, max=int(time.time()) - int(self.expiry))
        if await connection.zcount(channel_key, "-inf", "+inf") >= self.get_capacity(channel):
            raise ChannelFull()
        await connection.zadd(channel_key, {self.serialize(message): float(rank)})
        await connection.expire(channel_key, int(self.expiry))


# --- queue figures and reachability ----------------------------------------------------------

LAYER_TIMEOUT_S = 2.0


def _is_redis_layer(layer: BaseChannelLayer) -> bool:
    return hasattr(layer, "ring_size") and hasattr(layer, "connection") and hasattr(layer, "prefix")


async def _redis_pending(layer, channel: str) -> int:
    """channels-redis keeps a channel's queue in a sorted set scored by send time, one per host."""
    indexes: Sequence[int]
    if "!" in channel:
        key, indexes = layer.prefix + layer.non_local_name(channel), [layer.consistent_hash(channel)]
    else:
        key, indexes = layer.prefix + channel, range(layer.ring_size)  # general channels: any host
    not_expired = time.time() - int(layer.expiry)
    total = 0
    for index in indexes:
        total += await asyncio.wait_for(layer.connection(index).zcount(key, not_expired, "+inf"), LAYER_TIMEOUT_S)
    return total


def pending_requests(channel: str, layer: BaseChannelLayer | None = None) -> int:
    """Messages waiting on a channel (e.g. `asr`): sent, not yet received by any worker."""
    layer = layer or get_channel_layer()
    if _is_redis_layer(layer):
        return async_to_sync(_redis_pending)(layer, channel)
    queue = getattr(layer, "channels", {}).get(channel)  # InMemoryChannelLayer: name -> asyncio.Queue
    return queue.qsize() if queue is not None else 0


async def _redis_ping(layer) -> None:
    for index in range(layer.ring_size):
        await asyncio.wait_for(layer.connection(index).ping(), LAYER_TIMEOUT_S)


def ping(layer: BaseChannelLayer) -> None:
    """Raise unless every Redis host of the layer answers (the in-memory layer always does)."""
    if _is_redis_layer(layer):
        async_to_sync(_redis_ping)(layer)
