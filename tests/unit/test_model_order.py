from __future__ import annotations

import dataclasses
import itertools
from decimal import Decimal

import pytest

from terminal.model import (
    TRANSITIONS,
    Fill,
    IllegalTransition,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TransitionKind,
    Venue,
    classify_transition,
)

D = Decimal
S = OrderStatus
TERMINAL = [s for s in OrderStatus if s.is_terminal]


def order(status: OrderStatus = S.PENDING_NEW, **kw: object) -> Order:
    o = Order.new("c1", Venue.BINANCE_USDM, "BTCUSDT", Side.BUY, OrderType.LIMIT, "1", "100", ts=1)
    return dataclasses.replace(o, status=status, **kw)  # type: ignore[arg-type]


def upd(status: OrderStatus, ts: int = 2, **kw: object) -> OrderUpdate:
    return OrderUpdate("c1", status, ts, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the table


def test_table_covers_every_status_and_terminals_absorb() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)
    for t in TERMINAL:
        assert TRANSITIONS[t] == frozenset()


@pytest.mark.parametrize(("src", "dst"), [(s, d) for s, ds in TRANSITIONS.items() for d in ds])
def test_every_legal_transition_applies(src: OrderStatus, dst: OrderStatus) -> None:
    o = order(src, venue_order_id="v1")
    filled = D("0.5") if dst is S.PARTIALLY_FILLED else None
    out = o.apply(upd(dst, venue_order_id="v1", filled_qty=filled))
    if src is S.PENDING_CANCEL and dst is S.PARTIALLY_FILLED:
        assert out.status is S.PENDING_CANCEL  # fill merged, cancel still pending
        assert out.filled_qty == D("0.5")
    else:
        assert out.status is dst
    assert o.status is src  # immutable


@pytest.mark.parametrize(
    "path",
    [
        [S.NEW, S.FILLED],
        [S.NEW, S.PARTIALLY_FILLED, S.PARTIALLY_FILLED, S.FILLED],
        [S.NEW, S.CANCELED],
        [S.NEW, S.PARTIALLY_FILLED, S.CANCELED],
        [S.NEW, S.PARTIALLY_FILLED, S.EXPIRED],
        [S.NEW, S.PARTIALLY_FILLED, S.REJECTED],
        [S.NEW, S.PENDING_CANCEL, S.CANCELED],
        [S.NEW, S.PENDING_CANCEL, S.FILLED],
        [S.NEW, S.PENDING_CANCEL, S.PARTIALLY_FILLED, S.CANCELED],
        [S.UNTRIGGERED, S.NEW, S.FILLED],
        [S.UNTRIGGERED, S.FILLED],
        [S.UNTRIGGERED, S.CANCELED],
        [S.UNTRIGGERED, S.EXPIRED],
        [S.REJECTED],
        [S.FILLED],
        [S.EXPIRED],
        [S.PENDING_CANCEL, S.CANCELED],
    ],
)
def test_lifecycle_paths(path: list[OrderStatus]) -> None:
    o = order()
    filled = D(0)
    for i, status in enumerate(path):
        if status is S.PARTIALLY_FILLED:
            filled += D("0.25")
        # FILLED without a quantity means "all of it".
        reported = filled if filled and status is not S.FILLED else None
        o = o.apply(upd(status, ts=10 + i, filled_qty=reported))
    expected = path[-1]
    assert o.status is expected
    assert o.updated_at == 10 + len(path) - 1
    if expected is S.FILLED:
        assert o.filled_qty == D(1) and o.remaining_qty == 0
    assert o.is_terminal == expected.is_terminal


@pytest.mark.parametrize(("src", "dst"), [(a, b) for a, b in itertools.permutations(TERMINAL, 2)])
def test_conflicting_terminal_statuses_raise(src: OrderStatus, dst: OrderStatus) -> None:
    assert classify_transition(src, dst) is TransitionKind.ILLEGAL
    with pytest.raises(IllegalTransition, match=f"{src} -> {dst} is not allowed"):
        order(src).apply(upd(dst))


@pytest.mark.parametrize("terminal", TERMINAL)
@pytest.mark.parametrize("late", [S.PENDING_NEW, S.NEW, S.UNTRIGGERED, S.PARTIALLY_FILLED, S.PENDING_CANCEL])
def test_terminal_absorbs_late_nonterminal_events(terminal: OrderStatus, late: OrderStatus) -> None:
    o = order(terminal, filled_qty=D("0.4"), reason="x")
    out = o.apply(upd(late, ts=5, filled_qty=D("0.1"), reason="late"))
    assert out.status is terminal
    assert out.filled_qty == D("0.4")
    assert out.reason == "x"  # stale events don't overwrite the reason


def test_every_pair_is_classified() -> None:
    for src, dst in itertools.product(OrderStatus, repeat=2):
        kind = classify_transition(src, dst)
        if src is dst:
            assert kind is TransitionKind.SAME
        elif dst in TRANSITIONS[src]:
            assert kind is TransitionKind.APPLY
        else:
            assert kind in (TransitionKind.STALE, TransitionKind.ILLEGAL)


# ---------------------------------------------------------------- out of order


def test_late_new_after_partial_fill_does_not_move_back() -> None:
    o = order(S.NEW).apply(upd(S.PARTIALLY_FILLED, ts=5, filled_qty=D("0.3"), avg_price=D("100")))
    out = o.apply(upd(S.NEW, ts=3, venue_order_id="v9", filled_qty=D("0")))
    assert out.status is S.PARTIALLY_FILLED
    assert out.filled_qty == D("0.3")
    assert out.avg_price == D("100")
    assert out.venue_order_id == "v9"  # monotonic facts are still merged
    assert out.updated_at == 5


