"""Bybit's documented book procedure on a raw aiohttp websocket, under injected faults.

Every snapshot resets the book (including ``u=1`` after a restart); deltas must carry
``u`` = previous + 1, else resubscribe for a fresh snapshot. The local book must equal
the simulator's top N whenever the stream has caught up with the core's update id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random

import aiohttp
import pytest

from terminal.model.enums import Side, Venue
from terminal.sim.faults import StreamFault
from terminal.sim.market import SimMarket
from tests.sim.test_bybit_helpers import market, running_sim, wait_for
from tests.support.book_sync import BybitBookSync, GapDetected

pytestmark = pytest.mark.timeout(60)

SYMBOL = "BTCUSDT"
DEPTH = 50
TOPIC = f"orderbook.{DEPTH}.{SYMBOL}"


class RawBookClient:
    """A minimal supervised client: resubscribes on gaps, reconnects on drops."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.book = BybitBookSync()
        self.seq = -1
        self.u_seen: list[int] = []
        self.snapshots = 0
        self.restart_snapshots = 0  # u == 1
        self.gaps = 0
        self.connects = 0
        self.resyncing = False
        self._task: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    def start(self, session: aiohttp.ClientSession) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(session))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, session: aiohttp.ClientSession) -> None:
        while True:
            try:
                async with session.ws_connect(self.url) as ws:
                    self._ws = ws
                    self.connects += 1
                    self.book = BybitBookSync()
                    self.resyncing = True
                    await ws.send_json({"op": "subscribe", "req_id": f"c{self.connects}", "args": [TOPIC]})
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        await self._on_message(ws, msg.json())
            except (aiohttp.ClientError, ConnectionResetError):
                pass
            await asyncio.sleep(0.05)  # reconnect

    async def _on_message(self, ws: aiohttp.ClientWebSocketResponse, msg: dict) -> None:
        if msg.get("topic") != TOPIC:
            return
        data = msg["data"]
        if msg["type"] == "snapshot":
            self.snapshots += 1
            self.restart_snapshots += data["u"] == 1
            self.resyncing = False
        elif self.resyncing:
            return  # in flight before our fresh snapshot
        self.u_seen.append(data["u"])
        try:
            self.book.on_message(msg)
        except GapDetected:
            self.gaps += 1
            self.resyncing = True
            await ws.send_json({"op": "unsubscribe", "req_id": "gap-u", "args": [TOPIC]})
            await ws.send_json({"op": "subscribe", "req_id": "gap-s", "args": [TOPIC]})
            return
        self.seq = data["seq"]


def _churn(m: SimMarket, rng: random.Random, steps: int) -> None:
    book = m.books[SYMBOL]
    for _ in range(steps):
        bid, ask = book.best_bid(), book.best_ask()
        roll = rng.random()
        if roll < 0.4:
            m.mm_add(SYMBOL, Side.BUY, bid - rng.randint(-1 if ask - bid > 1 else 0, 60), rng.randint(1, 90))
        elif roll < 0.8:
            m.mm_add(SYMBOL, Side.SELL, ask + rng.randint(-1 if ask - bid > 1 else 0, 60), rng.randint(1, 90))
        else:
            m.mm_take(SYMBOL, Side.BUY if roll < 0.9 else Side.SELL, rng.randint(1, 40))


async def _consistent(client: RawBookClient, m: SimMarket) -> None:
    target = m.books[SYMBOL].update_id
    await wait_for(lambda: not client.resyncing and client.book.synced and client.seq == target, timeout=5)
    inst = m.instruments[SYMBOL]
    _, bids, asks = m.depth(SYMBOL, DEPTH)
    got_bids, got_asks = client.book.top()
    assert got_bids == [(inst.fmt_price(p), inst.fmt_qty(q)) for p, q in bids]
    assert got_asks == [(inst.fmt_price(p), inst.fmt_qty(q)) for p, q in asks]


async def _round(client: RawBookClient, m: SimMarket, rng: random.Random, rounds: int = 4) -> None:
    for _ in range(rounds):
        _churn(m, rng, 25)
        await asyncio.sleep(0.05)
    await _consistent(client, m)


async def test_book_sync_procedure_under_faults() -> None:
    async with running_sim() as sim, aiohttp.ClientSession() as session:
        m = market(sim, "linear")
        faults = sim.exchange.faults
        venue = Venue.BYBIT_LINEAR
        client = RawBookClient(f"{sim.ws_url}/v5/public/linear")
        client.start(session)
        rng = random.Random(11)
        try:
            await _round(client, m, rng)
            assert client.gaps == 0 and client.snapshots == 1
            u = client.u_seen
            assert all(b == a + 1 for a, b in itertools.pairwise(u)), "u must step by one"

            # GAP: one delta lost, the next u jumps by two -> detected, resubscribed, exact again
            faults.inject_stream(StreamFault.GAP, venue, symbol=SYMBOL)
            await _round(client, m, rng)
            assert client.gaps == 1 and client.snapshots == 2
            assert any(b == a + 2 for a, b in itertools.pairwise(u))

            # BOOK_RESET: a u=1 snapshot mid-stream resets the book; deltas continue from 2
            faults.inject_stream(StreamFault.BOOK_RESET, venue, symbol=SYMBOL)
            await _round(client, m, rng)
            assert client.restart_snapshots == 1 and client.gaps == 1
            assert u[u.index(1) + 1] == 2

            # DUPLICATE and REORDER break the +1 rule: both detected and healed
            faults.inject_stream(StreamFault.DUPLICATE, venue, symbol=SYMBOL)
            await _round(client, m, rng)
            assert client.gaps == 2
            faults.inject_stream(StreamFault.REORDER, venue, symbol=SYMBOL)
            await _round(client, m, rng)
            assert client.gaps == 3

            # STALL: nothing for a while, then one delta covers everything: no gap
            faults.inject_stream(StreamFault.STALL, venue, symbol=SYMBOL, duration_s=0.4)
            seen = len(u)
            _churn(m, rng, 30)
            await asyncio.sleep(0.25)
            assert len(u) == seen  # withheld
            await _consistent(client, m)
            assert client.gaps == 3

            # DROP: the socket is cut without a close frame; the client reconnects and resyncs
            faults.inject_stream(StreamFault.DROP, venue, symbol=SYMBOL)
            await wait_for(lambda: client.connects == 2, timeout=5)
            await _round(client, m, rng)
            assert client.gaps == 3
        finally:
            await client.stop()


async def test_restart_control_resets_every_book() -> None:
    """The control plane's restart: u=1 snapshots for every symbol after the reconnect."""
    from terminal.sim.control import restart

    async with running_sim() as sim, aiohttp.ClientSession() as session:
        m = market(sim, "linear")
        client = RawBookClient(f"{sim.ws_url}/v5/public/linear")
        client.start(session)
        rng = random.Random(3)
        try:
            await _round(client, m, rng, rounds=2)
            restart(sim.exchange)
            await wait_for(lambda: client.connects == 2, timeout=5)
            await _round(client, m, rng, rounds=2)
            assert client.restart_snapshots == 1  # once per restart, not once per armed count
            assert client.gaps == 0
        finally:
            await client.stop()
            sim.exchange.faults.clear()
