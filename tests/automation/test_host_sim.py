"""The automation host and executor against the simulator (real adapters, OMS, journal):
one position per signal, spot shorts refused, a raising strategy disarmed for good, the armed
set re-armed by the next App, live arming needs confirmation, generic webhook orders."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from terminal.app import App, AppConfig
from terminal.automation.arming import ArmKey
from terminal.automation.events import ArmState, IntentOutcome, IntentResult, StrategyStateChanged
from terminal.automation.host import ArmError, ArmNeedsConfirmation
from terminal.automation.wiring import AutomationConfig
from terminal.model import Signal, Venue
from terminal.signals.events import SignalAccepted
from terminal.signals.generic import parse_generic
from terminal.signals.indicator import parse_indicator
from terminal.sim.server import RunningSim
from terminal.strategies import registry
from terminal.strategies.base import InputKind, Intent, Strategy
from terminal.trading.sizing import SizingConfig
from tests.signals.support import indicator
from tests.support.apps import external_demo
from tests.venues.binance_support import sim, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(90)

FUT, SPOT = Venue.BINANCE_USDM, Venue.BINANCE_SPOT
SYM = "SOLUSDT"


def config(running: RunningSim, data_dir: Path, venues: tuple[Venue, ...] = (FUT,)) -> AppConfig:
    automation = AutomationConfig(sizing=SizingConfig(quote_notional=Decimal(200)))
    return external_demo(running, data_dir, venues, (SYM,), automation=automation)


async def live_price(app: App, venue: Venue) -> Decimal:
    await wait_for(
        lambda: (t := app.engine.top_of_book(venue, SYM)) is not None and t.live, 10, "a live book"
    )
    top = app.engine.top_of_book(venue, SYM)
    return (top.bid + top.ask) / 2


def mr_signal(mid: Decimal, **changes: object) -> Signal:
    now = int(time.time())
    data = indicator(
        trading_pair="SOL/USD", trading_type="Long", market_direction="Bull", leverage=2,
        buy_price=float(mid * Decimal("1.02")), sell_price=float(mid * Decimal("1.03")),
        stoploss=float(mid * Decimal("0.97")), buy_date=now, sell_prediction_date=now + 86_400,
        risk=3, percentage_change=5.0, percentage_change_24h=8.0, stoploss_24h=None, leverage_24h=2,
    )  # fmt: skip
    data.update(changes)
    return parse_indicator(data).to_signal(now * 1000)


async def test_one_signal_opens_one_position_even_with_two_strategies_armed(sim, tmp_path: Path) -> None:  # noqa: F811
    app = App(config(sim, tmp_path))
    await app.start()
    results: list[IntentResult] = []
    app.bus.subscribe(IntentResult, results.append)
    try:
        host = app.automation.host
        await host.arm(ArmKey("marketraker_momentum", FUT, SYM))
        await host.arm(ArmKey("marketraker_obos", FUT, SYM), {"mode": "follow"})
        mid = await live_price(app, FUT)
        app.bus.publish(SignalAccepted(mr_signal(mid), "marketraker"))
        await app.automation.settle()
        outcomes = sorted((r.origin, r.outcome) for r in results)
        assert [o for _, o in outcomes].count(IntentOutcome.PLACED) == 1, results
        skipped = [r for r in results if r.outcome is IntentOutcome.SKIPPED]
        assert len(skipped) == 1 and "signal already acted on" in skipped[0].message
        assert len(app.brackets.active()) == 1
    finally:
        await app.stop()


async def test_spot_short_signal_is_not_entered_and_says_why(sim, tmp_path: Path) -> None:  # noqa: F811
    app = App(config(sim, tmp_path, (SPOT,)))
    await app.start()
    skips: list[object] = []
    from terminal.strategies.base import Skip

    app.bus.subscribe(Skip, skips.append)
    try:
        await app.automation.host.arm(ArmKey("marketraker_momentum", SPOT, SYM))
        mid = await live_price(app, SPOT)
        signal = mr_signal(
            mid, trading_type="Short", market_direction="Bear", percentage_change=-5.0,
            buy_price=float(mid * Decimal("0.98")), sell_price=float(mid * Decimal("0.97")),
            stoploss=float(mid * Decimal("1.03")),
        )  # fmt: skip
        app.bus.publish(SignalAccepted(signal, "marketraker"))
        await app.automation.settle()
        assert app.oms.open_orders(SPOT, SYM) == [] and app.brackets.active() == []
        assert any("cannot short" in s.reason for s in skips), skips
    finally:
        await app.stop()


@dataclass(frozen=True, slots=True)
class _NoParams:
    pass


class _Exploding(Strategy):
    name = "exploding"
    title = "Exploding"
    doc = "Raises on every signal (tests)."
    inputs = frozenset({InputKind.SIGNALS})
    Params = _NoParams

    def on_signal(self, signal: Signal) -> Sequence[Intent]:
        raise RuntimeError("boom")


async def test_a_strategy_that_raises_is_disarmed_for_good(sim, tmp_path: Path, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setitem(registry._REGISTRY, "exploding", _Exploding)
    app = App(config(sim, tmp_path))
    await app.start()
    states: list[StrategyStateChanged] = []
    app.bus.subscribe(StrategyStateChanged, states.append)
    key = ArmKey("exploding", FUT, SYM)
    try:
        await app.automation.host.arm(key)
        mid = await live_price(app, FUT)
        app.bus.publish(SignalAccepted(mr_signal(mid), "marketraker"))
        await app.automation.settle()
        assert key not in app.automation.host.armed
        assert states[-1].state is ArmState.ERROR and "boom" in states[-1].message
        assert any(a.action == "strategy_error" for a in app.journal.audit_log())
    finally:
        await app.stop()
    again = App(config(sim, tmp_path))  # a broken strategy must not re-arm itself
    await again.start()
    try:
        assert key not in again.automation.host.armed
    finally:
        await again.stop()


async def test_the_armed_set_is_rearmed_by_the_next_app(sim, tmp_path: Path) -> None:  # noqa: F811
    first = App(config(sim, tmp_path))
    await first.start()
    key = ArmKey("ema_cross", FUT, SYM)
    try:
        await first.automation.host.arm(key, {"fast": "5", "slow": "13"})
        with pytest.raises(ArmError, match="not listed"):
            await first.automation.host.arm(ArmKey("ema_cross", FUT, "NOPEUSDT"))
    finally:
        await first.stop()
    second = App(config(sim, tmp_path))
    await second.start()
    try:
        armed = second.automation.host.armed[key]
        assert armed.state is ArmState.ARMED
        assert dict(armed.arming.params) == {"fast": "5", "slow": "13"}
        assert armed.last_fed  # warmed up on history
        await second.automation.host.disarm(key)
    finally:
        await second.stop()
    third = App(config(sim, tmp_path))
    await third.start()
    try:
        assert third.automation.host.armed == {}
    finally:
        await third.stop()


async def test_live_arming_needs_confirmation(sim, tmp_path: Path) -> None:  # noqa: F811
    app = App(config(sim, tmp_path))
    await app.start()
    try:
        app.automation.host.live = True  # the host's own rule, whatever the session's mode
        with pytest.raises(ArmNeedsConfirmation):
            await app.automation.host.arm(ArmKey("ema_cross", FUT, SYM))
        await app.automation.host.arm(ArmKey("ema_cross", FUT, SYM), confirmed=True)
    finally:
        await app.stop()


async def test_generic_webhook_order_with_risk_sizing_and_exits(sim, tmp_path: Path) -> None:  # noqa: F811
    app = App(config(sim, tmp_path))
    await app.start()
    results: list[IntentResult] = []
    app.bus.subscribe(IntentResult, results.append)
    try:
        mid = await live_price(app, FUT)
        stop = (mid * Decimal("0.98")).quantize(Decimal("0.01"))
        order = parse_generic(
            "tv",
            {"symbol": SYM, "side": "buy", "type": "market", "risk": "0.01", "stop": str(stop),
             "target": str((mid * Decimal("1.02")).quantize(Decimal("0.01"))), "id": "a1"},
            now_ms=None,
        )  # fmt: skip
        app.bus.publish(SignalAccepted(order.to_signal(int(time.time() * 1000)), "tv"))
        await app.automation.settle()
        (result,) = results
        assert result.outcome is IntentOutcome.PLACED, result.message
        assert result.origin == "webhook:tv"
        # 1 % of equity at risk to the stop: qty x |entry - stop| <= 1 % of the USDT balance.
        equity = app.engine.balances(FUT)["USDT"].total
        assert result.qty * (mid - stop) <= equity * Decimal("0.0101")
        await wait_for(lambda: app.oms.position(FUT, SYM) == result.qty, 10, "the position")
        (bracket,) = app.brackets.active()
        await wait_for(lambda: bracket.sl_id is not None, 10, "the stop")
    finally:
        await app.stop()


async def test_the_apps_loss_limit_halts_on_a_strategy_loss(sim, tmp_path: Path) -> None:  # noqa: F811
    """The App wires the PnL feed: a loss on a live position trips the daily loss limit."""
    from terminal.model import OrderType, Side, TradingState
    from terminal.trading.events import TradingStateChanged
    from terminal.trading.oms import OrderIntent
    from terminal.trading.risk import LossLimits, RiskLimits

    limits = RiskLimits(duplicate_window_s=0, loss=LossLimits(daily_loss_halt=Decimal("0.5")))
    cfg = external_demo(sim, tmp_path, (FUT,), ("BTCUSDT",), risk_limits=limits)
    app = App(cfg)
    await app.start()
    changes: list[TradingStateChanged] = []
    app.bus.subscribe(TradingStateChanged, changes.append)
    try:
        await wait_for(lambda: app.oms.risk.pnl.equity() > 0, 10, "equity anchored on the balances")
        qty = Decimal("0.01")
        await app.oms.submit(
            OrderIntent(FUT, "BTCUSDT", Side.BUY, OrderType.MARKET, qty, origin="strategy:t")
        )
        await wait_for(lambda: app.oms.position(FUT, "BTCUSDT") == qty, 10, "the fill")
        market = sim.exchange.markets[FUT]
        market.mm_take("BTCUSDT", Side.SELL, market.instruments["BTCUSDT"].lots(Decimal(40)))
        await wait_for(lambda: app.oms.risk.state is TradingState.HALTED, 10, "the loss limit")
        assert changes and changes[-1].state is TradingState.HALTED
    finally:
        await app.stop()
