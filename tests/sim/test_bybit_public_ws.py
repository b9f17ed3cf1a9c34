"""Public Bybit streams through the real pybit ``WebSocket``: orderbook (pybit's own
merged book must equal the simulator's top N at a consistent point), trades, klines,
tickers; pybit's thread must survive (no unknown-level deletes, req_id echoed)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from decimal import Decimal

import pytest

from terminal.model.enums import Side
from terminal.sim.market import SimMarket
from tests.sim.test_bybit_helpers import Inbox, close_ws, market, open_ws, running_sim, wait_for, ws_server

pytestmark = pytest.mark.timeout(60)

SYMBOL = "BTCUSDT"


def _expected_top(m: SimMarket, depth: int) -> tuple[dict[str, str], dict[str, str]]:
    inst = m.instruments[SYMBOL]
    _, bids, asks = m.depth(SYMBOL, depth)
    return (
        {inst.fmt_price(p): inst.fmt_qty(q) for p, q in bids},
        {inst.fmt_price(p): inst.fmt_qty(q) for p, q in asks},
    )


def _pybit_book(inbox: Inbox, topic: str) -> tuple[int, dict[str, str], dict[str, str]] | None:
    msgs = inbox.of(topic)
    if not msgs:
        return None
    data = msgs[-1]["data"]
    return data["seq"], dict(map(tuple, data["b"])), dict(map(tuple, data["a"]))


async def _book_matches(inbox: Inbox, m: SimMarket, depth: int, timeout: float = 5.0) -> None:
    """Wait until pybit's merged book reached the simulator's update id, then compare."""
    topic = f"orderbook.{depth}.{SYMBOL}"
    target = m.books[SYMBOL].update_id

    def reached() -> bool:
        book = _pybit_book(inbox, topic)
        return book is not None and book[0] >= target

    await wait_for(reached, timeout)
    _, bids, asks = _pybit_book(inbox, topic)  # type: ignore[misc]
    exp_bids, exp_asks = _expected_top(m, depth)
    assert bids == exp_bids
    assert asks == exp_asks
    assert len(bids) == len(exp_bids) == depth


def _churn(m: SimMarket, rng: random.Random, steps: int) -> None:
    """Adds inside and around the touch (pushing levels out of the top N), cancels and takes."""
    inst = m.instruments[SYMBOL]
    book = m.books[SYMBOL]
    mine: list[int] = []
    for _ in range(steps):
        roll = rng.random()
        bid, ask = book.best_bid(), book.best_ask()
        if roll < 0.45 and ask - bid > 1:
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            price = rng.randint(bid + 1, ask - 1)
            mine.append(m.mm_add(SYMBOL, side, price, rng.randint(1, 50)))
        elif roll < 0.75:
            side = Side.BUY if rng.random() < 0.5 else Side.SELL
            price = (bid - rng.randint(0, 80)) if side is Side.BUY else (ask + rng.randint(0, 80))
            mine.append(m.mm_add(SYMBOL, side, price, rng.randint(1, 200)))
        elif roll < 0.9 and mine:
            m.mm_cancel(SYMBOL, mine.pop(rng.randrange(len(mine))))
        else:
            m.mm_take(
                SYMBOL,
                Side.BUY if rng.random() < 0.5 else Side.SELL,
                rng.randint(1, 3 * inst.lots(inst.min_qty)),
            )


@pytest.mark.parametrize("category", ["linear", "spot"])
async def test_pybit_public_streams(category: str) -> None:
    async with running_sim() as sim:
        m = market(sim, category)
        inst = m.instruments[SYMBOL]
        inbox = Inbox()
        ws = await open_ws(sim, category)
        try:
            await asyncio.to_thread(ws.orderbook_stream, 50, SYMBOL, inbox)
            await asyncio.to_thread(ws.trade_stream, SYMBOL, inbox)
            await asyncio.to_thread(ws.kline_stream, 1, SYMBOL, inbox)
            await asyncio.to_thread(ws.ticker_stream, SYMBOL, inbox)
            hub = ws_server(sim).public[category]
            await wait_for(lambda: any(len(c.topics) == 4 for c in hub.conns))
            await _book_matches(inbox, m, 50)

            rng = random.Random(7)
            for _ in range(10):
                _churn(m, rng, 40)
                await asyncio.sleep(0.03)
            await _book_matches(inbox, m, 50)

            # a taker sweeping five levels: one publicTrade message, prices as the book had them
            book = m.books[SYMBOL]
            prices = [inst.fmt_price(p) for p in list(book.asks.keys())[:5]]
            lots = sum(level.total for level in list(book.asks.values())[:5])
            before = len(inbox.of(f"publicTrade.{SYMBOL}"))
            m.mm_take(SYMBOL, Side.BUY, lots)
            msgs = await wait_for(lambda: inbox.of(f"publicTrade.{SYMBOL}")[before:])
            trades = msgs[0]["data"]  # one message per taker sweep, one trade per maker order
            assert list(dict.fromkeys(t["p"] for t in trades)) == prices
            assert sum(Decimal(t["v"]) for t in trades) == inst.qty(lots)
            assert all(t["S"] == "Buy" and t["s"] == SYMBOL for t in trades)
            await _book_matches(inbox, m, 50)

            kl = await wait_for(lambda: inbox.of(f"kline.1.{SYMBOL}"))
            bar = kl[-1]["data"][0]
            assert bar["interval"] == "1" and bar["end"] - bar["start"] == 59_999
            # confirmed only once its minute is over (a push may land right at the boundary)
            assert bar["confirm"] is False or m.now_ms() > bar["end"]

            def ticker_current() -> bool:
                msgs = inbox.of(f"tickers.{SYMBOL}")
                return bool(msgs) and msgs[-1]["data"]["lastPrice"] == inst.fmt_price(m.last_price[SYMBOL])

            await wait_for(ticker_current)
            first = inbox.of(f"tickers.{SYMBOL}")[0]
            assert first["type"] == "snapshot"
            assert ws.is_connected() and ws.wst.is_alive()
        finally:
            await close_ws(ws)


async def test_pybit_orderbook_under_generator_flow() -> None:
    """Live flow at full rate: pybit's book stays exact; paused flow gives the consistent point."""
    async with running_sim(generator=True) as sim:
        m = market(sim, "linear")
        inbox = Inbox()
        ws = await open_ws(sim, "linear")
        try:
            await asyncio.to_thread(ws.orderbook_stream, 200, SYMBOL, inbox)
            await asyncio.sleep(1.5)
            gen = sim.exchange.generator
            for _ in range(2):
                gen.pause()
                await _book_matches(inbox, m, 200)
                gen.resume()
                await asyncio.sleep(0.5)
            # pybit relabels its merged book "snapshot": count the pushes and check u/seq advanced
            msgs = inbox.of(f"orderbook.200.{SYMBOL}")
            assert len(msgs) > 10 and msgs[-1]["data"]["u"] >= msgs[0]["data"]["u"] + 10
            assert ws.is_connected() and ws.wst.is_alive()
        finally:
            await close_ws(ws)


