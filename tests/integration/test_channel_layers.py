"""The ranked channel layers (streaming/realtime/channel_layers.py), through the real Redis and in memory:
a channel hands out the lowest `queue_rank` first, unranked messages by arrival, and keeps
Channels' capacity and expiry."""

import asyncio
import time

import pytest
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

from streaming.realtime.channel_layers import QUEUE_RANK

pytestmark = pytest.mark.asyncio
CHANNEL = "ranked-test"


async def drain(layer, count: int) -> list:
    return [(await asyncio.wait_for(layer.receive(CHANNEL), 5))["n"] for _ in range(count)]


async def test_lowest_rank_first_unranked_by_arrival(layer):
    channel_layer = get_channel_layer()
    now = time.time()
    for n, rank in ((1, None), (2, now + 5), (3, None), (4, now - 10), (5, now - 9)):
        await channel_layer.send(CHANNEL, {"type": "t", "n": n} | ({} if rank is None else {QUEUE_RANK: rank}))
    assert await drain(channel_layer, 5) == [4, 5, 1, 3, 2]


async def test_a_ranked_message_respects_the_channel_capacity(layer):
    channel_layer = get_channel_layer()
    channel_layer.channel_capacity = channel_layer.compile_capacities({CHANNEL: 2})
    for n in (1, 2):
        await channel_layer.send(CHANNEL, {"type": "t", "n": n, QUEUE_RANK: time.time()})
    with pytest.raises(ChannelFull):
        await channel_layer.send(CHANNEL, {"type": "t", "n": 3, QUEUE_RANK: time.time() - 60})
    assert await drain(channel_layer, 2) == [1, 2]


async def test_expired_messages_are_dropped(layer):
    channel_layer = get_channel_layer()
    channel_layer.expiry = 1
    await channel_layer.send(CHANNEL, {"type": "t", "n": 1, QUEUE_RANK: time.time() - 0.5})
    await asyncio.sleep(2.1)
    await channel_layer.send(CHANNEL, {"type": "t", "n": 2, QUEUE_RANK: time.time()})
    assert await drain(channel_layer, 1) == [2]
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(channel_layer.receive(CHANNEL), 0.5)
