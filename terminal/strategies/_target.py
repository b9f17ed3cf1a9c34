"""Candle strategies whose whole decision is a target position per bar (-1 short, 0 flat,
+1 long), decided at the bar's close.

``on_candle`` steps incremental indicators (live); ``targets`` computes the same targets over
whole arrays (backtest fast path). Intents are emitted only when the target changes: a CLOSE of
the old position, then an OPEN of the new one (a reversal is the two, in that order).

The target is the strategy's own view, not the account's position: if the host refuses an
entry (risk), the strategy still "thinks" long and its next exit is a CLOSE the host ignores.
A host priming a strategy with history through ``on_candle`` drops the intents it returns
(their ``at_ms`` is the historic bar's close) and may read ``target`` to know the current view.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from terminal.model import Candle, Side
from terminal.strategies._common import dec, pct_away
from terminal.strategies.base import EntryKind, Intent, IntentAction, Strategy, StrategyContext


class TargetStrategy(Strategy):
    """Params must have ``timeframe: str``, ``allow_short: bool`` and ``stop_pct: float``."""

    def __init__(self, params: Any, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self.target = 0
        self._last_open: int | None = None

    def timeframes(self) -> tuple[str, ...]:
        return (self.params.timeframe,)

    def shorts_allowed(self) -> bool:
        return bool(self.params.allow_short) and self.ctx.can_short(self.ctx.symbol)

    @abstractmethod
    def decide(self, candle: Candle) -> tuple[int, str]:
        """Step the indicators with this closed bar; the new target and why."""

    @abstractmethod
    def targets(self, bars: dict[str, np.ndarray]) -> np.ndarray:
        """The targets ``decide`` would give bar by bar, over whole arrays (int8)."""

    def target_positions(self, bars: dict[str, np.ndarray]) -> np.ndarray | None:
        # With a stop the position also depends on intrabar exits the targets don't model:
        # the backtester must then run on_candle and its bracket fill model instead.
        if self.params.stop_pct > 0:
            return None
        return self.targets(bars)

    def on_candle(self, candle: Candle) -> Sequence[Intent]:
        if not candle.closed or candle.symbol != self.ctx.symbol or candle.interval != self.params.timeframe:
            return ()
        if self._last_open is not None and candle.open_time <= self._last_open:
            return ()  # a bar seen already (replay after a reconnect): decided once
        self._last_open = candle.open_time
        new, reason = self.decide(candle)
        return self._move_to(new, candle, reason)

    def _move_to(self, new: int, candle: Candle, reason: str) -> list[Intent]:
        old, self.target = self.target, new
        if new == old:
            return []
        price = dec(candle.close)
        common = {"strategy": self.name, "symbol": self.ctx.symbol, "reason": reason}
        out: list[Intent] = []
        if old != 0:
            side = Side.SELL if old > 0 else Side.BUY
            out.append(
                Intent(side=side, action=IntentAction.CLOSE, price=price, at_ms=candle.close_time, **common)
            )
        if new != 0:
            side = Side.BUY if new > 0 else Side.SELL
            stop = None
            if self.params.stop_pct > 0:
                stop = pct_away(price, side.sign, self.params.stop_pct)
            out.append(
                Intent(
                    side=side,
                    entry=EntryKind.MARKET,
                    price=price,
                    stop=stop,
                    at_ms=candle.close_time,
                    **common,
                )
            )
        return out


def clamp_shorts(targets: np.ndarray, shorts: bool) -> np.ndarray:
    """Without shorting a bearish view is flat."""
    if not shorts:
        targets = np.where(targets < 0, 0, targets)
    return targets.astype(np.int8)
