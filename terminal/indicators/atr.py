"""True range and Wilder's average true range."""

from __future__ import annotations

import numpy as np

from terminal.indicators.moving import smooth


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """max(high - low, |high - previous close|, |low - previous close|); the first bar has no
    previous close, so its true range is just high - low (Wilder, StockCharts)."""
    h = np.asarray(high, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64)
    c = np.asarray(close, dtype=np.float64)
    if not len(h) == len(lo) == len(c):
        raise ValueError(f"high/low/close lengths differ: {len(h)}/{len(lo)}/{len(c)}")
    tr = h - lo
    if len(tr) > 1:
        prev = c[:-1]
        tr[1:] = np.maximum(tr[1:], np.maximum(np.abs(h[1:] - prev), np.abs(lo[1:] - prev)))
    return tr


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's ATR (alpha = 1 / period) seeded with the mean of the first ``period`` true
    ranges; NaN for the first ``period - 1`` bars."""
    if period < 1:
        raise ValueError(f"period must be >= 1, got {period}")
    return smooth(true_range(high, low, close), 1.0 / period, period)
