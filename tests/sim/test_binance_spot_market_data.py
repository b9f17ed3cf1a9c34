"""Binance spot market data over REST with the real python-binance AsyncClient."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from binance.exceptions import BinanceAPIException

from tests.sim.test_binance_spot_fixtures import client, market, sim  # noqa: F401 - fixtures

pytestmark = pytest.mark.timeout(30)


async def test_create_ping_time(sim, client):  # noqa: F811
    now = market(sim).now_ms()
    server_time = (await client.get_server_time())["serverTime"]
    assert abs(server_time - now) < 2000
    assert await client.ping() == {}


async def test_exchange_info_filters(sim, client):  # noqa: F811
    info = await client.get_exchange_info()
    assert info["timezone"] == "UTC"
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert set(symbols) == set(market(sim).instruments)
    btc = symbols["BTCUSDT"]
    assert btc["baseAsset"] == "BTC" and btc["quoteAsset"] == "USDT"
    assert {"LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"} <= set(
        btc["orderTypes"]
    )
    filters = {f["filterType"]: f for f in btc["filters"]}
    inst = market(sim).instruments["BTCUSDT"]
    assert Decimal(filters["PRICE_FILTER"]["tickSize"]) == inst.tick
    assert Decimal(filters["LOT_SIZE"]["stepSize"]) == inst.step
    assert Decimal(filters["NOTIONAL"]["minNotional"]) == inst.min_notional
    assert "MARKET_LOT_SIZE" in filters and "ICEBERG_PARTS" in filters
    # symbol= narrows the list, as python-binance's get_symbol_info relies on
    one = await client._get("exchangeInfo", data={"symbol": "ETHUSDT"})
    assert [s["symbol"] for s in one["symbols"]] == ["ETHUSDT"]
    many = await client._get("exchangeInfo", data={"symbols": '["ETHUSDT","BTCUSDT"]'})
    assert sorted(s["symbol"] for s in many["symbols"]) == ["BTCUSDT", "ETHUSDT"]
    assert (await client.get_symbol_info("SOLUSDT"))["symbol"] == "SOLUSDT"


async def test_order_book_matches_core(sim, client):  # noqa: F811
    ob = await client.get_order_book(symbol="BTCUSDT", limit=5000)
    uid, bids, asks = market(sim).depth("BTCUSDT", 5000)
    inst = market(sim).instruments["BTCUSDT"]
    assert ob["lastUpdateId"] == uid
    assert ob["bids"] == [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in bids]
    assert ob["asks"] == [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in asks]
    assert len(ob["bids"]) > 5 and Decimal(ob["bids"][0][0]) < Decimal(ob["asks"][0][0])
    assert all(len(p.split(".")[1]) == 8 for p, _ in ob["bids"])  # spot spells 8 decimals
    small = await client.get_order_book(symbol="BTCUSDT", limit=5)
    assert len(small["bids"]) == 5 and small["bids"] == ob["bids"][:5]


async def test_klines_and_pagination(sim, client):  # noqa: F811
    k = await client.get_klines(symbol="BTCUSDT", interval="1m", limit=10)
    assert len(k) == 10
    for row in k:
        assert len(row) == 12
        o, h, lo, c = (Decimal(x) for x in row[1:5])
        assert lo <= min(o, c) <= max(o, c) <= h
        assert row[6] == row[0] + 60_000 - 1
    assert [b[0] for b in k] == sorted(b[0] for b in k)
    # page forward by startTime
    start = k[0][0] - 30 * 60_000
    page1 = await client.get_klines(symbol="BTCUSDT", interval="1m", startTime=start, limit=15)
    page2 = await client.get_klines(symbol="BTCUSDT", interval="1m", startTime=page1[-1][0] + 1, limit=15)
    assert page1[0][0] == start
    assert page2[0][0] == page1[-1][0] + 60_000
    assert [b[0] for b in page1 + page2] == [start + i * 60_000 for i in range(30)]
    # endTime bounds the result
    bounded = await client.get_klines(
        symbol="BTCUSDT", interval="1m", startTime=start, endTime=start + 4 * 60_000
    )
    assert [b[0] for b in bounded] == [start + i * 60_000 for i in range(5)]
    # python-binance's historical generator walks the same pagination
    h_start = (k[0][0] - 180 * 60_000) // 300_000 * 300_000
    hist = await client.get_historical_klines(
        "BTCUSDT", "5m", start_str=h_start, end_str=h_start + 60 * 60_000
    )
    assert len(hist) == 13 and all(b[0] % 300_000 == 0 for b in hist)
    for interval, ms in (("1h", 3_600_000), ("1d", 86_400_000)):
        bars = await client.get_klines(symbol="BTCUSDT", interval=interval, limit=3)
        assert bars and all(b[0] % ms == 0 for b in bars)
    week = await client.get_klines(symbol="BTCUSDT", interval="1w", limit=1)
    assert dt.datetime.fromtimestamp(week[0][0] / 1000, dt.UTC).weekday() == 0
    month = await client.get_klines(symbol="BTCUSDT", interval="1M", limit=1)
    assert dt.datetime.fromtimestamp(month[0][0] / 1000, dt.UTC).day == 1
    with pytest.raises(BinanceAPIException) as exc:
        await client.get_klines(symbol="BTCUSDT", interval="7m")
    assert exc.value.code == -1120


async def test_trades_ticker_avg_price(sim, client):  # noqa: F811
    from terminal.model.enums import Side

    m = market(sim)
    m.mm_take("BTCUSDT", Side.BUY, 300)
    m.mm_take("BTCUSDT", Side.SELL, 200)
    trades = await client.get_recent_trades(symbol="BTCUSDT", limit=5)
    assert 0 < len(trades) <= 5
    assert [t["id"] for t in trades] == sorted(t["id"] for t in trades)
    last = trades[-1]
    assert last["isBuyerMaker"] is True  # the last taker sold
    assert Decimal(last["quoteQty"]) == Decimal(last["price"]) * Decimal(last["qty"])
    agg = await client.get_aggregate_trades(symbol="BTCUSDT", limit=5)
    assert agg[-1]["a"] == last["id"] and agg[-1]["p"] == last["price"]

    t = await client.get_ticker(symbol="BTCUSDT")
    inst = m.instruments["BTCUSDT"]
    assert t["lastPrice"] == inst.fmt_price(m.last_price_ticks("BTCUSDT"))
    assert Decimal(t["lowPrice"]) <= Decimal(t["lastPrice"]) <= Decimal(t["highPrice"])
    assert int(t["count"]) > 0 and t["closeTime"] - t["openTime"] == 86_400_000
    assert t["bidPrice"] == inst.fmt_price(m.books["BTCUSDT"].best_bid())
    all_tickers = await client.get_ticker()
    assert {x["symbol"] for x in all_tickers} == set(m.instruments)

    price = await client.get_symbol_ticker(symbol="BTCUSDT")
    assert price == {"symbol": "BTCUSDT", "price": t["lastPrice"]}
    bt = await client.get_orderbook_ticker(symbol="ETHUSDT")
    e_inst, e_book = m.instruments["ETHUSDT"], m.books["ETHUSDT"]
    assert bt["bidPrice"] == e_inst.fmt_price(e_book.best_bid())
    assert bt["askQty"] == e_inst.fmt_qty(e_book.best_ask_level()[1])

    avg = await client.get_avg_price(symbol="BTCUSDT")
    assert avg["mins"] == 5
    assert (
        Decimal(t["lowPrice"]) * Decimal("0.9")
        < Decimal(avg["price"])
        < Decimal(t["highPrice"]) * Decimal("1.1")
    )


async def test_unknown_symbol_and_bad_limit(client):  # noqa: F811
    with pytest.raises(BinanceAPIException) as exc:
        await client.get_order_book(symbol="NOPEUSDT")
    assert exc.value.code == -1121 and exc.value.status_code == 400
    with pytest.raises(BinanceAPIException) as exc:
        await client.get_order_book(symbol="BTCUSDT", limit="abc")
    assert exc.value.code == -1100
    with pytest.raises(BinanceAPIException) as exc:
        await client.get_klines(symbol="BTCUSDT")
    assert exc.value.code == -1102
