"""Each pre-trade risk rule, and the audit trail of its rejections (real journal on disk)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from terminal.model import Order, OrderType, Side, TradingState, Venue
from terminal.storage.journal import Journal
from terminal.trading.ids import ClientIdGenerator, is_valid_client_id
from terminal.trading.risk import RiskLimits, RiskManager, RiskRule, reduces_position

pytestmark = pytest.mark.timeout(20)

V = Venue.BINANCE_USDM
IDS = ClientIdGenerator("r")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def order(
    side=Side.BUY, qty="1", price: str | None = "100", type=OrderType.LIMIT, reduce_only=False
) -> Order:
    return Order.new(IDS.next(), V, "BTCUSDT", side, type, qty, price, reduce_only=reduce_only)


@pytest.fixture
def journal(tmp_path):
    j = Journal.open(tmp_path / "j.sqlite3")
    yield j
    j.close()


def risk(journal, **limits) -> tuple[RiskManager, Clock]:
    clock = Clock()
    return RiskManager(
        RiskLimits(duplicate_window_s=limits.pop("dup", 0), **limits), journal, clock=clock
    ), clock


def test_max_order_notional_and_market_orders_need_a_price(journal):
    r, _ = risk(journal, max_order_notional=Decimal("1000"))
    assert r.check(order(qty="10", price="100"), open_orders=[])
    v = r.check(order(qty="10.01", price="100"), open_orders=[])
    assert not v and v.rule is RiskRule.ORDER_NOTIONAL and "1001" in v.reason
    m = order(type=OrderType.MARKET, price=None)
    assert r.check(m, open_orders=[]).rule is RiskRule.NO_PRICE
    assert r.check(m, open_orders=[], price=Decimal("100"))
    audit = [a for a in journal.audit_log() if a.action == "risk_reject"]
    assert [a.detail["rule"] for a in audit] == ["max_order_notional", "no_reference_price"]


def test_max_position_qty_and_notional(journal):
    r, _ = risk(journal, max_position_qty={"BTCUSDT": Decimal("2")}, max_position_notional=Decimal("250"))
    assert r.check(order(qty="1"), open_orders=[], position_qty=Decimal("1"))  # -> 2, worth 200
    assert r.check(order(qty="1.5"), open_orders=[], position_qty=Decimal("1")).rule is RiskRule.POSITION
    v = r.check(order(qty="0.6"), open_orders=[], position_qty=Decimal("1.9"))
    assert v.rule is RiskRule.POSITION
    # Reducing orders are never trapped by exposure limits.
    assert r.check(order(Side.SELL, qty="3"), open_orders=[], position_qty=Decimal("5"))


def test_max_open_orders(journal):
    r, _ = risk(journal, max_open_orders=2)
    opens = [order(), order()]
    assert r.check(order(), open_orders=opens[:1])
    assert r.check(order(), open_orders=opens).rule is RiskRule.OPEN_ORDERS


def test_order_rate_per_second_and_minute(journal):
    r, clock = risk(journal, max_orders_per_second=3, max_orders_per_minute=5)
    for _ in range(3):
        o = order()
        assert r.check(o, open_orders=[])
        r.record_submission(o)
    assert r.check(order(), open_orders=[]).rule is RiskRule.RATE
    clock.t += 1.0
    for _ in range(2):
        o = order()
        assert r.check(o, open_orders=[])
        r.record_submission(o)
    v = r.check(order(), open_orders=[])
    assert v.rule is RiskRule.RATE and "minute" in v.reason
    clock.t += 60.0
    assert r.check(order(), open_orders=[])


def test_duplicate_guard(journal):
    r, clock = risk(journal, dup=2.0)
    first = order()
    r.record_submission(first)
    again = order()  # same symbol/side/type/qty/price, new id
    assert r.check(again, open_orders=[]).rule is RiskRule.DUPLICATE
    assert r.check(again, open_orders=[], allow_duplicate=True)
    assert r.check(order(qty="2"), open_orders=[])  # different quantity: not a duplicate
    clock.t += 2.5
    assert r.check(again, open_orders=[])


def test_trading_states(journal):
    r, _ = risk(journal)
    r.set_state(TradingState.REDUCING, actor="manual", reason="drawdown")
    assert r.check(order(Side.BUY), open_orders=[], position_qty=Decimal("1")).rule is RiskRule.REDUCING
    assert r.check(order(Side.SELL, qty="1"), open_orders=[], position_qty=Decimal("1"))
    assert (
        r.check(order(Side.SELL, qty="2"), open_orders=[], position_qty=Decimal("1")).rule
        is RiskRule.REDUCING
    )
    assert r.check(order(Side.BUY, reduce_only=True), open_orders=[], position_qty=Decimal("-1"))
    r.set_state(TradingState.HALTED, actor="manual", reason="kill")
    assert (
        r.check(order(Side.SELL, qty="1"), open_orders=[], position_qty=Decimal("1")).rule is RiskRule.HALTED
    )
    assert r.check(order(Side.SELL, qty="1"), open_orders=[], position_qty=Decimal("1"), bypass_halt=True)
    changes = [a.detail for a in journal.audit_log() if a.action == "trading_state"]
    assert [(c["from"], c["to"]) for c in changes] == [("ACTIVE", "REDUCING"), ("REDUCING", "HALTED")]


def test_reduces_position():
    assert reduces_position(order(Side.SELL, qty="1"), Decimal("1"))
    assert not reduces_position(order(Side.SELL, qty="1"), Decimal("0"))
    assert not reduces_position(order(Side.BUY, qty="1"), Decimal("1"))
    assert reduces_position(order(Side.BUY, qty="1"), Decimal("-3"))


def test_client_ids_unique_valid_and_fit_both_venues():
    gen_a, gen_b = ClientIdGenerator("oms"), ClientIdGenerator("oms", clock_ms=lambda: 1_700_000_000_000)
    ids = {gen_a.next() for _ in range(20_000)} | {gen_b.next() for _ in range(20_000)}
    assert len(ids) == 40_000
    assert all(is_valid_client_id(i) and len(i) <= 36 for i in ids)
    assert gen_a.owns(next(iter(ids))) and not gen_a.owns("web_123")
    with pytest.raises(ValueError):
        ClientIdGenerator("Bad Prefix")
