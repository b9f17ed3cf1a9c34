"""Backtesting: the same strategy classes as live, over candle arrays, with a documented fill
model (``engine``), a vectorised fast path for target strategies (``fast``), metrics, and
parameter sweeps over all cores."""

from terminal.backtest.config import BacktestConfig
from terminal.backtest.data import Bars, DataError, fetch_bars, load_csv, parse_time, resample
from terminal.backtest.metrics import Metrics, compute_metrics
from terminal.backtest.result import BacktestResult, ExitReason, Trade, TradeTable
from terminal.backtest.runner import BacktestError, run_backtest

__all__ = [
    "BacktestConfig",
    "BacktestError",
    "BacktestResult",
    "Bars",
    "DataError",
    "ExitReason",
    "Metrics",
    "Trade",
    "TradeTable",
    "compute_metrics",
    "fetch_bars",
    "load_csv",
    "parse_time",
    "resample",
    "run_backtest",
]
