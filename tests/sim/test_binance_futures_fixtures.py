"""Shared fixtures of the Binance USDⓈ-M simulator tests (imported by the test_binance_futures_* files).

Every test runs a fresh simulator on a free port and talks to it with the real
python-binance AsyncClient / BinanceSocketManager over real sockets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import aiohttp

from terminal.model.enums import Side, Venue
from terminal.sim.server import RunningSim

# The simulator and client fixtures are the spot ones (one app serves every venue).
from tests.sim.test_binance_spot_fixtures import _client_for as _spot_client_for
from tests.sim.test_binance_spot_fixtures import client, live_client, live_sim, sim
from tests.support.binance_clients import make_socket_manager

VENUE = Venue.BINANCE_USDM
SYMBOL = "BTCUSDT"


async def client_for(running: RunningSim):
    return await _spot_client_for(running)


def socket_manager(client, running: RunningSim, **kwargs):
    return make_socket_manager(client, running.url, **kwargs)


def quick(sock):
    """A python-binance socket whose read loop notices an exit quickly: it only checks
    after ``TIMEOUT`` seconds without a message (10 s by default), which makes the
    teardown of an idle socket slow."""
    sock.TIMEOUT = 0.5
    return sock


def user_socket(bsm):
    """python-binance's futures user socket (``/private/ws?listenKey=``), quick to close."""
    return quick(bsm.futures_user_socket())


def market(running: RunningSim):
    return running.exchange.markets[VENUE]


def inst(running: RunningSim, symbol: str = SYMBOL):
    return market(running).instruments[symbol]


def take(running: RunningSim, side: Side, lots: int, symbol: str = SYMBOL) -> int:
    """A generator taker: moves the last price through the book."""
    return market(running).mm_take(symbol, side, lots)


def lots_to_move(running: RunningSim, side: Side, levels: int, symbol: str = SYMBOL) -> int:
    """Lots a taker of ``side`` must take to eat the top ``levels`` levels of the other side."""
    _, bids, asks = market(running).depth(symbol, levels)
    book_side = asks if side is Side.BUY else bids
    return sum(q for _, q in book_side[:levels])


async def recv_until(
    sock, pred: Callable[[dict], bool], timeout: float = 5.0, seen: list | None = None
) -> dict:
    """Messages from a python-binance socket until one satisfies ``pred`` (all kept in ``seen``)."""

    async def loop() -> dict:
        while True:
            msg = await sock.recv()
            if seen is not None:
                seen.append(msg)
            if isinstance(msg, dict) and msg.get("e") == "error":
                raise AssertionError(f"socket error: {msg}")
            if pred(msg):
                return msg

    return await asyncio.wait_for(loop(), timeout)


async def silent_for(sock, seconds: float, pred: Callable[[dict], bool] = lambda m: True) -> list[dict]:
    """Messages matching ``pred`` that arrive within ``seconds`` (expected: none)."""
    got: list[dict] = []

    async def loop() -> None:
        while True:
            msg = await sock.recv()
            if pred(msg):
                got.append(msg)

    try:
        await asyncio.wait_for(loop(), seconds)
    except TimeoutError:
        pass
    return got


async def raw_ws_messages(running: RunningSim, path: str, seconds: float) -> list[str]:
    """Every text frame a plain websocket client gets on ``path`` within ``seconds``."""
    out: list[str] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(running.ws_url + path) as ws:
        try:
            async with asyncio.timeout(seconds):
                async for msg in ws:
                    if msg.type is aiohttp.WSMsgType.TEXT:
                        out.append(msg.data)
        except TimeoutError:
            pass
    return out


def dec(x: str | int | float) -> Decimal:
    return Decimal(str(x))


__all__ = [
    "SYMBOL",
    "VENUE",
    "client",
    "client_for",
    "dec",
    "inst",
    "live_client",
    "live_sim",
    "lots_to_move",
    "market",
    "quick",
    "raw_ws_messages",
    "recv_until",
    "silent_for",
    "sim",
    "socket_manager",
    "take",
    "user_socket",
]