async def test_level1_snapshots_only_and_pong_shapes() -> None:
    import aiohttp

    async with running_sim() as sim:
        m = market(sim, "linear")
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{sim.ws_url}/v5/public/linear") as ws:
                await ws.send_json({"op": "ping"})
                pong = await ws.receive_json(timeout=5)
                assert pong == {
                    "success": True,
                    "ret_msg": "pong",
                    "conn_id": pong["conn_id"],
                    "req_id": "",
                    "op": "ping",
                }
                await ws.send_json({"op": "subscribe", "req_id": "x1", "args": [f"orderbook.1.{SYMBOL}"]})
                ack = await ws.receive_json(timeout=5)
                assert ack["success"] is True and ack["req_id"] == "x1" and ack["ret_msg"] == ""
                snap = await ws.receive_json(timeout=5)
                assert snap["type"] == "snapshot" and len(snap["data"]["b"]) == 1
                m.mm_take(SYMBOL, Side.SELL, m.books[SYMBOL].level_total(True, m.books[SYMBOL].best_bid()))
                nxt = await ws.receive_json(timeout=5)
                assert nxt["type"] == "snapshot" and nxt["data"]["u"] == snap["data"]["u"] + 1
                await ws.send_json({"op": "subscribe", "req_id": "x2", "args": [f"orderbook.1.{SYMBOL}"]})
                ack = await ws.receive_json(timeout=5)
                assert ack["success"] is False and "already subscribed" in ack["ret_msg"]
            async with session.ws_connect(f"{sim.ws_url}/v5/public/spot") as ws:
                await ws.send_json({"op": "ping"})
                pong = await ws.receive_json(timeout=5)
                assert pong == {"success": True, "ret_msg": "pong", "conn_id": pong["conn_id"], "op": "ping"}
                await ws.send_json(
                    {"op": "subscribe", "req_id": "s1", "args": [f"tickers.{SYMBOL}", "nope.X"]}
                )
                ack = await ws.receive_json(timeout=5)
                assert ack["success"] is False and ack["req_id"] == "s1"
                await ws.send_json({"op": "subscribe", "req_id": "s2", "args": [f"tickers.{SYMBOL}"]})
                ack = await ws.receive_json(timeout=5)
                assert ack["success"] is True and ack["ret_msg"] == "subscribe"


