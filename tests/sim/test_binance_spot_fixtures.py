"""Shared fixtures of the Binance spot simulator tests (imported by the test_binance_spot_* files).

Every test runs a fresh simulator on a free port and talks to it with the real
python-binance client over real sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from terminal.model.enums import Side, Venue
from terminal.sim.exchange import SimConfig
from terminal.sim.server import RunningSim, start_sim
from tests.support.binance_clients import make_async_client, make_socket_manager

VENUE = Venue.BINANCE_SPOT


async def start_spot_sim(generator: bool = False, **kwargs: Any) -> RunningSim:
    return await start_sim(
        SimConfig(generator=generator, history_days=kwargs.pop("history_days", 1), **kwargs)
    )


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    """A simulator with static books (no generator): deterministic."""
    running = await start_spot_sim(generator=False)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def live_sim() -> AsyncIterator[RunningSim]:
    """A simulator whose market generator runs."""
    running = await start_spot_sim(generator=True)
    try:
        yield running
    finally:
        await running.stop()


async def _client_for(running: RunningSim):
    creds = running.exchange.default_credentials
    c = await make_async_client(running.url, creds.api_key, creds.api_secret)
    # python-binance's WebSocket-API reader only notices close_connection() when its 10 s
    # recv timeout expires; a shorter one keeps test teardown fast (the behaviour is the same).
    c.ws_api.TIMEOUT = 1
    return c


@pytest.fixture
async def client(sim: RunningSim):
    c = await _client_for(sim)
    try:
        yield c
    finally:
        await c.close_connection()


@pytest.fixture
async def live_client(live_sim: RunningSim):
    c = await _client_for(live_sim)
    try:
        yield c
    finally:
        await c.close_connection()


def socket_manager(client, running: RunningSim, **kwargs):
    return make_socket_manager(client, running.url, **kwargs)


def market(running: RunningSim):
    return running.exchange.markets[VENUE]


async def balances(client) -> dict[str, tuple[Decimal, Decimal]]:
    acct = await client.get_account()
    return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in acct["balances"]}


async def recv_until(
    sock,
    pred: Callable[[dict], bool],
    timeout: float = 5.0,
    on_msg: Callable[[dict], Awaitable[None]] | None = None,
) -> dict:
    """Messages from a python-binance socket until one satisfies ``pred``."""

    async def loop() -> dict:
        while True:
            msg = await sock.recv()
            if on_msg is not None:
                await on_msg(msg)
            if msg.get("e") == "error":
                raise AssertionError(f"socket error: {msg}")
            if pred(msg):
                return msg

    return await asyncio.wait_for(loop(), timeout)


def best(running: RunningSim, symbol: str = "BTCUSDT") -> tuple[int, int]:
    book = market(running).books[symbol]
    return book.best_bid(), book.best_ask()


def take(running: RunningSim, symbol: str, side: Side, lots: int) -> int:
    return market(running).mm_take(symbol, side, lots)


__all__ = [
    "balances",
    "best",
    "client",
    "live_client",
    "live_sim",
    "market",
    "recv_until",
    "sim",
    "socket_manager",
    "start_spot_sim",
    "take",
]
