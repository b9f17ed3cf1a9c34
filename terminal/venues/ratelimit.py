"""Request pacing shared by the REST adapters: honour Retry-After, track used weight, never hammer.

After a 429/418 (Binance) or 10006/403 (Bybit) every further request of that venue waits until
the ban ends instead of being sent; a caller that cannot wait gets ``RateLimited`` at once.
Used weight is tracked from the venue's response headers, and requests are delayed when the
budget for the current window is nearly spent (a 418 IP ban costs minutes to hours).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from terminal.model import Venue
from terminal.venues.errors import RateLimited

__all__ = ["RateGate"]


@dataclass(slots=True)
class RateGate:
    venue: Venue
    weight_limit: int = 6000  # per minute (Binance spot 6000, futures 2400)
    headroom: float = 0.9  # start pacing when this share of the budget is used
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time  # the venue's weight window is a wall-clock minute
    blocked_until: float = 0.0
    used_weight: int = 0
    used_weight_minute: int = -1  # the wall-clock minute the reading was taken in
    bans: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def block_for(self, retry_after_s: float) -> None:
        """Record a 429/418: nothing goes out for ``retry_after_s``."""
        self.bans += 1
        self.blocked_until = max(self.blocked_until, self.clock() + max(retry_after_s, 0.0))

    def note_weight(self, used: int) -> None:
        """Record the venue's ``X-MBX-USED-WEIGHT-1M`` (or equivalent)."""
        self.used_weight = used
        self.used_weight_minute = int(self.wall() // 60)

    def wait_s(self) -> float:
        """How long the next request has to wait (0 = go)."""
        now = self.clock()
        wait = max(0.0, self.blocked_until - now)
        if self.used_weight >= self.weight_limit * self.headroom:
            # The venue's window is a calendar minute: a nearly spent budget read in *this*
            # minute waits for the next one; a reading from an earlier minute no longer counts.
            wall = self.wall()
            if int(wall // 60) == self.used_weight_minute:
                wait = max(wait, 60.0 - (wall % 60.0))
        return wait

    async def acquire(self, *, max_wait_s: float = 30.0) -> None:
        """Wait for permission to send; raise ``RateLimited`` if that would take over ``max_wait_s``."""
        wait = self.wait_s()
        if wait <= 0:
            return
        if wait > max_wait_s:
            raise RateLimited(self.venue, f"rate limited, retry in {wait:.1f} s", retry_after_s=wait)
        async with self._lock:  # one sleeper at a time; the rest queue behind it
            wait = self.wait_s()
            if wait > 0:
                await asyncio.sleep(wait)
