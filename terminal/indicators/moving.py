"""Simple and exponential moving averages."""

from __future__ import annotations

import numpy as np

from terminal.indicators._recursive import recursive_filter


def _check(values: np.ndarray, period: int) -> np.ndarray:
    if period < 1:
        raise ValueError(f"period must be >= 1, got {period}")
    return np.asarray(values, dtype=np.float64)


def sma(values: np.ndarray, period: int) -> np.ndarray:
    """Mean of the last ``period`` values; NaN for the first ``period - 1``."""
    x = _check(values, period)
    out = np.full(len(x), np.nan)
    if len(x) < period:
        return out
    # Cumulative sums of the deviation from the first value: prices ~1e5 summed over 1e6 bars
    # would otherwise lose the low digits.
    base = x[0]
    c = np.concatenate(([0.0], np.cumsum(x - base)))
    out[period - 1 :] = (c[period:] - c[:-period]) / period + base
    return out


def ema(values: np.ndarray, period: int) -> np.ndarray:
    """EMA with ``alpha = 2 / (period + 1)``, seeded with the SMA of the first ``period`` values
    (the usual TA-Lib convention); NaN for the first ``period - 1``."""
    x = _check(values, period)
    return smooth(x, 2.0 / (period + 1), period)


def smooth(x: np.ndarray, alpha: float, period: int) -> np.ndarray:
    """Recursive smoothing seeded with the mean of the first ``period`` values."""
    out = np.full(len(x), np.nan)
    if len(x) < period:
        return out
    seed = float(np.mean(x[:period]))
    out[period - 1] = seed
    # Filter the deviation from the seed, not the raw values: a flat input then stays exactly
    # flat (two EMAs of a flat market tie exactly, which crossover rules depend on) and no
    # price-scale digits are spent on the level.
    out[period:] = recursive_filter(x[period:] - seed, alpha, 0.0) + seed
    return out
