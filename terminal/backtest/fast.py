"""The fast path: simulate a target-position path (-1, 0, +1 per bar) over plain arrays.

Same fill rules as the event loop for what a target strategy can do (market orders only):
the target decided at bar i's close is reached at bar i+1's open (plus slippage against the
order), the commission (taker) is charged on the traded notional, funding is paid on the
position held into each funding time, and equity is marked at every close. Fully vectorised:
a million bars take a few tens of milliseconds.

A reversal is one order of twice the size here (the event loop fills it as a close and an
open at the same price: the same cash, fees and trades).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from terminal.backtest.config import BacktestConfig
from terminal.backtest.data import Bars
from terminal.backtest.result import ExitReason, TradeTable, reason_code

__all__ = ["SimOutput", "funding_counts", "simulate_targets"]


@dataclass(frozen=True, slots=True)
class SimOutput:
    equity: np.ndarray
    position: np.ndarray  # signed base qty held at each close
    trades: TradeTable
    fills: int
    fees: float
    funding: float


def funding_counts(time: np.ndarray, interval_ms: int) -> np.ndarray:
    """Funding times in (time[i-1], time[i]] for each bar i (0 for the first bar): a bar
    opening exactly on a funding time pays it with the position held into that open."""
    counts = np.zeros(len(time), dtype=np.int64)
    if len(time) > 1:
        counts[1:] = time[1:] // interval_ms - time[:-1] // interval_ms
    return counts


def simulate_targets(bars: Bars, targets: np.ndarray, config: BacktestConfig) -> SimOutput:
    n = len(bars)
    t = np.asarray(targets)
    if t.shape != (n,):
        raise ValueError(f"targets have shape {t.shape}, bars {n}")
    if n and not bool(np.isin(t, (-1, 0, 1)).all()):
        raise ValueError("targets must be -1, 0 or +1")
    if not config.can_short and bool((t < 0).any()):
        raise ValueError("a short target on a spot market")
    q = config.qty
    pos = np.zeros(n, dtype=np.float64)
    if n > 1:
        pos[1:] = t[:-1] * q  # decided at the close, held from the next open
    prev = np.concatenate(([0.0], pos[:-1]))
    dq = pos - prev
    idx = np.flatnonzero(dq)
    side = np.sign(dq[idx])
    price = bars.open[idx] * (1.0 + config.slippage * side)
    fee = np.abs(dq[idx]) * price * config.taker
    flow = np.zeros(n, dtype=np.float64)
    flow[idx] = -(dq[idx] * price) - fee
    fund = np.zeros(n, dtype=np.float64)
    if config.funded:
        counts = funding_counts(bars.time, config.funding_interval_ms)
        fund = prev * bars.open * config.funding_rate * counts
        flow -= fund
    cash = config.initial_cash + np.cumsum(flow)
    equity = cash + pos * bars.close
    trades = _trades(bars, pos, prev, idx, price, config, np.cumsum(fund))
    return SimOutput(equity, pos, trades, len(idx), float(fee.sum()), float(fund.sum()))


def _trades(
    bars: Bars,
    pos: np.ndarray,
    prev: np.ndarray,
    idx: np.ndarray,
    price: np.ndarray,
    config: BacktestConfig,
    cum_fund: np.ndarray,
) -> TradeTable:
    """Round trips from the fills: each fill to a non-zero position opens one, each fill from
    a non-zero position closes the previous one (a reversal does both)."""
    opens = pos[idx] != 0
    closes = prev[idx] != 0
    e_at, x_at = idx[opens], idx[closes]
    e_px, x_px = price[opens], price[closes]
    k = len(e_at)
    closed = len(x_at)
    exit_at = np.empty(k, dtype=np.int64)
    exit_px = np.empty(k, dtype=np.float64)
    exit_at[:closed] = x_at
    exit_px[:closed] = x_px
    reason = np.full(k, reason_code(ExitReason.SIGNAL), dtype=np.int8)
    if k > closed:  # the last one is still open: marked at the last close
        exit_at[closed:] = len(bars) - 1
        exit_px[closed:] = bars.close[-1]
        reason[closed:] = reason_code(ExitReason.OPEN)
    sign = np.sign(pos[e_at]).astype(np.int8)
    qty = np.abs(pos[e_at])
    exit_fee_px = exit_px.copy()
    exit_fee_px[closed:] = 0.0  # no exit fill yet
    fees = qty * config.taker * (e_px + exit_fee_px)
    funding = cum_fund[exit_at] - cum_fund[e_at]
    pnl = sign * qty * (exit_px - e_px) - fees - funding
    return TradeTable(
        symbol=np.full(k, bars.symbol, dtype=object),
        sign=sign,
        qty=qty,
        entry_time=bars.time[e_at],
        entry_price=e_px,
        exit_time=bars.time[exit_at],
        exit_price=exit_px,
        fees=fees,
        funding=funding,
        pnl=pnl,
        reason=reason,
    )
