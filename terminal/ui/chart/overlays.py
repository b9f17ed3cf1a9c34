"""Indicator curves for the chart: EMA/SMA/Bollinger on the price pane, RSI and MACD sub-panes.

Values come from ``terminal.indicators`` over the store's closes. A live tick or a new bar
recomputes only a tail (``_TAIL`` bars plus a warm-up long enough that the seed no longer
matters: 20 periods of exponential smoothing leave < 1e-17 of it), so a chart holding a
million bars does not redo a million-bar EMA thirty times a second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from terminal.indicators import bollinger, ema, macd, rsi, sma

__all__ = ["Overlay", "OverlayParams", "Series", "compute"]

_WARM = 20  # warm-up periods before a recomputed tail is trusted


class Overlay(StrEnum):
    EMA = "EMA"
    SMA = "SMA"
    BOLL = "BB"
    RSI = "RSI"
    MACD = "MACD"


@dataclass(frozen=True, slots=True)
class OverlayParams:
    ema: int = 21
    sma: int = 50
    boll: int = 20
    boll_k: float = 2.0
    rsi: int = 14
    macd: tuple[int, int, int] = (12, 26, 9)

    def warmup(self, which: Overlay) -> int:
        return (
            _WARM
            * {
                Overlay.EMA: self.ema,
                Overlay.SMA: self.sma,
                Overlay.BOLL: self.boll,
                Overlay.RSI: self.rsi,
                Overlay.MACD: self.macd[1] + self.macd[2],
            }[which]
        )

    def series_fn(self, which: Overlay) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
        if which is Overlay.EMA:
            return lambda c: {"ema": ema(c, self.ema)}
        if which is Overlay.SMA:
            return lambda c: {"sma": sma(c, self.sma)}
        if which is Overlay.BOLL:
            return lambda c: dict(
                zip(("mid", "upper", "lower"), bollinger(c, self.boll, self.boll_k), strict=True)
            )
        if which is Overlay.RSI:
            return lambda c: {"rsi": rsi(c, self.rsi)}
        return lambda c: dict(zip(("line", "signal", "hist"), macd(c, *self.macd), strict=True))


Series = dict[str, np.ndarray]


def compute(
    which: Overlay, params: OverlayParams, close: np.ndarray, old: Series | None, changed_from: int
) -> Series:
    """Indicator arrays for ``close``; reuses ``old`` before ``changed_from`` when that is exact."""
    fn = params.series_fn(which)
    n = len(close)
    warm = params.warmup(which)
    start = changed_from - warm
    if old is None or start <= 0 or any(len(a) < changed_from for a in old.values()):
        return fn(close)
    tail = fn(close[start:])
    off = changed_from - start
    out: Series = {}
    for name, arr in tail.items():
        merged = np.empty(n)
        merged[:changed_from] = old[name][:changed_from]
        merged[changed_from:] = arr[off:]
        out[name] = merged
    return out
