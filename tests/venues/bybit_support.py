"""Helpers for the Bybit adapter tests: a simulator, adapters pointed at it, an event recorder.

No tests here. The simulator runs in the test's event loop over real sockets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from terminal.model import FeedState, Side, Venue
from terminal.sim.exchange import SimConfig
from terminal.sim.market import SimMarket
from terminal.sim.server import RunningSim, start_sim
from terminal.venues.base import ApiCredentials, Network, VenueConfig
from terminal.venues.bybit import BybitAdapter
from terminal.venues.events import FeedEvent, StreamKind, VenueEvent
from terminal.venues.ws import Backoff

E = TypeVar("E")


@dataclass
class Recorder:
    """An ``EventSink`` that keeps every event in arrival order."""

    events: list[VenueEvent] = field(default_factory=list)

    def __call__(self, event: VenueEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def feed_states(self, kind: StreamKind, symbol: str | None = None, start: int = 0) -> list[FeedState]:
        return [
            e.status.state
            for e in self.events[start:]
            if isinstance(e, FeedEvent) and e.kind is kind and (symbol is None or e.symbol == symbol)
        ]


async def wait_for(pred: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or pred}")
        await asyncio.sleep(0.01)


@asynccontextmanager
async def running_sim(**overrides: Any) -> AsyncIterator[RunningSim]:
    """Static books (no generator) unless told otherwise; one day of history keeps start fast."""
    sim = await start_sim(SimConfig(**({"generator": False, "history_days": 1} | overrides)))
    try:
        yield sim
    finally:
        await sim.stop()


def config_for(sim: RunningSim, venue: Venue, *, creds: bool = True, **kw: Any) -> VenueConfig:
    c = sim.exchange.default_credentials
    return VenueConfig(
        venue=venue,
        network=Network.CUSTOM,
        base_url=sim.url,
        credentials=ApiCredentials(c.api_key, c.api_secret) if creds else None,
        **({"stale_after_s": 2.0, "request_timeout_s": 3.0} | kw),
    )


@asynccontextmanager
async def adapter_for(
    sim: RunningSim, venue: Venue, rec: Recorder | None = None, **kw: Any
) -> AsyncIterator[BybitAdapter]:
    adapter = BybitAdapter(
        config_for(sim, venue, **kw),
        rec if rec is not None else Recorder(),
        backoff=Backoff(base_s=0.05, cap_s=0.3, reset_after_s=1.0),
        ping_interval_s=1.0,
        heartbeat_s=2.0,
    )
    await adapter.start()
    try:
        yield adapter
    finally:
        await adapter.close()


def market(sim: RunningSim, venue: Venue) -> SimMarket:
    return sim.exchange.markets[venue]


def churn(m: SimMarket, symbol: str, rng: Any, steps: int) -> None:
    """Random adds/takes around the touch on the simulator's integer API (static books)."""
    book = m.books[symbol]
    for _ in range(steps):
        bid, ask = book.best_bid(), book.best_ask()
        roll = rng.random()
        if roll < 0.45:
            m.mm_add(symbol, Side.BUY, bid - rng.randint(0 if ask - bid > 1 else 1, 40), rng.randint(1, 90))
        elif roll < 0.9:
            m.mm_add(symbol, Side.SELL, ask + rng.randint(0 if ask - bid > 1 else 1, 40), rng.randint(1, 90))
        else:
            m.mm_take(symbol, Side.BUY if roll < 0.95 else Side.SELL, rng.randint(1, 30))
