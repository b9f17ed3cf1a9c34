"""Parameter sweeps in a process pool give the same metrics as single runs, in order."""

from __future__ import annotations

import pytest

from terminal.backtest import BacktestConfig, run_backtest
from terminal.backtest.sweep import grid, sweep
from tests.backtest.support import walk


def test_sweep_matches_single_runs() -> None:
    data = walk(2_000)
    cfg = BacktestConfig(initial_cash=10_000)
    sets = grid({"timeframe": ["1m"], "fast": [5, 12, 40], "slow": [26, 30]})
    assert len(sets) == 6 and sets[0] == {"timeframe": "1m", "fast": 5, "slow": 26}
    results = sweep("ema_cross", sets, data, cfg, workers=2)
    assert [r.params for r in results] == sets
    bad = [r for r in results if r.error]
    assert [r.params["fast"] for r in bad] == [40, 40] and "fast must be below slow" in (bad[0].error or "")
    for r in results:
        if r.error is None:
            single = run_backtest("ema_cross", r.params, data, cfg).metrics
            assert r.metrics == single
    assert sweep("ema_cross", [], data, cfg) == []


def test_grid_order() -> None:
    assert grid({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    with pytest.raises(TypeError):
        grid({"a": 1})  # type: ignore[dict-item]