async def test_idle_connections_are_cut() -> None:
    """No ping and no request for the idle timeout (10 min on Bybit, shortened here): cut."""
    import aiohttp

    async with running_sim() as sim:
        ws_server(sim).idle_timeout_s = 0.4
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{sim.ws_url}/v5/public/linear") as idle,
            session.ws_connect(f"{sim.ws_url}/v5/public/spot") as alive,
        ):
            await idle.send_json({"op": "subscribe", "req_id": "1", "args": [f"orderbook.50.{SYMBOL}"]})
            t0 = asyncio.get_running_loop().time()
            while not idle.closed and asyncio.get_running_loop().time() - t0 < 3:
                await alive.send_json({"op": "ping"})
                with contextlib.suppress(asyncio.TimeoutError):
                    await idle.receive(timeout=0.1)
                while True:
                    try:
                        await alive.receive(timeout=0.01)
                    except TimeoutError:
                        break
            assert idle.closed
            assert not alive.closed
            await alive.send_json({"op": "ping"})
            pong = await alive.receive_json(timeout=2)
            assert pong["ret_msg"] == "pong"


async def test_kline_confirms_at_close() -> None:
    """``confirm`` is true exactly once, for the candle that just closed, with its final values."""
    import time

    import aiohttp

    async with running_sim() as sim:
        m = market(sim, "linear")
        inst = m.instruments[SYMBOL]
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{sim.ws_url}/v5/public/linear") as ws,
        ):
            await ws.send_json({"op": "subscribe", "req_id": "k", "args": [f"kline.1.{SYMBOL}"]})
            assert (await ws.receive_json(timeout=5))["success"] is True
            first = (await ws.receive_json(timeout=5))["data"][0]
            while first["confirm"]:  # a minute closing just as we subscribed: take the next live bar
                first = (await ws.receive_json(timeout=5))["data"][0]
            m.mm_take(SYMBOL, Side.BUY, 7)
            closing = m.current_kline(SYMBOL, 60_000)
            shift = first["end"] + 1 - int(time.time() * 1000)  # jump to the next minute
            m.clock = lambda: int(time.time() * 1000) + shift
            seen: list[dict] = []
            while not any(not b["confirm"] and b["start"] > first["start"] for b in seen):
                seen.extend((await ws.receive_json(timeout=5))["data"])
            closed = [b for b in seen if b["confirm"]]
            assert len(closed) == 1 and closed[0]["start"] == first["start"]
            assert closed[0]["close"] == format(inst.price(closing.close).normalize(), "f")
            assert Decimal(closed[0]["volume"]) == inst.qty(closing.volume) and closing.volume > 0


async def test_pybit_reconnects_after_drop() -> None:
    """DROP cuts the TCP connection without a close frame; pybit reconnects, resubscribes
    (same req_id) and rebuilds its book from the new snapshot."""
    from terminal.model.enums import Venue
    from terminal.sim.faults import StreamFault

    async with running_sim() as sim:
        m = market(sim, "linear")
        hub = ws_server(sim).public["linear"]
        inbox = Inbox()
        ws = await open_ws(sim, "linear")
        try:
            await asyncio.to_thread(ws.orderbook_stream, 50, SYMBOL, inbox)
            await _book_matches(inbox, m, 50)
            first_conn = next(iter(hub.conns))
            sim.exchange.faults.inject_stream(StreamFault.DROP, Venue.BYBIT_LINEAR)
            # a drop strikes when armed: counted once, and not left armed for the next socket
            assert sim.exchange.faults.injected.get("drop") == 1
            assert not sim.exchange.faults.pending_stream(Venue.BYBIT_LINEAR, StreamFault.DROP)
            await wait_for(
                lambda: hub.conns and first_conn not in hub.conns and any(c.topics for c in hub.conns)
            )
            _churn(m, random.Random(5), 60)
            await _book_matches(inbox, m, 50)
            assert ws.is_connected() and ws.wst.is_alive()
        finally:
            await close_ws(ws)
