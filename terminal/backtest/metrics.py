"""Performance metrics from an equity curve and a trade list (pure numpy).

Definitions (``r`` = per-bar simple returns of equity, the first against the initial capital):

* total return = final / initial - 1; CAGR = (final / initial) ** (1 / years) - 1 with years =
  bars x bar length / 365.25 days (-1 if equity ends at or below zero);
* Sharpe = mean(r) / std(r, ddof=1) x sqrt(bars per year); Sortino = mean(r) / sqrt(mean(min(r,
  0)^2)) x sqrt(bars per year) (risk-free rate 0; 0 when the deviation is 0);
* max drawdown = max over bars of 1 - equity / running peak (the peak starts at the initial
  capital); its duration = the longest run of bars spent below a previous peak (to recovery, or
  to the end if never recovered), in bars and ms;
* Calmar = CAGR / max drawdown (0 without a drawdown);
* win rate = winning / closed trades; profit factor = gross profit / gross loss (inf without
  losses, 0 without trades); expectancy = mean net P&L per closed trade;
* exposure = share of bars ending with a non-zero position.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["YEAR_MS", "Drawdown", "Metrics", "compute_metrics", "max_drawdown"]

YEAR_MS = 365.25 * 86_400_000


@dataclass(frozen=True, slots=True)
class Drawdown:
    depth: float  # fraction of the peak, 0..1 (more if equity went negative)
    duration_bars: int


@dataclass(frozen=True, slots=True)
class Metrics:
    initial_equity: float
    final_equity: float
    total_return: float
    cagr: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_bars: int
    max_drawdown_ms: int
    win_rate: float
    profit_factor: float
    expectancy: float
    exposure: float
    trades: int  # closed round trips
    bars: int

    def to_json(self) -> dict[str, Any]:
        """JSON-able: non-finite values (a profit factor without losses) become None."""
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()
        }


def max_drawdown(equity: np.ndarray, initial: float) -> Drawdown:
    eq = np.concatenate(([initial], np.asarray(equity, dtype=np.float64)))
    peak = np.maximum.accumulate(eq)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peak > 0, 1.0 - eq / peak, 0.0)
    depth = float(dd.max()) if len(dd) else 0.0
    under = eq < peak
    longest = 0
    if under.any():
        # lengths of runs of True: distance between run starts and ends
        padded = np.concatenate(([False], under, [False])).astype(np.int8)
        edges = np.diff(padded)
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        longest = int((ends - starts).max())
    return Drawdown(max(depth, 0.0), longest)


def compute_metrics(
    equity: np.ndarray,
    initial: float,
    position: np.ndarray,
    bar_ms: int,
    trade_pnl: np.ndarray,
) -> Metrics:
    """``equity`` at each bar's close; ``position`` held at each close (any unit; sign only
    matters); ``trade_pnl`` the net P&L of each closed trade."""
    eq = np.asarray(equity, dtype=np.float64)
    pnl = np.asarray(trade_pnl, dtype=np.float64)
    n = len(eq)
    final = float(eq[-1]) if n else initial
    total = final / initial - 1.0
    years = n * bar_ms / YEAR_MS
    if final <= 0:
        cagr = -1.0
    elif years > 0:
        cagr = (final / initial) ** (1.0 / years) - 1.0
    else:
        cagr = 0.0
    per_year = YEAR_MS / bar_ms
    prev = np.concatenate(([initial], eq[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(prev != 0, eq / prev - 1.0, 0.0)
    sharpe = sortino = 0.0
    if n >= 2:
        sd = float(np.std(r, ddof=1))
        if sd > 0:
            sharpe = float(np.mean(r)) / sd * math.sqrt(per_year)
        down = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
        if down > 0:
            sortino = float(np.mean(r)) / down * math.sqrt(per_year)
    dd = max_drawdown(eq, initial)
    calmar = cagr / dd.depth if dd.depth > 0 else 0.0
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    count = len(pnl)
    gross_loss = float(-losses.sum())
    if count == 0:
        pf = 0.0
    elif gross_loss == 0:
        pf = math.inf
    else:
        pf = float(wins.sum()) / gross_loss
    return Metrics(
        initial_equity=initial,
        final_equity=final,
        total_return=total,
        cagr=cagr,
        sharpe=sharpe,
        sortino=sortino,
        calmar=calmar,
        max_drawdown=dd.depth,
        max_drawdown_bars=dd.duration_bars,
        max_drawdown_ms=dd.duration_bars * bar_ms,
        win_rate=len(wins) / count if count else 0.0,
        profit_factor=pf,
        expectancy=float(pnl.mean()) if count else 0.0,
        exposure=float(np.count_nonzero(np.asarray(position))) / n if n else 0.0,
        trades=count,
        bars=n,
    )
