"""Older candle history on demand: what a chart asks for when the user scrolls past its first bar.

The engine's ``CandleSeries`` keeps the recent, live-merged window (bounded, oldest dropped
first), so older pages do not go into it: they are fetched here through the venue adapter the
engine already uses and handed to the caller, which keeps them. Bars strictly older than
``before_ms`` are returned, oldest first, all closed (a past period cannot still be forming).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from terminal.model import Candle, Venue

if TYPE_CHECKING:
    from terminal.engine.engine import Engine

__all__ = ["HistoryUnavailable", "fetch_older"]


class HistoryUnavailable(RuntimeError):
    """No adapter for the venue: older history cannot be loaded."""


async def fetch_older(
    engine: Engine, venue: Venue, symbol: str, interval: str, before_ms: int, limit: int = 1000
) -> list[Candle]:
    """Up to ``limit`` bars that opened before ``before_ms`` (empty: the venue has no older bars)."""
    adapter = engine.adapters.get(venue)
    if adapter is None:
        raise HistoryUnavailable(f"no {venue} adapter to load older {symbol} {interval} bars")
    bars = await adapter.fetch_candles(symbol, interval, end_ms=before_ms - 1, limit=limit)
    older = sorted((b for b in bars if b.open_time < before_ms), key=lambda b: b.open_time)
    return [b if b.closed else dataclasses.replace(b, closed=True) for b in older]
