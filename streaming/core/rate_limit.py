"""Token-bucket limits on frames and bytes per connection."""

import time


class TokenBucket:
    """Allows `rate` units per second with bursts up to `burst`."""

    def __init__(self, rate: float, burst: float, clock=time.monotonic):
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.clock = clock
        self.updated = clock()

    def take(self, amount: float = 1.0) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True


class ConnectionLimits:
    """Frames/s and bytes/s for one WebSocket; two seconds of burst absorb network jitter.

    The byte burst holds at least `largest_message`, the largest message the protocol accepts:
    a smaller bucket would refuse that message at any rate.
    """

    def __init__(self, frames_per_second: int, bytes_per_second: int, largest_message: int = 0, clock=time.monotonic):
        self.frames = TokenBucket(frames_per_second, 2 * frames_per_second, clock)
        self.bytes = TokenBucket(bytes_per_second, max(2 * bytes_per_second, largest_message), clock)

    def allow(self, nbytes: int) -> bool:
        return self.frames.take(1) and self.bytes.take(nbytes)
