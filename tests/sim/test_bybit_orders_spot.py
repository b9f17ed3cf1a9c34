"""Bybit spot trading through the real pybit ``HTTP`` client; the unified wallet must
follow the executions exactly (fees in the received coin, 8 decimals, half-up)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from terminal.model.enums import Side
from tests.sim.test_bybit_helpers import SPOT_FEE, coin, http_for, market, ok, q8, running_sim

pytestmark = pytest.mark.timeout(60)

SYMBOL = "BTCUSDT"


async def _wallet(http) -> dict[str, Decimal]:
    res = await ok(http.get_wallet_balance, accountType="UNIFIED", coin="USDT,BTC")
    return {name: Decimal(coin(res, name)["walletBalance"]) for name in ("USDT", "BTC")} | {
        f"{name}.locked": Decimal(coin(res, name)["locked"]) for name in ("USDT", "BTC")
    }


async def _fills(http, order_id: str) -> list[dict]:
    res = await ok(http.get_executions, category="spot", orderId=order_id)
    rows = res["list"]
    for row in rows:  # every fee is the rate times the received amount, 8 decimals half-up
        received = Decimal(row["execQty"]) if row["side"] == "Buy" else Decimal(row["execValue"])
        assert Decimal(row["execFee"]) == q8(received * SPOT_FEE), row
        assert Decimal(row["execValue"]) == Decimal(row["execQty"]) * Decimal(row["execPrice"])
        assert row["feeCurrency"] == ("BTC" if row["side"] == "Buy" else "USDT")
    return rows


def _apply(wallet: dict[str, Decimal], fills: list[dict]) -> dict[str, Decimal]:
    out = dict(wallet)
    for f in fills:
        qty, value, fee = Decimal(f["execQty"]), Decimal(f["execValue"]), Decimal(f["execFee"])
        if f["side"] == "Buy":
            out["USDT"] -= value
            out["BTC"] += qty - fee
        else:
            out["BTC"] -= qty
            out["USDT"] += value - fee
    return out


async def _order(http, order_id: str) -> dict:
    res = await ok(http.get_open_orders, category="spot", orderId=order_id)
    assert len(res["list"]) == 1
    return res["list"][0]


async def test_spot_market_orders_by_quote_and_base() -> None:
    async with running_sim() as sim:
        http = http_for(sim)
        start = await _wallet(http)

        # Bybit spot market Buy counts qty in USDT unless marketUnit says otherwise
        by_quote = await ok(
            http.place_order, category="spot", symbol=SYMBOL, side="Buy", orderType="Market", qty="1000"
        )
        fills = await _fills(http, by_quote["orderId"])
        spent = sum(Decimal(f["execValue"]) for f in fills)
        assert Decimal(1000) - Decimal("70") < spent <= Decimal(1000)  # all but less than one lot's worth
        order = await _order(http, by_quote["orderId"])
        assert order["orderStatus"] == "Filled" and order["qty"] == "1000" and order["timeInForce"] == "IOC"
        assert Decimal(order["cumExecValue"]) == spent
        assert Decimal(order["cumExecQty"]) == sum(Decimal(f["execQty"]) for f in fills)
        expected = _apply(start, fills)
        assert await _wallet(http) == expected

        by_base = await ok(
            http.place_order,
            category="spot",
            symbol=SYMBOL,
            side="Buy",
            orderType="Market",
            qty="0.01",
            marketUnit="baseCoin",
            orderLinkId="base-1",
        )
        assert by_base["orderLinkId"] == "base-1"
        fills = await _fills(http, by_base["orderId"])
        assert sum(Decimal(f["execQty"]) for f in fills) == Decimal("0.01")
        expected = _apply(expected, fills)
        assert await _wallet(http) == expected

        sell = await ok(
            http.place_order, category="spot", symbol=SYMBOL, side="Sell", orderType="Market", qty="0.005"
        )
        fills = await _fills(http, sell["orderId"])
        assert sum(Decimal(f["execQty"]) for f in fills) == Decimal("0.005")
        expected = _apply(expected, fills)
        assert await _wallet(http) == expected
        history = await ok(http.get_order_history, category="spot", symbol=SYMBOL)
        assert [row["orderStatus"] for row in history["list"]] == ["Filled"] * 3


async def test_spot_limit_rest_amend_cancel() -> None:
    async with running_sim() as sim:
        http = http_for(sim)
        m = market(sim, "spot")
        inst = m.instruments[SYMBOL]
        start = await _wallet(http)
        best_bid = inst.price(m.books[SYMBOL].best_bid())
        price = best_bid - Decimal(100)
        placed = await ok(
            http.place_order,
            category="spot",
            symbol=SYMBOL,
            side="Buy",
            orderType="Limit",
            qty="0.02",
            price=str(price),
            orderLinkId="lim-1",
        )
        order = await _order(http, placed["orderId"])
        assert order["orderStatus"] == "New" and order["orderLinkId"] == "lim-1"
        assert order["price"] == inst.fmt_price_dec(price) and order["qty"] == "0.02000"
        open_all = await ok(http.get_open_orders, category="spot")
        assert [o["orderId"] for o in open_all["list"]] == [placed["orderId"]]
        wallet = await _wallet(http)
        assert wallet["USDT.locked"] == Decimal("0.02") * price and wallet["USDT"] == start["USDT"]

        new_price = price - Decimal(50)
        await ok(
            http.amend_order,
            category="spot",
            symbol=SYMBOL,
            orderLinkId="lim-1",
            price=str(new_price),
            qty="0.03",
        )
        order = await _order(http, placed["orderId"])
        assert order["price"] == inst.fmt_price_dec(new_price) and order["qty"] == "0.03000"
        assert (await _wallet(http))["USDT.locked"] == Decimal("0.03") * new_price

        cancelled = await ok(http.cancel_order, category="spot", symbol=SYMBOL, orderId=placed["orderId"])
        assert cancelled == {"orderId": placed["orderId"], "orderLinkId": "lim-1"}
        history = await ok(http.get_order_history, category="spot", orderId=placed["orderId"])
        row = history["list"][0]
        assert row["orderStatus"] == "Cancelled" and row["cancelType"] == "CancelByUser"
        assert (await ok(http.get_open_orders, category="spot"))["list"] == []
        assert await _wallet(http) == start


async def test_spot_ioc_fok_postonly() -> None:
    async with running_sim() as sim:
        http = http_for(sim)
        m = market(sim, "spot")
        inst = m.instruments[SYMBOL]
        book = m.books[SYMBOL]
        start = await _wallet(http)
        ask_ticks = book.best_ask()
        ask, ask_lots = inst.price(ask_ticks), book.level_total(False, ask_ticks)
        too_much = inst.qty(ask_lots * 2)

        # FOK that cannot fill completely at the limit: cancelled, nothing traded
        fok = await ok(
            http.place_order,
            category="spot",
            symbol=SYMBOL,
            side="Buy",
            orderType="Limit",
            qty=str(too_much),
            price=str(ask),
            timeInForce="FOK",
        )
        row = (await ok(http.get_order_history, category="spot", orderId=fok["orderId"]))["list"][0]
        assert row["orderStatus"] == "Cancelled" and row["cumExecQty"] == "0.00000"
        assert row["rejectReason"] == "EC_CancelForNoFullFill"
        assert await _wallet(http) == start

        # IOC takes the level and cancels the rest
        ioc = await ok(
            http.place_order,
            category="spot",
            symbol=SYMBOL,
            side="Buy",
            orderType="Limit",
            qty=str(too_much),
            price=str(ask),
            timeInForce="IOC",
        )
        fills = await _fills(http, ioc["orderId"])
        assert sum(Decimal(f["execQty"]) for f in fills) == inst.qty(ask_lots)
        row = (await ok(http.get_order_history, category="spot", orderId=ioc["orderId"]))["list"][0]
        assert row["orderStatus"] == "PartiallyFilledCanceled"
        expected = _apply(start, fills)
        assert await _wallet(http) == expected

        # PostOnly below the touch rests; PostOnly that would take is accepted, then cancelled
        bid = inst.price(book.best_bid())
        maker = await ok(
            http.place_order,
            category="spot",
            symbol=SYMBOL,
            side="Buy",
            orderType="Limit",
            qty="0.001",
            price=str(bid),
            timeInForce="PostOnly",
        )
        assert (await _order(http, maker["orderId"]))["orderStatus"] == "New"
        taker_price = inst.price(book.best_ask())
        rejected = await ok(
            http.place_order,
            category="spot",
            symbol=SYMBOL,
            side="Buy",
            orderType="Limit",
            qty="0.001",
            price=str(taker_price),
            timeInForce="PostOnly",
            orderLinkId="po-take",
        )
        assert rejected["orderLinkId"] == "po-take" and rejected["orderId"]
        row = await _order(http, rejected["orderId"])
        assert row["orderStatus"] == "Cancelled" and row["rejectReason"] == "EC_PostOnlyWillTakeLiquidity"
        assert row["timeInForce"] == "PostOnly" and row["cumExecQty"] == "0.00000"
        with_maker = dict(expected)
        with_maker["USDT.locked"] = Decimal("0.001") * bid
        assert await _wallet(http) == with_maker
        assert book.best_ask() == inst.ticks(taker_price)  # nothing was taken
        await ok(http.cancel_all_orders, category="spot")
        assert await _wallet(http) == expected


async def test_spot_cancel_all_and_sell_side_lock() -> None:
    async with running_sim() as sim:
        http = http_for(sim)
        m = market(sim, "spot")
        inst = m.instruments[SYMBOL]
        start = await _wallet(http)
        ask = inst.price(m.books[SYMBOL].best_ask())
        for i in range(3):
            await ok(
                http.place_order,
                category="spot",
                symbol=SYMBOL,
                side="Sell",
                orderType="Limit",
                qty="0.1",
                price=str(ask + 10 * (i + 1)),
            )
        wallet = await _wallet(http)
        assert wallet["BTC.locked"] == Decimal("0.3") and wallet["BTC"] == start["BTC"]
        res = await ok(http.cancel_all_orders, category="spot", symbol=SYMBOL)
        assert len(res["list"]) == 3 and res["success"] == "1"
        assert await _wallet(http) == start
        m.mm_take(SYMBOL, Side.BUY, 1)  # the book still works
