"""EMA cross: long when the fast EMA is above the slow one, short (where allowed) when below.

The rules are issue 6's benchmark rules exactly: EMAs seeded with the SMA of their first N
closes; at each close the signal is the sign of fast - slow, a tie (fast == slow) keeps the
previous signal; the target is +1 / -1 (0 before both EMAs exist, and 0 instead of -1 where
the venue cannot short or ``allow_short`` is off).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from terminal.indicators import ema
from terminal.indicators.incremental import Ema
from terminal.model import Candle
from terminal.strategies._common import check_timeframe, ffill_nonzero
from terminal.strategies._target import TargetStrategy, clamp_shorts
from terminal.strategies.base import InputKind, ParamError, StrategyContext, param


@dataclass(frozen=True, slots=True)
class EmaCrossParams:
    timeframe: str = param("1h", "Candle interval it trades")
    fast: int = param(12, "Fast EMA period", minimum=1, maximum=1000)
    slow: int = param(26, "Slow EMA period (must exceed fast)", minimum=2, maximum=5000)
    allow_short: bool = param(True, "Go short on a bearish cross (derivatives only)")
    stop_pct: float = param(
        0.0, "Protective stop distance in % of entry (0 = none)", minimum=0.0, maximum=50.0
    )

    def __post_init__(self) -> None:
        check_timeframe("timeframe", self.timeframe)
        if self.fast >= self.slow:
            raise ParamError(f"fast must be below slow, got fast={self.fast} slow={self.slow}")


class EmaCross(TargetStrategy):
    name = "ema_cross"
    title = "EMA cross"
    doc = (
        "Long while the fast EMA is above the slow EMA, short while below (derivatives; flat on "
        "spot). EMAs are seeded with the SMA of their first N closes; a tie keeps the previous "
        "side. Reverses at the close of the crossing bar."
    )
    inputs = frozenset({InputKind.CANDLES})
    Params = EmaCrossParams
    params: EmaCrossParams

    def __init__(self, params: EmaCrossParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self._fast = Ema(params.fast)
        self._slow = Ema(params.slow)
        self._signal = 0  # last non-tie sign of fast - slow

    def warmup_bars(self) -> int:
        return self.params.slow

    def decide(self, candle: Candle) -> tuple[int, str]:
        f = self._fast.update(candle.close)
        s = self._slow.update(candle.close)
        if math.isnan(s):
            return 0, "warming up"
        if f > s:
            self._signal = 1
        elif f < s:
            self._signal = -1
        want = self._signal if self._signal > 0 or self.shorts_allowed() else 0
        p = self.params
        rel = ">" if f > s else "<" if f < s else "="
        return want, f"EMA{p.fast} {f:.8g} {rel} EMA{p.slow} {s:.8g}"

    def targets(self, bars: dict[str, np.ndarray]) -> np.ndarray:
        close = np.asarray(bars["close"], dtype=np.float64)
        diff = ema(close, self.params.fast) - ema(close, self.params.slow)
        sign = np.sign(np.nan_to_num(diff, nan=0.0)).astype(np.int8)
        return clamp_shorts(ffill_nonzero(sign), self.shorts_allowed())
