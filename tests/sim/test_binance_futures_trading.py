"""Binance USDⓈ-M trading with the real python-binance AsyncClient: every order type, positions,
balances, leverage, margin type, hedge mode, and bad requests that must change nothing.

Expected numbers are recomputed here with Decimal from the book as it stood before each
order (the core's money rules: fees and realised PnL quantized to 8 decimals, entry price
the exact volume-weighted average, unrealised PnL = qty * (mark - entry)).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pytest
from binance.exceptions import BinanceAPIException

from terminal.model.enums import Side
from terminal.sim.faults import HttpFault
from tests.sim.test_binance_futures_fixtures import (  # noqa: F401 - fixtures
    SYMBOL,
    VENUE,
    client,
    client_for,
    dec,
    inst,
    lots_to_move,
    market,
    sim,
    take,
)

pytestmark = pytest.mark.timeout(40)

START = Decimal("100000")
TAKER = Decimal("0.0005")
MAKER = Decimal("0.0002")
MMR = Decimal("0.004")
Q8 = Decimal("0.00000001")


def q8(x: Decimal) -> Decimal:
    return x.quantize(Q8, rounding=ROUND_HALF_UP)


@dataclass
class Fill:
    price: Decimal
    qty: Decimal


def walk(running, side: Side, qty: Decimal, limit: Decimal | None = None) -> list[Fill]:
    """The fills a taker of ``qty`` gets from the current book, one per resting order, in
    price-time priority (prices no worse than ``limit``)."""
    i = inst(running)
    book = market(running).books[SYMBOL]
    levels = book.asks if side is Side.BUY else book.bids
    out: list[Fill] = []
    left = qty
    for p, level in levels.items():
        price = i.price(p)
        if limit is not None and (price > limit if side is Side.BUY else price < limit):
            break
        for resting in level.orders.values():
            take_q = min(left, i.qty(resting.lots))
            out.append(Fill(price, take_q))
            left -= take_q
            if left == 0:
                return out
    return out


def fees(fills: list[Fill], rate: Decimal = TAKER) -> Decimal:
    return sum((q8(f.price * f.qty * rate) for f in fills), Decimal(0))


def vwap(fills: list[Fill]) -> Decimal:
    return sum((f.price * f.qty for f in fills), Decimal(0)) / sum((f.qty for f in fills), Decimal(0))


async def position(c, side: str = "BOTH") -> dict:
    rows = await c.futures_position_information(symbol=SYMBOL, version=2)
    return next(r for r in rows if r["positionSide"] == side)


async def usdt(c) -> dict:
    return next(b for b in await c.futures_account_balance() if b["asset"] == "USDT")


async def state(c) -> tuple:
    """Everything a refused request must leave untouched."""
    bal = await usdt(c)
    rows = await c.futures_position_information(version=2)
    opens = await c.futures_get_open_orders()
    algos = await c.futures_get_open_orders(conditional=True)
    acct = await c.futures_account(version=2)
    positions = sorted((r["symbol"], r["positionSide"], r["positionAmt"], r["entryPrice"]) for r in rows)
    return (
        bal["balance"],
        bal["availableBalance"],
        positions,
        sorted(o["orderId"] for o in opens),
        sorted(a["algoId"] for a in algos),
        acct["totalWalletBalance"],
    )


async def api_error(coro, code: int | None = None) -> BinanceAPIException:
    """The BinanceAPIException ``coro`` raises (with ``code``, if given)."""
    with pytest.raises(BinanceAPIException) as err:
        result = await coro
        pytest.fail(f"expected error {code}, got {result}")
    if code is not None:
        assert err.value.code == code, err.value
    return err.value


def expected_available(wallet: Decimal, qty: Decimal, entry: Decimal, mark: Decimal, lev: int) -> Decimal:
    """Cross: wallet + unrealised PnL - position initial margin (no open orders)."""
    return wallet + qty * (mark - entry) - abs(qty) * mark / lev


# ------------------------------------------------------------------------------ market / limit


async def test_market_order_position_and_balance_are_exact(sim, client):  # noqa: F811
    qty = Decimal("0.500")  # deep enough to walk several levels
    fills = walk(sim, Side.BUY, qty)
    assert len(fills) > 1
    res = await client.futures_create_order(
        symbol=SYMBOL, side="BUY", type="MARKET", quantity=str(qty), newOrderRespType="RESULT"
    )
    entry = vwap(fills)
    fee = fees(fills)
    assert res["status"] == "FILLED" and dec(res["executedQty"]) == qty
    assert dec(res["avgPrice"]) == entry.quantize(Q8) and dec(res["cumQuote"]) == entry * qty
    trades = await client.futures_account_trades(symbol=SYMBOL, orderId=res["orderId"])
    assert [(dec(t["price"]), dec(t["qty"])) for t in trades] == [(f.price, f.qty) for f in fills]
    assert sum(dec(t["commission"]) for t in trades) == fee
    assert all(t["maker"] is False and t["buyer"] is True and dec(t["realizedPnl"]) == 0 for t in trades)

    mark = market(sim).mark_price(SYMBOL)
    pos = await position(client)
    assert dec(pos["positionAmt"]) == qty
    assert dec(pos["entryPrice"]) == entry.quantize(Q8)
    assert dec(pos["markPrice"]) == mark
    assert dec(pos["unRealizedProfit"]) == q8(qty * (mark - entry))
    assert (pos["leverage"], pos["marginType"], pos["isolatedMargin"]) == ("20", "cross", "0.00000000")
    assert pos["liquidationPrice"] == "0"  # a 100k cross wallet carries 0.5 BTC at any price
    wallet = START - fee
    bal = await usdt(client)
    assert dec(bal["balance"]) == wallet
    assert dec(bal["availableBalance"]) == q8(expected_available(wallet, qty, entry, mark, 20))
    acct = await client.futures_account(version=2)
    assert dec(acct["totalWalletBalance"]) == wallet and acct["availableBalance"] == bal["availableBalance"]
    assert dec(acct["totalPositionInitialMargin"]) == q8(qty * mark / 20)

    # close it: realised PnL per fill = qty * (price - entry), fees again
    close = walk(sim, Side.SELL, qty)
    res = await client.futures_create_order(
        symbol=SYMBOL,
        side="SELL",
        type="MARKET",
        quantity=str(qty),
        reduceOnly="true",
        newOrderRespType="RESULT",
    )
    realized = sum((q8(f.qty * (f.price - entry)) for f in close), Decimal(0))
    trades = await client.futures_account_trades(symbol=SYMBOL, orderId=res["orderId"])
    assert sum(dec(t["realizedPnl"]) for t in trades) == realized
    wallet = START - fee - fees(close) + realized
    bal = await usdt(client)
    assert dec(bal["balance"]) == wallet == dec(bal["availableBalance"])
    pos = await position(client)
    assert dec(pos["positionAmt"]) == 0 and dec(pos["unRealizedProfit"]) == 0


async def test_limit_gtc_rests_then_cancels(sim, client):  # noqa: F811
    i = inst(sim)
    m = market(sim)
    bid = m.books[SYMBOL].best_bid()
    price = i.price(bid - 50)
    level_before = m.books[SYMBOL].level_total(True, bid - 50)
    order = await client.futures_create_order(
        symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.100", price=str(price)
    )
    assert order["status"] == "NEW" and dec(order["price"]) == price and order["timeInForce"] == "GTC"
    assert m.books[SYMBOL].level_total(True, bid - 50) == level_before + 100
    opens = await client.futures_get_open_orders(symbol=SYMBOL)
    assert [o["orderId"] for o in opens] == [order["orderId"]]
    got = await client.futures_get_order(symbol=SYMBOL, orderId=order["orderId"])
    assert got["status"] == "NEW" and got["clientOrderId"] == order["clientOrderId"]
    # an open order holds initial margin: qty * price / leverage
    bal = await usdt(client)
    assert dec(bal["availableBalance"]) == START - Decimal("0.100") * price / 20
    acct = await client.futures_account(version=2)
    assert dec(acct["totalOpenOrderInitialMargin"]) == Decimal("0.100") * price / 20

    cancelled = await client.futures_cancel_order(symbol=SYMBOL, orderId=order["orderId"])
    assert cancelled["status"] == "CANCELED"
    assert m.books[SYMBOL].level_total(True, bid - 50) == level_before
    assert await client.futures_get_open_orders(symbol=SYMBOL) == []
    assert dec((await usdt(client))["availableBalance"]) == START
    again = await api_error(client.futures_cancel_order(symbol=SYMBOL, orderId=order["orderId"]))
    assert again.code == -2011


async def test_ioc_and_fok(sim, client):  # noqa: F811
    i = inst(sim)
    m = market(sim)
    _, _, asks = m.depth(SYMBOL, 2)
    (p0, q0), _ = asks
    # IOC at the best ask for more than it holds: fills the level, the rest expires
    ioc = await client.futures_create_order(
        symbol=SYMBOL,
        side="BUY",
        type="LIMIT",
        timeInForce="IOC",
        quantity=i.fmt_qty(q0 + 5),
        price=i.fmt_price(p0),
        newOrderRespType="RESULT",
    )
    assert ioc["status"] == "EXPIRED" and dec(ioc["executedQty"]) == i.qty(q0)
    assert dec((await position(client))["positionAmt"]) == i.qty(q0)
    # FOK that cannot be filled completely at its limit: nothing trades
    _, _, asks = m.depth(SYMBOL, 1)
    (p1, q1) = asks[0]
    fok = await client.futures_create_order(
        symbol=SYMBOL,
        side="BUY",
        type="LIMIT",
        timeInForce="FOK",
        quantity=i.fmt_qty(q1 + 1),
        price=i.fmt_price(p1),
        newOrderRespType="RESULT",
    )
    assert fok["status"] == "EXPIRED" and dec(fok["executedQty"]) == 0
    assert m.books[SYMBOL].best_ask() == p1 and m.books[SYMBOL].level_total(False, p1) == q1
    ok = await client.futures_create_order(
        symbol=SYMBOL,
        side="BUY",
        type="LIMIT",
        timeInForce="FOK",
        quantity=i.fmt_qty(q1),
        price=i.fmt_price(p1),
        newOrderRespType="RESULT",
    )
    assert ok["status"] == "FILLED" and dec(ok["avgPrice"]) == i.price(p1)
    assert dec((await position(client))["positionAmt"]) == i.qty(q0 + q1)


async def test_gtx_post_only(sim, client):  # noqa: F811
    i = inst(sim)
    book = market(sim).books[SYMBOL]
    bid, ask = book.best_bid(), book.best_ask()
    maker = await client.futures_create_order(
        symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTX", quantity="0.010", price=i.fmt_price(bid)
    )
    assert maker["status"] == "NEW" and maker["timeInForce"] == "GTX"
    before = await state(client)
    err = await api_error(
        client.futures_create_order(
            symbol=SYMBOL,
            side="BUY",
            type="LIMIT",
            timeInForce="GTX",
            quantity="0.010",
            price=i.fmt_price(ask),
        )
    )
    assert err.code == -5022
    assert err.message.startswith(
        "Due to the order could not be executed as maker, the Post Only order will be rejected."
    )
    assert await state(client) == before and book.best_ask() == ask
    # the resting maker fills when a taker sells into it: maker fee
    take(sim, Side.SELL, lots_to_move(sim, Side.SELL, 1))
    got = await client.futures_get_order(symbol=SYMBOL, orderId=maker["orderId"])
    assert got["status"] == "FILLED"
    trades = await client.futures_account_trades(symbol=SYMBOL, orderId=maker["orderId"])
    assert trades[0]["maker"] is True
    assert dec(trades[0]["commission"]) == q8(i.price(bid) * Decimal("0.010") * MAKER)


async def test_reduce_only(sim, client):  # noqa: F811
    before = await state(client)
    err = await api_error(
        client.futures_create_order(
            symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.010", reduceOnly="true"
        )
    )
    assert (err.code, err.message) == (-2022, "ReduceOnly Order is rejected.")
    assert await state(client) == before
    await client.futures_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.030")
    # reduce-only for more than the position: it only closes the position
    res = await client.futures_create_order(
        symbol=SYMBOL,
        side="SELL",
        type="MARKET",
        quantity="0.050",
        reduceOnly="true",
        newOrderRespType="RESULT",
    )
    assert dec(res["executedQty"]) == Decimal("0.030") and res["reduceOnly"] is True
    assert dec((await position(client))["positionAmt"]) == 0
    err = await api_error(
        client.futures_create_order(
            symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.010", reduceOnly="true"
        )
    )
    assert err.code == -2022


# ------------------------------------------------------------------------------ conditional


async def test_stop_market_rests_as_algo_order_then_triggers(sim, client):  # noqa: F811
    i = inst(sim)
    m = market(sim)
    await client.futures_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.020")
    last = m.last_price_ticks(SYMBOL)
    # a sell stop above the last price would fire at once
    err = await api_error(
        client.futures_create_order(
            symbol=SYMBOL, side="SELL", type="STOP_MARKET", quantity="0.020", stopPrice=i.fmt_price(last + 5)
        )
    )
    assert (err.code, err.message) == (-2021, "Order would immediately trigger.")
    trigger = last - 8
    algo = await client.futures_create_order(
        symbol=SYMBOL,
        side="SELL",
        type="STOP_MARKET",
        quantity="0.020",
        stopPrice=i.fmt_price(trigger),
        reduceOnly="true",
    )
    assert algo["algoType"] == "CONDITIONAL" and algo["orderType"] == "STOP_MARKET"
    assert algo["algoStatus"] == "NEW" and dec(algo["triggerPrice"]) == i.price(trigger)
    assert await client.futures_get_open_orders(symbol=SYMBOL) == []  # not a regular order
    opens = await client.futures_get_open_orders(symbol=SYMBOL, conditional=True)
    assert [a["algoId"] for a in opens] == [algo["algoId"]]
    assert dec((await position(client))["positionAmt"]) == Decimal("0.020")

    # sellers walk the bids down through the trigger
    while m.last_price_ticks(SYMBOL) > trigger:
        take(sim, Side.SELL, lots_to_move(sim, Side.SELL, 3))
    got = await client.futures_get_order(algoId=algo["algoId"])
    assert got["algoStatus"] == "FINISHED" and got["actualOrderId"] != ""
    assert await client.futures_get_open_orders(symbol=SYMBOL, conditional=True) == []
    spawned = await client.futures_get_order(symbol=SYMBOL, orderId=int(got["actualOrderId"]))
    assert (
        spawned["status"] == "FILLED" and spawned["type"] == "MARKET" and spawned["origType"] == "STOP_MARKET"
    )
    assert dec(spawned["executedQty"]) == Decimal("0.020")
    assert dec((await position(client))["positionAmt"]) == 0


async def test_take_profit_market_closes_a_short(sim, client):  # noqa: F811
    i = inst(sim)
    m = market(sim)
    await client.futures_create_order(symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.020")
    assert dec((await position(client))["positionAmt"]) == Decimal("-0.020")
    trigger = m.last_price_ticks(SYMBOL) - 6  # a buy take-profit fires when the price falls to it
    algo = await client.futures_create_order(
        symbol=SYMBOL,
        side="BUY",
        type="TAKE_PROFIT_MARKET",
        stopPrice=i.fmt_price(trigger),
        closePosition="true",
    )
    assert algo["closePosition"] is True and algo["algoStatus"] == "NEW"
    take(sim, Side.BUY, 1)  # a rise does not fire it
    assert (await client.futures_get_order(algoId=algo["algoId"]))["algoStatus"] == "NEW"
    while m.last_price_ticks(SYMBOL) > trigger:
        take(sim, Side.SELL, lots_to_move(sim, Side.SELL, 3))
    assert (await client.futures_get_order(algoId=algo["algoId"]))["algoStatus"] == "FINISHED"
    assert dec((await position(client))["positionAmt"]) == 0


async def test_cancel_algo_order(sim, client):  # noqa: F811
    i = inst(sim)
    last = market(sim).last_price_ticks(SYMBOL)
    algo = await client.futures_create_order(
        symbol=SYMBOL,
        side="BUY",
        type="STOP",
        quantity="0.010",
        stopPrice=i.fmt_price(last + 20),
        price=i.fmt_price(last + 25),
        timeInForce="GTC",
    )
    assert algo["orderType"] == "STOP" and dec(algo["price"]) == i.price(last + 25)
    res = await client.futures_cancel_order(symbol=SYMBOL, algoId=algo["algoId"])
    assert (res["algoId"], res["code"], res["msg"]) == (algo["algoId"], "200", "success")
    assert (await client.futures_get_order(algoId=algo["algoId"]))["algoStatus"] == "CANCELED"
    err = await api_error(client.futures_cancel_order(symbol=SYMBOL, algoId=algo["algoId"]))
    assert err.code == -2011
    # conditional types are refused on the plain order endpoint, as the real venue does now
    err = await api_error(
        client._request_futures_api(
            "post",
            "order",
            True,
            data={
                "symbol": SYMBOL,
                "side": "BUY",
                "type": "STOP_MARKET",
                "quantity": "0.010",
                "stopPrice": "1",
            },
        )
    )
    assert err.code == -4120


# ------------------------------------------------------------------------------ modes


async def test_hedge_mode_long_and_short_legs(sim, client):  # noqa: F811
    assert (await client.futures_get_position_mode())["dualSidePosition"] is False
    err = await api_error(client.futures_change_position_mode(dualSidePosition="false"))
    assert (err.code, err.message) == (-4059, "No need to change position side.")
    assert (await client.futures_change_position_mode(dualSidePosition="true"))["code"] == 200
    assert (await client.futures_get_position_mode())["dualSidePosition"] is True

    err = await api_error(
        client.futures_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.010")
    )
    assert err.code == -4061  # BOTH in hedge mode
    err = await api_error(
        client.futures_create_order(
            symbol=SYMBOL,
            side="SELL",
            type="MARKET",
            quantity="0.010",
            positionSide="LONG",
            reduceOnly="true",
        )
    )
    assert err.code == -1106

    long_fills = walk(sim, Side.BUY, Decimal("0.300"))
    await client.futures_create_order(
        symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.300", positionSide="LONG"
    )
    short_fills = walk(sim, Side.SELL, Decimal("0.200"))
    await client.futures_create_order(
        symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.200", positionSide="SHORT"
    )
    long_, short = await position(client, "LONG"), await position(client, "SHORT")
    assert dec(long_["positionAmt"]) == Decimal("0.300") and dec(long_["entryPrice"]) == vwap(
        long_fills
    ).quantize(Q8)
    assert dec(short["positionAmt"]) == Decimal("-0.200")
    assert dec(short["entryPrice"]) == vwap(short_fills).quantize(Q8)
    mark = market(sim).mark_price(SYMBOL)
    assert dec(short["unRealizedProfit"]) == q8(Decimal("-0.200") * (mark - vwap(short_fills)))

    err = await api_error(client.futures_change_position_mode(dualSidePosition="false"))
    assert err.code == -4068
    # closing the SHORT leg does not touch the LONG one
    close = walk(sim, Side.BUY, Decimal("0.200"))
    await client.futures_create_order(
        symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.200", positionSide="SHORT"
    )
    realized = sum((q8(f.qty * (f.price - vwap(short_fills)) * -1) for f in close), Decimal(0))
    assert dec((await position(client, "SHORT"))["positionAmt"]) == 0
    assert dec((await position(client, "LONG"))["positionAmt"]) == Decimal("0.300")
    wallet = START - fees(long_fills) - fees(short_fills) - fees(close) + realized
    assert dec((await usdt(client))["balance"]) == wallet
    await client.futures_create_order(
        symbol=SYMBOL, side="SELL", type="MARKET", quantity="0.300", positionSide="LONG"
    )
    assert (await client.futures_change_position_mode(dualSidePosition="false"))["code"] == 200


async def test_leverage_and_isolated_margin(sim, client):  # noqa: F811
    res = await client.futures_change_leverage(symbol=SYMBOL, leverage=10)
    assert res["leverage"] == 10 and res["symbol"] == SYMBOL and isinstance(res["maxNotionalValue"], str)
    err = await api_error(client.futures_change_leverage(symbol=SYMBOL, leverage=200))
    assert err.code == -4028
    assert (await client.futures_change_margin_type(symbol=SYMBOL, marginType="ISOLATED"))["code"] == 200
    err = await api_error(client.futures_change_margin_type(symbol=SYMBOL, marginType="ISOLATED"))
    assert (err.code, err.message) == (-4046, "No need to change margin type.")
    cfg = await client.futures_symbol_config(symbol=SYMBOL)
    assert (cfg[0]["marginType"], cfg[0]["leverage"]) == ("ISOLATED", 10)

    qty = Decimal("0.400")
    fills = walk(sim, Side.BUY, qty)
    await client.futures_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity=str(qty))
    entry = vwap(fills)
    iso_wallet = sum((f.qty * f.price / 10 for f in fills), Decimal(0))
    mark = market(sim).mark_price(SYMBOL)
    upnl = q8(qty * (mark - entry))
    pos = await position(client)
    assert (pos["marginType"], pos["leverage"]) == ("isolated", "10")
    assert dec(pos["isolatedWallet"]) == q8(iso_wallet)
    assert dec(pos["isolatedMargin"]) == q8(iso_wallet) + upnl
    liq = (qty * entry - q8(iso_wallet)) / (qty - qty * MMR)
    tick = inst(sim).tick
    assert dec(pos["liquidationPrice"]) == tick * int((liq / tick).to_integral_value())  # nearest tick
    wallet = START - fees(fills)
    bal = await usdt(client)
    assert dec(bal["balance"]) == wallet
    assert dec(bal["crossWalletBalance"]) == q8(wallet - iso_wallet)
    assert dec(bal["availableBalance"]) == q8(wallet - iso_wallet)  # isolated PnL stays in the position

    err = await api_error(client.futures_change_margin_type(symbol=SYMBOL, marginType="CROSSED"))
    assert err.code == -4048
    await client.futures_create_order(symbol=SYMBOL, side="SELL", type="MARKET", quantity=str(qty))
    last = market(sim).books[SYMBOL].best_bid()
    await client.futures_create_order(
        symbol=SYMBOL,
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.010",
        price=inst(sim).fmt_price(last - 40),
    )
    err = await api_error(client.futures_change_margin_type(symbol=SYMBOL, marginType="CROSSED"))
    assert err.code == -4047
    await client.futures_cancel_all_open_orders(symbol=SYMBOL)
    assert (await client.futures_change_margin_type(symbol=SYMBOL, marginType="CROSSED"))["code"] == 200
    assert (await position(client))["marginType"] == "cross"


async def test_leverage_changes_required_margin(sim, client):  # noqa: F811
    await client.futures_change_leverage(symbol=SYMBOL, leverage=5)
    qty = Decimal("0.300")
    await client.futures_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity=str(qty))
    mark = market(sim).mark_price(SYMBOL)
    acct = await client.futures_account(version=2)
    assert dec(acct["totalPositionInitialMargin"]) == q8(qty * mark / 5)
    # v3 lists only the open position, v2 every symbol
    v3 = await client.futures_account(version=3)
    assert [(p["symbol"], dec(p["positionAmt"])) for p in v3["positions"]] == [(SYMBOL, qty)]
    assert len(acct["positions"]) == len(market(sim).instruments)
    risk_v3 = await client.futures_position_information()
    assert [r["symbol"] for r in risk_v3] == [SYMBOL] and dec(risk_v3[0]["initialMargin"]) == q8(
        qty * mark / 5
    )


# ------------------------------------------------------------------------------ refusals


async def test_bad_requests_change_nothing(sim, client):  # noqa: F811
    i = inst(sim)
    await client.futures_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.010")
    bid = market(sim).books[SYMBOL].best_bid()
    await client.futures_create_order(
        symbol=SYMBOL,
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.010",
        price=i.fmt_price(bid - 30),
    )
    before = await state(client)
    uid = market(sim).books[SYMBOL].update_id
    good_price = i.fmt_price(bid - 10)

    def order(**kw):
        base = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.010"}
        return lambda: client.futures_create_order(**(base | kw))

    cases = [
        (order(price="65000.05"), -4014, "Price not increased by tick size."),
        (order(price=good_price, quantity="0.0015"), -4023, "Quantity not increased by step size."),
        (
            order(price="4000.0", quantity="0.001"),
            -4164,
            "Order's notional must be no smaller than 5 (unless you choose reduce only).",
        ),
        (order(type="MARKET", quantity="40", timeInForce=None), -2019, "Margin is insufficient."),
        (order(type="MARKET", reduceOnly="true", timeInForce=None), -2022, None),  # long: nothing to reduce
        (order(symbol="NOPEUSDT", price=good_price), -1121, "Invalid symbol."),
        (lambda: client.futures_cancel_order(symbol=SYMBOL, orderId=123456), -2011, "Unknown order sent."),
        (lambda: client.futures_get_order(symbol=SYMBOL, orderId=123456), -2013, "Order does not exist."),
        (order(price=good_price, quantity="2000"), -4005, "Quantity greater than max quantity."),
        (order(price="2000000.0"), -4016, "Limit price can't be higher than 1000000."),
        (order(price="0.05"), -4024, "Limit price can't be lower than 0.10."),
        (order(price=good_price, quantity=None), -1102, None),
        (order(price=good_price, timeInForce=None), -1102, None),
    ]
    for call, code, msg in cases:
        err = await api_error(call(), code)
        assert err.status_code == 400
        if msg is not None:
            assert err.message == msg
        assert await state(client) == before, code
    # timestamp outside recvWindow (-1021) and a bad signature (-1022)
    client.timestamp_offset = -120_000
    await api_error(order(price=good_price)(), -1021)
    client.timestamp_offset = 0
    sim.exchange.faults.inject_http(HttpFault.TIMESTAMP, VENUE)
    await api_error(order(price=good_price)(), -1021)
    bad = await client_for(sim)
    try:
        bad.API_SECRET = "0" * 64
        await api_error(
            bad.futures_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.010"), -1022
        )
    finally:
        await bad.close_connection()
    assert await state(client) == before
    assert market(sim).books[SYMBOL].update_id == uid


# ------------------------------------------------------------------------------ extras


async def test_ack_response_modify_and_batch(sim, client):  # noqa: F811
    i = inst(sim)
    # ACK (the default) answers with the order as accepted, before its fills
    ack = await client.futures_create_order(symbol=SYMBOL, side="BUY", type="MARKET", quantity="0.010")
    assert (ack["status"], ack["executedQty"], ack["avgPrice"]) == ("NEW", "0.000", "0.0")
    assert (await client.futures_get_order(symbol=SYMBOL, orderId=ack["orderId"]))["status"] == "FILLED"

    book = market(sim).books[SYMBOL]
    bid = book.best_bid()
    order = await client.futures_create_order(
        symbol=SYMBOL,
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.020",
        price=i.fmt_price(bid - 40),
    )
    moved = await client.futures_modify_order(
        symbol=SYMBOL, orderId=order["orderId"], side="BUY", quantity="0.020", price=i.fmt_price(bid - 45)
    )
    assert moved["orderId"] == order["orderId"] and dec(moved["price"]) == i.price(bid - 45)
    assert book.orders[order["orderId"]].price == bid - 45

    batch = await client.futures_place_batch_order(
        batchOrders=[
            {
                "symbol": SYMBOL,
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.010",
                "price": i.fmt_price(bid - 60),
            },
            {
                "symbol": SYMBOL,
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.010",
                "price": "65000.05",
            },
        ]
    )
    assert batch[0]["status"] == "NEW" and dec(batch[0]["price"]) == i.price(bid - 60)
    assert batch[1] == {"code": -4014, "msg": "Price not increased by tick size."}
    opens = {o["orderId"] for o in await client.futures_get_open_orders(symbol=SYMBOL)}
    assert opens == {order["orderId"], batch[0]["orderId"]}
    assert (await client.futures_cancel_all_open_orders(symbol=SYMBOL))["code"] == 200
    assert await client.futures_get_open_orders(symbol=SYMBOL) == []


async def test_request_weight_limit(sim, client):  # noqa: F811
    from terminal.sim.binance_futures import FUTURES_KEY

    limiter = sim.runner.app[FUTURES_KEY].http.limiter
    assert limiter.limit == 2400
    await client.futures_order_book(symbol=SYMBOL, limit=1000)  # weight 20
    used = int(client.response.headers["X-MBX-USED-WEIGHT-1M"])
    assert used >= 20
    limiter.limit = used + 25
    await client.futures_order_book(symbol=SYMBOL, limit=1000)
    err = await api_error(client.futures_order_book(symbol=SYMBOL, limit=1000), -1003)
    assert err.status_code == 429 and int(err.response.headers["Retry-After"]) >= 1
