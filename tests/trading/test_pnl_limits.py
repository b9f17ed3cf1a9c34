"""PnL tracking, loss limits (daily loss, drawdown) and per-strategy limits, on a real journal;
and the daily loss limit halting trading on the simulator when the price moves."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from terminal.bus import EventBus
from terminal.model import Fill, OrderType, PositionSide, Side, TradingState, Venue
from terminal.model import Order as OrderModel
from terminal.storage.journal import Journal
from terminal.trading.ids import ClientIdGenerator
from terminal.trading.oms import OrderIntent, RiskRejected
from terminal.trading.risk import (
    LossLimits,
    PnlFeed,
    PnlTracker,
    RiskLimits,
    RiskManager,
    RiskRule,
    StrategyLimits,
    strategy_of,
)
from terminal.venues.events import BalancesEvent, FillEvent
from tests.trading.sim_support import SYM, start_harness
from tests.venues.binance_support import sim, venue_config, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(60)

D = Decimal
FUT = Venue.BINANCE_USDM
SPOT = Venue.BINANCE_SPOT
DAY = 86_400_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY + 10 * 3_600_000  # 10:00 UTC on some day
IDS = ClientIdGenerator("p")
_trade = itertools.count(1)


def fill(side: Side, qty: str, price: str, *, ts: int = T0, venue: Venue = FUT, cid: str = "c1", fee: str = "0",
         fee_asset: str = "USDT", symbol: str = SYM, pos_side: PositionSide = PositionSide.BOTH) -> Fill:  # fmt: skip
    return Fill(venue, symbol, cid, None, str(next(_trade)), side, D(price), D(qty), ts, D(fee), fee_asset,
                position_side=pos_side)  # fmt: skip


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def journal(tmp_path):
    j = Journal.open(tmp_path / "j.sqlite3")
    yield j
    j.close()


# ---------------------------------------------------------------------- the tracker


def test_realized_unrealized_and_fees():
    t = PnlTracker(base_equity=D(1000))
    t.on_fill(fill(Side.BUY, "2", "100", fee="0.2"))
    t.on_mark(FUT, SYM, D(90), T0 + 1)
    s = t.snapshot()
    assert (s.unrealized, s.fees, s.equity) == (D(-20), D("0.2"), D("979.8"))
    t.on_fill(fill(Side.SELL, "1", "110", fee="0.11", ts=T0 + 2))
    s = t.snapshot()
    assert s.realized == D(10) and s.fees == D("0.31")
    assert s.unrealized == D(-10)  # the remaining 1 at 100 is still marked at 90: fills set no mark
    assert s.equity == D(1000) + 10 - D("0.31") - 10


def test_unrealized_follows_the_last_mark():
    t = PnlTracker(base_equity=D(1000))
    t.on_fill(fill(Side.SELL, "3", "100"))  # short
    t.on_mark(FUT, SYM, D(95), T0 + 1)
    assert t.snapshot().unrealized == D(15) and t.equity() == D(1015)
    t.on_fill(fill(Side.BUY, "3", "96", ts=T0 + 2))
    s = t.snapshot()
    assert (s.realized, s.unrealized, s.equity) == (D(12), D(0), D(1012))


def test_spot_base_fee_shrinks_the_holding_and_sells_never_open_a_short():
    t = PnlTracker(base_equity=D(0))
    t.on_fill(fill(Side.BUY, "1", "100", venue=SPOT, fee="0.001", fee_asset="BTC"))
    s = t.snapshot()
    assert s.fees == D("0.1")  # 0.001 BTC at 100
    assert t.strategy("x").positions == {}  # unattributed fill: no strategy ledger
    t.on_mark(SPOT, SYM, D(120), T0 + 1)
    # holding 0.999 at entry 100: +19.98, minus the 0.1 fee
    assert t.equity() == D("19.88")
    # selling 5 (4.001 of it from holdings never seen) closes only the 0.999 tracked
    t.on_fill(fill(Side.SELL, "5", "120", venue=SPOT, ts=T0 + 2))
    t.on_mark(SPOT, SYM, D(50), T0 + 3)
    assert t.snapshot().unrealized == 0 and t.equity() == D("19.88")


def test_other_fee_assets_are_listed_not_priced():
    t = PnlTracker()
    t.on_fill(fill(Side.BUY, "1", "100", venue=SPOT, fee="0.01", fee_asset="BNB"))
    s = t.snapshot()
    assert s.fees == 0 and s.unpriced_fees == {"BNB": D("0.01")}


def test_hedge_legs_never_flip():
    t = PnlTracker()
    t.on_fill(fill(Side.BUY, "1", "100", pos_side=PositionSide.LONG))
    t.on_fill(fill(Side.SELL, "3", "110", pos_side=PositionSide.LONG, ts=T0 + 1))  # more than the leg
    assert t.snapshot().realized == D(10)


def test_trading_day_starts_at_the_configured_utc_hour():
    t = PnlTracker(base_equity=D(1000), day_start_hour_utc=8)
    day0 = T0 - T0 % DAY
    t.on_fill(fill(Side.BUY, "1", "100", ts=day0 + 7 * 3_600_000))
    t.on_mark(FUT, SYM, D(90), day0 + 7 * 3_600_000 + 59 * 60_000)  # 07:59: still the old day
    before = t.day
    assert t.snapshot().day_pnl == D(-10)
    t.on_mark(FUT, SYM, D(80), day0 + 8 * 3_600_000)  # 08:00: a new day, started at equity 990
    s = t.snapshot()
    assert t.day == before + 1 and s.day_start_equity == D(990) and s.day_pnl == D(-10)
    assert not t.roll(day0 + 9 * 3_600_000) and t.roll(day0 + DAY + 8 * 3_600_000)
    assert t.snapshot().day_pnl == 0


def test_drawdown_from_the_peak_and_rebase_keeps_it():
    t = PnlTracker(base_equity=D(0))
    t.on_fill(fill(Side.BUY, "10", "100"))
    t.on_mark(FUT, SYM, D(150), T0 + 1)  # +500: the peak
    t.on_mark(FUT, SYM, D(110), T0 + 2)  # +100
    t.rebase(D(1100))  # the balances say the account is worth 1100 now
    s = t.snapshot()
    assert s.peak_equity == D(1500) and s.equity == D(1100)
    assert s.drawdown == D(400) / D(1500)
    assert s.day_pnl == D(100)  # the day started before the fill, at 1000 after rebasing


# ---------------------------------------------------------------------- loss limits


def manager(journal, clock=None, wall=None, **limits) -> RiskManager:
    strategies = limits.pop("strategies", {})
    default = limits.pop("strategy_default", StrategyLimits())
    wall = wall or (lambda: T0)
    return RiskManager(
        RiskLimits(
            duplicate_window_s=0, loss=LossLimits(**limits), strategies=strategies, strategy_default=default
        ),
        journal,
        clock=clock or Clock(),
        wall_ms=wall,
        pnl=PnlTracker(base_equity=D(10_000), day_start_hour_utc=limits.get("day_start_hour_utc", 0)),
    )


def order(side=Side.BUY, qty="1", price: str | None = "100", symbol=SYM, reduce_only=False) -> OrderModel:
    return OrderModel.new(IDS.next(), FUT, symbol, side, OrderType.LIMIT, qty, price, reduce_only=reduce_only)


def test_daily_loss_reduces_then_halts_audited(journal):
    r = manager(journal, daily_loss_reduce=D(100), daily_loss_halt=D(200))
    r.pnl.on_fill(fill(Side.BUY, "10", "100"))
    r.pnl.on_mark(FUT, SYM, D(95), T0 + 1)
    assert r.evaluate_losses() is TradingState.ACTIVE  # -50
    r.pnl.on_mark(FUT, SYM, D(89), T0 + 2)
    assert r.evaluate_losses() is TradingState.REDUCING  # -110
    v = r.check(order(Side.BUY), open_orders=[], position_qty=D(10))
    assert v.rule is RiskRule.REDUCING
    assert r.check(order(Side.SELL, qty="10"), open_orders=[], position_qty=D(10))  # reducing passes
    r.pnl.on_mark(FUT, SYM, D(79), T0 + 3)
    assert r.evaluate_losses() is TradingState.HALTED  # -210
    # recovering does not de-escalate
    r.pnl.on_mark(FUT, SYM, D(120), T0 + 4)
    assert r.evaluate_losses() is TradingState.HALTED
    audit = [a for a in journal.audit_log() if a.action == "loss_limit"]
    assert [(a.detail["rule"], a.detail["to"]) for a in audit] == [
        ("daily_loss", "REDUCING"),
        ("daily_loss", "HALTED"),
    ]
    assert audit[0].actor == "risk" and D(audit[0].detail["day_pnl"]) == D(-110)
    states = [(a.detail["from"], a.detail["to"]) for a in journal.audit_log() if a.action == "trading_state"]
    assert states == [("ACTIVE", "REDUCING"), ("REDUCING", "HALTED")]


def test_drawdown_halts_and_a_new_day_does_not_lift_it(journal):
    now = [T0]
    r = manager(journal, wall=lambda: now[0], drawdown_reduce=D("0.05"), drawdown_halt=D("0.1"),
                resume_next_day=True)  # fmt: skip
    r.pnl.on_fill(fill(Side.BUY, "100", "100"))
    r.pnl.on_mark(FUT, SYM, D(120), T0 + 1)  # equity 12 000: the peak
    r.pnl.on_mark(FUT, SYM, D(112), T0 + 2)  # 11 200: 6.7 % down
    assert r.evaluate_losses() is TradingState.REDUCING
    r.pnl.on_mark(FUT, SYM, D(107), T0 + 3)  # 10 700: 10.8 % down, though the day is still positive
    assert r.evaluate_losses() is TradingState.HALTED
    now[0] = T0 + DAY
    assert r.evaluate_losses() is TradingState.HALTED
    (last,) = [a for a in journal.audit_log() if a.action == "loss_limit" and a.detail["to"] == "HALTED"]
    assert last.detail["rule"] == "max_drawdown"


def test_resume_next_day_lifts_a_daily_loss_state_only(journal):
    now = [T0]
    r = manager(journal, wall=lambda: now[0], daily_loss_reduce=D(50), resume_next_day=True)
    r.pnl.on_fill(fill(Side.BUY, "10", "100"))
    r.pnl.on_mark(FUT, SYM, D(94), T0 + 1)
    assert r.evaluate_losses() is TradingState.REDUCING
    now[0] = T0 + DAY  # a new day: the day's loss starts again from here
    assert r.evaluate_losses() is TradingState.ACTIVE
    assert r.pnl.snapshot().day_pnl == 0
    # a state a person set is never lifted by the new day
    r.set_state(TradingState.REDUCING, actor="manual", reason="going to lunch")
    now[0] = T0 + 2 * DAY
    assert r.evaluate_losses() is TradingState.REDUCING


def test_bad_loss_limits_are_refused():
    with pytest.raises(ValueError, match="drawdown_halt"):
        LossLimits(drawdown_halt=D("1.5"))
    with pytest.raises(ValueError, match="daily_loss_reduce"):
        LossLimits(daily_loss_reduce=D(-1))
    with pytest.raises(ValueError, match="day_start_hour_utc"):
        LossLimits(day_start_hour_utc=24)
    with pytest.raises(ValueError, match="max_open_positions"):
        StrategyLimits(max_open_positions=0)


def test_tracker_and_limits_must_agree_on_the_day_start(journal):
    with pytest.raises(ValueError, match="day starts at 8h"):
        RiskManager(RiskLimits(), journal, pnl=PnlTracker(day_start_hour_utc=8))


# ---------------------------------------------------------------------- per-strategy limits


def test_strategy_of_origins():
    assert strategy_of("strategy:macd") == "macd"
    assert strategy_of("webhook:tv") == "webhook:tv"
    assert (
        strategy_of("manual") is None
        and strategy_of("kill_switch:risk") is None
        and strategy_of(None) is None
    )


def test_one_position_per_symbol_counts_working_entries_and_fills(journal):
    clock = Clock()
    r = manager(journal, clock=clock)
    first = order()
    assert r.check(first, open_orders=[], origin="strategy:ema")
    # the entry is working: a second one on the same symbol is refused
    v = r.check(order(), open_orders=[first], origin="strategy:ema")
    assert v.rule is RiskRule.ONE_POSITION and "an entry working" in v.reason
    # another strategy, or a manual order, is not affected
    assert r.check(order(), open_orders=[first], origin="strategy:rsi")
    assert r.check(order(), open_orders=[first], origin="manual")
    # the entry fills: now the position blocks
    r.pnl.on_fill(fill(Side.BUY, "1", "100", cid=first.client_id), strategy="ema")
    v = r.check(order(), open_orders=[], origin="strategy:ema")
    assert v.rule is RiskRule.ONE_POSITION and "a position" in v.reason
    # closing it is never blocked (it reduces the account position)
    assert r.check(order(Side.SELL), open_orders=[], position_qty=D(1), origin="strategy:ema")
    r.pnl.on_fill(fill(Side.SELL, "1", "100", ts=T0 + 1), strategy="ema")
    assert r.check(order(), open_orders=[], origin="strategy:ema")
    rejects = [a.detail for a in journal.audit_log() if a.action == "risk_reject"]
    assert [x["rule"] for x in rejects] == ["one_position_per_symbol"] * 2
    assert rejects[0]["origin"] == "strategy:ema"


def test_an_entry_that_ended_unfilled_stops_counting_after_the_grace(journal):
    clock = Clock()
    r = manager(journal, clock=clock)
    first = order()
    assert r.check(first, open_orders=[], origin="strategy:ema")
    # canceled (no longer open, no fill): still counted for the grace, in case its fill is late
    assert r.check(order(), open_orders=[], origin="strategy:ema").rule is RiskRule.ONE_POSITION
    clock.t += 2.5
    assert r.check(order(), open_orders=[], origin="strategy:ema")


def test_pyramiding_when_configured(journal):
    r = manager(
        journal, strategies={"grid": StrategyLimits(one_position_per_symbol=False, max_open_positions=1)}
    )
    r.pnl.on_fill(fill(Side.BUY, "1", "100"), strategy="grid")
    assert r.check(order(), open_orders=[], position_qty=D(1), origin="strategy:grid")
    v = r.check(order(symbol="ETHUSDT"), open_orders=[], origin="strategy:grid")
    assert v.rule is RiskRule.STRATEGY_POSITIONS and "max 1" in v.reason


def test_strategy_max_open_positions_and_max_notional(journal):
    r = manager(journal, strategy_default=StrategyLimits(max_open_positions=2, max_notional=D(500)))
    r.pnl.on_fill(fill(Side.BUY, "2", "100", symbol="AUSDT"), strategy="s")
    r.pnl.on_mark(FUT, "AUSDT", D(110), T0 + 1)  # 220 at mark
    b = order(symbol="BUSDT", qty="2", price="100")  # 200 more: 420
    assert r.check(b, open_orders=[], origin="strategy:s")
    v = r.check(order(symbol="CUSDT", qty="0.1"), open_orders=[b], origin="strategy:s")
    assert v.rule is RiskRule.STRATEGY_POSITIONS
    r2 = manager(journal, strategy_default=StrategyLimits(max_notional=D(500)))
    r2.pnl.on_fill(fill(Side.BUY, "2", "100", symbol="AUSDT"), strategy="s")
    r2.pnl.on_mark(FUT, "AUSDT", D(110), T0 + 1)
    assert r2.check(order(symbol="BUSDT", qty="2.8"), open_orders=[], origin="strategy:s")  # 500 exactly
    v = r2.check(order(symbol="CUSDT", qty="0.01"), open_orders=[], origin="strategy:s")
    assert v.rule is RiskRule.STRATEGY_NOTIONAL and "max 500" in v.reason
    market = OrderModel.new(IDS.next(), FUT, "DUSDT", Side.BUY, OrderType.MARKET, "1")
    assert r2.check(market, open_orders=[], origin="strategy:t").rule is RiskRule.NO_PRICE


def test_strategy_daily_loss_stops_its_entries_for_the_day(journal):
    now = [T0]
    r = manager(journal, wall=lambda: now[0], strategies={"ema": StrategyLimits(daily_loss=D(30))})
    r.pnl.on_fill(fill(Side.BUY, "1", "100"), strategy="ema")
    r.pnl.on_fill(fill(Side.SELL, "1", "65", ts=T0 + 1), strategy="ema")  # -35 realized
    v = r.check(order(symbol="ETHUSDT"), open_orders=[], origin="strategy:ema")
    assert v.rule is RiskRule.STRATEGY_DAILY_LOSS and "35" in v.reason
    assert (
        r.check(order(symbol="XUSDT"), open_orders=[], origin="strategy:ema").rule
        is RiskRule.STRATEGY_DAILY_LOSS
    )
    assert r.check(order(symbol="ETHUSDT"), open_orders=[], origin="strategy:other")
    assert r.state is TradingState.ACTIVE  # the account is not limited by one strategy
    breaches = [a for a in journal.audit_log() if a.action == "strategy_loss_limit"]
    assert len(breaches) == 1 and breaches[0].detail["strategy"] == "ema"
    now[0] = T0 + DAY  # next day: its entries are allowed again
    assert r.check(order(symbol="ETHUSDT"), open_orders=[], origin="strategy:ema")


def test_restore_pending_counts_the_journals_working_strategy_entries(journal):
    entry = order(symbol="AUSDT")
    exit_ = order(Side.SELL, symbol="BUSDT")
    journal.record_order_intent(entry, "strategy:ema")
    journal.record_order_intent(exit_, "strategy:ema")
    journal.record_order_intent(order(symbol="CUSDT"), "manual")
    r = manager(journal)
    r.pnl.on_fill(fill(Side.BUY, "1", "100", symbol="BUSDT"), strategy="ema")  # the SELL is its exit
    assert r.restore_pending() == 1
    opens = journal.open_orders()
    assert (
        r.check(order(symbol="AUSDT"), open_orders=opens, origin="strategy:ema").rule is RiskRule.ONE_POSITION
    )
    assert r.check(order(symbol="CUSDT"), open_orders=opens, origin="strategy:ema")


# ---------------------------------------------------------------------- the feed


def test_feed_attributes_fills_by_journal_origin_counts_each_once_and_catches_up(journal):
    bus = EventBus()
    r = manager(journal)
    feed = PnlFeed(r, journal, bus)
    o = order()
    journal.record_order_intent(o, "strategy:ema")
    f1 = fill(Side.BUY, "1", "100", cid=o.client_id)
    journal.record_fill(f1)
    bus.publish(FillEvent(f1))
    bus.publish(FillEvent(f1))  # a repeat
    assert r.pnl.strategy("ema").positions == {(FUT, SYM): D(1)}
    # a fill recovered by a reconcile is journalled without an event; the balances snapshot
    # that ends the reconcile catches it up
    f2 = fill(Side.BUY, "2", "100", cid=o.client_id, ts=T0 + 5)
    journal.record_fill(f2)
    bus.publish(BalancesEvent(FUT, (), snapshot=True, ts=T0 + 6))
    assert r.pnl.strategy("ema").positions == {(FUT, SYM): D(3)}
    assert r.pnl.snapshot().realized == 0
    feed.close()
    # a restart: a new tracker replays the journal to the same state
    r2 = manager(journal)
    feed2 = PnlFeed(r2, journal)
    assert feed2.replay() == 2 and feed2.replay() == 0
    assert r2.pnl.strategy("ema").positions == {(FUT, SYM): D(3)}


# ---------------------------------------------------------------------- on the simulator


async def test_daily_loss_limit_halts_trading_on_a_real_price_move(sim, tmp_path):  # noqa: F811
    limits = RiskLimits(duplicate_window_s=0, loss=LossLimits(daily_loss_halt=D("0.1")))
    h = await start_harness(venue_config(sim, FUT), tmp_path / "j.sqlite3", limits=limits)
    feed = PnlFeed(h.risk, h.journal, h.bus)
    try:
        h.risk.pnl.rebase(D(10_000))
        await h.adapter.watch_market(SYM, book=True, trades=True, tickers=False, candles=())
        await wait_for(lambda: h.adapter.reference_price(SYM) is not None, what="the book")
        qty = D("0.003")
        entry = await h.oms.submit(
            OrderIntent(FUT, SYM, Side.BUY, OrderType.MARKET, qty, origin="strategy:ema")
        )
        await wait_for(lambda: h.risk.pnl.strategy("ema").positions.get((FUT, SYM)) == qty, what="the fill")
        assert h.risk.state is TradingState.ACTIVE
        market = sim.exchange.markets[FUT]
        market.mm_take(SYM, Side.SELL, market.instruments[SYM].lots(D(40)))  # the price falls
        await wait_for(lambda: h.risk.state is TradingState.HALTED, what="the loss limit")
        snap = h.risk.pnl.snapshot()
        assert snap.day_pnl <= D("-0.1") and snap.equity < D(10_000)
        with pytest.raises(RiskRejected) as exc:
            await h.oms.submit(OrderIntent(FUT, SYM, Side.BUY, OrderType.MARKET, qty))
        assert exc.value.verdict.rule is RiskRule.HALTED
        (breach,) = [a for a in h.journal.audit_log() if a.action == "loss_limit"]
        assert breach.detail["rule"] == "daily_loss" and breach.detail["to"] == "HALTED"
        assert h.journal.order_record(entry.client_id).origin == "strategy:ema"
    finally:
        feed.close()
        await h.close()
