"""Run a registered strategy over candle data: the fast path when it can, else the event loop.

The bar grid fills are evaluated on is the strategy's lowest timeframe (finer data is resampled
to it; higher timeframes are resampled from it, closed bars only). The fast path runs when
there is one symbol, one timeframe and ``target_positions`` returns an array (no stops, no
schedule); ``fast=False`` forces the event loop (the tests run both and compare).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import is_dataclass
from typing import Any

import numpy as np

from terminal.backtest.config import BacktestConfig
from terminal.backtest.context import BacktestContext, StaticState
from terminal.backtest.data import Bars, DataError, resample
from terminal.backtest.engine import EventLoop
from terminal.backtest.fast import simulate_targets
from terminal.backtest.metrics import compute_metrics
from terminal.backtest.result import BacktestResult
from terminal.strategies import registry
from terminal.strategies._common import timeframe_ms
from terminal.strategies.base import Strategy

__all__ = ["BacktestError", "run_backtest"]


class BacktestError(ValueError):
    """The backtest cannot run as asked; the message says why."""


def run_backtest(
    strategy: str,
    params: Mapping[str, Any] | Any,
    data: Bars | Mapping[str, Bars],
    config: BacktestConfig | None = None,
    *,
    fast: bool = True,
) -> BacktestResult:
    """``params``: user values (strings/JSON, parsed and validated by the registry) or a ready
    ``Params`` instance; ``data``: the finest bars per symbol (one interval for all)."""
    cfg = config or BacktestConfig()
    parsed = params if is_dataclass(params) else registry.parse_params(strategy, params or {})
    cls = registry.get(strategy)
    by_symbol = {data.symbol: data} if isinstance(data, Bars) else dict(data)
    if not by_symbol:
        raise BacktestError("no candle data given")
    for sym, bars in by_symbol.items():
        if len(bars) == 0:
            raise BacktestError(f"{sym}: no bars in the chosen range")
    probe = cls(parsed, BacktestContext(cfg.venue, next(iter(by_symbol)), cfg.can_short, StaticState()))
    frames = probe.timeframes()
    if not frames and not probe.schedule():
        raise BacktestError(f"{strategy} reads neither candles nor a schedule: it needs signals to backtest")
    grid = frames[0] if frames else next(iter(by_symbol.values())).interval
    bars = {sym: _on_grid(b, grid) for sym, b in by_symbol.items()}
    bar_ms = timeframe_ms(grid)
    if fast and len(bars) == 1 and len(frames) == 1:
        only = next(iter(bars.values()))
        strat = cls(parsed, BacktestContext(cfg.venue, only.symbol, cfg.can_short, StaticState()))
        targets = strat.target_positions(only.arrays())
        if targets is not None:
            out = simulate_targets(only, targets, cfg)
            metrics = compute_metrics(
                out.equity, cfg.initial_cash, out.position, bar_ms, out.trades.closed_pnl()
            )
            return BacktestResult(
                strategy=strategy,
                params=registry.params_dict(parsed),
                symbols=(only.symbol,),
                interval=grid,
                config=cfg,
                time=only.time,
                equity=out.equity,
                exposure=np.abs(out.position) * only.close,
                trades=out.trades,
                fills=out.fills,
                fees=out.fees,
                funding=out.funding,
                metrics=metrics,
                fast_path=True,
            )
    loop = EventLoop(bars, cfg, cfg.venue)
    strategies: list[Strategy] = [
        cls(parsed, BacktestContext(cfg.venue, sym, cfg.can_short, loop)) for sym in bars
    ]
    res = loop.run(strategies)
    held = res.gross  # sign does not matter for exposure
    metrics = compute_metrics(res.equity, cfg.initial_cash, held, bar_ms, res.trades.closed_pnl())
    return BacktestResult(
        strategy=strategy,
        params=registry.params_dict(parsed),
        symbols=tuple(bars),
        interval=grid,
        config=cfg,
        time=res.time,
        equity=res.equity,
        exposure=res.gross,
        trades=res.trades,
        fills=res.fills,
        fees=res.fees,
        funding=res.funding,
        metrics=metrics,
        fast_path=False,
        rejected=res.rejected,
    )


def _on_grid(bars: Bars, grid: str) -> Bars:
    if bars.interval == grid:
        return bars
    if timeframe_ms(bars.interval) > timeframe_ms(grid):
        raise BacktestError(
            f"{bars.symbol}: data is {bars.interval} bars, the strategy needs {grid} or finer"
        )
    try:
        return resample(bars, grid)
    except DataError as exc:
        raise BacktestError(str(exc)) from None
