"""Bollinger bands: SMA +/- k population standard deviations over the same window."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from terminal.indicators.moving import sma


class Bands(NamedTuple):
    mid: np.ndarray
    upper: np.ndarray
    lower: np.ndarray


def bollinger(values: np.ndarray, period: int = 20, k: float = 2.0) -> Bands:
    x = np.asarray(values, dtype=np.float64)
    mid = sma(x, period)
    std = np.full(len(x), np.nan)
    if len(x) >= period:
        # Windowed std (not sums of squares: those cancel catastrophically at price scale).
        std[period - 1 :] = sliding_window_view(x, period).std(axis=1)
    return Bands(mid, mid + k * std, mid - k * std)
