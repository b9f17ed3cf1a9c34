"""Bybit v5 market-data REST through the real pybit ``HTTP`` client (spot and linear)."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from terminal.model.enums import Side
from tests.sim.test_bybit_helpers import http_for, market, ok, running_sim

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("category", ["spot", "linear"])
async def test_market_endpoints(category: str) -> None:
    async with running_sim() as sim:
        http = http_for(sim)
        m = market(sim, category)
        inst = m.instruments["BTCUSDT"]

        t = await ok(http.get_server_time)
        assert abs(int(t["timeSecond"]) - time.time()) < 5
        assert int(t["timeNano"]) // 1_000_000_000 == int(t["timeSecond"])

        info = await ok(http.get_instruments_info, category=category)
        assert info["category"] == category
        assert {row["symbol"] for row in info["list"]} == set(m.instruments)
        btc = next(row for row in info["list"] if row["symbol"] == "BTCUSDT")
        assert Decimal(btc["priceFilter"]["tickSize"]) == inst.tick
        lot = btc["lotSizeFilter"]
        if category == "spot":
            assert Decimal(lot["basePrecision"]) == inst.step
            assert Decimal(lot["minOrderAmt"]) == inst.min_notional
        else:
            assert Decimal(lot["qtyStep"]) == inst.step
            assert Decimal(lot["minNotionalValue"]) == inst.min_notional
            assert btc["contractType"] == "LinearPerpetual"

        book = await ok(http.get_orderbook, category=category, symbol="BTCUSDT", limit=5)
        seq, bids, asks = m.depth("BTCUSDT", 5)
        assert book["s"] == "BTCUSDT" and book["u"] == seq and book["seq"] == seq
        assert book["b"] == [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in bids]
        assert book["a"] == [[inst.fmt_price(p), inst.fmt_qty(q)] for p, q in asks]
        default = await ok(http.get_orderbook, category=category, symbol="BTCUSDT")
        assert len(default["b"]) == (1 if category == "spot" else 25)

        kl = await ok(http.get_kline, category=category, symbol="BTCUSDT", interval="1", limit=3)
        starts = [int(row[0]) for row in kl["list"]]
        assert starts == sorted(starts, reverse=True) and starts[0] - starts[1] == 60_000  # newest first
        assert all(len(row) == 7 for row in kl["list"])
        window = await ok(
            http.get_kline,
            category=category,
            symbol="BTCUSDT",
            interval="5",
            start=starts[2] - 3_600_000,
            end=starts[2],
            limit=4,
        )
        w = [int(row[0]) for row in window["list"]]
        assert len(w) == 4 and w == sorted(w, reverse=True) and w[0] <= starts[2] and w[0] - w[1] == 300_000
        for interval in ("60", "D", "W", "M"):
            bars = await ok(http.get_kline, category=category, symbol="BTCUSDT", interval=interval, limit=2)
            assert len(bars["list"]) >= 1

        # a trade, then tickers and recent trades agree with it
        m.mm_take("BTCUSDT", Side.BUY, inst.lots(inst.min_qty) * 3)
        best_ask = asks[0]
        trades = await ok(http.get_public_trade_history, category=category, symbol="BTCUSDT", limit=2)
        last = trades["list"][0]
        assert last["side"] == "Buy" and last["price"] == inst.fmt_price(best_ask[0])
        assert Decimal(last["size"]) > 0 and last["isBlockTrade"] is False

        tick = await ok(http.get_tickers, category=category, symbol="BTCUSDT")
        row = tick["list"][0]
        assert row["lastPrice"] == last["price"]
        seq, bids, asks = m.depth("BTCUSDT", 1)
        assert row["bid1Price"] == inst.fmt_price(bids[0][0]) and row["ask1Price"] == inst.fmt_price(
            asks[0][0]
        )
        if category == "linear":
            assert Decimal(row["markPrice"]) == m.mark_price("BTCUSDT")
            assert row["fundingRate"] == "0.0001" and int(row["nextFundingTime"]) > time.time() * 1000
        every = await ok(http.get_tickers, category=category)
        assert {r["symbol"] for r in every["list"]} == set(m.instruments)


async def test_market_param_errors() -> None:
    async with running_sim() as sim:
        http = http_for(sim)
        from pybit.exceptions import InvalidRequestError

        with pytest.raises(InvalidRequestError) as err:
            await ok(http.get_orderbook, category="futures", symbol="BTCUSDT")
        assert err.value.status_code == 10001
        with pytest.raises(InvalidRequestError) as err:
            await ok(http.get_kline, category="linear", symbol="BTCUSDT", interval="7")
        assert err.value.status_code == 10001
        with pytest.raises(InvalidRequestError) as err:
            await ok(http.get_orderbook, category="linear", symbol="BTCUSDT", limit=501)
        assert err.value.status_code == 10001
