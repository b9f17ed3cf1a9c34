"""Cheap checks the listener runs before any cryptography: body size, request rate, and
re-delivery of a payload it has already accepted."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import StreamReader

__all__ = [
    "BodyTooLarge",
    "DuplicateWindow",
    "RateDecision",
    "RateLimiter",
    "TokenBucket",
    "read_limited",
]

Clock = Callable[[], float]  # monotonic seconds


class BodyTooLarge(Exception):
    """The body exceeds the listener's limit (answered 413)."""

    def __init__(self, limit: int, seen: int | None) -> None:
        declared = f" (Content-Length {seen})" if seen is not None else ""
        super().__init__(f"body larger than {limit} bytes{declared}")
        self.limit = limit


async def read_limited(stream: StreamReader, limit: int, declared: int | None) -> bytes:
    """The whole body, refusing more than ``limit`` bytes.

    A declared Content-Length over the limit is refused before reading anything; a chunked
    body is refused as soon as it crosses the limit, so memory stays bounded either way."""
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit, declared)
    buf = bytearray()
    while True:
        chunk = await stream.read(min(65536, limit + 1 - len(buf)))
        if not chunk:
            return bytes(buf)
        buf += chunk
        if len(buf) > limit:
            raise BodyTooLarge(limit, None)


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after_s: int = 0  # whole seconds until a request would be admitted (Retry-After)


class TokenBucket:
    """``rate_per_minute`` requests per minute on average, bursts of up to ``burst``."""

    def __init__(self, rate_per_minute: float, burst: int, clock: Clock = time.monotonic) -> None:
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self._rate = rate_per_minute / 60.0  # tokens per second
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._last = clock()

    def take(self) -> RateDecision:
        now = self._clock()
        # max(0, ...): a clock that goes backwards must not drain the bucket.
        self._tokens = min(self._burst, self._tokens + max(0.0, now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return RateDecision(True)
        return RateDecision(False, max(1, math.ceil((1.0 - self._tokens) / self._rate)))


class RateLimiter:
    """One token bucket per key (per hook): a flood on one hook does not starve another."""

    def __init__(
        self, rate_per_minute: float, burst: int | None = None, clock: Clock = time.monotonic
    ) -> None:
        self.rate_per_minute = rate_per_minute
        self.burst = burst if burst is not None else max(1, math.ceil(rate_per_minute))
        TokenBucket(rate_per_minute, self.burst, clock)  # validate now, not on the first request
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, key: str) -> RateDecision:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate_per_minute, self.burst, self._clock)
        return bucket.take()


class DuplicateWindow:
    """Keys (payload hashes, signal ids) accepted within the last ``window_s`` seconds.

    Insertion order is (nearly) time order, so expiry pops from the front; ``max_entries``
    bounds memory even if the window is long and the rate limit generous."""

    def __init__(self, window_s: float, max_entries: int = 100_000, clock: Clock = time.monotonic) -> None:
        if window_s < 0 or max_entries < 1:
            raise ValueError("a duplicate window needs window_s >= 0 and max_entries >= 1")
        self.window_s = window_s
        self.max_entries = max_entries
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        self._expire(self._clock())
        return len(self._seen)

    def _expire(self, now: float) -> None:
        horizon = now - self.window_s
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if at > horizon:
                break
            del self._seen[key]

    def seen(self, key: str) -> bool:
        """True if ``key`` was remembered within the window."""
        now = self._clock()
        self._expire(now)
        # Its own time decides (expiry from the front is memory housekeeping, and a seeded
        # entry may sit behind younger ones).
        at = self._seen.get(key)
        return at is not None and at > now - self.window_s

    def remember(self, key: str, at: float | None = None) -> None:
        """Remember ``key`` as seen now, or at ``at`` (monotonic seconds; for seeding from the
        journal after a restart, oldest first, before live traffic)."""
        now = self._clock()
        self._expire(now)
        self._seen.pop(key, None)
        self._seen[key] = now if at is None else at
        while len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
