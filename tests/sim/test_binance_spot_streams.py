"""Binance spot streams through python-binance's BinanceSocketManager, and the user stream."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from terminal.model.enums import Side, Venue
from terminal.sim.faults import StreamFault
from tests.sim.test_binance_spot_fixtures import (  # noqa: F401 - fixtures
    balances,
    client,
    live_client,
    live_sim,
    market,
    recv_until,
    sim,
    socket_manager,
)
from tests.support.book_sync import BinanceSpotBookSync, GapDetected

SYM = "BTCUSDT"


@pytest.mark.timeout(30)
async def test_user_stream_reports_orders_and_balances(sim, client):  # noqa: F811
    bm = socket_manager(client, sim)
    events: list[dict] = []
    bid = market(sim).books[SYM].best_bid()
    price = f"{market(sim).instruments[SYM].price(bid - 700):.2f}"
    async with bm.user_socket() as us:
        limit = await client.order_limit_buy(
            symbol=SYM, quantity="0.02", price=price, newClientOrderId="u-limit"
        )
        mkt = await client.order_market_buy(symbol=SYM, quantity="0.03")
        await client.cancel_order(symbol=SYM, orderId=limit["orderId"], newClientOrderId="u-cancel")

        async def keep(msg: dict) -> None:
            events.append(msg)

        await recv_until(us, lambda m: m.get("x") == "CANCELED", on_msg=keep)
        await recv_until(us, lambda m: m.get("e") == "outboundAccountPosition", on_msg=keep)

    reports = [e for e in events if e["e"] == "executionReport"]
    by_order: dict[int, list[dict]] = {}
    for r in reports:
        by_order.setdefault(r["i"], []).append(r)
    lim = by_order[limit["orderId"]]
    assert [r["x"] for r in lim] == ["NEW", "CANCELED"]
    assert lim[0]["c"] == "u-limit" and lim[0]["X"] == "NEW" and lim[0]["w"] is True
    assert lim[0]["p"] == f"{Decimal(price):.8f}" and lim[0]["q"] == "0.02000000" and lim[0]["o"] == "LIMIT"
    assert lim[1]["X"] == "CANCELED" and lim[1]["c"] == "u-cancel" and lim[1]["C"] == "u-limit"

    mk = by_order[mkt["orderId"]]
    assert mk[0]["x"] == "NEW" and all(r["x"] == "TRADE" for r in mk[1:])
    trades = mk[1:]
    assert [r["t"] for r in trades] == [f["tradeId"] for f in mkt["fills"]]
    assert sum(Decimal(r["l"]) for r in trades) == Decimal(mkt["executedQty"])
    assert trades[-1]["X"] == "FILLED" and trades[-1]["z"] == mkt["executedQty"]
    assert Decimal(trades[-1]["Z"]) == Decimal(mkt["cummulativeQuoteQty"])
    for r, f in zip(trades, mkt["fills"], strict=True):
        assert (r["L"], r["l"], r["n"], r["N"]) == (f["price"], f["qty"], f["commission"], "BTC")
        assert r["m"] is False and Decimal(r["Y"]) == Decimal(r["l"]) * Decimal(r["L"])
    # the last account position equals what REST reports
    last_pos = [e for e in events if e["e"] == "outboundAccountPosition"][-1]
    rest = await balances(client)
    for b in last_pos["B"]:
        assert (Decimal(b["f"]), Decimal(b["l"])) == rest[b["a"]]
    assert {b["a"] for b in last_pos["B"]} == {"BTC", "USDT"}
    assert rest["USDT"][1] == 0


@pytest.mark.timeout(30)
async def test_user_stream_oco_list_status(sim, client):  # noqa: F811
    bm = socket_manager(client, sim)
    m = market(sim)
    inst = m.instruments[SYM]
    last = m.last_price_ticks(SYM)
    async with bm.user_socket() as us:
        oco = await client.order_oco_sell(
            symbol=SYM,
            quantity="0.01",
            aboveType="LIMIT_MAKER",
            abovePrice=f"{inst.price(m.books[SYM].best_ask() + 100):.2f}",
            belowType="STOP_LOSS",
            belowStopPrice=f"{inst.price(last - 200):.2f}",
            listClientOrderId="my-list",
        )
        first = await recv_until(us, lambda e: e.get("e") == "listStatus")
        assert first["g"] == oco["orderListId"] and first["C"] == "my-list"
        assert first["l"] == "EXEC_STARTED" and first["L"] == "EXECUTING" and first["c"] == "OCO"
        assert sorted(o["i"] for o in first["O"]) == sorted(o["orderId"] for o in oco["orders"])
        for _ in range(100):  # sellers push the price through the stop leg
            if m.last_price_ticks(SYM) <= last - 200:
                break
            m.mm_take(SYM, Side.SELL, 2000)
        done = await recv_until(us, lambda e: e.get("e") == "listStatus")
        assert done["l"] == "ALL_DONE" and done["L"] == "ALL_DONE"


@pytest.mark.timeout(30)
async def test_market_streams_shapes_and_values(live_sim, live_client):  # noqa: F811
    bm = socket_manager(live_client, live_sim)
    m = market(live_sim)
    inst = m.instruments[SYM]
    async with bm.trade_socket(SYM) as ts:
        m.mm_take(SYM, Side.BUY, 50)
        t = await recv_until(ts, lambda x: x.get("e") == "trade")
        assert t["s"] == SYM and isinstance(t["t"], int) and isinstance(t["m"], bool)
        assert Decimal(t["q"]) > 0 and t["T"] <= t["E"]
        assert abs(Decimal(t["p"]) - inst.price(m.last_price_ticks(SYM))) < Decimal(200)
    async with bm.symbol_book_ticker_socket(SYM) as bs:
        bt = await recv_until(bs, lambda x: "u" in x)
        assert bt["s"] == SYM and Decimal(bt["b"]) < Decimal(bt["a"]) and Decimal(bt["B"]) > 0
        assert bt["u"] <= m.books[SYM].update_id
    async with bm.depth_socket(SYM, interval=100) as ds:
        d1 = await recv_until(ds, lambda x: x.get("e") == "depthUpdate")
        d2 = await recv_until(ds, lambda x: x.get("e") == "depthUpdate")
        assert d1["U"] <= d1["u"] and d2["U"] == d1["u"] + 1  # contiguous, exact ids
        assert all(len(level) == 2 and level[0].count(".") == 1 for level in d1["b"] + d1["a"])
    async with bm.depth_socket(SYM, depth="5") as ps:
        p = await recv_until(ps, lambda x: "lastUpdateId" in x, timeout=5)
        assert (
            len(p["bids"]) == 5
            and len(p["asks"]) == 5
            and Decimal(p["bids"][0][0]) < Decimal(p["asks"][0][0])
        )
    async with bm.symbol_ticker_socket(SYM) as tk:
        tick = await recv_until(tk, lambda x: x.get("e") == "24hrTicker")
        assert tick["s"] == SYM and Decimal(tick["l"]) <= Decimal(tick["c"]) <= Decimal(tick["h"])
    # live SUBSCRIBE / LIST_SUBSCRIPTIONS / UNSUBSCRIBE on a combined socket
    async with bm.multiplex_socket(["ethusdt@trade"]) as mx:
        await mx.ws.send('{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":7}')
        await mx.ws.send('{"method":"LIST_SUBSCRIPTIONS","id":8}')
        m.mm_take(SYM, Side.SELL, 50)
        seen: dict = {}

        async def note(msg: dict) -> None:
            if msg.get("id") is not None:
                seen[msg["id"]] = msg

        agg = await recv_until(mx, lambda x: x.get("stream") == "btcusdt@aggTrade", on_msg=note)
        assert agg["data"]["e"] == "aggTrade" and agg["data"]["s"] == SYM
        assert seen[7] == {"result": None, "id": 7}
        assert seen[8] == {"result": ["ethusdt@trade", "btcusdt@aggTrade"], "id": 8}


@pytest.mark.timeout(30)
async def test_kline_closes_once_and_never_early(sim, client):  # noqa: F811
    m = market(sim)
    offset = {"ms": 0}
    real_clock = m.clock
    m.clock = lambda: real_clock() + offset["ms"]
    bm = socket_manager(client, sim)
    msgs: list[dict] = []

    async def keep(x: dict) -> None:
        msgs.append(x)

    async with bm.kline_socket(SYM, interval="1m") as ks:
        # (a candle closing just as we subscribe may arrive first: start from a live one)
        first = await recv_until(ks, lambda x: x.get("e") == "kline" and not x["k"]["x"], on_msg=keep)
        k = first["k"]
        assert k["x"] is False and k["i"] == "1m" and k["T"] == k["t"] + 59_999
        m.mm_take(SYM, Side.BUY, 30)  # a trade inside this candle
        open_ms = k["t"]
        # jump the simulator's clock to just after this candle's close
        offset["ms"] = k["T"] + 1 - real_clock() + 50
        closed = await recv_until(ks, lambda x: x["k"]["x"], on_msg=keep)
        nxt = await recv_until(ks, lambda x: x["k"]["t"] > open_ms, on_msg=keep, timeout=4)
        await asyncio.sleep(1.2)  # a few more live pushes
        await recv_until(ks, lambda x: True, on_msg=keep)
    assert closed["k"]["t"] == open_ms and closed["E"] > closed["k"]["T"]
    assert int(closed["k"]["n"]) >= 1 and closed["k"]["f"] > 0 and closed["k"]["L"] >= closed["k"]["f"]
    assert nxt["k"]["x"] is False and nxt["k"]["t"] == open_ms + 60_000
    finals = [x for x in msgs if x["k"]["x"]]
    assert len(finals) == 1  # exactly once
    for x in msgs:
        assert not x["k"]["x"] or x["E"] > x["k"]["T"]  # never closed before its close time
        assert x["k"]["x"] or x["E"] <= x["k"]["T"]


async def _sync_book(bm, client, ds_events: list[dict]) -> BinanceSpotBookSync:  # noqa: F811
    """Documented procedure: buffer the diff stream, then apply a 5000-level snapshot."""
    book = BinanceSpotBookSync()
    for e in ds_events:
        book.on_event(e)
    snap = await client.get_order_book(symbol=SYM, limit=5000)
    book.on_snapshot(snap)
    return book


def _sim_levels(running) -> tuple[list, list]:
    m = market(running)
    inst = m.instruments[SYM]
    _, bids, asks = m.depth(SYM, 5000)
    return (
        [(inst.fmt_price(p), inst.fmt_qty(q)) for p, q in bids],
        [(inst.fmt_price(p), inst.fmt_qty(q)) for p, q in asks],
    )


async def _quiesce_and_compare(running, ds, book: BinanceSpotBookSync) -> None:
    gen = running.exchange.generator
    gen.pause()
    try:
        target = market(running).books[SYM].update_id
        while book.update_id < target:
            msg = await asyncio.wait_for(ds.recv(), 5)
            if msg.get("e") == "depthUpdate":
                book.on_event(msg)
        assert book.update_id == target
        bids, asks = book.top()
        assert (bids, asks) == _sim_levels(running)
    finally:
        gen.resume()


@pytest.mark.timeout(40)
async def test_book_sync_from_diff_stream_with_gap_and_resync(live_sim, live_client):  # noqa: F811
    bm = socket_manager(live_client, live_sim, max_queue_size=1000)
    faults = live_sim.exchange.faults
    async with bm.depth_socket(SYM, interval=100) as ds:
        buffered = [await asyncio.wait_for(ds.recv(), 5) for _ in range(3)]
        book = await _sync_book(bm, live_client, buffered)
        for _ in range(15):  # ~1.5 s of live updates
            book.on_event(await asyncio.wait_for(ds.recv(), 5))
        assert book.applied >= 10
        await _quiesce_and_compare(live_sim, ds, book)

        # a lost message: the next one's U reveals it
        faults.inject_stream(StreamFault.GAP, Venue.BINANCE_SPOT, symbol=SYM)
        with pytest.raises(GapDetected):
            for _ in range(50):
                book.on_event(await asyncio.wait_for(ds.recv(), 5))
        # resync heals: fresh buffer, fresh snapshot
        buffered = [await asyncio.wait_for(ds.recv(), 5) for _ in range(2)]
        book = await _sync_book(bm, live_client, buffered)
        for _ in range(10):
            book.on_event(await asyncio.wait_for(ds.recv(), 5))
        await _quiesce_and_compare(live_sim, ds, book)

        # a duplicated message is harmless; reordered ones are detected
        faults.inject_stream(StreamFault.DUPLICATE, Venue.BINANCE_SPOT, symbol=SYM)
        for _ in range(5):
            book.on_event(await asyncio.wait_for(ds.recv(), 5))
        await _quiesce_and_compare(live_sim, ds, book)
        faults.inject_stream(StreamFault.REORDER, Venue.BINANCE_SPOT, symbol=SYM)
        with pytest.raises(GapDetected):
            for _ in range(50):
                book.on_event(await asyncio.wait_for(ds.recv(), 5))


@pytest.mark.timeout(30)
async def test_stall_and_drop(live_sim, live_client):  # noqa: F811
    bm = socket_manager(live_client, live_sim)
    faults = live_sim.exchange.faults
    async with bm.depth_socket(SYM, interval=100) as ds:
        first = await recv_until(ds, lambda x: x.get("e") == "depthUpdate")
        faults.inject_stream(StreamFault.STALL, Venue.BINANCE_SPOT, symbol=SYM, duration_s=1.0)
        # drain what was already queued, then nothing for about a second
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        gaps = []
        last_t = t0
        prev_u = first["u"]
        while loop.time() - t0 < 2.0:
            msg = await recv_until(ds, lambda x: x.get("e") == "depthUpdate")
            now = loop.time()
            gaps.append(now - last_t)
            last_t = now
            assert msg["U"] == prev_u + 1  # the stall holds data back, it loses none
            prev_u = msg["u"]
        assert max(gaps) >= 0.8
    async with bm.trade_socket(SYM) as ts:
        market(live_sim).mm_take(SYM, Side.BUY, 10)
        await recv_until(ts, lambda x: x.get("e") == "trade")
        faults.inject_stream(StreamFault.DROP, Venue.BINANCE_SPOT)
        for _ in range(100):  # python-binance reports the cut connection as an error message
            msg = await asyncio.wait_for(ts.recv(), 5)
            if msg.get("e") == "error":
                break
        assert msg.get("e") == "error"


@pytest.mark.timeout(20)
async def test_ws_api_requests_and_signature_checks(sim):  # noqa: F811
    import hashlib
    import hmac
    import time

    import aiohttp

    creds = sim.exchange.default_credentials

    def signed(params: dict, secret: str = creds.api_secret) -> dict:
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
        return {
            **params,
            "signature": hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest(),
        }

    async with aiohttp.ClientSession() as http, http.ws_connect(f"{sim.ws_url}/ws-api/v3") as ws:

        async def call(method: str, params: dict | None = None) -> dict:
            await ws.send_json({"id": method, "method": method, "params": params or {}})
            reply = await ws.receive_json(timeout=5)
            assert reply["id"] == method and reply["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
            return reply

        assert (await call("ping"))["result"] == {}
        assert abs((await call("time"))["result"]["serverTime"] - market(sim).now_ms()) < 2000
        ts = int(time.time() * 1000)
        bad = await call(
            "userDataStream.subscribe.signature", signed({"apiKey": creds.api_key, "timestamp": ts}, "0")
        )
        assert bad["status"] == 400 and bad["error"]["code"] == -1022
        old = await call(
            "userDataStream.subscribe.signature", signed({"apiKey": creds.api_key, "timestamp": ts - 60_000})
        )
        assert old["error"]["code"] == -1021
        unknown = await call(
            "userDataStream.subscribe.signature", signed({"apiKey": "x" * 64, "timestamp": ts})
        )
        assert unknown["status"] == 401 and unknown["error"]["code"] == -2015
        ok = await call(
            "userDataStream.subscribe.signature", signed({"apiKey": creds.api_key, "timestamp": ts})
        )
        assert ok["status"] == 200 and ok["result"] == {"subscriptionId": 0}
        assert (await call("session.status"))["result"]["userDataStream"] is True
        market(sim).deposit("demo", "BTC", Decimal("0.5"))
        ev1 = await ws.receive_json(timeout=5)
        ev2 = await ws.receive_json(timeout=5)
        assert ev1 == {
            "subscriptionId": 0,
            "event": {
                "e": "balanceUpdate",
                "E": ev1["event"]["E"],
                "a": "BTC",
                "d": "0.50000000",
                "T": ev1["event"]["T"],
            },
        }
        assert ev2["event"]["e"] == "outboundAccountPosition" and ev2["event"]["B"][0]["f"] == "1.50000000"
        assert (await call("userDataStream.unsubscribe", {"subscriptionId": 0}))["result"] == {}
        market(sim).deposit("demo", "BTC", Decimal("0.5"))
        assert (await call("session.status"))["result"]["userDataStream"] is False  # no event came first
