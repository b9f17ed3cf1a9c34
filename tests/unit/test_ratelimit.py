"""RateGate pacing: Retry-After bans and the calendar-minute weight window."""

from __future__ import annotations

import pytest

from terminal.model import Venue
from terminal.venues.errors import RateLimited
from terminal.venues.ratelimit import RateGate


class Clocks:
    def __init__(self, wall: float) -> None:
        self.t = wall

    def wall(self) -> float:
        return self.t

    def mono(self) -> float:
        return self.t  # the same seconds suffice here


def gate(clocks: Clocks) -> RateGate:
    return RateGate(Venue.BINANCE_SPOT, weight_limit=6000, headroom=0.9, clock=clocks.mono, wall=clocks.wall)


def test_a_spent_budget_waits_for_the_next_minute_only_within_its_minute() -> None:
    c = Clocks(wall=1_000_000 * 60 + 55.0)  # hh:mm:55
    g = gate(c)
    g.note_weight(5500)  # over 90 % of 6000
    assert g.wait_s() == pytest.approx(5.0)
    c.t += 10.0  # hh:(mm+1):05 - a new window: the old reading no longer counts
    assert g.wait_s() == 0.0


def test_a_budget_under_the_headroom_does_not_wait() -> None:
    c = Clocks(wall=60.0 * 7 + 10)
    g = gate(c)
    g.note_weight(5000)
    assert g.wait_s() == 0.0


def test_retry_after_blocks_and_long_waits_raise() -> None:
    c = Clocks(wall=60.0 * 9)
    g = gate(c)
    g.block_for(120)
    assert g.wait_s() == pytest.approx(120)
    with pytest.raises(RateLimited) as info:
        import asyncio

        asyncio.run(g.acquire(max_wait_s=30))
    assert info.value.retry_after_s == pytest.approx(120)
    c.t += 121
    assert g.wait_s() == 0.0
