"""RSI with an SMA trend filter: buy oversold dips in an uptrend, exit when overbought.

Per bar, at the close, from the current target p (checked in this order):
  1. long and RSI > overbought            -> flat
  2. short and RSI < oversold             -> flat
  3. flat and RSI < oversold and close > SMA -> long
     flat and RSI > overbought and close < SMA and shorting allowed -> short
So an exit and the opposite entry can happen on one bar (a reversal). Bars where RSI or the SMA
is still warming up never enter (exits need only RSI).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from terminal.indicators import rsi, sma
from terminal.indicators.incremental import Rsi, Sma
from terminal.model import Candle
from terminal.strategies._common import check_timeframe
from terminal.strategies._target import TargetStrategy, clamp_shorts
from terminal.strategies.base import InputKind, ParamError, StrategyContext, param


@dataclass(frozen=True, slots=True)
class RsiSmaParams:
    timeframe: str = param("1h", "Candle interval it trades")
    rsi_period: int = param(14, "RSI period (Wilder)", minimum=1, maximum=1000)
    oversold: float = param(30.0, "Buy below this RSI", minimum=0.0, maximum=100.0)
    overbought: float = param(70.0, "Exit (or short) above this RSI", minimum=0.0, maximum=100.0)
    sma_period: int = param(200, "Trend filter: long only above this SMA", minimum=1, maximum=5000)
    allow_short: bool = param(False, "Also short overbought rallies below the SMA (derivatives only)")
    stop_pct: float = param(
        0.0, "Protective stop distance in % of entry (0 = none)", minimum=0.0, maximum=50.0
    )

    def __post_init__(self) -> None:
        check_timeframe("timeframe", self.timeframe)
        if self.oversold >= self.overbought:
            raise ParamError(
                f"oversold must be below overbought, got oversold={self.oversold} overbought={self.overbought}"
            )


def _step(p: int, r: float, close: float, avg: float, os_: float, ob: float, shorts: bool) -> int:
    """One bar of the rule above (NaN compares False, so warm-up bars never enter)."""
    if (p == 1 and r > ob) or (p == -1 and r < os_):
        p = 0
    if p == 0:
        if r < os_ and close > avg:
            p = 1
        elif shorts and r > ob and close < avg:
            p = -1
    return p


class RsiSma(TargetStrategy):
    name = "rsi_sma"
    title = "RSI + SMA trend filter"
    doc = (
        "Buys when RSI drops below the oversold level while the close is above the SMA (uptrend); "
        "exits when RSI rises above the overbought level. Optionally (derivatives) shorts RSI above "
        "overbought below the SMA and covers below oversold."
    )
    inputs = frozenset({InputKind.CANDLES})
    Params = RsiSmaParams
    params: RsiSmaParams

    def __init__(self, params: RsiSmaParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self._rsi = Rsi(params.rsi_period)
        self._sma = Sma(params.sma_period)

    def warmup_bars(self) -> int:
        return max(self.params.rsi_period + 1, self.params.sma_period)

    def decide(self, candle: Candle) -> tuple[int, str]:
        p = self.params
        r = self._rsi.update(candle.close)
        avg = self._sma.update(candle.close)
        new = _step(self.target, r, candle.close, avg, p.oversold, p.overbought, self.shorts_allowed())
        if math.isnan(r):
            return new, "warming up"
        return new, f"RSI{p.rsi_period} {r:.2f}, close {candle.close:.8g} vs SMA{p.sma_period} {avg:.8g}"

    def targets(self, bars: dict[str, np.ndarray]) -> np.ndarray:
        p = self.params
        close = np.asarray(bars["close"], dtype=np.float64)
        r = rsi(close, p.rsi_period)
        avg = sma(close, p.sma_period)
        shorts = self.shorts_allowed()
        # The state only changes on bars where RSI is beyond a level: step through those
        # alone (a small share of bars) and hold the state in between.
        events = np.flatnonzero((r < p.oversold) | (r > p.overbought))
        out = np.zeros(len(close), dtype=np.int8)
        if len(events) == 0:
            return out
        states = np.empty(len(events), dtype=np.int8)
        state = 0
        rl, cl, al = r[events].tolist(), close[events].tolist(), avg[events].tolist()
        for k in range(len(events)):
            state = _step(state, rl[k], cl[k], al[k], p.oversold, p.overbought, shorts)
            states[k] = state
        # hold each event's state until the next event
        seg = np.searchsorted(events, np.arange(len(close)), side="right") - 1
        have = seg >= 0
        out[have] = states[seg[have]]
        return clamp_shorts(out, shorts)
