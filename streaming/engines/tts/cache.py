"""The cache of synthesized sentences: a tutor repeats itself a lot."""

import threading
from collections import OrderedDict

from streaming.engines.tts.base import Synthesis


class AudioCache:
    """LRU of synthesized audio keyed by (engine name, voice, text) with a byte cap.

    Greetings, encouragement and repeated questions come back all the time; replaying them is
    free, and the cap keeps an hour-long school day from growing memory without bound.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self.size_bytes = 0
        self._entries: OrderedDict[tuple[str, str, str], Synthesis] = OrderedDict()
        self._lock = threading.Lock()  # TTS worker threads share one router

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[str, str, str]) -> Synthesis | None:
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: tuple[str, str, str], value: Synthesis) -> None:
        """Store `value`, evicting least recently used entries; audio larger than the cap is not kept."""
        size = len(value.pcm)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.size_bytes -= len(old.pcm)
            if size > self.max_bytes:
                return
            while self.size_bytes + size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.size_bytes -= len(evicted.pcm)
            self._entries[key] = value
            self.size_bytes += size
