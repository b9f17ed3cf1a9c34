"""Metrics against a plain, loop-by-loop computation on constructed data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from terminal.backtest import BacktestConfig, compute_metrics, run_backtest
from terminal.backtest.metrics import YEAR_MS, max_drawdown
from terminal.model import Side
from terminal.strategies.base import IntentAction
from tests.backtest.support import MIN, bars, intent, run_script

DAY = 86_400_000


def _plain(
    equity: list[float], initial: float, bar_ms: int, pnl: list[float], pos: list[float]
) -> dict[str, float]:
    """The definitions, written out without numpy."""
    prev = [initial, *equity[:-1]]
    r = [e / p - 1 for e, p in zip(equity, prev, strict=True)]
    n = len(r)
    mean = sum(r) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in r) / (n - 1))
    down = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / n)
    per_year = YEAR_MS / bar_ms
    years = n * bar_ms / YEAR_MS
    cagr = (equity[-1] / initial) ** (1 / years) - 1
    peak, worst, run, longest = initial, 0.0, 0, 0
    for e in equity:
        if e >= peak:
            peak, run = e, 0
        else:
            run += 1
        worst = max(worst, 1 - e / peak)
        longest = max(longest, run)
    wins = [p for p in pnl if p > 0]
    losses = [p for p in pnl if p < 0]
    return {
        "total_return": equity[-1] / initial - 1,
        "cagr": cagr,
        "sharpe": mean / sd * math.sqrt(per_year),
        "sortino": mean / down * math.sqrt(per_year),
        "max_drawdown": worst,
        "max_drawdown_bars": longest,
        "calmar": cagr / worst,
        "win_rate": len(wins) / len(pnl),
        "profit_factor": sum(wins) / -sum(losses),
        "expectancy": sum(pnl) / len(pnl),
        "exposure": sum(1 for p in pos if p != 0) / len(pos),
    }


def test_metrics_match_the_plain_definitions() -> None:
    equity = [100.0, 104.0, 102.0, 99.0, 101.0, 108.0, 107.0, 103.0, 109.0, 111.0]
    pnl = [4.0, -5.0, 9.0, -4.0, 8.0]
    pos = [0, 1, 1, 0, -1, -1, 0, 1, 1, 0]
    m = compute_metrics(np.array(equity), 100.0, np.array(pos), DAY, np.array(pnl))
    want = _plain(equity, 100.0, DAY, pnl, pos)
    for key, value in want.items():
        assert getattr(m, key) == pytest.approx(value, rel=1e-12), key
    # and by hand for the ones with exact values
    assert m.max_drawdown == pytest.approx(1 - 99 / 104)
    assert m.max_drawdown_bars == 3  # 102, 99, 101 below the 104 peak (108 recovers it)
    assert m.max_drawdown_ms == 3 * DAY
    assert (
        m.win_rate == 0.6 and m.profit_factor == pytest.approx(21 / 9) and m.expectancy == pytest.approx(2.4)
    )
    assert m.trades == 5 and m.exposure == 0.6


def test_edge_cases() -> None:
    flat = compute_metrics(np.full(5, 100.0), 100.0, np.zeros(5), DAY, np.array([]))
    assert (flat.sharpe, flat.sortino, flat.max_drawdown, flat.calmar, flat.profit_factor) == (0, 0, 0, 0, 0)
    only_wins = compute_metrics(np.array([100.0, 101.0]), 100.0, np.ones(2), DAY, np.array([1.0]))
    assert only_wins.profit_factor == math.inf and only_wins.to_json()["profit_factor"] is None
    never_recovers = max_drawdown(np.array([90.0, 95.0, 80.0]), 100.0)
    assert never_recovers.depth == pytest.approx(0.2) and never_recovers.duration_bars == 3
    bust = compute_metrics(np.array([50.0, -10.0]), 100.0, np.ones(2), DAY, np.array([-110.0]))
    assert bust.cagr == -1.0


def test_backtest_metrics_on_known_trades() -> None:
    """Two round trips whose P&L is known exactly: +10 and -5 (no fees)."""
    cfg = BacktestConfig(initial_cash=1_000, taker_fee_bps=0, maker_fee_bps=0)
    data = bars(
        [
            (100, 100, 100, 100),
            (100, 100, 100, 100),
            (105, 105, 105, 105),
            (110, 110, 110, 110),
            (110, 110, 110, 110),
            (115, 115, 115, 115),
            (110, 110, 110, 110),
        ]
    )
    script = {
        0: [intent(Side.BUY)],  # long at bar 1's open, 100
        2: [intent(Side.SELL, action=IntentAction.CLOSE)],  # out at 110
        3: [intent(Side.SELL)],  # short at bar 4's open, 110
        4: [intent(Side.BUY, action=IntentAction.CLOSE)],
    }
    out, _ = run_script(data, script, cfg)
    assert out.trades.pnl.tolist() == [10.0, -5.0]
    m = compute_metrics(out.equity, 1_000, out.gross, MIN, out.trades.closed_pnl())
    assert out.equity.tolist() == [1000, 1000, 1005, 1010, 1010, 1005, 1005]
    assert (m.trades, m.win_rate, m.profit_factor, m.expectancy) == (2, 0.5, 2.0, 2.5)
    assert m.max_drawdown == pytest.approx(5 / 1010) and m.max_drawdown_bars == 2
    assert m.exposure == pytest.approx(3 / 7)  # held at the closes of bars 1, 2 and 4
    assert m.total_return == pytest.approx(0.005)
    via_runner = run_backtest("ema_cross", {"timeframe": "1m", "fast": 2, "slow": 3}, data, cfg)
    assert via_runner.metrics.bars == 7
