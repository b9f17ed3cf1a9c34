"""OMS order-state handling when REST answers and stream events arrive in any order, twice,
or fills arrive before the acknowledgement.

These use the scripted adapter (tests/trading/scripted.py) ONLY because exact interleavings
cannot be forced over real sockets; the OMS against the simulator is tested elsewhere.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from terminal.model import Fill, OrderStatus, OrderType, Side
from terminal.storage.journal import Journal
from terminal.trading.oms import OrderIntent, OrderManager
from terminal.trading.risk import RiskLimits, RiskManager
from terminal.venues.errors import OrderRejected, OutcomeUnknown
from terminal.venues.events import FillEvent, ReportSource
from tests.trading.scripted import SYM, VENUE, ScriptedAdapter, report

pytestmark = pytest.mark.timeout(60)

S = OrderStatus


def make(tmp_path, name="j.sqlite3"):
    journal = Journal.open(tmp_path / name)
    adapter = ScriptedAdapter()
    risk = RiskManager(RiskLimits(duplicate_window_s=0), journal)
    oms = OrderManager(journal, {VENUE: adapter}, risk, retry_backoff_s=0.0)
    return journal, adapter, oms


INTENT = OrderIntent(VENUE, SYM, Side.BUY, OrderType.LIMIT, Decimal("1"), Decimal("60000"))


def fill(cid: str, trade: str, qty: str) -> FillEvent:
    return FillEvent(Fill(VENUE, SYM, cid, "42", trade, Side.BUY, Decimal("60000"), Decimal(qty), ts=5))


# The events of one order that partially fills then fills; "ack" is the REST answer.
EVENTS = ("ack", "new", "partial", "filled", "fill1", "fill2")


async def run_order(tmp_path, order_of_events: tuple[str, ...], name: str):
    journal, adapter, oms = make(tmp_path, name)
    holder: dict[str, object] = {}

    def event(kind: str, order):
        cid = order.client_id
        return {
            "new": report(order, S.NEW),
            "partial": report(order, S.PARTIALLY_FILLED, "0.4", ts=2),
            "filled": report(order, S.FILLED, "1", ts=3),
            "fill1": fill(cid, "t1", "0.4"),
            "fill2": fill(cid, "t2", "0.6"),
        }[kind]

    ack_at = order_of_events.index("ack")

    async def on_place(order):
        holder["order"] = order
        for kind in order_of_events[:ack_at]:
            oms.on_event(event(kind, order))
            oms.on_event(event(kind, order))  # every stream event delivered twice
        return report(order, S.NEW, source=ReportSource.REST)

    adapter.on_place = on_place
    await oms.submit(INTENT)
    order = holder["order"]
    for kind in order_of_events[ack_at + 1 :]:
        oms.on_event(event(kind, order))
        oms.on_event(event(kind, order))
    return journal, oms, order.client_id


async def test_every_interleaving_ends_filled_with_fills_once(tmp_path):
    seen = 0
    for i, perm in enumerate(itertools.permutations(EVENTS)):
        if i % 7:  # 720 permutations: a deterministic seventh keeps the test fast
            continue
        journal, oms, cid = await run_order(tmp_path, perm, f"j{i}.sqlite3")
        stored = journal.order(cid)
        assert stored is not None
        assert stored.status is S.FILLED, perm
        assert stored.filled_qty == Decimal("1"), perm
        assert stored.venue_order_id == "42"
        assert sorted(f.trade_id for f in journal.fills()) == ["t1", "t2"], perm
        assert cid not in oms.orders  # terminal orders leave the live set
        journal.close()
        seen += 1
    assert seen > 100


async def test_late_new_after_fill_is_stale_and_duplicates_not_journalled(tmp_path):
    journal, _oms, cid = await run_order(
        tmp_path, ("filled", "ack", "new", "partial", "fill1", "fill2"), "x.sqlite3"
    )
    assert journal.order(cid).status is S.FILLED
    kinds = [e.kind for e in journal.order_events(cid)]
    assert kinds[0] == "intent" and "illegal" not in kinds
    # duplicates of the same report are not journalled again
    assert len(kinds) <= 1 + 4


async def test_conflicting_terminal_event_is_journalled_as_illegal(tmp_path):
    journal, adapter, oms = make(tmp_path)
    adapter.on_place = lambda o: _ret(report(o, S.FILLED, "1", ReportSource.REST))
    order = await oms.submit(INTENT)
    oms.on_event(report(order, S.CANCELED, "0"))
    assert journal.order(order.client_id).status is S.FILLED
    assert [e.kind for e in journal.order_events(order.client_id)][-1] == "illegal"


async def _ret(value):
    return value


async def test_external_order_is_adopted(tmp_path):
    journal, _adapter, oms = make(tmp_path)
    foreign = oms.build_order(INTENT)
    foreign = foreign.__class__(
        **{**{f: getattr(foreign, f) for f in foreign.__dataclass_fields__}, "client_id": "web_abc"}
    )
    oms.on_event(report(foreign, S.NEW))
    rec = journal.order_record("web_abc")
    assert rec is not None and rec.order.status is S.NEW and rec.reason and "adopted" in rec.reason
    assert "web_abc" in oms.orders
    assert any(a.action == "adopt_order" for a in journal.audit_log())


async def test_outcome_unknown_then_found_is_adopted_not_resent(tmp_path):
    _journal, adapter, oms = make(tmp_path)

    async def lost(order):
        adapter.venue_orders[order.client_id] = report(order, S.NEW, source=ReportSource.RECONCILE)
        raise OutcomeUnknown(VENUE, "timeout")

    adapter.on_place = lost
    order = await oms.submit(INTENT)
    assert order.status is S.NEW
    assert len(adapter.placed) == 1


async def test_outcome_unknown_not_found_resends_same_id_then_gives_up(tmp_path):
    journal, adapter, oms = make(tmp_path)

    async def never(order):
        raise OutcomeUnknown(VENUE, "connection reset")

    adapter.on_place = never
    order = await oms.submit(INTENT)
    assert len(adapter.placed) == oms.max_attempts
    assert {o.client_id for o in adapter.placed} == {order.client_id}
    assert order.status is S.PENDING_NEW and order.client_id in oms.outcome_unknown
    assert any(a.action == "outcome_unknown" for a in journal.audit_log())


async def test_duplicate_reject_after_unknown_outcome_looks_up_the_order(tmp_path):
    _journal, adapter, oms = make(tmp_path)
    calls = 0

    async def place(order):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OutcomeUnknown(VENUE, "timeout")  # venue executed it, but is slow to show it
        adapter.venue_orders[order.client_id] = report(order, S.NEW, source=ReportSource.RECONCILE)
        raise OrderRejected(VENUE, "Duplicate order sent.", code=-2010)

    adapter.on_place = place
    order = await oms.submit(INTENT)
    assert order.status is S.NEW


async def test_rejection_is_journalled_with_code(tmp_path):
    journal, adapter, oms = make(tmp_path)

    async def refuse(order):
        raise OrderRejected(VENUE, "Account has insufficient balance for requested action.", code=-2010)

    adapter.on_place = refuse
    with pytest.raises(OrderRejected):
        await oms.submit(INTENT)
    (rec,) = [journal.order(c) for c in [e.client_id for e in adapter.placed]]
    assert rec.status is S.REJECTED and rec.reason.startswith("-2010: Account has insufficient")
