"""``StrategyContext`` over the live engine: what an armed strategy may read."""

from __future__ import annotations

import time
from decimal import Decimal

import numpy as np

from terminal.automation.ledger import StrategyLedger
from terminal.engine.engine import Engine
from terminal.model import InstrumentKind, Venue

__all__ = ["LiveContext", "clamp_to_account", "market_price"]

ZERO = Decimal(0)
_OHLCV = ("open", "high", "low", "close", "volume")


def clamp_to_account(own: Decimal, account: Decimal) -> Decimal:
    """A strategy cannot hold more than the account does, nor the other way round: the user or
    the kill switch may have closed part of it. Same sign, at most the account's size."""
    if own == 0 or account == 0 or (own > 0) != (account > 0):
        return ZERO
    return own if abs(own) <= abs(account) else account


def market_price(engine: Engine, venue: Venue, symbol: str) -> Decimal | None:
    """The mid of an in-sync book, else the last trade of the 24 h ticker, else None."""
    top = engine.top_of_book(venue, symbol)
    if top is not None and top.live and top.bid is not None and top.ask is not None:
        return (top.bid + top.ask) / 2
    ticker = engine.ticker(venue, symbol)
    return ticker.last if ticker is not None else None


class LiveContext:
    def __init__(
        self, venue: Venue, symbol: str, origin: str, engine: Engine, ledger: StrategyLedger, oms: object
    ) -> None:
        self.venue = venue
        self.symbol = symbol
        self._origin = origin
        self._engine = engine
        self._ledger = ledger
        self._oms = oms

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def last_price(self, symbol: str) -> Decimal | None:
        return market_price(self._engine, self.venue, symbol)

    def position(self, symbol: str) -> Decimal:
        own = self._ledger.position(self._origin, self.venue, symbol)
        account = self._oms.position(self.venue, symbol)  # type: ignore[attr-defined]
        return clamp_to_account(own, account)

    def candles(self, symbol: str, interval: str) -> dict[str, np.ndarray]:
        """``CandleSource``: the engine's closed bars of any tracked symbol as arrays."""
        bars = [b for b in self._engine.candle_bars(self.venue, symbol, interval) if b.closed]
        out = {k: np.fromiter((getattr(b, k) for b in bars), np.float64, len(bars)) for k in _OHLCV}
        out["time"] = np.fromiter((b.open_time for b in bars), np.int64, len(bars))
        return out

    def can_short(self, symbol: str) -> bool:
        adapter = self._oms.adapters.get(self.venue)  # type: ignore[attr-defined]
        inst = adapter.instruments.get(symbol) if adapter is not None else None
        return inst is not None and inst.kind is not InstrumentKind.SPOT
