"""The simulator's matching core: orders, balances, positions, triggers, OCO."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from terminal.model.enums import MarginMode, OrderStatus, OrderType, PositionSide, Side, TimeInForce, Venue
from terminal.sim.accounts import AccountBook
from terminal.sim.build import FEES
from terminal.sim.events import AccountEvent, OrderEvent, TradeEvent
from terminal.sim.instruments import make_instrument
from terminal.sim.market import SimMarket
from terminal.sim.orders import ExecType, OrderRequest, RejectReason, SimReject

pytestmark = pytest.mark.timeout(30)

ACCT = "u1"


def spot_market() -> SimMarket:
    def fund(acct):
        acct.balance("USDT").free = D("100000")
        acct.balance("BTC").free = D("2")

    inst = {"BTCUSDT": make_instrument(Venue.BINANCE_SPOT, "BTCUSDT")}
    return SimMarket(
        Venue.BINANCE_SPOT, inst, AccountBook(fund), FEES[Venue.BINANCE_SPOT], clock=lambda: 1_700_000_000_000
    )


def futures_market() -> SimMarket:
    def fund(acct):
        acct.balance("USDT").free = D("10000")

    inst = {"BTCUSDT": make_instrument(Venue.BINANCE_USDM, "BTCUSDT")}
    return SimMarket(
        Venue.BINANCE_USDM,
        inst,
        AccountBook(fund, 20),
        FEES[Venue.BINANCE_USDM],
        clock=lambda: 1_700_000_000_000,
    )


def ticks(m: SimMarket, price: str) -> int:
    return m.instruments["BTCUSDT"].ticks(D(price))


def lots(m: SimMarket, qty: str) -> int:
    return m.instruments["BTCUSDT"].lots(D(qty))


def ladder(
    m: SimMarket, bid: str = "64999.00", ask: str = "65001.00", qty: str = "1", levels: int = 5
) -> None:
    """Generator liquidity: ``levels`` bids below ``bid`` and asks above ``ask``, one tick dollar apart."""
    for i in range(levels):
        m.mm_add("BTCUSDT", Side.BUY, ticks(m, bid) - i * 100, lots(m, qty))
        m.mm_add("BTCUSDT", Side.SELL, ticks(m, ask) + i * 100, lots(m, qty))


def bal(m: SimMarket, asset: str) -> tuple[D, D]:
    b = m.accounts.get(ACCT).balance(asset)
    return b.free, b.locked


def test_limit_buy_locks_quote_and_fills_as_maker_with_fee_in_base() -> None:
    m = spot_market()
    ladder(m)
    events = []
    m.subscribe(events.append)
    order = m.submit(ACCT, OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.5"), price=D("64000")))
    assert order.status is OrderStatus.NEW
    assert bal(m, "USDT") == (D("100000") - D("32000"), D("32000"))
    # a generator seller sweeps down to our bid
    m.mm_take("BTCUSDT", Side.SELL, lots(m, "5.2"))
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.filled_qty == D("0.2")
    m.mm_take("BTCUSDT", Side.SELL, lots(m, "1"))
    assert order.status is OrderStatus.FILLED
    fee = D("0.5") * D("0.001")
    assert bal(m, "BTC") == (D("2") + D("0.5") - fee, 0)
    assert bal(m, "USDT") == (D("68000"), 0)
    trades = [e for e in events if isinstance(e, OrderEvent) and e.exec_type is ExecType.TRADE]
    assert [t.is_maker for t in trades] == [True, True]
    assert sum(t.fee for t in trades) == fee and trades[0].fee_asset == "BTC"


def test_taker_limit_buy_gets_price_improvement_refunded() -> None:
    m = spot_market()
    ladder(m)
    order = m.submit(ACCT, OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, D("1.5"), price=D("65101")))
    # fills 1 @ 65001 and 0.5 @ 65002, well below the limit
    assert order.status is OrderStatus.FILLED
    cost = D("65001") + D("0.5") * D("65002")
    assert bal(m, "USDT") == (D("100000") - cost, 0)
    assert order.avg_price == cost / D("1.5")


def test_market_buy_by_quote_spends_at_most_the_quote() -> None:
    m = spot_market()
    ladder(m)
    order = m.submit(ACCT, OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, quote_qty=D("1000")))
    assert order.status is OrderStatus.FILLED
    assert order.filled_quote <= D("1000") and order.filled_qty == D("0.01538")
    assert bal(m, "USDT")[0] == D("100000") - order.filled_quote


@pytest.mark.parametrize(
    ("req", "reason"),
    [
        (
            OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.000001"), price=D("60000")),
            RejectReason.LOT_SIZE,
        ),
        (
            OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.1"), price=D("60000.001")),
            RejectReason.PRICE_FILTER,
        ),
        (
            OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.00001"), price=D("60000")),
            RejectReason.MIN_NOTIONAL,
        ),
        (
            OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, D("2"), price=D("60000")),
            RejectReason.INSUFFICIENT_BALANCE,
        ),
        (OrderRequest("BTCUSDT", Side.SELL, OrderType.MARKET, D("3")), RejectReason.INSUFFICIENT_BALANCE),
        (
            OrderRequest(
                "BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.1"), price=D("65001"), tif=TimeInForce.POST_ONLY
            ),
            RejectReason.POST_ONLY_WOULD_TAKE,
        ),
        (
            OrderRequest("BTCUSDT", Side.SELL, OrderType.STOP_MARKET, D("0.1"), stop_price=D("65500")),
            RejectReason.WOULD_TRIGGER_IMMEDIATELY,
        ),
        (OrderRequest("ETHUSDT", Side.BUY, OrderType.MARKET, D("1")), RejectReason.UNKNOWN_SYMBOL),
    ],
)
def test_refusals_change_nothing(req: OrderRequest, reason: RejectReason) -> None:
    m = spot_market()
    ladder(m)
    m.last_price["BTCUSDT"] = ticks(m, "65000")
    before = (bal(m, "USDT"), bal(m, "BTC"), m.books["BTCUSDT"].update_id)
    with pytest.raises(SimReject) as err:
        m.submit(ACCT, req)
    assert err.value.reason is reason
    assert (bal(m, "USDT"), bal(m, "BTC"), m.books["BTCUSDT"].update_id) == before
    assert m.open_orders(ACCT) == []


def test_duplicate_client_id_refused_while_open() -> None:
    m = spot_market()
    ladder(m)
    m.submit(
        ACCT, OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.1"), price=D("60000"), client_id="abc")
    )
    with pytest.raises(SimReject) as err:
        m.submit(
            ACCT,
            OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.1"), price=D("60000"), client_id="abc"),
        )
    assert err.value.reason is RejectReason.DUPLICATE_CLIENT_ID
    m.cancel(ACCT, "BTCUSDT", client_id="abc")
    assert bal(m, "USDT") == (D("100000"), 0)


def test_ioc_and_fok() -> None:
    m = spot_market()
    ladder(m, qty="0.5", levels=2)  # asks 0.5 @ 65001, 0.5 @ 65002
    fok = m.submit(
        ACCT,
        OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, D("1.2"), price=D("65101"), tif=TimeInForce.FOK),
    )
    assert fok.status is OrderStatus.EXPIRED and fok.filled_qty == 0
    assert bal(m, "USDT") == (D("100000"), 0)
    ioc = m.submit(
        ACCT,
        OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.7"), price=D("65001"), tif=TimeInForce.IOC),
    )
    assert ioc.status is OrderStatus.EXPIRED and ioc.filled_qty == D("0.5")
    assert bal(m, "USDT") == (D("100000") - D("0.5") * D("65001"), 0)


def test_stop_limit_triggers_on_trade_and_rests() -> None:
    m = spot_market()
    ladder(m)
    m.last_price["BTCUSDT"] = ticks(m, "65000")
    stop = m.submit(
        ACCT,
        OrderRequest(
            "BTCUSDT", Side.SELL, OrderType.STOP_LIMIT, D("0.5"), price=D("64996"), stop_price=D("64998")
        ),
    )
    assert stop.status is OrderStatus.UNTRIGGERED and bal(m, "BTC") == (D("1.5"), D("0.5"))
    m.mm_take("BTCUSDT", Side.SELL, lots(m, "1.5"))  # trades at 64999 then 64998 → trigger
    assert stop.triggered
    # it sold into the remaining bids at >= 64996 (0.5 left at 64998)
    assert stop.status is OrderStatus.FILLED
    assert bal(m, "BTC") == (D("1.5"), 0)


def test_oco_fill_of_limit_leg_expires_stop_leg_and_releases_lock_once() -> None:
    m = spot_market()
    ladder(m)
    m.last_price["BTCUSDT"] = ticks(m, "65000")
    lst = m.submit_oco(ACCT, "BTCUSDT", Side.SELL, D("1"), D("65500"), D("64500"), D("64400"))
    assert bal(m, "BTC") == (D("1"), D("1"))
    stop_leg, limit_leg = (m.orders[i] for i in lst.order_ids)
    m.mm_take("BTCUSDT", Side.BUY, lots(m, "5.5"))  # lifts asks 65001..65005, then 0.5 of our 65500
    assert limit_leg.status is OrderStatus.PARTIALLY_FILLED
    assert stop_leg.status is OrderStatus.EXPIRED and lst.status == "ALL_DONE"
    assert bal(m, "BTC") == (D("1"), D("0.5"))
    m.cancel(ACCT, "BTCUSDT", limit_leg.order_id)
    assert bal(m, "BTC") == (D("1.5"), 0)


def test_amend_keeps_priority_on_qty_down_and_relocks() -> None:
    m = spot_market()
    ladder(m)
    o = m.submit(ACCT, OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, D("1"), price=D("64999")))
    m.amend(ACCT, "BTCUSDT", o.order_id, qty=D("0.4"))
    assert bal(m, "USDT") == (D("100000") - D("0.4") * D("64999"), D("0.4") * D("64999"))
    level = m.books["BTCUSDT"].bids[ticks(m, "64999")]
    assert list(level.orders)[-1] == o.order_id  # behind the generator's earlier order
    m.amend(ACCT, "BTCUSDT", o.order_id, price=D("65000"))
    assert m.books["BTCUSDT"].best_bid() == ticks(m, "65000")
    assert bal(m, "USDT")[1] == D("0.4") * D("65000")


def test_trade_events_and_candles() -> None:
    m = spot_market()
    ladder(m)
    seen = []
    m.subscribe(seen.append)
    m.mm_take("BTCUSDT", Side.BUY, lots(m, "1.5"))
    trades = [e for e in seen if isinstance(e, TradeEvent)]
    assert [(t.price_ticks, t.qty_lots, t.taker_side) for t in trades] == [
        (ticks(m, "65001"), lots(m, "1"), Side.BUY),
        (ticks(m, "65002"), lots(m, "0.5"), Side.BUY),
    ]
    assert trades[0].taker_seq == trades[1].taker_seq and trades[1].trade_id == trades[0].trade_id + 1
    k = m.current_kline("BTCUSDT", 60_000)
    assert (k.open, k.high, k.close, k.volume, k.trades) == (
        ticks(m, "65001"),
        ticks(m, "65002"),
        ticks(m, "65002"),
        lots(m, "1.5"),
        2,
    )
    assert not k.closed


def test_depth_journal_is_contiguous() -> None:
    m = spot_market()
    ladder(m)
    uid0 = m.books["BTCUSDT"].update_id
    m.mm_take("BTCUSDT", Side.BUY, lots(m, "1.5"))
    changes = m.changes_since("BTCUSDT", uid0)
    assert [c[0] for c in changes] == list(range(uid0 + 1, uid0 + 1 + len(changes)))
    # replaying the journal onto the earlier book gives the current book
    assert changes[-1][0] == m.books["BTCUSDT"].update_id


# ---------------------------------------------------------------- derivatives


def pos(m: SimMarket, side: PositionSide = PositionSide.BOTH):
    return next(p for p in m.positions(ACCT, "BTCUSDT") if p.position_side is side)


def test_futures_open_add_reduce_flip_with_realized_pnl_and_fees() -> None:
    m = futures_market()
    ladder(m, qty="1")
    m.submit(ACCT, OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.1")))  # @65001
    m.submit(ACCT, OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.1")))  # @65001
    p = pos(m)
    assert p.qty == D("0.2") and p.entry_price == D("65001")
    taker = D("0.0005")
    fees = 2 * (D("0.1") * D("65001") * taker)
    # sell 0.5 into bids 64999 (1.0 available): closes 0.2, opens short 0.3
    m.submit(ACCT, OrderRequest("BTCUSDT", Side.SELL, OrderType.MARKET, D("0.5")))
    p = pos(m)
    realized = D("0.2") * (D("64999") - D("65001"))
    fees += (D("0.5") * D("64999") * taker).quantize(D("0.00000001"))
    assert p.qty == D("-0.3") and p.entry_price == D("64999")
    assert p.realized_pnl == realized
    wallet = m.accounts.get(ACCT).balance("USDT").free
    assert wallet == D("10000") + realized - fees


def test_reduce_only_refused_without_position_and_capped_with_one() -> None:
    m = futures_market()
    ladder(m)
    with pytest.raises(SimReject) as err:
        m.submit(ACCT, OrderRequest("BTCUSDT", Side.SELL, OrderType.MARKET, D("0.1"), reduce_only=True))
    assert err.value.reason is RejectReason.REDUCE_ONLY_REJECTED
    m.submit(ACCT, OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.1")))
    ro = m.submit(ACCT, OrderRequest("BTCUSDT", Side.SELL, OrderType.MARKET, D("0.5"), reduce_only=True))
    assert ro.filled_qty == D("0.1") and ro.status is OrderStatus.EXPIRED
    assert pos(m).qty == 0


def test_margin_insufficient_and_leverage() -> None:
    m = futures_market()
    ladder(m, qty="10")
    m.set_leverage(ACCT, "BTCUSDT", 1)
    with pytest.raises(SimReject) as err:
        m.submit(ACCT, OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.2")))  # 13k notional > 10k
    assert err.value.reason is RejectReason.MARGIN_INSUFFICIENT
    m.set_leverage(ACCT, "BTCUSDT", 10)
    m.submit(ACCT, OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.2")))
    assert pos(m).leverage == 10


def test_hedge_mode_legs_and_mode_change_guard() -> None:
    m = futures_market()
    ladder(m)
    m.set_hedge_mode(ACCT, True)
    with pytest.raises(SimReject):
        m.submit(ACCT, OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.1")))  # BOTH in hedge mode
    m.submit(
        ACCT, OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.1"), position_side=PositionSide.LONG)
    )
    m.submit(
        ACCT, OrderRequest("BTCUSDT", Side.SELL, OrderType.MARKET, D("0.2"), position_side=PositionSide.SHORT)
    )
    assert pos(m, PositionSide.LONG).qty == D("0.1")
    assert pos(m, PositionSide.SHORT).qty == D("-0.2")
    with pytest.raises(SimReject) as err:
        m.set_hedge_mode(ACCT, False)
    assert err.value.reason is RejectReason.MODE_CHANGE_WITH_OPEN
    with pytest.raises(SimReject):
        m.set_margin_mode(ACCT, "BTCUSDT", MarginMode.ISOLATED)


def test_isolated_liquidation_price() -> None:
    m = futures_market()
    ladder(m)
    m.set_margin_mode(ACCT, "BTCUSDT", MarginMode.ISOLATED)
    m.set_leverage(ACCT, "BTCUSDT", 10)
    m.submit(ACCT, OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.1")))
    p = pos(m)
    e = D("65001")
    expected = (e * (1 - D("0.1")) / (1 - D("0.004"))).quantize(D("0.1"))
    assert p.isolated and p.isolated_margin == D("650.01")
    assert p.liquidation_price == expected


def test_stop_market_close_position_triggers() -> None:
    m = futures_market()
    ladder(m)
    m.submit(ACCT, OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.3")))
    m.last_price["BTCUSDT"] = ticks(m, "65000")
    sl = m.submit(
        ACCT,
        OrderRequest(
            "BTCUSDT", Side.SELL, OrderType.STOP_MARKET, None, stop_price=D("64998"), close_position=True
        ),
    )
    assert sl.status is OrderStatus.UNTRIGGERED
    m.mm_take("BTCUSDT", Side.SELL, lots(m, "1.5"))
    assert sl.triggered and sl.status is OrderStatus.FILLED and sl.filled_qty == D("0.3")
    assert pos(m).qty == 0


def test_account_events_follow_order_events() -> None:
    m = futures_market()
    ladder(m)
    seen = []
    m.subscribe(seen.append)
    m.submit(ACCT, OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.1")))
    kinds = [(type(e).__name__, getattr(e, "exec_type", None)) for e in seen if not isinstance(e, TradeEvent)]
    assert kinds == [("OrderEvent", ExecType.NEW), ("OrderEvent", ExecType.TRADE), ("AccountEvent", None)]
    acct_ev = next(e for e in seen if isinstance(e, AccountEvent))
    assert acct_ev.positions[0].qty == D("0.1")
