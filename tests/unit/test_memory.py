"""Free heap pages go back to the system: for real, through glibc, and once per process."""

import asyncio
import ctypes

import pytest

from streaming.workers import memory, runtime

MB = 1024 * 1024


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def test_release_free_memory_returns_freed_heap_pages_to_the_system():
    """What decode buffers leave behind: chunks freed inside the heap, below a chunk still in use,
    stay resident until trimmed."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    size = 64 * 1024  # below glibc's mmap threshold: served from the heap
    blocks = [libc.malloc(size) for _ in range(1600)]  # 100 MB
    for block in blocks:
        ctypes.memset(block, 1, size)
    for block in blocks[:-1]:  # the last one holds the heap's top, as a live buffer would
        libc.free(block)
    before = rss_mb()
    try:
        assert memory.release_free_memory()
        assert before - rss_mb() > 50
    finally:
        libc.free(blocks[-1])


async def test_one_trimming_loop_per_process_however_many_workers(settings, monkeypatch):
    trims = []
    monkeypatch.setattr(memory, "release_free_memory", lambda: trims.append(1))
    settings.MALLOC_TRIM_INTERVAL = 0.02
    first = asyncio.ensure_future(runtime._release_memory())
    second = asyncio.ensure_future(runtime._release_memory())  # the embedded server's TTS worker
    try:
        await asyncio.sleep(0.2)
        assert second.done() and not first.done()
        assert len(trims) >= 3
    finally:
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
    assert "memory" not in runtime._running  # a worker started later trims again


@pytest.mark.parametrize("interval", [0, -1])
async def test_no_trimming_when_the_interval_is_not_positive(settings, interval):
    settings.MALLOC_TRIM_INTERVAL = interval
    await asyncio.wait_for(runtime._release_memory(), 1)
