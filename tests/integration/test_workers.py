"""Worker flow: a worker takes a message only when it has a free slot, its slots run at once,
finals have a slot of their own, closing partials are taken before other partials, ASR requests
past their deadline are dropped, queued ones are decoded greedily, and a worker returns free memory
as it runs. Through the real Redis and in-memory layers."""

import asyncio
import time

import pytest
from channels.layers import get_channel_layer
from channels.routing import ChannelNameRouter, ProtocolTypeRouter

from streaming.asr_models import ASR_CHANNEL, ASR_FINAL_CHANNEL
from streaming.core.audio import float32_to_pcm16
from streaming.realtime.channel_layers import QUEUE_RANK
from streaming.realtime.messages import AsrRequest
from streaming.realtime.recognition import queue_rank
from streaming.workers import memory
from streaming.workers.consumers import _ModelWorker, asr_config
from streaming.workers.runtime import ServiceWorker
from tests.speech import jfk_audio
from tests.support import in_process_workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
CHANNEL = "jobs"


class Jobs:
    """What the test consumer saw, and the gate that holds its jobs."""

    started: list[int] = []
    gate: asyncio.Event


class HeldJob(_ModelWorker):
    async def job_run(self, message: dict) -> None:
        Jobs.started.append(message["n"])
        await Jobs.gate.wait()


@pytest.fixture
def jobs():
    Jobs.started = []
    Jobs.gate = asyncio.Event()
    return Jobs


def held_jobs_worker(slots: int = 1, kind: str = CHANNEL) -> ServiceWorker:
    routes = {channel: HeldJob.as_asgi() for channel in (CHANNEL, ASR_CHANNEL, ASR_FINAL_CHANNEL)}
    return ServiceWorker(ProtocolTypeRouter({"channel": ChannelNameRouter(routes)}), [kind], get_channel_layer(), slots)


async def run_worker(slots: int, kind: str = CHANNEL) -> asyncio.Task:
    worker = held_jobs_worker(slots, kind)
    return asyncio.ensure_future(asyncio.gather(*(worker.listener(channel) for channel in worker.channels)))


async def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_busy_worker_leaves_the_next_message_to_others(layer, jobs):
    """Channels' own listener would already have pulled message 2 into the busy worker's queue."""
    channel_layer = get_channel_layer()
    worker = await run_worker(slots=1)
    try:
        for n in (1, 2):
            await channel_layer.send(CHANNEL, {"type": "job.run", "n": n})
        await wait_for(lambda: jobs.started == [1])
        await asyncio.sleep(0.2)
        assert (await asyncio.wait_for(channel_layer.receive(CHANNEL), 5))["n"] == 2  # still there for another
        await channel_layer.send(CHANNEL, {"type": "job.run", "n": 3})
        jobs.gate.set()
        await wait_for(lambda: jobs.started == [1, 3])
    finally:
        await stop(worker)


async def test_slots_run_at_once_and_no_more(layer, jobs):
    channel_layer = get_channel_layer()
    worker = await run_worker(slots=2)
    try:
        for n in (1, 2, 3):
            await channel_layer.send(CHANNEL, {"type": "job.run", "n": n})
        await wait_for(lambda: sorted(jobs.started) == [1, 2])  # both held at the same time
        await asyncio.sleep(0.2)
        assert len(jobs.started) == 2
        jobs.gate.set()
        await wait_for(lambda: sorted(jobs.started) == [1, 2, 3])
    finally:
        await stop(worker)


async def test_a_final_does_not_wait_behind_partials(layer, jobs):
    """An `asr` worker also listens on `asr-final` with a slot of its own: with its only partial
    slot held, a final is still taken at once, and the queued partial is not."""
    channel_layer = get_channel_layer()
    worker = await run_worker(slots=1, kind="asr")
    try:
        for n in (1, 2):
            await channel_layer.send(ASR_CHANNEL, {"type": "job.run", "n": n})
        await wait_for(lambda: jobs.started == [1])
        await channel_layer.send(ASR_FINAL_CHANNEL, {"type": "job.run", "n": 3})
        await wait_for(lambda: jobs.started == [1, 3])
        await asyncio.sleep(0.2)
        assert jobs.started == [1, 3]
        jobs.gate.set()
        await wait_for(lambda: sorted(jobs.started) == [1, 2, 3])
    finally:
        await stop(worker)


