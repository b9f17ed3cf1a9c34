"""Parameter sweeps over all cores: one backtest per parameter set in a process pool.

The candle data goes to each worker once (the pool initializer), not with every task: a
million-bar history pickled per task would cost more than the backtest.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from terminal.backtest.config import BacktestConfig
from terminal.backtest.data import Bars
from terminal.backtest.metrics import Metrics
from terminal.backtest.runner import run_backtest

__all__ = ["SweepResult", "grid", "sweep"]


@dataclass(frozen=True, slots=True)
class SweepResult:
    params: dict[str, Any]  # as given
    metrics: Metrics | None
    error: str | None = None  # a parameter set the strategy refuses (e.g. fast >= slow)


def grid(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the axes' values, in order."""
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(axes[n] for n in names))]


_DATA: dict[str, Bars] = {}
_CONFIG = BacktestConfig()
_STRATEGY = ""


def _init(strategy: str, data: dict[str, Bars], config: BacktestConfig) -> None:
    global _STRATEGY, _DATA, _CONFIG
    _STRATEGY, _DATA, _CONFIG = strategy, data, config


def _one(params: dict[str, Any]) -> SweepResult:
    try:
        result = run_backtest(_STRATEGY, params, _DATA, _CONFIG)
    except ValueError as exc:  # ParamError / BacktestError: report it, keep sweeping
        return SweepResult(params, None, str(exc))
    return SweepResult(params, result.metrics)


def sweep(
    strategy: str,
    param_sets: Sequence[Mapping[str, Any]],
    data: Bars | Mapping[str, Bars],
    config: BacktestConfig | None = None,
    *,
    workers: int | None = None,
) -> list[SweepResult]:
    """Metrics for each parameter set, in the order given; ``workers`` defaults to all cores."""
    by_symbol = {data.symbol: data} if isinstance(data, Bars) else dict(data)
    cfg = config or BacktestConfig()
    sets = [dict(p) for p in param_sets]
    if not sets:
        return []
    n = max(1, min(workers or os.cpu_count() or 1, len(sets)))
    with ProcessPoolExecutor(max_workers=n, initializer=_init, initargs=(strategy, by_symbol, cfg)) as pool:
        return list(pool.map(_one, sets, chunksize=max(1, len(sets) // (4 * n))))
