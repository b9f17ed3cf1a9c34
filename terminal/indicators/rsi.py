"""Relative strength index with Wilder's smoothing (alpha = 1 / period)."""

from __future__ import annotations

import numpy as np

from terminal.indicators.moving import smooth


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """RSI in [0, 100]; NaN for the first ``period`` bars (it needs ``period`` changes).

    The first average gain/loss is the mean of the first ``period`` changes, then Wilder's
    recursion. No movement at all reads 50; only gains read 100.
    """
    if period < 1:
        raise ValueError(f"period must be >= 1, got {period}")
    x = np.asarray(close, dtype=np.float64)
    out = np.full(len(x), np.nan)
    if len(x) <= period:
        return out
    delta = np.diff(x)
    gain = smooth(np.maximum(delta, 0.0), 1.0 / period, period)[period - 1 :]
    loss = smooth(np.maximum(-delta, 0.0), 1.0 / period, period)[period - 1 :]
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(total > 0, 100.0 * gain / total, 50.0)
    out[period:] = value
    return out
