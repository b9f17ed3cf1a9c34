"""Local exits (trailing, time, stop/target) and ``place_exits`` against the simulator with the
real Binance adapters over real sockets; restarts rebuild them from the journal.

The simulator runs without its generator (static books): prices move only when a test trades
through the book with ``mm_take``; the adapters' aggTrade streams carry those prints to the
watcher as ``PublicTradeEvent``s.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from terminal.model import OrderStatus, OrderType, Side, TradingState, Venue
from terminal.sim.faults import ORDER_PLACEMENT_PATHS, HttpFault
from terminal.trading.brackets import BracketManager, BracketPhase
from terminal.trading.exits import (
    ExitKind,
    ExitPhase,
    ExitPlan,
    ExitWatcher,
    LocalExitSpec,
    PriceSource,
    place_exits,
)
from terminal.trading.oms import OrderIntent, OrderManager, RiskRejected
from terminal.trading.risk import RiskLimits
from tests.trading.sim_support import SYM, sim_orders, start_harness
from tests.venues.binance_support import sim, venue_config, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(90)

D = Decimal
FUT = Venue.BINANCE_USDM
SPOT = Venue.BINANCE_SPOT
QTY = D("0.003")
ORIGIN = "strategy:ema"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def account(running) -> str:
    return running.exchange.default_credentials.account_id


def position_qty(running) -> Decimal:
    ps = [p for p in running.exchange.markets[FUT].positions(account(running)) if p.symbol == SYM]
    return sum((p.qty for p in ps), D(0))


def take(running, side: Side, qty: str, venue: Venue = FUT) -> None:
    market = running.exchange.markets[venue]
    market.mm_take(SYM, side, market.instruments[SYM].lots(D(qty)))


def closing_orders(running, exit_id: str, journal, venue: Venue = FUT) -> list:
    """Orders on the venue that the journal says close ``exit_id``."""
    out = []
    for o in sim_orders(running, venue):
        rec = journal.order_record(o.client_id)
        if rec is not None and (rec.reason or "").startswith(f"exit {exit_id} "):
            out.append(o)
    return out


async def open_long(h, qty: Decimal = QTY) -> None:
    await h.oms.submit(OrderIntent(FUT, SYM, Side.BUY, OrderType.MARKET, qty, origin=ORIGIN))
    await wait_for(lambda: h.oms.position(FUT, SYM) == qty, what="the long on the OMS's books")


@pytest.fixture
async def fut(sim, tmp_path):  # noqa: F811
    h = await start_harness(venue_config(sim, FUT), tmp_path / "j.sqlite3")
    await h.adapter.watch_market(SYM, book=True, trades=True, tickers=False, candles=())
    await wait_for(lambda: h.adapter.reference_price(SYM) is not None, what="the book")
    w = ExitWatcher(h.oms, h.bus, retry_delay_s=0.05)
    try:
        yield h, w
    finally:
        w.close()
        await h.close()


def audit_actions(journal, exit_id: str) -> list[str]:
    return [a.action for a in journal.audit_log() if a.detail.get("exit") == exit_id]


# ---------------------------------------------------------------------- specs


def test_specs_are_validated():
    base = dict(venue=FUT, symbol=SYM, side=Side.SELL, qty=QTY)
    with pytest.raises(ValueError, match="at_ms"):
        LocalExitSpec(kind=ExitKind.TIME, **base)
    with pytest.raises(ValueError, match="trail"):
        LocalExitSpec(kind=ExitKind.TRAILING, trail=D("1.5"), **base)
    with pytest.raises(ValueError, match="level"):
        LocalExitSpec(kind=ExitKind.STOP, **base)
    with pytest.raises(ValueError, match="origin"):
        LocalExitSpec(kind=ExitKind.TIME, at_ms=1, origin="someone", **base)
    with pytest.raises(ValueError, match="quantity"):
        LocalExitSpec(kind=ExitKind.TIME, at_ms=1, **{**base, "qty": D(0)})


def test_plans_are_validated():
    with pytest.raises(ValueError, match=r"stop .* below the target"):
        ExitPlan(FUT, SYM, Side.SELL, QTY, stop=D(70_000), target=D(60_000))
    with pytest.raises(ValueError, match=r"stop .* above the target"):
        ExitPlan(FUT, SYM, Side.BUY, QTY, stop=D(60_000), target=D(70_000))
    with pytest.raises(ValueError, match="trailing"):
        ExitPlan(FUT, SYM, Side.SELL, QTY, trailing=D(0))
    with pytest.raises(ValueError, match="origin"):
        ExitPlan(FUT, SYM, Side.SELL, QTY, origin="bot")


# ---------------------------------------------------------------------- on the simulator


async def test_trailing_stop_follows_the_price_up_and_closes_on_the_way_down(sim, fut):  # noqa: F811
    h, w = fut
    await open_long(h)
    e = w.arm(LocalExitSpec(FUT, SYM, Side.SELL, QTY, ExitKind.TRAILING, origin=ORIGIN, trail=D("0.001")))
    take(sim, Side.BUY, "10")  # up to ~65 017: the best follows, nothing fires
    await wait_for(lambda: e.best is not None and e.best > D("65010"), what="the best price to follow")
    high = e.best
    assert e.phase is ExitPhase.ARMED and e.stop_price == high * D("0.999")
    take(sim, Side.SELL, "40")  # down to ~64 825: through the trailing stop
    await wait_for(lambda: e.phase is ExitPhase.DONE, what="the trailing exit to close")
    await w.settle()
    assert e.done_reason is not None and e.done_reason.startswith("closed by")
    assert e.trigger_price is not None and e.trigger_price <= high * D("0.999")
    assert position_qty(sim) == 0
    (close,) = closing_orders(sim, e.id, h.journal)
    assert (close.type, close.side, close.reduce_only, close.qty) == (OrderType.MARKET, Side.SELL, True, QTY)
    assert close.status is OrderStatus.FILLED
    rec = h.journal.order_record(close.client_id)
    assert rec.origin == ORIGIN and rec.reason == f"exit {e.id} 1"
    actions = audit_actions(h.journal, e.id)
    assert actions[0] == "exit_arm" and "exit_trail" in actions
    assert actions[-3:] == ["exit_trigger", "exit_order", "exit_done"]


async def test_time_exit_cancels_the_venue_exits_and_closes(sim, fut):  # noqa: F811
    h, w = fut
    await open_long(h)
    plan = ExitPlan(FUT, SYM, Side.SELL, QTY, stop=D(60_000), target=D(70_000), time_exit_ms=now_ms() + 600,
                    origin=ORIGIN)  # fmt: skip
    placed = await place_exits(plan, h.oms, w)
    assert len(placed.venue_orders) == 2 and placed.bracket is None and len(placed.local) == 1
    stop_cid, target_cid = placed.venue_orders
    remote = {o.client_id: o for o in sim_orders(sim, FUT)}
    assert (remote[stop_cid].type, remote[stop_cid].reduce_only) == (OrderType.STOP_MARKET, True)
    assert (remote[target_cid].type, remote[target_cid].reduce_only) == (OrderType.TAKE_PROFIT_MARKET, True)
    e = w.get(placed.local[0])
    assert e is not None and e.spec.kind is ExitKind.TIME
    await wait_for(lambda: e.phase is ExitPhase.DONE, what="the time exit")
    await w.settle()
    assert e.done_reason is not None and e.done_reason.startswith("closed by")
    assert position_qty(sim) == 0
    remote = {o.client_id: o for o in sim_orders(sim, FUT)}
    assert (
        remote[stop_cid].status is OrderStatus.CANCELED and remote[target_cid].status is OrderStatus.CANCELED
    )
    assert len(closing_orders(sim, e.id, h.journal)) == 1


async def test_venue_stop_filling_retires_the_local_exits(sim, fut):  # noqa: F811
    h, w = fut
    await open_long(h)
    plan = ExitPlan(FUT, SYM, Side.SELL, QTY, stop=D(64_950), target=D(70_000), trailing=D("0.05"),
                    time_exit_ms=now_ms() + 60_000, origin=ORIGIN)  # fmt: skip
    placed = await place_exits(plan, h.oms, w)
    assert any("trailing stop watched locally" in n for n in placed.notes)
    trailing, timed = (w.get(i) for i in placed.local)
    take(sim, Side.SELL, "40")  # the venue's stop fires (the 5 % trail does not)
    await wait_for(lambda: trailing.phase is ExitPhase.DONE and timed.phase is ExitPhase.DONE, what="retired")
    await w.settle()
    stop_cid, target_cid = placed.venue_orders
    remote = {o.client_id: o for o in sim_orders(sim, FUT)}
    assert remote[stop_cid].status is OrderStatus.FILLED
    await wait_for(lambda: h.oms.order(target_cid).is_terminal, what="the target canceled")
    remote = {o.client_id: o for o in sim_orders(sim, FUT)}
    assert remote[target_cid].status is OrderStatus.CANCELED
    assert "sibling closed the position" in (trailing.done_reason or "")
    assert closing_orders(sim, trailing.id, h.journal) == [] and position_qty(sim) == 0


async def test_stop_and_target_watched_locally_target_side(sim, fut):  # noqa: F811
    h, w = fut
    await open_long(h)
    target = w.arm(LocalExitSpec(FUT, SYM, Side.SELL, QTY, ExitKind.TARGET, origin=ORIGIN, level=D(65_010)))
    stop = w.arm(LocalExitSpec(FUT, SYM, Side.SELL, QTY, ExitKind.STOP, origin=ORIGIN, level=D(64_900)))
    take(sim, Side.BUY, "10")
    await wait_for(lambda: target.phase is ExitPhase.DONE, what="the target")
    await w.settle()
    assert target.trigger_price is not None and target.trigger_price >= D(65_010)
    assert position_qty(sim) == 0
    # the stop (not grouped) finds the position flat when it fires: no order
    take(sim, Side.SELL, "40")
    await wait_for(lambda: stop.phase is ExitPhase.DONE, what="the stop")
    await w.settle()
    assert stop.done_reason == "position already flat" and closing_orders(sim, stop.id, h.journal) == []


async def test_lost_answer_still_one_closing_order(sim, fut):  # noqa: F811
    h, w = fut
    await open_long(h)
    # the venue executes the closing order but the answer is lost: the OMS looks it up by its
    # client id and resends under the same id, never a second order
    sim.exchange.faults.inject_http(HttpFault.DROP_RESPONSE, FUT, paths=ORDER_PLACEMENT_PATHS)
    e = w.arm(LocalExitSpec(FUT, SYM, Side.SELL, QTY, ExitKind.TIME, origin=ORIGIN, at_ms=now_ms()))
    await wait_for(lambda: e.phase is ExitPhase.DONE, what="the time exit")
    await w.settle()
    assert len(closing_orders(sim, e.id, h.journal)) == 1 and position_qty(sim) == 0
    assert e.attempts == 1


async def test_refused_closing_orders_are_retried_then_given_up(sim, fut):  # noqa: F811
    h, w = fut
    await open_long(h)
    h.risk.set_state(TradingState.HALTED, actor="manual", reason="test")
    e = w.arm(LocalExitSpec(FUT, SYM, Side.SELL, QTY, ExitKind.TIME, origin=ORIGIN, at_ms=now_ms()))
    await wait_for(lambda: e.phase is ExitPhase.DONE, what="give up")
    await w.settle()
    assert e.attempts == 3 and "refused 3 times" in (e.done_reason or "")
    assert [a for a in audit_actions(h.journal, e.id) if a == "exit_trigger"] == ["exit_trigger"] * 3
    assert closing_orders(sim, e.id, h.journal) == [] and position_qty(sim) == QTY


async def test_armed_trailing_exit_survives_a_restart(sim, fut):  # noqa: F811
    h, w = fut
    await open_long(h)
    e = w.arm(LocalExitSpec(FUT, SYM, Side.SELL, QTY, ExitKind.TRAILING, origin=ORIGIN, trail=D("0.001")))
    take(sim, Side.BUY, "10")
    await wait_for(lambda: e.best is not None and e.best > D("65010"), what="the best price")
    best = e.persisted_best
    # "restart": a new OMS and watcher that know only the journal
    w.close()
    h.oms.close()
    h.oms = OrderManager(h.journal, {FUT: h.adapter}, h.risk, h.bus)
    await h.oms.reconcile(FUT)
    w2 = ExitWatcher(h.oms, h.bus, retry_delay_s=0.05)
    try:
        (restored,) = w2.restore()
        assert (restored.id, restored.phase, restored.best) == (e.id, ExitPhase.ARMED, best)
        take(sim, Side.SELL, "40")
        await wait_for(lambda: restored.phase is ExitPhase.DONE, what="the restored exit")
        await w2.settle()
        assert position_qty(sim) == 0 and len(closing_orders(sim, e.id, h.journal)) == 1
        w3 = ExitWatcher(h.oms, h.bus)
        assert w3.restore() == []  # finished ones stay finished
        w3.close()
    finally:
        w2.close()


class CrashAfterSend(ExitWatcher):
    """Dies between sending the closing order and recording it (``exit_order`` never written)."""

    def _follow_order(self, e, order):
        raise RuntimeError("crash")


class CrashBeforeSend(ExitWatcher):
    """Dies after journalling the trigger, before the order exists."""

    async def _send(self, e):
        raise RuntimeError("crash")


@pytest.mark.parametrize("crash", [CrashAfterSend, CrashBeforeSend])
async def test_restart_mid_close_never_sends_twice(sim, fut, crash):  # noqa: F811
    h, w = fut
    w.close()
    await open_long(h)
    dying = crash(h.oms, h.bus, retry_delay_s=0.05)
    e = dying.arm(LocalExitSpec(FUT, SYM, Side.SELL, QTY, ExitKind.TIME, origin=ORIGIN, at_ms=now_ms()))
    await wait_for(lambda: "exit_error" in audit_actions(h.journal, e.id), what="the crash")
    await dying.settle()
    dying.close()
    sent_before = len(closing_orders(sim, e.id, h.journal))
    assert sent_before == (1 if crash is CrashAfterSend else 0)
    h.oms.close()
    h.oms = OrderManager(h.journal, {FUT: h.adapter}, h.risk, h.bus)
    await h.oms.reconcile(FUT)
    w2 = ExitWatcher(h.oms, h.bus, retry_delay_s=0.05)
    try:
        (restored,) = w2.restore()
        assert restored.phase is ExitPhase.CLOSING and restored.attempts == 1
        await wait_for(lambda: restored.phase is ExitPhase.DONE, what="the restored close")
        await w2.settle()
        assert restored.done_reason is not None and restored.done_reason.startswith("closed by")
        assert len(closing_orders(sim, e.id, h.journal)) == 1 and position_qty(sim) == 0
    finally:
        w2.close()


async def test_spot_oco_and_a_local_trailing_stop(sim, tmp_path):  # noqa: F811
    h = await start_harness(venue_config(sim, SPOT), tmp_path / "j.sqlite3")
    bm = BracketManager(h.oms, h.bus)
    w = ExitWatcher(h.oms, h.bus, brackets=bm, retry_delay_s=0.05)
    try:
        await h.adapter.watch_market(SYM, book=True, trades=True, tickers=False, candles=())
        await wait_for(lambda: h.adapter.reference_price(SYM) is not None, what="the book")
        await h.oms.submit(OrderIntent(SPOT, SYM, Side.BUY, OrderType.MARKET, D("0.002"), origin=ORIGIN))
        await wait_for(lambda: h.oms.position(SPOT, SYM) > 0, what="the holding")
        held = h.adapter.instrument(SYM).round_qty_down(h.oms.position(SPOT, SYM))
        plan = ExitPlan(SPOT, SYM, Side.SELL, held, stop=D(60_000), target=D(70_000), trailing=D("0.001"),
                        origin=ORIGIN)  # fmt: skip
        placed = await place_exits(plan, h.oms, w, brackets=bm)
        assert placed.venue_orders == () and placed.bracket is not None
        assert any("OCO" in n for n in placed.notes)
        b = bm.brackets[placed.bracket]
        (trailing,) = (w.get(i) for i in placed.local)
        take(sim, Side.BUY, "10", SPOT)
        await wait_for(
            lambda: trailing.best is not None and trailing.best > D("65010"), what="the best price"
        )
        take(sim, Side.SELL, "40", SPOT)
        await wait_for(lambda: trailing.phase is ExitPhase.DONE, what="the trailing exit")
        await w.settle()
        await wait_for(lambda: b.phase is BracketPhase.DONE, what="the OCO retired")
        await bm.settle()
        assert trailing.done_reason is not None and trailing.done_reason.startswith("closed by")
        (close,) = closing_orders(sim, trailing.id, h.journal, SPOT)
        assert close.status is OrderStatus.FILLED and close.qty == held
        remote = {o.client_id: o for o in sim_orders(sim, SPOT)}
        assert (
            remote[b.tp_id].status is OrderStatus.CANCELED and remote[b.sl_id].status is OrderStatus.CANCELED
        )
    finally:
        w.close()
        bm.close()
        await h.close()


async def test_mark_price_source_and_unknown_venue(sim, fut):  # noqa: F811
    h, w = fut
    await open_long(h)
    with pytest.raises(ValueError, match="no binance_spot adapter"):
        w.arm(LocalExitSpec(SPOT, SYM, Side.SELL, QTY, ExitKind.STOP, level=D(1)))
    # a mark-price stop ignores trades: the futures mark (book mid, every second) triggers it
    e = w.arm(LocalExitSpec(FUT, SYM, Side.SELL, QTY, ExitKind.STOP, origin=ORIGIN, level=D(64_950),
                            price_source=PriceSource.MARK))  # fmt: skip
    take(sim, Side.SELL, "40")
    await wait_for(lambda: e.phase is ExitPhase.DONE, timeout=6, what="the mark-price stop")
    await w.settle()
    assert position_qty(sim) == 0 and e.trigger_price is not None and e.trigger_price <= D(64_950)


async def test_a_refused_target_keeps_the_placed_stop_linked(sim, tmp_path):  # noqa: F811
    limits = RiskLimits(duplicate_window_s=0, max_open_orders=1)
    h = await start_harness(venue_config(sim, FUT), tmp_path / "j.sqlite3", limits=limits)
    w = ExitWatcher(h.oms, h.bus)
    try:
        await open_long(h)
        plan = ExitPlan(FUT, SYM, Side.SELL, QTY, stop=D(60_000), target=D(70_000), trailing=D("0.01"),
                        origin=ORIGIN)  # fmt: skip
        with pytest.raises(RiskRejected, match="open orders"):
            await place_exits(plan, h.oms, w)
        (group,) = w.groups.values()
        (stop_cid,) = group.orders
        assert h.oms.order(stop_cid).type is OrderType.STOP_MARKET and not h.oms.order(stop_cid).is_terminal
        assert w.active() == []  # nothing local armed for a half-placed plan
    finally:
        w.close()
        await h.close()
