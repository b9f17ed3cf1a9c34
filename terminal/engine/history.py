"""Older candle history on demand: what a chart asks for when the user scrolls past its first bar.

The engine's ``CandleSeries`` keeps the recent, live-merged window (bounded, oldest dropped
first), so older pages do not go into it: they are served here and handed to the caller, which
keeps them. Bars strictly older than ``before_ms`` are returned, oldest first, all closed (a
past period cannot still be forming).

With a local ``HistoryStore`` (``Engine.history_store``) a page comes from the store when it
holds the bars right before ``before_ms`` without a hole; what it lacks is fetched from the
venue and written through, so the next scroll-back, or a later offline session, is served
locally. The store is per data dir, and the App's data dir is per mode, so testnet and live
bars never share a store. Demo mode has no store: the simulator generates a new synthetic
price path on every start, so bars stored by an earlier run would not match this run's.
A failing store (locked, damaged) costs a WARNING and a venue request, never the chart.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from terminal.model import Candle, Venue
from terminal.storage.history import HistoryError, HistoryStore, storable
from terminal.strategies._common import timeframe_ms

if TYPE_CHECKING:
    from terminal.engine.engine import Engine

__all__ = ["CHART_STORE_TIMEOUT_S", "HistoryUnavailable", "fetch_older", "open_chart_store"]

log = logging.getLogger(__name__)

# How long a write-through waits for another writer (a CLI download) before giving up: it runs
# on the UI loop, and a skipped write only means that page is fetched again next time.
CHART_STORE_TIMEOUT_S = 0.25


class HistoryUnavailable(RuntimeError):
    """No adapter for the venue: older history cannot be loaded."""


def open_chart_store(data_dir: str | Path) -> HistoryStore | None:
    """The data dir's candle store for the chart, or None (with a WARNING) if it cannot be
    opened: the chart then pages from the venue only, as without a store."""
    try:
        return HistoryStore.open_in(data_dir, timeout_s=CHART_STORE_TIMEOUT_S)
    except HistoryError as exc:
        log.warning("candle store unavailable, older history comes from the venue only: %s", exc)
        return None


async def fetch_older(
    engine: Engine,
    venue: Venue,
    symbol: str,
    interval: str,
    before_ms: int,
    limit: int = 1000,
    store: HistoryStore | None = None,
) -> list[Candle]:
    """Up to ``limit`` bars that opened before ``before_ms`` (empty: the venue has no older bars).

    ``store`` defaults to ``engine.history_store``. Stored bars are used only as the run that
    ends exactly one bar before ``before_ms``; the rest of the page comes from the venue, older
    than that run, so the page never has a hole or a duplicate.
    """
    store = store if store is not None else engine.history_store
    if store is None or not storable(interval):
        return _as_closed(await _venue_page(engine, venue, symbol, interval, before_ms, limit))
    stored = _stored_run(store, venue, symbol, interval, before_ms, limit)
    if len(stored) >= limit:
        return stored
    end = stored[0].open_time if stored else before_ms
    try:
        fetched = await _venue_page(engine, venue, symbol, interval, end, limit - len(stored))
    except Exception as exc:
        if not stored:
            raise
        # what the store has still joins the chart without a hole; the next page will ask again
        log.warning(
            "older %s %s %s bars: venue failed (%s), served %d stored",
            venue,
            symbol,
            interval,
            exc,
            len(stored),
        )
        return stored
    try:
        store.write(b for b in fetched if b.closed)  # the venue's own closed flag: never a forming bar
    except HistoryError as exc:
        log.warning("older %s %s %s bars not stored: %s", venue, symbol, interval, exc)
    return _as_closed(fetched) + stored


async def _venue_page(
    engine: Engine, venue: Venue, symbol: str, interval: str, before_ms: int, limit: int
) -> list[Candle]:
    adapter = engine.adapters.get(venue)
    if adapter is None:
        raise HistoryUnavailable(f"no {venue} adapter to load older {symbol} {interval} bars")
    bars = await adapter.fetch_candles(symbol, interval, end_ms=before_ms - 1, limit=limit)
    return sorted((b for b in bars if b.open_time < before_ms), key=lambda b: b.open_time)


def _stored_run(
    store: HistoryStore, venue: Venue, symbol: str, interval: str, before_ms: int, limit: int
) -> list[Candle]:
    """The stored bars ``before_ms - k*step`` for k = 1, 2, ... (at most ``limit``), oldest first;
    empty when the bar right before ``before_ms`` is not stored, or the store fails."""
    step = timeframe_ms(interval)
    try:
        rows = store.candles(venue, symbol, interval, before_ms - limit * step, before_ms)
    except HistoryError as exc:
        log.warning(
            "older %s %s %s bars: store unreadable, asking the venue: %s", venue, symbol, interval, exc
        )
        return []
    run = 0
    for bar in reversed(rows):  # walk back from the chart's first bar while there is no hole
        if bar.open_time != before_ms - (run + 1) * step:
            break
        run += 1
    return rows[len(rows) - run :]


def _as_closed(bars: Sequence[Candle]) -> list[Candle]:
    return [b if b.closed else dataclasses.replace(b, closed=True) for b in bars]