def test_late_untriggered_after_trigger_is_ignored() -> None:
    o = order(S.UNTRIGGERED).apply(upd(S.NEW, ts=5))
    assert o.apply(upd(S.UNTRIGGERED, ts=4)).status is S.NEW


def test_cumulative_fill_never_decreases() -> None:
    o = order(S.NEW)
    o = o.apply(upd(S.PARTIALLY_FILLED, ts=5, filled_qty=D("0.6"), avg_price=D("101")))
    out = o.apply(upd(S.PARTIALLY_FILLED, ts=4, filled_qty=D("0.2"), avg_price=D("100")))
    assert out.filled_qty == D("0.6")
    assert out.avg_price == D("101")  # the older average is not taken either


def test_duplicate_event_is_idempotent() -> None:
    o = order(S.NEW).apply(upd(S.PARTIALLY_FILLED, ts=5, filled_qty=D("0.3"), avg_price=D("100")))
    again = o.apply(upd(S.PARTIALLY_FILLED, ts=5, filled_qty=D("0.3"), avg_price=D("100")))
    assert again == o
    filled = o.apply(upd(S.FILLED, ts=6))
    assert filled.apply(upd(S.FILLED, ts=6)) == filled


def test_fill_before_ack() -> None:
    # The WS fill can beat the REST acknowledgement.
    o = order().apply(upd(S.FILLED, ts=3, venue_order_id="v1", filled_qty=D("1"), avg_price=D("99.5")))
    o = o.apply(upd(S.NEW, ts=2, venue_order_id="v1"))
    assert o.status is S.FILLED and o.avg_price == D("99.5")


def test_avg_price_zero_means_unreported() -> None:
    o = order(S.NEW).apply(upd(S.NEW, filled_qty=D(0), avg_price=D(0)))
    assert o.avg_price is None


# ---------------------------------------------------------------- consistency errors


def test_overfill_raises() -> None:
    with pytest.raises(IllegalTransition, match="exceeds order quantity"):
        order(S.NEW).apply(upd(S.PARTIALLY_FILLED, filled_qty=D("1.5")))


def test_other_orders_update_raises() -> None:
    with pytest.raises(IllegalTransition, match="applied to order c1"):
        order().apply(OrderUpdate("c2", S.NEW, 1))
    with pytest.raises(IllegalTransition, match="venue order id v2 does not match v1"):
        order(S.NEW, venue_order_id="v1").apply(upd(S.FILLED, venue_order_id="v2"))


def test_qty_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Order.new("c", Venue.BINANCE_SPOT, "X", Side.BUY, OrderType.MARKET, "0")


# ---------------------------------------------------------------- cancel flow and fills


def test_cancel_rejected_restores_status_with_fills() -> None:
    o = order(S.NEW).request_cancel(ts=5)
    assert o.status is S.PENDING_CANCEL and o.status_before_cancel is S.NEW
    assert o.is_open
    o = o.apply(upd(S.PARTIALLY_FILLED, ts=6, filled_qty=D("0.2")))
    assert o.status is S.PENDING_CANCEL
    restored = o.cancel_rejected(ts=7, reason="Unknown order")
    assert restored.status is S.PARTIALLY_FILLED
    assert restored.status_before_cancel is None
    assert restored.reason == "Unknown order"
    untriggered = order(S.UNTRIGGERED).request_cancel(ts=5).cancel_rejected(ts=6)
    assert untriggered.status is S.UNTRIGGERED
    done = order(S.FILLED)
    assert done.cancel_rejected(ts=9) is done


def test_cancel_request_after_terminal_is_stale_but_cancel_event_is_illegal() -> None:
    # Our cancel request racing a fill is normal: the order stays FILLED.
    assert order(S.FILLED).request_cancel(ts=3).status is S.FILLED
    # The venue saying CANCELED after FILLED is a contradiction.
    with pytest.raises(IllegalTransition):
        order(S.FILLED).apply(upd(S.CANCELED))


def _fill(qty: str, price: str, trade: str, client_id: str = "c1") -> Fill:
    return Fill(
        venue=Venue.BINANCE_USDM,
        symbol="BTCUSDT",
        client_id=client_id,
        venue_order_id="v1",
        trade_id=trade,
        side=Side.BUY,
        price=D(price),
        qty=D(qty),
        ts=10,
        fee=D("0.01"),
        fee_asset="USDT",
    )


def test_with_fill_accumulates_average_and_status() -> None:
    o = order(S.NEW)
    o = o.with_fill(_fill("0.25", "100", "t1"))
    assert o.status is S.PARTIALLY_FILLED and o.avg_price == D("100")
    o = o.with_fill(_fill("0.75", "104", "t2"))
    assert o.status is S.FILLED
    assert o.avg_price == D("103")
    assert o.venue_order_id == "v1"
    with pytest.raises(IllegalTransition):
        o.with_fill(_fill("0.1", "100", "t3"))
    with pytest.raises(IllegalTransition):
        order(S.NEW).with_fill(_fill("0.1", "100", "t3", client_id="zz"))
    assert _fill("2", "50", "t").notional == D("100")


def test_order_queries() -> None:
    o = order(S.NEW, filled_qty=D("0.25"))
    assert o.remaining_qty == D("0.75")
    assert o.notional == D("100")
    assert o.is_open and not o.is_terminal
    assert not order(S.PENDING_NEW).is_open
