"""The real strategy classes through both paths; multi-timeframe and multi-symbol delivery."""

from __future__ import annotations

import numpy as np
import pytest

from terminal.backtest import BacktestConfig, BacktestError, resample, run_backtest
from terminal.model import InstrumentKind, Side, Venue
from tests.backtest.support import MIN, bars, intent, run_script, walk

PERP = BacktestConfig(initial_cash=100_000, taker_fee_bps=7, slippage_bps=3, funding_rate=0.0003)
SPOT = BacktestConfig(
    initial_cash=100_000, kind=InstrumentKind.SPOT, venue=Venue.BINANCE_SPOT, slippage_bps=3
)


@pytest.mark.parametrize("config", [PERP, SPOT], ids=["perp", "spot"])
@pytest.mark.parametrize("name", ["ema_cross", "macd_cross", "rsi_sma"])
def test_fast_path_equals_event_loop(name: str, config: BacktestConfig) -> None:
    data = walk(6_000)
    params = {"timeframe": "1m"}
    fast = run_backtest(name, params, data, config)
    slow = run_backtest(name, params, data, config, fast=False)
    assert (fast.fast_path, slow.fast_path) == (True, False)
    assert len(fast.trades) == len(slow.trades) > 3
    np.testing.assert_allclose(fast.equity, slow.equity, rtol=1e-12)
    np.testing.assert_allclose(fast.trades.pnl, slow.trades.pnl, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(fast.trades.entry_time, slow.trades.entry_time)
    assert fast.funding == pytest.approx(slow.funding, abs=1e-9)
    assert fast.fees == pytest.approx(slow.fees, rel=1e-12)
    assert fast.metrics.trades == slow.metrics.trades
    assert fast.metrics.sharpe == pytest.approx(slow.metrics.sharpe, rel=1e-6)
    if config is SPOT:
        assert (fast.trades.sign > 0).all()
    for r in (fast, slow):  # every unit of P&L is in some trade
        assert r.equity[-1] == pytest.approx(config.initial_cash + r.trades.pnl.sum(), rel=1e-12)


def test_ema_cross_fast_path_positions_follow_the_crosses() -> None:
    data = walk(3_000, seed=3)
    r = run_backtest("ema_cross", {"timeframe": "1m", "fast": 5, "slow": 20}, data, PERP)
    from terminal.indicators import ema

    diff = ema(data.close, 5) - ema(data.close, 20)
    sign = np.sign(np.nan_to_num(diff))
    # every trade enters at the open after a bar whose close had that sign
    entries = np.searchsorted(data.time, r.trades.entry_time)
    assert (sign[entries - 1] == r.trades.sign).all()


def test_stop_strategy_runs_the_event_loop() -> None:
    data = walk(4_000, seed=5, vol=0.004)
    r = run_backtest("ema_cross", {"timeframe": "1m", "stop_pct": "0.5"}, data, PERP)
    assert not r.fast_path
    reasons = {t.exit_reason.value for t in r.trades.records()}
    assert "stop" in reasons
    assert r.equity[-1] == pytest.approx(PERP.initial_cash + r.trades.pnl.sum(), rel=1e-12)


def test_smc_two_timeframes_on_resampled_data() -> None:
    data = walk(3 * 1440, seed=11, vol=0.003)
    r = run_backtest("smc", {"ltf": "5m", "htf": "1h"}, data, PERP)
    assert not r.fast_path and r.interval == "5m"
    assert len(r.equity) == len(data) // 5
    assert r.equity[-1] == pytest.approx(PERP.initial_cash + r.trades.pnl.sum(), rel=1e-12)


def test_htf_bars_arrive_closed_and_before_the_ltf_bar_closing_with_them() -> None:
    data = walk(12)
    _, strats = run_script(data, {}, BacktestConfig(), frames=("1m", "5m"))
    seen = strats[data.symbol].seen
    htf = [c for c in seen if c.interval == "5m"]
    assert [c.open_time for c in htf] == [0, 5 * MIN]  # the 10..11 period never closed
    assert htf[0].high == pytest.approx(data.high[:5].max())
    assert htf[0].close == data.close[4]
    k = seen.index(htf[0])
    assert seen[k + 1].interval == "1m" and seen[k + 1].close_time == htf[0].close_time
    assert all(now >= c.close_time for c, now in zip(seen, strats[data.symbol].now_at_candle, strict=True))
    # the CandleSource offers exactly the closed bars so far
    assert strats[data.symbol].history_len[:5] == [1, 2, 3, 4, 5, 5][:5]


def test_many_symbols_share_one_account() -> None:
    cfg = BacktestConfig(initial_cash=1_000, taker_fee_bps=0)
    a = bars([(100, 100, 100, 100)] * 2 + [(110, 110, 110, 110)] * 2, symbol="AAA")
    b = bars([(50, 50, 50, 50)] * 3, symbol="BBB", t0=MIN)  # starts a bar later
    out, strats = run_script(
        {"AAA": a, "BBB": b},
        {"AAA": {0: [intent(Side.BUY, symbol="AAA")]}, "BBB": {0: [intent(Side.SELL, symbol="BBB")]}},
        cfg,
    )
    assert out.time.tolist() == [0, MIN, 2 * MIN, 3 * MIN]
    # AAA long from bar 1 (100), BBB short from its bar 1 (time 2 min, 50)
    assert out.equity.tolist() == [1_000, 1_000, 1_010, 1_010]
    assert out.gross[-1] == 110 + 50
    assert len(strats["BBB"].seen) == 3


def test_bad_inputs_are_refused_with_reasons() -> None:
    data = walk(100)
    with pytest.raises(BacktestError, match="15m or finer"):
        run_backtest("ema_cross", {"timeframe": "15m"}, resample(walk(240), "1h"), PERP)
    with pytest.raises(ValueError, match="fast must be below slow"):
        run_backtest("ema_cross", {"fast": "30", "slow": "20"}, data, PERP)
    with pytest.raises(ValueError, match="unknown strategy"):
        run_backtest("nope", {}, data, PERP)
    with pytest.raises(BacktestError, match="no bars"):
        run_backtest("ema_cross", {}, data.take(slice(0, 0)), PERP)