async def test_a_free_slot_takes_a_closing_partial_before_queued_partials(layer, jobs, settings):
    """A closing partial can end its utterance, so it ranks ahead of partials queued shortly
    before it; while the only slot is held, every request stays in the layer for any worker
    (the production topology's workers took closing partials from each other while busy)."""
    settings.ASR_CLOSING_HEAD_START = 2.0
    channel_layer = get_channel_layer()

    async def send(n: int, closing: bool = False) -> None:
        await channel_layer.send(ASR_CHANNEL, {"type": "job.run", "n": n, QUEUE_RANK: queue_rank(time.time(), closing)})

    worker = await run_worker(slots=1, kind="asr")
    try:
        await send(1)
        await wait_for(lambda: jobs.started == [1])
        for n in (2, 3):
            await send(n)
        await send(4, closing=True)
        await asyncio.sleep(0.2)
        assert jobs.started == [1]
        assert (await asyncio.wait_for(channel_layer.receive(ASR_CHANNEL), 5))["n"] == 4  # not hoarded
        await send(4, closing=True)
        await send(5)
        jobs.gate.set()
        await wait_for(lambda: len(jobs.started) == 5)
        assert jobs.started == [1, 4, 2, 3, 5]
    finally:
        await stop(worker)


async def test_a_closing_partial_has_a_head_start_not_a_pass(layer, settings):
    """A closing partial ranks as sent ASR_CLOSING_HEAD_START earlier: it overtakes partials
    queued less than that before it, and a partial that has waited longer still goes first."""
    settings.ASR_CLOSING_HEAD_START = 0.5
    channel_layer = get_channel_layer()
    now = time.time()
    for waited, first in ((0.3, "closing"), (0.7, "partial")):
        for name, sent_at, closing in (("partial", now - waited, False), ("closing", now, True)):
            rank = queue_rank(sent_at, closing)
            await channel_layer.send(ASR_CHANNEL, {"type": "job.run", "name": name, QUEUE_RANK: rank})
        received = [(await asyncio.wait_for(channel_layer.receive(ASR_CHANNEL), 5))["name"] for _ in range(2)]
        assert received[0] == first and sorted(received) == ["closing", "partial"]


async def test_partials_decode_on_a_model_of_their_own_at_lower_priority(settings):
    """Finals and partials decode on two models, the partials' threads at ASR_PARTIAL_NICE
    (tests/unit/test_asr_engine.py shows the threads carry it): a final gets a core first.
    Without niceness one model has a replica for every slot."""
    settings.ASR_PARTIAL_NICE, settings.ASR_FINAL_SLOTS = 10, 2
    partials, finals = asr_config(ASR_CHANNEL, 2), asr_config(ASR_FINAL_CHANNEL, 2)
    assert (partials.nice, partials.num_workers, finals.nice, finals.num_workers) == (10, 2, 0, 2)
    settings.ASR_PARTIAL_NICE = 0
    assert asr_config(ASR_CHANNEL, 2) == asr_config(ASR_FINAL_CHANNEL, 2)
    assert (asr_config(ASR_CHANNEL, 2).nice, asr_config(ASR_CHANNEL, 2).num_workers) == (0, 4)


def asr_request(
    reply_channel: str,
    request_id: str,
    sequence: int,
    *,
    sent_at: float | None = None,
    behind: bool = False,
    deadline: float | None = None,
) -> dict:
    """A request to decode the first 3 s of the JFK clip, sent now and waited for 30 s unless the
    arguments say otherwise."""
    sent_at = time.time() if sent_at is None else sent_at
    request = AsrRequest(
        request_id=request_id,
        sequence=sequence,
        reply_channel=reply_channel,
        audio=float32_to_pcm16(jfk_audio()[: 3 * 16000]),
        language="en",
        prompt="",
        sent_at=sent_at,
        queue_rank=sent_at,
        behind=behind,
        deadline=sent_at + 30 if deadline is None else deadline,
    )
    return request.to_message()


