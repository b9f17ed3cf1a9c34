"""Binance spot trading through python-binance: every order type, with exact balances.

Books are static (no generator); ``mm_take`` moves the price where a test needs it.
Expected balances are recomputed with Decimal from the fills the venue reports
(``myTrades``) and Binance's rules: buy fees are paid in the base asset, sell fees in
the quote asset; a resting buy locks ``qty * price`` quote, a resting sell ``qty`` base.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from terminal.model.enums import Side
from tests.sim.test_binance_spot_fixtures import balances, client, market, sim  # noqa: F401 - fixtures

pytestmark = pytest.mark.timeout(30)

SYM = "BTCUSDT"
ZERO = Decimal(0)


def inst(sim):  # noqa: F811
    return market(sim).instruments[SYM]


def px(sim, ticks: int) -> str:  # noqa: F811
    return f"{inst(sim).price(ticks):.2f}"


async def fills_of(client, order_id: int) -> list[dict]:  # noqa: F811
    return await client.get_my_trades(symbol=SYM, orderId=order_id)


def sums(fills: list[dict]) -> tuple[Decimal, Decimal, Decimal]:
    """(base qty, quote amount, commission) over fills."""
    qty = sum((Decimal(f["qty"]) for f in fills), ZERO)
    quote = sum((Decimal(f["price"]) * Decimal(f["qty"]) for f in fills), ZERO)
    fee = sum((Decimal(f["commission"]) for f in fills), ZERO)
    return qty, quote, fee


def assert_balances(after, before, base_free=ZERO, base_locked=ZERO, quote_free=ZERO, quote_locked=ZERO):
    assert after["BTC"][0] - before["BTC"][0] == base_free
    assert after["BTC"][1] - before["BTC"][1] == base_locked
    assert after["USDT"][0] - before["USDT"][0] == quote_free
    assert after["USDT"][1] - before["USDT"][1] == quote_locked


async def test_market_orders_by_qty_and_quote(sim, client):  # noqa: F811
    b0 = await balances(client)
    buy = await client.order_market_buy(symbol=SYM, quantity="0.05")
    assert buy["status"] == "FILLED" and buy["type"] == "MARKET" and buy["side"] == "BUY"
    assert Decimal(buy["executedQty"]) == Decimal("0.05")
    fills = await fills_of(client, buy["orderId"])
    qty, quote, fee = sums(fills)
    # FULL response fills are the same trades the account reports
    assert [f["tradeId"] for f in buy["fills"]] == [f["id"] for f in fills]
    assert Decimal(buy["cummulativeQuoteQty"]) == quote
    assert all(f["commissionAsset"] == "BTC" and not f["isMaker"] and f["isBuyer"] for f in fills)
    assert fee == sum((Decimal(f["qty"]) * Decimal("0.001") for f in fills), ZERO)
    b1 = await balances(client)
    assert_balances(b1, b0, base_free=qty - fee, quote_free=-quote)

    by_quote = await client.order_market_buy(symbol=SYM, quoteOrderQty="1000")
    assert by_quote["status"] == "FILLED"
    assert Decimal(by_quote["origQuoteOrderQty"]) == Decimal("1000")
    q_qty, q_quote, q_fee = sums(await fills_of(client, by_quote["orderId"]))
    assert Decimal(by_quote["executedQty"]) == q_qty > 0
    assert Decimal("999") < q_quote <= Decimal("1000")
    b2 = await balances(client)
    assert_balances(b2, b1, base_free=q_qty - q_fee, quote_free=-q_quote)

    sell = await client.order_market_sell(symbol=SYM, quantity="0.02")
    s_qty, s_quote, s_fee = sums(await fills_of(client, sell["orderId"]))
    assert s_qty == Decimal("0.02")
    assert s_fee == sum(
        (Decimal(f["price"]) * Decimal(f["qty"]) * Decimal("0.001") for f in sell["fills"]), ZERO
    ).quantize(Decimal("1e-8"))
    b3 = await balances(client)
    assert_balances(b3, b2, base_free=-s_qty, quote_free=s_quote - s_fee)


async def test_limit_gtc_rest_query_cancel(sim, client):  # noqa: F811
    bid, _ask = market(sim).books[SYM].best_bid(), None
    price = px(sim, bid - 500)
    b0 = await balances(client)
    o = await client.order_limit_buy(symbol=SYM, quantity="0.1", price=price, newClientOrderId="my-gtc-1")
    assert o["status"] == "NEW" and o["clientOrderId"] == "my-gtc-1" and o["fills"] == []
    assert o["timeInForce"] == "GTC" and o["price"] == f"{Decimal(price):.8f}"
    b1 = await balances(client)
    lock = Decimal("0.1") * Decimal(price)
    assert_balances(b1, b0, quote_free=-lock, quote_locked=lock)
    open_orders = await client.get_open_orders(symbol=SYM)
    assert [x["orderId"] for x in open_orders] == [o["orderId"]]
    q = await client.get_order(symbol=SYM, origClientOrderId="my-gtc-1")
    assert q["orderId"] == o["orderId"] and q["status"] == "NEW" and q["isWorking"] is True
    # a duplicate client id among open orders is refused
    from binance.exceptions import BinanceAPIException

    with pytest.raises(BinanceAPIException) as exc:
        await client.order_limit_buy(symbol=SYM, quantity="0.1", price=price, newClientOrderId="my-gtc-1")
    assert exc.value.code == -2010 and exc.value.message == "Duplicate order sent."
    c = await client.cancel_order(symbol=SYM, orderId=o["orderId"])
    assert c["status"] == "CANCELED" and c["origClientOrderId"] == "my-gtc-1"
    assert await client.get_open_orders(symbol=SYM) == []
    assert (await client.get_order(symbol=SYM, orderId=o["orderId"]))["status"] == "CANCELED"
    assert await balances(client) == b0
    # cancel-all cancels every open order of the symbol
    for i in range(3):
        await client.order_limit_sell(symbol=SYM, quantity="0.01", price=px(sim, bid + 900 + i))
    b2 = await balances(client)
    assert b2["BTC"][1] == Decimal("0.03")
    cancelled = await client.cancel_all_open_orders(symbol=SYM)
    assert len(cancelled) == 3 and {x["status"] for x in cancelled} == {"CANCELED"}
    assert await balances(client) == b0
    all_orders = await client.get_all_orders(symbol=SYM)
    assert len(all_orders) == 4 and {x["status"] for x in all_orders} == {"CANCELED"}


async def test_ioc_partial_and_fok_none(sim, client):  # noqa: F811
    m = market(sim)
    book = m.books[SYM]
    ask, ask_lots = book.best_ask_level()
    level_qty = inst(sim).qty(ask_lots)
    want = level_qty + Decimal("0.05")
    b0 = await balances(client)
    ioc = await client.order_limit_buy(symbol=SYM, quantity=str(want), price=px(sim, ask), timeInForce="IOC")
    assert ioc["status"] == "EXPIRED"
    assert Decimal(ioc["executedQty"]) == level_qty
    qty, quote, fee = sums(await fills_of(client, ioc["orderId"]))
    assert qty == level_qty and quote == level_qty * inst(sim).price(ask)
    b1 = await balances(client)
    assert_balances(b1, b0, base_free=qty - fee, quote_free=-quote)  # the lock was released in full

    ask2, lots2 = book.best_ask_level()
    fok = await client.order_limit_buy(
        symbol=SYM,
        quantity=str(inst(sim).qty(lots2) + Decimal("0.00001")),
        price=px(sim, ask2),
        timeInForce="FOK",
    )
    assert fok["status"] == "EXPIRED" and Decimal(fok["executedQty"]) == 0 and fok["fills"] == []
    assert await balances(client) == b1
    assert book.best_ask_level() == (ask2, lots2)  # nothing taken

    fok_ok = await client.order_limit_buy(
        symbol=SYM, quantity=str(inst(sim).qty(lots2)), price=px(sim, ask2), timeInForce="FOK"
    )
    assert fok_ok["status"] == "FILLED"


async def test_limit_maker_accepted_and_rejected(sim, client):  # noqa: F811
    from binance.exceptions import BinanceAPIException

    book = market(sim).books[SYM]
    bid, ask = book.best_bid(), book.best_ask()
    b0 = await balances(client)
    ok = await client.create_order(
        symbol=SYM, side="BUY", type="LIMIT_MAKER", quantity="0.01", price=px(sim, bid)
    )
    # LIMIT_MAKER answers ACK by default (only MARKET and LIMIT default to FULL)
    assert set(ok) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    q = await client.get_order(symbol=SYM, orderId=ok["orderId"])
    assert q["type"] == "LIMIT_MAKER" and q["status"] == "NEW" and q["timeInForce"] == "GTC"
    b1 = await balances(client)
    lock = Decimal("0.01") * inst(sim).price(bid)
    assert_balances(b1, b0, quote_free=-lock, quote_locked=lock)
    with pytest.raises(BinanceAPIException) as exc:
        await client.create_order(
            symbol=SYM, side="BUY", type="LIMIT_MAKER", quantity="0.01", price=px(sim, ask)
        )
    assert exc.value.code == -2010 and exc.value.message == "Order would immediately match and take."
    assert await balances(client) == b1
    assert len(await client.get_open_orders(symbol=SYM)) == 1


async def test_stop_loss_limit_rests_then_triggers(sim, client):  # noqa: F811
    m = market(sim)
    last = m.last_price_ticks(SYM)
    stop, limit = last - 300, last - 2000
    b0 = await balances(client)
    o = await client.create_order(
        symbol=SYM,
        side="SELL",
        type="STOP_LOSS_LIMIT",
        quantity="0.02",
        price=px(sim, limit),
        stopPrice=px(sim, stop),
        timeInForce="GTC",
        newOrderRespType="RESULT",
    )
    assert o["status"] == "NEW" and o["type"] == "STOP_LOSS_LIMIT" and o["workingTime"] == -1
    q = await client.get_order(symbol=SYM, orderId=o["orderId"])
    assert q["isWorking"] is False and Decimal(q["stopPrice"]) == inst(sim).price(stop)
    b1 = await balances(client)
    assert_balances(b1, b0, base_free=Decimal("-0.02"), base_locked=Decimal("0.02"))
    # the book did not see it
    assert all(r.owner is None for r in m.books[SYM].orders.values())
    # push the last price through the stop with generator market sells
    for _ in range(200):
        if m.last_price_ticks(SYM) <= stop:
            break
        m.mm_take(SYM, Side.SELL, 2000)
    assert m.last_price_ticks(SYM) <= stop
    q = await client.get_order(symbol=SYM, orderId=o["orderId"])
    assert q["workingTime"] > 0 and q["status"] in ("NEW", "PARTIALLY_FILLED", "FILLED")
    fills = await fills_of(client, o["orderId"])
    qty, quote, fee = sums(fills)
    assert Decimal(q["executedQty"]) == qty > 0  # it worked as a limit sell after the trigger
    assert all(Decimal(f["price"]) >= inst(sim).price(limit) for f in fills)
    b2 = await balances(client)
    rest = Decimal("0.02") - qty
    assert b2["BTC"] == (b0["BTC"][0] - Decimal("0.02"), rest)
    assert b2["USDT"] == (b0["USDT"][0] + quote - fee, ZERO)


async def test_oco_limit_leg_fills_stop_leg_expires(sim, client):  # noqa: F811
    m = market(sim)
    last = m.last_price_ticks(SYM)
    book = m.books[SYM]
    above = book.best_ask() + 150
    stop, stop_limit = last - 400, last - 450
    b0 = await balances(client)
    oco = await client.order_oco_sell(
        symbol=SYM,
        quantity="0.03",
        aboveType="LIMIT_MAKER",
        abovePrice=px(sim, above),
        belowType="STOP_LOSS_LIMIT",
        belowStopPrice=px(sim, stop),
        belowPrice=px(sim, stop_limit),
        belowTimeInForce="GTC",
        aboveClientOrderId="oco-limit",
        belowClientOrderId="oco-stop",
    )
    assert oco["contingencyType"] == "OCO" and oco["listOrderStatus"] == "EXECUTING"
    assert len(oco["orders"]) == 2 and {x["clientOrderId"] for x in oco["orders"]} == {
        "oco-limit",
        "oco-stop",
    }
    ids = {x["clientOrderId"]: x["orderId"] for x in oco["orders"]}
    b1 = await balances(client)
    assert_balances(b1, b0, base_free=Decimal("-0.03"), base_locked=Decimal("0.03"))  # one shared lock
    assert len(await client.get_open_orders(symbol=SYM)) == 2
    assert len(await client.get_open_oco_orders()) == 1
    # buyers lift the asks up to and through the limit leg
    for _ in range(200):
        if m.orders[ids["oco-limit"]].status.is_terminal:
            break
        m.mm_take(SYM, Side.BUY, 1000)
    lim = await client.get_order(symbol=SYM, orderId=ids["oco-limit"])
    stp = await client.get_order(symbol=SYM, orderId=ids["oco-stop"])
    assert lim["status"] == "FILLED" and stp["status"] == "EXPIRED"
    qty, quote, fee = sums(await fills_of(client, ids["oco-limit"]))
    assert qty == Decimal("0.03") and quote == Decimal("0.03") * inst(sim).price(above)
    b2 = await balances(client)
    assert b2["BTC"] == (b0["BTC"][0] - Decimal("0.03"), ZERO)
    assert b2["USDT"] == (b0["USDT"][0] + quote - fee, ZERO)
    assert await client.get_open_orders(symbol=SYM) == []
    assert await client.get_open_oco_orders() == []


async def test_oco_cancel_whole_list(sim, client):  # noqa: F811
    m = market(sim)
    last = m.last_price_ticks(SYM)
    b0 = await balances(client)
    oco = await client.order_oco_buy(
        symbol=SYM,
        quantity="0.01",
        aboveType="STOP_LOSS",
        aboveStopPrice=px(sim, last + 400),
        belowType="LIMIT_MAKER",
        belowPrice=px(sim, m.books[SYM].best_bid() - 100),
    )
    leg = oco["orders"][0]["orderId"]
    c = await client.cancel_order(symbol=SYM, orderId=leg)
    assert c["status"] == "CANCELED"
    statuses = {(await client.get_order(symbol=SYM, orderId=x["orderId"]))["status"] for x in oco["orders"]}
    assert statuses == {"CANCELED"}
    assert await balances(client) == b0


async def test_test_order_changes_nothing(sim, client):  # noqa: F811
    b0 = await balances(client)
    assert await client.create_test_order(symbol=SYM, side="BUY", type="MARKET", quantity="0.01") == {}
    from binance.exceptions import BinanceAPIException

    with pytest.raises(BinanceAPIException) as exc:
        await client.create_test_order(symbol=SYM, side="BUY", type="MARKET", quantity="0.000015")
    assert exc.value.code == -1013 and exc.value.message == "Filter failure: LOT_SIZE"
    assert await balances(client) == b0
    assert await client.get_all_orders(symbol=SYM) == []
