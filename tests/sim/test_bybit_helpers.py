"""Shared helpers of the Bybit simulator tests (no tests here).

The simulator runs in the test's event loop; pybit is blocking, so every pybit call
goes through ``call`` (a worker thread) and pybit WebSocket callbacks land in an
``Inbox`` that async tests poll.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from terminal.model.enums import Side, Venue
from terminal.sim.bybit_ws import WS_KEY, BybitWs
from terminal.sim.exchange import SimConfig
from terminal.sim.market import SimMarket
from terminal.sim.server import RunningSim, start_sim
from tests.support.bybit_clients import make_http, make_ws

Q8 = Decimal("0.00000001")
TAKER_LINEAR = Decimal("0.00055")
MAKER_LINEAR = Decimal("0.0002")
SPOT_FEE = Decimal("0.001")


def q8(x: Decimal) -> Decimal:
    return x.quantize(Q8, rounding=ROUND_HALF_UP)


@asynccontextmanager
async def running_sim(**overrides: Any) -> AsyncIterator[RunningSim]:
    """A simulator with static books (no generator) unless told otherwise."""
    config = SimConfig(**({"generator": False, "history_days": 1} | overrides))
    sim = await start_sim(config)
    try:
        yield sim
    finally:
        await sim.stop()


def http_for(sim: RunningSim, **kwargs: Any):
    creds = sim.exchange.default_credentials
    kwargs.setdefault("retry_delay", 0.05)
    return make_http(sim.url, creds.api_key, creds.api_secret, **kwargs)


async def call(fn: Callable[..., Any], /, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, **kwargs)


async def ok(fn: Callable[..., Any], /, **kwargs: Any) -> Any:
    """Call a pybit method and return its ``result`` (asserting retCode 0)."""
    resp = await asyncio.to_thread(fn, **kwargs)
    assert resp["retCode"] == 0, resp
    return resp["result"]


async def wait_for(pred: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


class Inbox:
    """Collects pybit WebSocket callback messages (called from pybit's thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[dict] = []

    def __call__(self, msg: dict) -> None:
        with self._lock:
            self.items.append(copy.deepcopy(msg))

    def of(self, topic: str) -> list[dict]:
        with self._lock:
            return [m for m in self.items if m.get("topic") == topic]

    def rows(self, topic: str) -> list[dict]:
        return [row for m in self.of(topic) for row in m["data"]]

    async def wait(self, pred: Callable[[dict], bool], topic: str, timeout: float = 5.0) -> dict:
        def find() -> dict | None:
            for row in self.rows(topic):
                if pred(row):
                    return row
            return None

        return await wait_for(find, timeout)


async def open_ws(sim: RunningSim, channel: str, private: bool = False):
    creds = sim.exchange.default_credentials
    if private:
        return await asyncio.to_thread(make_ws, sim.url, "private", creds.api_key, creds.api_secret)
    return await asyncio.to_thread(make_ws, sim.url, channel)


async def close_ws(ws) -> None:
    if ws is not None:
        await asyncio.to_thread(ws.exit)


def ws_server(sim: RunningSim) -> BybitWs:
    """The simulator's Bybit WebSocket server (to wait for server-side state, e.g. subscriptions)."""
    return sim.runner.app[WS_KEY]


def market(sim: RunningSim, category: str) -> SimMarket:
    return sim.exchange.markets[Venue.BYBIT_SPOT if category == "spot" else Venue.BYBIT_LINEAR]


def add_liquidity(m: SimMarket, symbol: str, side: Side, price: str, qty: str) -> None:
    inst = m.instruments[symbol]
    m.mm_add(symbol, side, inst.ticks(Decimal(price)), inst.lots(Decimal(qty)))


def clear_side(
    m: SimMarket, symbol: str, side: Side, below: str | None = None, above: str | None = None
) -> None:
    """Take away resting generator liquidity of one side within a price range (static books)."""
    book = m.books[symbol]
    inst = m.instruments[symbol]
    levels = book.bids if side is Side.BUY else book.asks
    lo = inst.ticks(Decimal(above)) if above else None
    hi = inst.ticks(Decimal(below)) if below else None
    for price in list(levels.keys()):
        if (lo is None or price >= lo) and (hi is None or price <= hi):
            for oid in list(levels[price].orders):
                m.mm_cancel(symbol, oid)


def coin(wallet_result: dict, name: str) -> dict:
    for row in wallet_result["list"][0]["coin"]:
        if row["coin"] == name:
            return row
    raise KeyError(name)


def dec(text: str) -> Decimal:
    return Decimal(text)
