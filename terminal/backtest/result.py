"""A backtest's outcome: the equity curve, the trade list (columnar, so a million-bar run does
not build objects it may never show) and the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from terminal.backtest.config import BacktestConfig
from terminal.backtest.metrics import Metrics
from terminal.model import Side

__all__ = ["BacktestResult", "ExitReason", "Trade", "TradeTable"]


class ExitReason(StrEnum):
    SIGNAL = "signal"  # the strategy closed or reversed it
    STOP = "stop"
    TARGET = "target"
    TIME = "time"  # the intent's time_exit_ms
    OPEN = "open"  # still open at the end: marked at the last close, not closed


_REASONS = tuple(ExitReason)


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip. ``pnl`` is net of both fills' fees and the funding paid while open."""

    symbol: str
    side: Side  # BUY = long
    qty: float
    entry_time: int  # ms, the fill bar's open time (or the bar of a limit fill)
    entry_price: float
    exit_time: int
    exit_price: float
    fees: float
    funding: float  # paid (+) or received (-)
    pnl: float
    exit_reason: ExitReason

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "side": self.side.value,
            "qty": self.qty,
            "entry_time": self.entry_time,
            "entry_price": self.entry_price,
            "exit_time": self.exit_time,
            "exit_price": self.exit_price,
            "fees": self.fees,
            "funding": self.funding,
            "pnl": self.pnl,
            "exit_reason": self.exit_reason.value,
        }


@dataclass(frozen=True, slots=True)
class TradeTable:
    """Round trips as parallel arrays, in entry order; ``reason`` indexes ``ExitReason``."""

    symbol: np.ndarray  # object (str)
    sign: np.ndarray  # int8: +1 long, -1 short
    qty: np.ndarray
    entry_time: np.ndarray  # int64
    entry_price: np.ndarray
    exit_time: np.ndarray  # int64
    exit_price: np.ndarray
    fees: np.ndarray
    funding: np.ndarray
    pnl: np.ndarray
    reason: np.ndarray  # int8

    def __len__(self) -> int:
        return len(self.pnl)

    @property
    def closed(self) -> np.ndarray:
        return self.reason != _REASONS.index(ExitReason.OPEN)

    def closed_pnl(self) -> np.ndarray:
        return self.pnl[self.closed]

    def records(self) -> list[Trade]:
        cols = (
            self.symbol.tolist(),
            self.sign.tolist(),
            self.qty.tolist(),
            self.entry_time.tolist(),
            self.entry_price.tolist(),
            self.exit_time.tolist(),
            self.exit_price.tolist(),
            self.fees.tolist(),
            self.funding.tolist(),
            self.pnl.tolist(),
            self.reason.tolist(),
        )
        return [
            Trade(s, Side.BUY if g > 0 else Side.SELL, q, et, ep, xt, xp, f, fu, p, _REASONS[r])
            for s, g, q, et, ep, xt, xp, f, fu, p, r in zip(*cols, strict=True)
        ]

    @classmethod
    def from_records(cls, trades: list[Trade]) -> TradeTable:
        def col(name: str, dtype: Any) -> np.ndarray:
            return np.array([getattr(t, name) for t in trades], dtype=dtype)

        return cls(
            symbol=col("symbol", object),
            sign=np.array([t.side.sign for t in trades], dtype=np.int8),
            qty=col("qty", np.float64),
            entry_time=col("entry_time", np.int64),
            entry_price=col("entry_price", np.float64),
            exit_time=col("exit_time", np.int64),
            exit_price=col("exit_price", np.float64),
            fees=col("fees", np.float64),
            funding=col("funding", np.float64),
            pnl=col("pnl", np.float64),
            reason=np.array([_REASONS.index(t.exit_reason) for t in trades], dtype=np.int8),
        )


def reason_code(reason: ExitReason) -> int:
    return _REASONS.index(reason)


@dataclass(frozen=True, slots=True)
class BacktestResult:
    strategy: str
    params: dict[str, Any]
    symbols: tuple[str, ...]
    interval: str  # the bar grid fills and equity were evaluated on
    config: BacktestConfig
    time: np.ndarray  # int64 open time of each bar of the grid
    equity: np.ndarray  # at each bar's close
    exposure: np.ndarray  # gross position notional at each close (0 when flat)
    trades: TradeTable
    fills: int  # orders filled (a reversal on the fast path is one order)
    fees: float
    funding: float
    metrics: Metrics
    fast_path: bool  # True: target_positions + the array simulation; False: the event loop
    rejected: int = 0  # intents the backtester could not act on (a short on spot, no price yet)

    def drawdown(self) -> np.ndarray:
        """Fraction below the running peak at each close (the plot under the equity curve)."""
        peak = np.maximum.accumulate(np.concatenate(([self.config.initial_cash], self.equity)))[1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(peak > 0, 1.0 - self.equity / peak, 0.0)

    def to_json(self, *, trades: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "strategy": self.strategy,
            "params": self.params,
            "symbols": list(self.symbols),
            "interval": self.interval,
            "fast_path": self.fast_path,
            "fills": self.fills,
            "fees": self.fees,
            "funding": self.funding,
            "rejected": self.rejected,
            "open_trades": int(np.count_nonzero(~self.trades.closed)),
            "metrics": self.metrics.to_json(),
        }
        if trades:
            out["trades"] = [t.to_json() for t in self.trades.records()]
        return out