async def test_asr_drops_requests_past_their_deadline(layer):
    """A request whose session already stopped waiting is not decoded; a live one is."""
    channel_layer = get_channel_layer()
    reply_channel = await channel_layer.new_channel()
    async with in_process_workers(("asr",)):
        await channel_layer.send("asr", asr_request(reply_channel, "stale", 1, deadline=time.time() - 1))
        await channel_layer.send("asr", asr_request(reply_channel, "live", 2))
        reply = await asyncio.wait_for(channel_layer.receive(reply_channel), 30)
        assert reply["request_id"] == "live" and "error" not in reply
        assert "fellow Americans" in "".join(s["text"] for s in reply["segments"])
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(channel_layer.receive(reply_channel), 1)


async def test_asr_skips_a_request_older_than_one_of_its_session_it_started(layer):
    """A closing partial or final taken first overtakes its session's older partial; that one's
    answer would come after and be ignored, so it is not decoded. Other sessions are not affected."""
    channel_layer = get_channel_layer()
    mine, other = await channel_layer.new_channel(), await channel_layer.new_channel()

    def request(reply_channel: str, sequence: int) -> dict:
        return asr_request(reply_channel, str(sequence), sequence)

    async with in_process_workers(("asr",)):
        await channel_layer.send(ASR_FINAL_CHANNEL, request(mine, 8))
        assert (await asyncio.wait_for(channel_layer.receive(mine), 30))["request_id"] == "8"
        for reply_channel, sequence in ((mine, 7), (other, 7), (mine, 9)):
            await channel_layer.send(ASR_CHANNEL, request(reply_channel, sequence))
        assert (await asyncio.wait_for(channel_layer.receive(other), 30))["request_id"] == "7"
        assert (await asyncio.wait_for(channel_layer.receive(mine), 30))["request_id"] == "9"
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(channel_layer.receive(mine), 1)


async def test_asr_decodes_cheaply_when_requests_queue(layer, settings):
    """A request that waited past ASR_BUSY_WAIT, or from a session that is behind, is decoded the
    busy way (greedy, 10 s context): a service short of CPU trades a little accuracy for capacity;
    a fresh request gets the full beam and context, unless the requests before it queued (a
    closing partial is taken first, so it may not have queued itself), until their waits fade."""
    settings.ASR_BUSY_WAIT = 0.25
    channel_layer = get_channel_layer()
    reply_channel = await channel_layer.new_channel()
    async with in_process_workers(("asr",)):
        for sequence, (request_id, queued, behind, busy) in enumerate(
            (
                ("fresh", 0, False, False),
                ("queued", 1, False, True),
                ("behind", 0, True, True),
                ("queued again", 1, False, True),
                ("fresh, after queued ones", 0, False, True),
                ("fresh, the waits fading", 0, False, False),
            )
        ):
            request = asr_request(reply_channel, request_id, sequence, sent_at=time.time() - queued, behind=behind)
            await channel_layer.send("asr", request)
            reply = await asyncio.wait_for(channel_layer.receive(reply_channel), 30)
            assert reply["request_id"] == request_id and "error" not in reply
            assert reply["busy"] is busy, request_id
            assert "fellow Americans" in "".join(s["text"] for s in reply["segments"])


async def test_a_stopped_worker_leaves_nothing_running(layer, jobs):
    """Stopping a worker (a server's shutdown, a test's end) stops its listeners, its consumers and
    the messages they were handling. Channels' worker left them running, and a Redis pop among them
    outlived its cancellation and hung the event loop's close."""
    before = asyncio.all_tasks()
    worker = asyncio.ensure_future(held_jobs_worker().arun())
    await get_channel_layer().send(CHANNEL, {"type": "job.run", "n": 1})
    await wait_for(lambda: jobs.started == [1])
    await stop(worker)
    assert [task for task in asyncio.all_tasks() - before if not task.done()] == []


async def test_a_worker_returns_free_memory_while_it_runs(layer, settings, monkeypatch):
    release = memory.release_free_memory
    trims = []
    monkeypatch.setattr(memory, "release_free_memory", lambda: trims.append(release()))
    settings.MALLOC_TRIM_INTERVAL = 0.05
    worker = asyncio.ensure_future(held_jobs_worker().handle())
    try:
        await wait_for(lambda: len(trims) >= 2)
        assert all(trims)  # glibc here: each call really trimmed
    finally:
        await stop(worker)
    done = len(trims)
    await asyncio.sleep(0.2)
    assert len(trims) == done  # it stops with the worker
