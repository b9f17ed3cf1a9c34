"""Binance USDⓈ-M market data: REST and the path-split market streams, with the real python-binance."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest
from binance.exceptions import BinanceAPIException

from terminal.model.enums import Side
from terminal.sim.faults import StreamFault
from tests.sim.test_binance_futures_fixtures import (  # noqa: F401 - fixtures
    SYMBOL,
    VENUE,
    client,
    dec,
    inst,
    live_client,
    live_sim,
    lots_to_move,
    market,
    quick,
    raw_ws_messages,
    recv_until,
    silent_for,
    sim,
    socket_manager,
    take,
)
from tests.support.book_sync import BinanceFuturesBookSync, GapDetected

pytestmark = pytest.mark.timeout(40)


# ------------------------------------------------------------------------------------- REST


async def test_exchange_info_lists_filters_and_limits(sim, client):  # noqa: F811
    info = await client.futures_exchange_info()
    assert info["futuresType"] == "U_MARGINED"
    weight = [r for r in info["rateLimits"] if r["rateLimitType"] == "REQUEST_WEIGHT"]
    assert weight == [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400}
    ]
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert set(symbols) == set(market(sim).instruments)
    btc = symbols["BTCUSDT"]
    i = inst(sim)
    assert btc["contractType"] == "PERPETUAL" and btc["marginAsset"] == "USDT"
    assert btc["timeInForce"] == ["GTC", "IOC", "FOK", "GTX"]
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert set(filters) == {
        "PRICE_FILTER",
        "LOT_SIZE",
        "MARKET_LOT_SIZE",
        "MAX_NUM_ORDERS",
        "MAX_NUM_ALGO_ORDERS",
        "MIN_NOTIONAL",
        "PERCENT_PRICE",
    }
    assert (
        filters["PRICE_FILTER"]["tickSize"] == "0.10" and dec(filters["PRICE_FILTER"]["tickSize"]) == i.tick
    )
    assert dec(filters["LOT_SIZE"]["stepSize"]) == i.step == dec(filters["MARKET_LOT_SIZE"]["stepSize"])
    assert filters["MIN_NOTIONAL"]["notional"] == "5"
    assert btc["quantityPrecision"] == 3


async def test_order_book_is_the_core_book(sim, client):  # noqa: F811
    ob = await client.futures_order_book(symbol=SYMBOL, limit=1000)
    uid, bids, asks = market(sim).depth(SYMBOL, 1000)
    i = inst(sim)
    assert ob["lastUpdateId"] == uid
    assert ob["bids"] == [[i.fmt_price(p), i.fmt_qty(q)] for p, q in bids]
    assert ob["asks"] == [[i.fmt_price(p), i.fmt_qty(q)] for p, q in asks]
    assert isinstance(ob["E"], int) and isinstance(ob["T"], int)
    small = await client.futures_order_book(symbol=SYMBOL, limit=5)
    assert small["bids"] == ob["bids"][:5] and small["asks"] == ob["asks"][:5]
    # every level is spelled with the symbol's fixed decimals (clients match strings)
    assert all(len(p.split(".")[1]) == 1 and len(q.split(".")[1]) == 3 for p, q in ob["bids"])
    assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) > 0


async def test_klines(sim, client):  # noqa: F811
    rows = await client.futures_klines(symbol=SYMBOL, interval="1m", limit=10)
    assert len(rows) == 10
    for row in rows:
        assert len(row) == 12 and row[6] == row[0] + 60_000 - 1
        o, h, lo, c = (dec(x) for x in row[1:5])
        assert lo <= min(o, c) <= max(o, c) <= h
    assert [r[0] for r in rows] == [rows[0][0] + 60_000 * k for k in range(10)]
    five = await client.futures_klines(symbol=SYMBOL, interval="5m", limit=3)
    assert all(r[0] % 300_000 == 0 for r in five)
    with pytest.raises(BinanceAPIException) as err:
        await client.futures_klines(symbol=SYMBOL, interval="7m")
    assert err.value.code == -1120


async def test_mark_price_premium_index_and_funding(sim, client):  # noqa: F811
    m = market(sim)
    mark = await client.futures_mark_price(symbol=SYMBOL)
    assert dec(mark["markPrice"]) == m.mark_price(SYMBOL)
    assert dec(mark["lastFundingRate"]) == m.funding_rate(SYMBOL)
    assert mark["nextFundingTime"] == m.next_funding_ms()
    every = await client.futures_mark_price()
    assert sorted(x["symbol"] for x in every) == sorted(m.instruments)
    rates = await client.futures_funding_rate(symbol=SYMBOL, limit=3)
    assert len(rates) == 3
    assert [r["fundingTime"] for r in rates] == sorted(r["fundingTime"] for r in rates)
    assert rates[-1]["fundingTime"] == m.next_funding_ms() - m.funding_interval_ms


async def test_recent_trades_and_agg_trades(sim, client):  # noqa: F811
    i = inst(sim)
    best_ask = market(sim).books[SYMBOL].best_ask()
    filled = take(sim, Side.BUY, 3)
    assert filled == 3
    trades = await client.futures_recent_trades(symbol=SYMBOL, limit=5)
    last = trades[-1]
    assert last["price"] == i.fmt_price(best_ask) and last["qty"] == i.fmt_qty(3)
    assert last["isBuyerMaker"] is False  # the taker bought
    assert dec(last["quoteQty"]) == dec(last["price"]) * dec(last["qty"])
    agg = await client.futures_aggregate_trades(symbol=SYMBOL, limit=5)
    assert agg[-1]["a"] == agg[-1]["f"] == agg[-1]["l"] == last["id"]
    assert agg[-1]["p"] == last["price"] and agg[-1]["m"] is False


async def test_tickers(sim, client):  # noqa: F811
    i = inst(sim)
    take(sim, Side.SELL, 2)
    last = market(sim).last_price_ticks(SYMBOL)
    t24 = await client.futures_ticker(symbol=SYMBOL)
    assert t24["lastPrice"] == i.fmt_price(last) and t24["symbol"] == SYMBOL
    price = await client.futures_symbol_ticker(symbol=SYMBOL)  # python-binance calls v2
    assert price["price"] == i.fmt_price(last)
    book = market(sim).books[SYMBOL]
    bt = await client.futures_orderbook_ticker(symbol=SYMBOL)
    assert (bt["bidPrice"], bt["askPrice"]) == (i.fmt_price(book.best_bid()), i.fmt_price(book.best_ask()))
    assert len(await client.futures_ticker()) == len(market(sim).instruments)


async def test_unknown_symbol(sim, client):  # noqa: F811
    for call in (client.futures_order_book, client.futures_recent_trades, client.futures_mark_price):
        with pytest.raises(BinanceAPIException) as err:
            await call(symbol="NOPEUSDT")
        assert (err.value.code, err.value.status_code) == (-1121, 400)


# ---------------------------------------------------------------------------------- streams


async def test_depth_diff_stream_pu_chain(live_sim, live_client):  # noqa: F811
    bsm = socket_manager(live_client, live_sim)
    sock = bsm.futures_multiplex_socket(["btcusdt@depth@100ms"], category="public")
    async with sock:
        msgs = []
        for _ in range(12):
            msg = await recv_until(sock, lambda m: "data" in m, timeout=5)
            assert msg["stream"] == "btcusdt@depth@100ms"
            msgs.append(msg["data"])
    for prev, cur in pairwise(msgs):
        assert cur["pu"] == prev["u"]  # the futures chain rule
        assert cur["U"] == prev["u"] + 1  # the simulator's ids are contiguous
    for d in msgs:
        assert d["e"] == "depthUpdate" and d["s"] == SYMBOL and d["U"] <= d["u"]
        assert isinstance(d["T"], int) and isinstance(d["E"], int)
    gaps = [b["E"] - a["E"] for a, b in pairwise(msgs)]
    assert 60 <= sorted(gaps)[len(gaps) // 2] <= 250  # ~100 ms apart


async def test_partial_depth_socket(live_sim, live_client):  # noqa: F811
    bsm = socket_manager(live_client, live_sim)
    sock = bsm.futures_depth_socket(SYMBOL, depth="5")
    async with sock:
        a = (await recv_until(sock, lambda m: "data" in m))["data"]
        b = (await recv_until(sock, lambda m: "data" in m))["data"]
    assert len(a["b"]) == 5 and len(a["a"]) == 5
    assert b["pu"] == a["u"] and a["U"] <= a["u"]
    assert dec(a["b"][0][0]) < dec(a["a"][0][0])


async def test_agg_trade_stream(sim, client):  # noqa: F811
    i = inst(sim)
    bsm = socket_manager(client, sim)
    sock = quick(bsm.aggtrade_futures_socket(SYMBOL))
    async with sock:
        await asyncio.sleep(0.2)
        bid = market(sim).books[SYMBOL].best_bid()
        take(sim, Side.SELL, 2)
        msg = (await recv_until(sock, lambda m: m.get("data", {}).get("e") == "aggTrade"))["data"]
    assert msg["s"] == SYMBOL and msg["p"] == i.fmt_price(bid) and msg["q"] == i.fmt_qty(2)
    assert msg["m"] is True  # the taker sold: the buyer was the maker
    trade = market(sim).recent_trades(SYMBOL, 1)[0]
    assert msg["a"] == msg["f"] == msg["l"] == trade.trade_id and msg["T"] == trade.ts_ms


async def test_mark_price_stream(sim, client):  # noqa: F811
    bsm = socket_manager(client, sim)
    sock = quick(bsm.symbol_mark_price_socket(SYMBOL))  # @markPrice@1s on /market/
    async with sock:
        msg = (await recv_until(sock, lambda m: "data" in m, timeout=4))["data"]
    m = market(sim)
    assert msg["e"] == "markPriceUpdate" and msg["s"] == SYMBOL
    assert dec(msg["p"]) == m.mark_price(SYMBOL) and dec(msg["r"]) == m.funding_rate(SYMBOL)
    assert msg["T"] == m.next_funding_ms()


async def test_kline_streams(live_sim, live_client):  # noqa: F811
    bsm = socket_manager(live_client, live_sim)
    cont = bsm.kline_futures_socket(SYMBOL)  # <pair>_perpetual@continuousKline_1m on /market/ws
    async with cont:
        msg = await recv_until(cont, lambda m: m.get("e") == "continuous_kline", timeout=4)
    assert msg["ps"] == SYMBOL and msg["ct"] == "PERPETUAL" and msg["k"]["i"] == "1m"
    now_bar = market(live_sim).current_kline(SYMBOL, 60_000)
    # the minute may have rolled between receiving and asking the core
    assert msg["k"]["t"] in (now_bar.open_ms, now_bar.open_ms - 60_000)
    assert msg["k"]["T"] == msg["k"]["t"] + 59_999
    plain = bsm.futures_multiplex_socket(["btcusdt@kline_1m"])
    async with plain:
        msg = (await recv_until(plain, lambda m: "data" in m, timeout=4))["data"]
    assert msg["e"] == "kline" and msg["s"] == SYMBOL
    # a candle is reported closed only once its close time has passed
    assert msg["k"]["x"] is False or market(live_sim).now_ms() > msg["k"]["T"]


async def test_stream_on_wrong_path_delivers_nothing(live_sim, live_client):  # noqa: F811
    bsm = socket_manager(live_client, live_sim)
    wrong = quick(bsm.futures_multiplex_socket(["btcusdt@aggTrade"], category="public"))
    async with wrong:
        assert await silent_for(wrong, 1.5) == []
    # the same names on their right paths do flow (raw websocket, no client caching)
    assert await raw_ws_messages(live_sim, "/market/stream?streams=btcusdt@depth@100ms", 1.0) == []
    assert await raw_ws_messages(live_sim, "/public/ws/btcusdt@markPrice@1s", 1.3) == []
    assert len(await raw_ws_messages(live_sim, "/public/stream?streams=btcusdt@depth@100ms", 1.0)) >= 3
    assert len(await raw_ws_messages(live_sim, "/market/ws/btcusdt@aggTrade", 1.0)) >= 1


# -------------------------------------------------------------------------------- book sync


async def _synced_book(running, c, sock, book_sync: BinanceFuturesBookSync) -> None:
    """The documented procedure: buffer the stream, fetch the snapshot, replay, follow pu."""
    first = (await recv_until(sock, lambda m: "data" in m))["data"]
    book_sync.on_event(first)
    snap = await c.futures_order_book(symbol=SYMBOL, limit=1000)
    book_sync.on_event((await recv_until(sock, lambda m: "data" in m))["data"])
    book_sync.on_snapshot(snap)


def _core_levels(running) -> tuple[dict[str, str], dict[str, str]]:
    i = inst(running)
    _, bids, asks = market(running).depth(SYMBOL, 10_000)
    return {i.fmt_price(p): i.fmt_qty(q) for p, q in bids}, {i.fmt_price(p): i.fmt_qty(q) for p, q in asks}


async def _follow_until(running, sock, book_sync: BinanceFuturesBookSync, update_id: int) -> None:
    while book_sync.update_id < update_id:
        book_sync.on_event((await recv_until(sock, lambda m: "data" in m))["data"])


async def _assert_equal_at_pause(running, sock, book_sync: BinanceFuturesBookSync) -> None:
    gen = running.exchange.generator
    gen.pause()
    try:
        target = market(running).books[SYMBOL].update_id
        await _follow_until(running, sock, book_sync, target)
        assert book_sync.update_id == target
        assert (book_sync.bids, book_sync.asks) == _core_levels(running)
    finally:
        gen.resume()


async def test_book_sync_with_pu_chain_detects_gap_and_heals(live_sim, live_client):  # noqa: F811
    bsm = socket_manager(live_client, live_sim)
    sock = bsm.futures_multiplex_socket(["btcusdt@depth@100ms"], category="public")
    async with sock:
        book = BinanceFuturesBookSync()
        await _synced_book(live_sim, live_client, sock, book)
        for _ in range(5):
            book.on_event((await recv_until(sock, lambda m: "data" in m))["data"])
        assert book.applied >= 5
        await _assert_equal_at_pause(live_sim, sock, book)

        # one diff message vanishes: the next one's pu no longer equals the last u
        live_sim.exchange.faults.inject_stream(StreamFault.GAP, VENUE, symbol=SYMBOL)
        with pytest.raises(GapDetected):
            for _ in range(30):
                book.on_event((await recv_until(sock, lambda m: "data" in m))["data"])

        healed = BinanceFuturesBookSync()
        await _synced_book(live_sim, live_client, sock, healed)
        for _ in range(5):
            healed.on_event((await recv_until(sock, lambda m: "data" in m))["data"])
        await _assert_equal_at_pause(live_sim, sock, healed)
