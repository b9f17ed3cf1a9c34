"""The event loop's fill rules on constructed bars, every number computed by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from terminal.backtest import BacktestConfig, ExitReason
from terminal.model import InstrumentKind, Side, Venue
from terminal.strategies.base import EntryKind, IntentAction
from tests.backtest.support import MIN, bars, intent, run_script

D = Decimal
CASH = 1_000.0
CFG = BacktestConfig(initial_cash=CASH, taker_fee_bps=10, maker_fee_bps=2, slippage_bps=5, funding_rate=0.0)
TAKER, MAKER, SLIP = 0.001, 0.0002, 0.0005


def test_market_entry_next_open_and_stop_first_when_bar_hits_both() -> None:
    data = bars(
        [
            (100, 101, 99, 100),
            (100, 102, 99, 101),
            (102, 104, 101, 103),
            (103, 111, 94, 105),
            (105, 106, 104, 105),
        ]
    )
    out, _ = run_script(data, {1: [intent(Side.BUY, price=D(101), stop=D(95), target=D(110))]}, CFG)
    entry = 102 * (1 + SLIP)  # bar 2's open, slippage against the buy
    exit_ = 95 * (1 - SLIP)  # bar 3 reaches 111 > target and 94 < stop: the stop counts
    fees = entry * TAKER + exit_ * TAKER
    [t] = out.trades.records()
    assert (t.side, t.exit_reason, t.entry_time, t.exit_time) == (Side.BUY, ExitReason.STOP, 2 * MIN, 3 * MIN)
    assert t.entry_price == pytest.approx(entry, rel=1e-12)
    assert t.exit_price == pytest.approx(exit_, rel=1e-12)
    assert t.pnl == pytest.approx(exit_ - entry - fees, rel=1e-12)
    assert out.equity[1] == CASH  # decided at bar 1's close: nothing filled yet
    assert out.equity[2] == pytest.approx(CASH - entry - entry * TAKER + 103, rel=1e-12)
    assert out.equity[-1] == pytest.approx(CASH + t.pnl, rel=1e-12)
    assert out.fills == 2


def test_gap_through_stop_fills_at_open_and_target_needs_trade_through() -> None:
    gap = bars([(100, 100, 100, 100), (100, 101, 99, 100), (90, 91, 89, 90)])
    out, _ = run_script(gap, {0: [intent(Side.BUY, stop=D(95))]}, CFG)
    [t] = out.trades.records()
    assert t.exit_reason is ExitReason.STOP
    assert t.exit_price == pytest.approx(90 * (1 - SLIP))  # opened past the stop: the open, not 95

    touch = bars([(100, 100, 100, 100), (100, 105, 99, 104), (104, 105.5, 103, 105)])
    out, _ = run_script(touch, {0: [intent(Side.BUY, stop=D(90), target=D(105))]}, CFG)
    [t] = out.trades.records()
    assert t.exit_reason is ExitReason.TARGET and t.exit_time == 2 * MIN  # bar 1 only touched 105
    assert t.exit_price == 105
    entry = 100 * (1 + SLIP)
    assert t.fees == pytest.approx(entry * TAKER + 105 * MAKER)


def test_short_stop_and_target_mirror() -> None:
    data = bars([(100, 100, 100, 100), (100, 101, 96, 97), (97, 98, 93.9, 95)])
    out, _ = run_script(data, {0: [intent(Side.SELL, stop=D(103), target=D(94))]}, CFG)
    [t] = out.trades.records()
    entry = 100 * (1 - SLIP)
    assert (t.side, t.exit_reason, t.exit_price) == (Side.SELL, ExitReason.TARGET, 94)
    assert t.pnl == pytest.approx(entry - 94 - entry * TAKER - 94 * MAKER)


def test_limit_entry_fills_only_when_traded_through() -> None:
    data = bars([(100, 100, 100, 100), (100, 101, 98, 99), (99, 100, 97.5, 99), (99, 99, 99, 99)])
    out, _ = run_script(data, {0: [intent(Side.BUY, entry=EntryKind.LIMIT, price=D(98))]}, CFG)
    [t] = out.trades.records()
    assert t.exit_reason is ExitReason.OPEN  # still held at the end
    assert (t.entry_time, t.entry_price) == (2 * MIN, 98)  # bar 1 touched 98, bar 2 went through
    assert t.fees == pytest.approx(98 * MAKER)
    assert out.equity[-1] == pytest.approx(CASH - 98 - 98 * MAKER + 99)

    gapped = bars([(100, 100, 100, 100), (97, 99, 96, 98)])
    out, _ = run_script(gapped, {0: [intent(Side.BUY, entry=EntryKind.LIMIT, price=D(98))]}, CFG)
    assert out.trades.records()[0].entry_price == 97  # opened below the limit: the better open


def test_limit_entry_brackets_start_on_the_next_bar() -> None:
    # bar 1 goes through the limit AND the stop; the path inside the bar is unknown, so the stop
    # is first checked on bar 2 (which does not reach it).
    data = bars([(100, 100, 100, 100), (100, 100, 94, 99), (99, 100, 98, 99)])
    limit = intent(Side.BUY, entry=EntryKind.LIMIT, price=D(98), stop=D(95))
    out, _ = run_script(data, {0: [limit]}, CFG)
    assert out.trades.records()[0].exit_reason is ExitReason.OPEN


def test_close_intent_reversal_and_same_side_hold() -> None:
    data = bars([(100, 100, 100, 100)] + [(100 + k, 101 + k, 99 + k, 100 + k) for k in range(1, 6)])
    script = {
        0: [intent(Side.BUY)],
        1: [intent(Side.BUY)],  # already long: ignored
        2: [intent(Side.SELL)],  # reversal at bar 3's open
        3: [intent(Side.BUY, action=IntentAction.CLOSE)],  # flat at bar 4's open
    }
    out, _ = run_script(data, script, CFG)
    long_, short = out.trades.records()
    assert (long_.entry_price, long_.exit_price) == (
        pytest.approx(101 * (1 + SLIP)),
        pytest.approx(103 * (1 - SLIP)),
    )
    assert (short.side, short.entry_price, short.exit_price) == (
        Side.SELL,
        long_.exit_price,
        pytest.approx(104 * (1 + SLIP)),
    )
    assert out.fills == 4  # open, close + open, close
    assert out.equity[-1] == pytest.approx(CASH + long_.pnl + short.pnl)


def test_time_exit_and_trailing_stop() -> None:
    data = bars([(100, 100, 100, 100), (100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 99, 100)])
    out, _ = run_script(data, {0: [intent(Side.BUY, time_exit_ms=3 * MIN)]}, CFG)
    [t] = out.trades.records()
    assert (t.exit_reason, t.exit_time, t.exit_price) == (
        ExitReason.TIME,
        3 * MIN,
        pytest.approx(100 * (1 - SLIP)),
    )

    trail = bars([(100, 100, 100, 100), (100, 110, 100, 109), (109, 109, 104, 105)])
    out, _ = run_script(trail, {0: [intent(Side.BUY, trailing=D("0.05"))]}, CFG)
    [t] = out.trades.records()
    # after bar 1 the stop trails to 110 * 0.95 = 104.5; bar 2 reaches 104
    assert t.exit_reason is ExitReason.STOP
    assert t.exit_price == pytest.approx(104.5 * (1 - SLIP))


def test_funding_paid_on_the_position_held_into_each_funding_time() -> None:
    hour = 60 * MIN
    cfg = BacktestConfig(initial_cash=CASH, taker_fee_bps=0, maker_fee_bps=0, funding_rate=0.001)
    data = bars(
        [(100, 100, 100, 100), (100, 100, 100, 100), (120, 120, 120, 120), (120, 120, 120, 120)],
        interval="1h",
        t0=6 * hour,
    )
    out, _ = run_script(data, {0: [intent(Side.BUY)]}, cfg, frames=("1h",))
    [t] = out.trades.records()
    assert t.funding == pytest.approx(120 * 0.001)  # long into 08:00 UTC, at that bar's open
    assert out.funding == pytest.approx(120 * 0.001)
    assert out.equity[-1] == pytest.approx(CASH + 20 - 0.12)

    short, _ = run_script(data, {0: [intent(Side.SELL)]}, cfg, frames=("1h",))
    assert short.funding == pytest.approx(-0.12)  # shorts receive a positive rate


def test_spot_rejects_shorts_and_size_hints_are_used() -> None:
    from terminal.strategies.base import SizeHint

    cfg = BacktestConfig(
        initial_cash=CASH, kind=InstrumentKind.SPOT, venue=Venue.BINANCE_SPOT, taker_fee_bps=0
    )
    data = bars([(100, 100, 100, 100), (100, 100, 100, 100), (100, 100, 100, 100)])
    out, _ = run_script(data, {0: [intent(Side.SELL)]}, cfg)
    assert (out.rejected, len(out.trades)) == (1, 0)
    out, _ = run_script(data, {0: [intent(Side.BUY, size=SizeHint(quote=D(250)))]}, cfg)
    assert out.trades.records()[0].qty == pytest.approx(2.5)
