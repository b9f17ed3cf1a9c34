"""Incremental indicators for live updates: one closed bar at a time, O(1) or O(period) each.

Each class mirrors a vectorised function of this package and gives the same values (to
rounding: within 1e-9 relative) on the same input, so a strategy primed over history with the
vectorised functions and one stepped live bar by bar decide alike. ``update`` returns the new
value, NaN while warming up, exactly where the vectorised function has NaN.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

__all__ = ["Atr", "Bollinger", "Ema", "Macd", "Rsi", "Sma", "Smooth"]

_NAN = math.nan


def _check_period(period: int) -> int:
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        raise ValueError(f"period must be an integer >= 1, got {period!r}")
    return period


class Smooth:
    """Recursive smoothing ``y = (1 - alpha) * y + alpha * x`` seeded with the mean of the first
    ``period`` inputs (EMA with alpha 2/(n+1), Wilder with 1/n) - ``moving.smooth`` live."""

    __slots__ = ("_alpha", "_count", "_dev", "_period", "_seed", "_sum", "value")

    def __init__(self, alpha: float, period: int) -> None:
        self._period = _check_period(period)
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be within (0, 1], got {alpha}")
        self._alpha = alpha
        self._count = 0
        self._sum = 0.0
        self._seed = 0.0
        self._dev = 0.0  # deviation from the seed, as the vectorised filter keeps it
        self.value = _NAN

    @property
    def ready(self) -> bool:
        return self._count >= self._period

    def update(self, x: float) -> float:
        self._count += 1
        if self._count < self._period:
            self._sum += x
            return _NAN
        if self._count == self._period:
            self._seed = (self._sum + x) / self._period
            self.value = self._seed
            return self.value
        a = self._alpha
        self._dev = (1.0 - a) * self._dev + a * (x - self._seed)
        self.value = self._dev + self._seed
        return self.value


class Ema(Smooth):
    """EMA with alpha = 2 / (period + 1), SMA-seeded: ``moving.ema``."""

    __slots__ = ()

    def __init__(self, period: int) -> None:
        super().__init__(2.0 / (_check_period(period) + 1), period)


class Sma:
    """Mean of the last ``period`` inputs: ``moving.sma``.

    A running sum of deviations from the first input (as the vectorised version sums), fully
    re-added every ``period`` updates so rounding cannot accumulate over a long live session.
    """

    __slots__ = ("_base", "_period", "_since_resync", "_sum", "_window", "value")

    def __init__(self, period: int) -> None:
        self._period = _check_period(period)
        self._window: deque[float] = deque(maxlen=period)
        self._base: float | None = None
        self._sum = 0.0
        self._since_resync = 0
        self.value = _NAN

    @property
    def ready(self) -> bool:
        return len(self._window) == self._period

    def update(self, x: float) -> float:
        if self._base is None:
            self._base = x
        dev = x - self._base
        if len(self._window) == self._period:
            self._sum -= self._window[0]
        self._window.append(dev)
        self._sum += dev
        self._since_resync += 1
        if self._since_resync >= self._period:
            self._sum = math.fsum(self._window)
            self._since_resync = 0
        if len(self._window) < self._period:
            return _NAN
        self.value = self._sum / self._period + self._base
        return self.value


class Rsi:
    """Wilder's RSI: ``rsi.rsi`` (NaN until ``period`` changes have been seen)."""

    __slots__ = ("_gain", "_loss", "_prev", "value")

    def __init__(self, period: int = 14) -> None:
        _check_period(period)
        self._gain = Smooth(1.0 / period, period)
        self._loss = Smooth(1.0 / period, period)
        self._prev: float | None = None
        self.value = _NAN

    @property
    def ready(self) -> bool:
        return self._gain.ready

    def update(self, close: float) -> float:
        prev, self._prev = self._prev, close
        if prev is None:
            return _NAN
        delta = close - prev
        g = self._gain.update(max(delta, 0.0))
        lo = self._loss.update(max(-delta, 0.0))
        if math.isnan(g):
            return _NAN
        total = g + lo
        self.value = 100.0 * g / total if total > 0 else 50.0
        return self.value


class Atr:
    """Wilder's average true range: ``atr.atr`` (first true range = high - low)."""

    __slots__ = ("_prev", "_smooth", "value")

    def __init__(self, period: int = 14) -> None:
        _check_period(period)
        self._smooth = Smooth(1.0 / period, period)
        self._prev: float | None = None
        self.value = _NAN

    @property
    def ready(self) -> bool:
        return self._smooth.ready

    def update(self, high: float, low: float, close: float) -> float:
        tr = high - low
        if self._prev is not None:
            tr = max(tr, abs(high - self._prev), abs(low - self._prev))
        self._prev = close
        self.value = self._smooth.update(tr)
        return self.value


class Macd:
    """MACD line, signal and histogram: ``macd.macd``. ``update`` returns the line; ``signal``
    and ``hist`` hold the latest values (NaN until ``slow + signal - 1`` inputs)."""

    __slots__ = ("_fast", "_signal", "_slow", "hist", "line", "signal")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        if not 1 <= fast < slow or signal < 1:
            raise ValueError(f"need 1 <= fast < slow and signal >= 1, got {fast}/{slow}/{signal}")
        self._fast = Ema(fast)
        self._slow = Ema(slow)
        self._signal = Ema(signal)
        self.line = _NAN
        self.signal = _NAN
        self.hist = _NAN

    @property
    def ready(self) -> bool:
        return self._signal.ready

    def update(self, close: float) -> float:
        f = self._fast.update(close)
        s = self._slow.update(close)
        self.line = f - s
        if not math.isnan(self.line):
            self.signal = self._signal.update(self.line)
            self.hist = self.line - self.signal
        return self.line


class Bollinger:
    """Bollinger bands: ``bollinger.bollinger`` (population standard deviation). ``update``
    returns the middle band; ``upper`` and ``lower`` hold the latest bands."""

    __slots__ = ("_k", "_mid", "_window", "lower", "upper")

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        self._mid = Sma(period)
        self._window: deque[float] = deque(maxlen=_check_period(period))
        self._k = k
        self.upper = _NAN
        self.lower = _NAN

    @property
    def ready(self) -> bool:
        return self._mid.ready

    @property
    def mid(self) -> float:
        return self._mid.value

    def update(self, x: float) -> float:
        self._window.append(x)
        mid = self._mid.update(x)
        if math.isnan(mid):
            return _NAN
        # Two-pass over the window (as numpy's std): sums of squares would cancel at price scale.
        std = float(np.asarray(self._window, dtype=np.float64).std())
        self.upper = mid + self._k * std
        self.lower = mid - self._k * std
        return mid
