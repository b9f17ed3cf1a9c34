"""The strategy context on the backtester's arrays (``StrategyContext`` + ``CandleSource``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

import numpy as np

from terminal.model import Venue

__all__ = ["BacktestContext", "MarketState", "StaticState"]


class MarketState(Protocol):
    """What the context reads from the simulation at the current step."""

    def now(self) -> int: ...

    def price(self, symbol: str) -> float | None: ...

    def qty(self, symbol: str) -> float: ...

    def history(self, symbol: str, interval: str) -> dict[str, np.ndarray]: ...


class BacktestContext:
    def __init__(self, venue: Venue, symbol: str, shorts: bool, state: MarketState) -> None:
        self.venue = venue
        self.symbol = symbol
        self._shorts = shorts
        self._state = state

    def now_ms(self) -> int:
        return self._state.now()

    def last_price(self, symbol: str) -> Decimal | None:
        p = self._state.price(symbol)
        return None if p is None else Decimal(repr(p))

    def position(self, symbol: str) -> Decimal:
        return Decimal(repr(self._state.qty(symbol)))

    def can_short(self, symbol: str) -> bool:
        return self._shorts

    def candles(self, symbol: str, interval: str) -> dict[str, np.ndarray]:
        """Closed bars up to now (views of the arrays: no copy per call)."""
        return self._state.history(symbol, interval)


_EMPTY = {k: np.empty(0) for k in ("open", "high", "low", "close", "volume")} | {
    "time": np.empty(0, np.int64)
}


class StaticState:
    """Before the first bar (the fast path builds its strategy on this): flat, no prices."""

    def now(self) -> int:
        return 0

    def price(self, symbol: str) -> float | None:
        return None

    def qty(self, symbol: str) -> float:
        return 0.0

    def history(self, symbol: str, interval: str) -> dict[str, np.ndarray]:
        return dict(_EMPTY)
