"""``RiskManager.set_limits``: limits replaced at run time, on a real journal and bus, and through
a real OMS on the simulator."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from terminal.bus import EventBus
from terminal.model import Fill, Order, OrderStatus, OrderType, PositionSide, Side, TradingState, Venue
from terminal.storage.journal import Journal
from terminal.trading.events import TradingStateChanged
from terminal.trading.oms import OrderIntent, RiskRejected
from terminal.trading.risk import LossLimits, PnlTracker, RiskLimits, RiskManager, RiskRule
from tests.trading.sim_support import SYM, sim_orders, start_harness
from tests.venues.binance_support import sim, venue_config, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(60)

D = Decimal
FUT = Venue.BINANCE_USDM
DAY = 86_400_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY + 10 * 3_600_000  # 10:00 UTC on some day


@pytest.fixture
def journal(tmp_path):
    j = Journal.open(tmp_path / "j.sqlite3")
    yield j
    j.close()


def losing_risk(journal: Journal, bus: EventBus, limits: RiskLimits | None = None) -> RiskManager:
    """A manager whose account lost 50 today: bought 1 at 100, marked at 50, equity 1000 -> 950."""
    risk = RiskManager(
        limits or RiskLimits(),
        journal,
        bus=bus,
        pnl=PnlTracker(base_equity=D(1000)),
        wall_ms=lambda: T0 + 5000,
    )
    risk.pnl.on_fill(
        Fill(FUT, SYM, "c1", None, "t1", Side.BUY, D(100), D(1), T0, D(0), "USDT", PositionSide.BOTH)
    )
    risk.pnl.on_mark(FUT, SYM, D(50), T0 + 1000)
    assert risk.state is TradingState.ACTIVE  # nothing evaluated yet
    assert risk.pnl.snapshot().day_pnl == D(-50)
    return risk


def actions(journal: Journal) -> list[str]:
    return [a.action for a in journal.audit_log()]


def test_a_tighter_limit_already_exceeded_acts_at_once(journal: Journal) -> None:
    bus = EventBus()
    changes: list[TradingStateChanged] = []
    bus.subscribe(TradingStateChanged, changes.append)
    risk = losing_risk(journal, bus)

    state = risk.set_limits(RiskLimits(loss=LossLimits(daily_loss_reduce=D(40))))
    assert state is TradingState.REDUCING and risk.state is TradingState.REDUCING
    assert [(c.previous, c.state, c.actor) for c in changes] == [
        (TradingState.ACTIVE, TradingState.REDUCING, "risk")
    ]
    assert actions(journal) == ["risk_limits", "loss_limit", "trading_state"]
    limits_row = journal.audit_log(actions=["risk_limits"])[0]
    assert limits_row.actor == "user" and "loss.daily_loss_reduce=40" in limits_row.detail["limits"]

    risk.set_limits(RiskLimits(loss=LossLimits(daily_loss_reduce=D(40), daily_loss_halt=D(45))), actor="ops")
    assert risk.state is TradingState.HALTED
    assert changes[-1].state is TradingState.HALTED and "day loss 50 >= 45" in changes[-1].reason
    breach = journal.audit_log(actions=["loss_limit"])[-1]
    assert breach.detail["rule"] == RiskRule.DAILY_LOSS and breach.detail["to"] == "HALTED"
    assert journal.audit_log(actions=["risk_limits"])[-1].actor == "ops"


def test_a_limit_not_reached_changes_nothing_but_is_audited_and_logged(journal: Journal, caplog) -> None:
    bus = EventBus()
    changes: list[TradingStateChanged] = []
    bus.subscribe(TradingStateChanged, changes.append)
    risk = losing_risk(journal, bus)
    limits = RiskLimits(max_order_notional=D(500), loss=LossLimits(daily_loss_halt=D(60)))
    with caplog.at_level(logging.INFO, logger="terminal.trading.risk"):
        assert risk.set_limits(limits) is TradingState.ACTIVE
    assert risk.limits is limits and changes == []
    assert actions(journal) == ["risk_limits"]
    (line,) = [r for r in caplog.records if "risk limits set" in r.getMessage()]
    assert line.levelno == logging.INFO
    assert "max_order_notional=500" in line.getMessage() and "loss.daily_loss_halt=60" in line.getMessage()


def test_loosening_never_lifts_a_halt_only_the_users_resume_does(journal: Journal) -> None:
    bus = EventBus()
    changes: list[TradingStateChanged] = []
    bus.subscribe(TradingStateChanged, changes.append)
    risk = losing_risk(journal, bus, RiskLimits(loss=LossLimits(daily_loss_halt=D(45))))
    assert risk.evaluate_losses() is TradingState.HALTED
    n = len(changes)

    risk.set_limits(RiskLimits(loss=LossLimits(daily_loss_halt=D(1000))))  # far looser
    assert risk.state is TradingState.HALTED
    risk.set_limits(RiskLimits())  # no loss limit at all
    assert risk.state is TradingState.HALTED and len(changes) == n
    order = Order("o1", FUT, SYM, Side.BUY, OrderType.LIMIT, D(1), D(50))
    verdict = risk.check(order, open_orders=[])
    assert not verdict and verdict.rule is RiskRule.HALTED

    # The person's resume (what the UI / ops do today: set_state) is what lifts it ...
    risk.set_state(TradingState.ACTIVE, actor="user", reason="resume")
    assert risk.state is TradingState.ACTIVE
    # ... and under the looser limits the loss of 50 no longer trips anything.
    assert risk.evaluate_losses() is TradingState.ACTIVE
    assert risk.check(order, open_orders=[])


def test_a_kill_switch_halt_survives_new_limits(journal: Journal) -> None:
    risk = losing_risk(journal, EventBus())
    risk.set_state(TradingState.HALTED, actor="manual", reason="kill switch")
    risk.set_limits(RiskLimits(max_order_notional=D(10)))
    assert risk.state is TradingState.HALTED


def test_the_day_start_hour_cannot_move_under_a_running_tracker(journal: Journal) -> None:
    risk = losing_risk(journal, EventBus())
    before = risk.limits
    with pytest.raises(ValueError, match="takes effect at the next start"):
        risk.set_limits(RiskLimits(loss=LossLimits(daily_loss_halt=D(1), day_start_hour_utc=8)))
    assert risk.limits is before and risk.state is TradingState.ACTIVE
    assert actions(journal) == []  # nothing happened, nothing audited
    assert risk.pnl.snapshot().day_pnl == D(-50)  # the day's loss is still counted


# ---------------------------------------------------------------------- through the OMS


async def test_an_order_over_a_newly_set_max_notional_is_rejected_by_a_real_oms(sim, tmp_path):  # noqa: F811
    h = await start_harness(venue_config(sim, FUT), tmp_path / "j.sqlite3")
    try:
        await h.adapter.watch_market(SYM, book=True, trades=False, tickers=False, candles=())
        await wait_for(lambda: h.adapter.reference_price(SYM) is not None, what="the book")
        qty = D("0.003")
        first = await h.oms.submit(OrderIntent(FUT, SYM, Side.BUY, OrderType.MARKET, qty))
        ref = h.adapter.reference_price(SYM)
        assert ref is not None and first.client_id

        h.risk.set_limits(RiskLimits(duplicate_window_s=0, max_order_notional=ref * qty / 2))
        with pytest.raises(RiskRejected) as exc:
            await h.oms.submit(OrderIntent(FUT, SYM, Side.BUY, OrderType.MARKET, qty))
        assert exc.value.verdict.rule is RiskRule.ORDER_NOTIONAL
        assert "exceeds max" in exc.value.verdict.reason
        rejected = h.journal.order_record(exc.value.order.client_id)
        assert rejected is not None and rejected.order.status is OrderStatus.REJECTED
        assert len(_sim_orders(sim)) == 1  # the second never reached the venue

        # loosened again: the same order goes through
        h.risk.set_limits(RiskLimits(duplicate_window_s=0, max_order_notional=ref * qty * 10))
        again = await h.oms.submit(OrderIntent(FUT, SYM, Side.BUY, OrderType.MARKET, qty))
        await wait_for(lambda: len(_sim_orders(sim)) == 2, what="the second order on the venue")
        assert again.client_id != first.client_id
    finally:
        await h.close()


def _sim_orders(running) -> list:
    return sim_orders(running, FUT)
