"""Bybit linear trading through the real pybit ``HTTP`` client.

Wallet and positions are recomputed from the reported executions with Decimal: VWAP
entry, realised PnL ``closing * (price - entry) * sign`` quantized to 8 decimals, fees
``value * rate`` (8 decimals, half-up), Bybit's cumRealisedPnl = realised PnL - fees.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest
from pybit.exceptions import InvalidRequestError

from terminal.model.enums import Side
from terminal.sim.market import SimMarket
from tests.sim.test_bybit_helpers import (
    MAKER_LINEAR,
    TAKER_LINEAR,
    coin,
    http_for,
    market,
    ok,
    q8,
    running_sim,
)

pytestmark = pytest.mark.timeout(60)

SYMBOL = "BTCUSDT"
START_USDT = Decimal(100000)


@dataclass
class PositionModel:
    qty: Decimal = Decimal(0)  # signed
    entry: Decimal = Decimal(0)
    realised: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)

    def fill(self, side: str, price: Decimal, qty: Decimal, fee: Decimal) -> None:
        signed = qty if side == "Buy" else -qty
        q = self.qty
        if q == 0 or (q > 0) == (signed > 0):
            new = q + signed
            self.entry = (abs(q) * self.entry + qty * price) / abs(new)
        else:
            closing = min(qty, abs(q))
            self.realised += q8(closing * (price - self.entry) * (1 if q > 0 else -1))
            new = q + signed
            if new == 0:
                self.entry = Decimal(0)
            elif (new > 0) != (q > 0):
                self.entry = price
        self.qty = new
        self.fees += fee


async def _replay(http) -> PositionModel:
    """All executions, oldest first, through the model (checking each fee on the way)."""
    res = await ok(http.get_executions, category="linear", symbol=SYMBOL, limit=100)
    model = PositionModel()
    for row in reversed(res["list"]):
        value = Decimal(row["execValue"])
        rate = MAKER_LINEAR if row["isMaker"] else TAKER_LINEAR
        assert Decimal(row["feeRate"]) == rate
        assert Decimal(row["execFee"]) == q8(value * rate), row
        assert value == Decimal(row["execPrice"]) * Decimal(row["execQty"])
        model.fill(row["side"], Decimal(row["execPrice"]), Decimal(row["execQty"]), Decimal(row["execFee"]))
    return model


async def _check_consistent(http, m: SimMarket) -> PositionModel:
    model = await _replay(http)
    inst = m.instruments[SYMBOL]
    wallet = await ok(http.get_wallet_balance, accountType="UNIFIED", coin="USDT")
    usdt = coin(wallet, "USDT")
    assert Decimal(usdt["walletBalance"]) == START_USDT + model.realised - model.fees
    assert Decimal(usdt["cumRealisedPnl"]) == model.realised - model.fees
    pos = (await ok(http.get_positions, category="linear", symbol=SYMBOL))["list"][0]
    assert Decimal(pos["size"]) == abs(model.qty)
    assert pos["side"] == ("Buy" if model.qty > 0 else "Sell" if model.qty < 0 else "")
    assert abs(Decimal(pos["avgPrice"]) - model.entry) <= inst.tick / 2
    assert Decimal(pos["cumRealisedPnl"]) == model.realised - model.fees
    # openTime: when the current position was opened; 0 while flat
    assert (pos["openTime"] > 0) == bool(model.qty) and pos["openTime"] <= m.now_ms()
    if model.qty:
        mark = m.mark_price(SYMBOL)
        assert Decimal(pos["markPrice"]) == mark
        assert Decimal(pos["unrealisedPnl"]) == q8(model.qty * (mark - model.entry))
        assert Decimal(usdt["unrealisedPnl"]) == q8(model.qty * (mark - model.entry))
    return model


def _push_price(m: SimMarket, to: Decimal) -> None:
    """Trade through the static book until the last price reaches ``to``."""
    inst = m.instruments[SYMBOL]
    book = m.books[SYMBOL]
    target = inst.ticks(to)
    up = target > m.last_price[SYMBOL]
    levels = book.asks if up else book.bids
    lots = 0
    for price, level in levels.items():
        if (price < target) if up else (price > target):
            lots += level.total
        else:
            lots += 1
            break
    before = len(m.trades[SYMBOL])
    m.mm_take(SYMBOL, Side.BUY if up else Side.SELL, lots)
    # the taker reached the target (triggered orders may trade back afterwards)
    prices = [t.price_ticks for t in list(m.trades[SYMBOL])[before:]]
    assert (max(prices) >= target) if up else (min(prices) <= target)


async def test_linear_market_and_maker_limit() -> None:
    async with running_sim() as sim:
        http = http_for(sim)
        m = market(sim, "linear")
        inst = m.instruments[SYMBOL]
        book = m.books[SYMBOL]
        await ok(
            http.place_order, category="linear", symbol=SYMBOL, side="Buy", orderType="Market", qty="0.05"
        )
        model = await _check_consistent(http, m)
        assert model.qty == Decimal("0.05")

        # a resting sell at the best ask, filled as maker when a taker clears the level
        ask = book.best_ask()
        placed = await ok(
            http.place_order,
            category="linear",
            symbol=SYMBOL,
            side="Sell",
            orderType="Limit",
            qty="0.02",
            price=inst.fmt_price(ask),
            orderLinkId="tp-lim",
        )
        row = (await ok(http.get_open_orders, category="linear", orderId=placed["orderId"]))["list"][0]
        assert row["orderStatus"] == "New" and row["positionIdx"] == 0
        usdt = coin(await ok(http.get_wallet_balance, accountType="UNIFIED", coin="USDT"), "USDT")
        assert Decimal(usdt["totalOrderIM"]) == q8(Decimal("0.02") * inst.price(ask) / 10)
        m.mm_take(SYMBOL, Side.BUY, book.level_total(False, ask))
        row = (await ok(http.get_order_history, category="linear", orderLinkId="tp-lim"))["list"][0]
        assert row["orderStatus"] == "Filled"
        execs = (await ok(http.get_executions, category="linear", orderId=placed["orderId"]))["list"]
        assert [e["isMaker"] for e in execs] == [True] and execs[0]["closedSize"] == "0.020"
        model = await _check_consistent(http, m)
        assert model.qty == Decimal("0.03")

        # flip through zero with one market sell
        await ok(
            http.place_order, category="linear", symbol=SYMBOL, side="Sell", orderType="Market", qty="0.05"
        )
        model = await _check_consistent(http, m)
        assert model.qty == Decimal("-0.02") and model.realised < 0  # sold the long below its entry


async def test_linear_reduce_only() -> None:
    async with running_sim() as sim:
        http = http_for(sim)
        m = market(sim, "linear")
        with pytest.raises(InvalidRequestError) as err:
            await ok(
                http.place_order,
                category="linear",
                symbol=SYMBOL,
                side="Sell",
                orderType="Market",
                qty="0.01",
                reduceOnly=True,
            )
        assert err.value.status_code == 110017
        await ok(
            http.place_order, category="linear", symbol=SYMBOL, side="Buy", orderType="Market", qty="0.03"
        )
        with pytest.raises(InvalidRequestError) as err:  # would increase the long
            await ok(
                http.place_order,
                category="linear",
                symbol=SYMBOL,
                side="Buy",
                orderType="Market",
                qty="0.01",
                reduceOnly=True,
            )
        assert err.value.status_code == 110017
        reduced = await ok(
            http.place_order,
            category="linear",
            symbol=SYMBOL,
            side="Sell",
            orderType="Market",
            qty="0.01",
            reduceOnly=True,
        )
        row = (await ok(http.get_order_history, category="linear", orderId=reduced["orderId"]))["list"][0]
        assert row["reduceOnly"] is True and row["orderStatus"] == "Filled"
        model = await _check_consistent(http, m)
        assert model.qty == Decimal("0.02")


async def test_linear_conditional_order_triggers() -> None:
    async with running_sim() as sim:
        http = http_for(sim)
        m = market(sim, "linear")
        inst = m.instruments[SYMBOL]
        last = inst.price(m.last_price[SYMBOL])
        with pytest.raises(InvalidRequestError) as err:  # a rise trigger below the last price
            await ok(
                http.place_order,
                category="linear",
                symbol=SYMBOL,
                side="Buy",
                orderType="Market",
                qty="0.01",
                triggerPrice=str(last - 10),
                triggerDirection=1,
            )
        assert err.value.status_code == 110092
        trigger = last + 40
        placed = await ok(
            http.place_order,
            category="linear",
            symbol=SYMBOL,
            side="Buy",
            orderType="Market",
            qty="0.01",
            triggerPrice=str(trigger),
            triggerDirection=1,
            orderLinkId="stop-buy",
        )
        row = (await ok(http.get_open_orders, category="linear", orderLinkId="stop-buy"))["list"][0]
        assert row["orderStatus"] == "Untriggered" and row["stopOrderType"] == "Stop"
        assert row["triggerPrice"] == inst.fmt_price_dec(trigger) and row["triggerDirection"] == 1
        model = await _check_consistent(http, m)
        assert model.qty == 0

        _push_price(m, trigger)
        row = (await ok(http.get_order_history, category="linear", orderId=placed["orderId"]))["list"][0]
        assert row["orderStatus"] == "Filled" and Decimal(row["cumExecQty"]) == Decimal("0.01")
        assert (await ok(http.get_open_orders, category="linear"))["list"] == []
        model = await _check_consistent(http, m)
        assert model.qty == Decimal("0.01") and model.entry >= trigger


async def test_linear_leverage_and_hedge_mode() -> None:
    async with running_sim() as sim:
        http = http_for(sim)
        m = market(sim, "linear")
        with pytest.raises(InvalidRequestError) as err:
            await ok(http.set_leverage, category="linear", symbol=SYMBOL, buyLeverage="10", sellLeverage="10")
        assert err.value.status_code == 110043  # already 10x
        await ok(http.set_leverage, category="linear", symbol=SYMBOL, buyLeverage="5", sellLeverage="5")
        await ok(
            http.place_order, category="linear", symbol=SYMBOL, side="Buy", orderType="Market", qty="0.02"
        )
        pos = (await ok(http.get_positions, category="linear", symbol=SYMBOL))["list"][0]
        assert pos["leverage"] == "5"
        assert Decimal(pos["positionIM"]) == q8(Decimal("0.02") * m.mark_price(SYMBOL) / 5)

        with pytest.raises(InvalidRequestError) as err:  # an open position blocks the switch
            await ok(http.switch_position_mode, category="linear", coin="USDT", mode=3)
        assert err.value.status_code == 110024
        await ok(
            http.place_order, category="linear", symbol=SYMBOL, side="Sell", orderType="Market", qty="0.02"
        )
        with pytest.raises(InvalidRequestError) as err:
            await ok(http.switch_position_mode, category="linear", coin="USDT", mode=0)
        assert err.value.status_code == 110025
        await ok(http.switch_position_mode, category="linear", symbol=SYMBOL, mode=3)

        with pytest.raises(InvalidRequestError) as err:  # hedge mode needs positionIdx 1 or 2
            await ok(
                http.place_order, category="linear", symbol=SYMBOL, side="Buy", orderType="Market", qty="0.01"
            )
        assert err.value.status_code == 10001
        await ok(
            http.place_order,
            category="linear",
            symbol=SYMBOL,
            side="Buy",
            orderType="Market",
            qty="0.03",
            positionIdx=1,
        )
        await ok(
            http.place_order,
            category="linear",
            symbol=SYMBOL,
            side="Sell",
            orderType="Market",
            qty="0.01",
            positionIdx=2,
        )
        legs = (await ok(http.get_positions, category="linear", symbol=SYMBOL))["list"]
        by_idx = {p["positionIdx"]: p for p in legs}
        assert by_idx[1]["side"] == "Buy" and by_idx[1]["size"] == "0.030"
        assert by_idx[2]["side"] == "Sell" and by_idx[2]["size"] == "0.010"
        # closing the long leg: a Sell on positionIdx 1 (reduceOnly is accepted there)
        await ok(
            http.place_order,
            category="linear",
            symbol=SYMBOL,
            side="Sell",
            orderType="Market",
            qty="0.03",
            positionIdx=1,
            reduceOnly=True,
        )
        legs = {
            p["positionIdx"]: p
            for p in (await ok(http.get_positions, category="linear", symbol=SYMBOL))["list"]
        }
        assert legs[1]["size"] == "0.000" and legs[2]["size"] == "0.010"
        listed = (await ok(http.get_positions, category="linear", settleCoin="USDT"))["list"]
        assert [(p["positionIdx"], p["size"]) for p in listed] == [(2, "0.010")]
        # wallet: every fee and realised PnL of both legs
        execs = (await ok(http.get_executions, category="linear", limit=100))["list"]
        fees = sum(Decimal(e["execFee"]) for e in execs)
        usdt = coin(await ok(http.get_wallet_balance, accountType="UNIFIED", coin="USDT"), "USDT")
        realised = Decimal(usdt["cumRealisedPnl"]) + fees
        assert Decimal(usdt["walletBalance"]) == START_USDT + realised - fees


async def test_linear_trading_stop_and_attached_tpsl() -> None:
    async with running_sim() as sim:
        http = http_for(sim)
        m = market(sim, "linear")
        inst = m.instruments[SYMBOL]
        with pytest.raises(InvalidRequestError) as err:
            await ok(
                http.set_trading_stop, category="linear", symbol=SYMBOL, takeProfit="70000", positionIdx=0
            )
        assert err.value.status_code == 10001  # no position
        await ok(
            http.place_order, category="linear", symbol=SYMBOL, side="Buy", orderType="Market", qty="0.02"
        )
        last = inst.price(m.last_price[SYMBOL])
        tp, sl = last + 60, last - 60
        with pytest.raises(InvalidRequestError):  # a long's TP must be above the last price
            await ok(
                http.set_trading_stop,
                category="linear",
                symbol=SYMBOL,
                takeProfit=str(last - 5),
                positionIdx=0,
            )
        await ok(
            http.set_trading_stop,
            category="linear",
            symbol=SYMBOL,
            takeProfit=str(tp),
            stopLoss=str(sl),
            tpslMode="Full",
            positionIdx=0,
        )
        pos = (await ok(http.get_positions, category="linear", symbol=SYMBOL))["list"][0]
        assert pos["takeProfit"] == inst.fmt_price_dec(tp) and pos["stopLoss"] == inst.fmt_price_dec(sl)
        open_rows = (await ok(http.get_open_orders, category="linear", symbol=SYMBOL))["list"]
        kinds = {r["stopOrderType"]: r for r in open_rows}
        # cancel-all takes the TP/SL orders too; the position then shows none, and they can be set again
        await ok(http.cancel_all_orders, category="linear", symbol=SYMBOL)
        pos = (await ok(http.get_positions, category="linear", symbol=SYMBOL))["list"][0]
        assert pos["takeProfit"] == "0" and pos["stopLoss"] == "0"
        await ok(
            http.set_trading_stop,
            category="linear",
            symbol=SYMBOL,
            takeProfit=str(tp),
            stopLoss=str(sl),
            tpslMode="Full",
            positionIdx=0,
        )
        open_rows = (await ok(http.get_open_orders, category="linear", symbol=SYMBOL))["list"]
        kinds = {r["stopOrderType"]: r for r in open_rows}
        assert set(kinds) == {"TakeProfit", "StopLoss"}
        assert all(
            r["orderStatus"] == "Untriggered" and r["closeOnTrigger"] and r["reduceOnly"] for r in open_rows
        )
        assert kinds["TakeProfit"]["qty"] == "0.020" and kinds["TakeProfit"]["side"] == "Sell"
        assert kinds["TakeProfit"]["triggerDirection"] == 1 and kinds["StopLoss"]["triggerDirection"] == 2

        _push_price(m, tp)  # TP fires, closes the position, the SL goes with it
        await _wait_open_orders_empty(http)
        hist = {
            r["stopOrderType"]: r  # newest first in the list: let the newest win
            for r in reversed((await ok(http.get_order_history, category="linear", symbol=SYMBOL))["list"])
        }
        assert hist["TakeProfit"]["orderStatus"] == "Filled"
        assert hist["StopLoss"]["orderStatus"] == "Deactivated"
        assert hist["StopLoss"]["cancelType"] == "CancelByTpSlTsClear"
        model = await _check_consistent(http, m)
        assert model.qty == 0
        pos = (await ok(http.get_positions, category="linear", symbol=SYMBOL))["list"][0]
        assert pos["takeProfit"] == "0" and pos["stopLoss"] == "0"

        # TP/SL attached to an order become the position's once it fills
        last = inst.price(m.last_price[SYMBOL])
        await ok(
            http.place_order,
            category="linear",
            symbol=SYMBOL,
            side="Sell",
            orderType="Market",
            qty="0.01",
            takeProfit=str(last - 80),
            stopLoss=str(last + 80),
        )
        pos = await _wait_position_tp(http)
        assert pos["side"] == "Sell" and pos["takeProfit"] == inst.fmt_price_dec(last - 80)
        assert pos["stopLoss"] == inst.fmt_price_dec(last + 80)
        await _check_consistent(http, m)

        # reversing the short into a long in one fill retires the short's TP/SL
        await ok(
            http.place_order, category="linear", symbol=SYMBOL, side="Buy", orderType="Market", qty="0.03"
        )
        await _wait_open_orders_empty(http)
        pos = (await ok(http.get_positions, category="linear", symbol=SYMBOL))["list"][0]
        assert pos["side"] == "Buy" and pos["takeProfit"] == "0" and pos["stopLoss"] == "0"
        model = await _check_consistent(http, m)
        assert model.qty == Decimal("0.02")


async def _wait_open_orders_empty(http) -> None:
    import asyncio

    for _ in range(100):
        if not (await ok(http.get_open_orders, category="linear"))["list"]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("orders still open")


async def _wait_position_tp(http) -> dict:
    import asyncio

    for _ in range(100):
        pos = (await ok(http.get_positions, category="linear", symbol=SYMBOL))["list"][0]
        if pos["takeProfit"] != "0":
            return pos
        await asyncio.sleep(0.01)
    raise AssertionError("position TP never set")
