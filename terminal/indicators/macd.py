"""MACD: fast EMA - slow EMA, its signal EMA, and the histogram."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from terminal.indicators.moving import ema


class Macd(NamedTuple):
    line: np.ndarray
    signal: np.ndarray
    hist: np.ndarray


def macd(close: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9) -> Macd:
    """The line is NaN for the first ``slow - 1`` bars, signal/hist for ``slow + signal - 2``."""
    if not 1 <= fast < slow or signal < 1:
        raise ValueError(f"need 1 <= fast < slow and signal >= 1, got {fast}/{slow}/{signal}")
    x = np.asarray(close, dtype=np.float64)
    line = ema(x, fast) - ema(x, slow)
    sig = np.full(len(x), np.nan)
    start = slow - 1
    if len(x) > start:
        sig[start:] = ema(line[start:], signal)
    return Macd(line, sig, line - sig)
