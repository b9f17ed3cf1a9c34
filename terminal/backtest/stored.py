"""Backtest bars from the local candle store (``terminal history download``, the chart's pages).

Shared by the backtest dock and ``terminal backtest --store``: a range the store does not
cover fails with the missing span and the exact download command; holes inside the range
(a venue outage has no bars either) are run over and reported.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise

from terminal.backtest.data import Bars
from terminal.model import Venue
from terminal.storage.history import HistoryError, HistoryStore, Span, history_dir
from terminal.strategies._common import timeframe_ms
from terminal.venues.base import Network

__all__ = ["StoredBars", "stored_bars"]


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _store_option(store: HistoryStore) -> str:
    """How ``terminal history download`` names this store: a network's default, or its dir."""
    for network in (Network.LIVE, Network.TESTNET):
        try:
            if store.path.parent.resolve() == history_dir(network).resolve():
                return f"--network {network.value}"
        except (HistoryError, OSError):
            continue
    return f"--data-dir {shlex.quote(str(store.path.parent))}"


@dataclass(frozen=True, slots=True)
class StoredBars:
    bars: Bars
    holes: tuple[Span, ...]  # missing inside the range: run over, and named to the user


def stored_bars(
    store: HistoryStore,
    venue: Venue,
    symbol: str,
    interval: str,
    start_ms: int | None,
    end_ms: int,
    now_ms: int,
) -> StoredBars:
    """The stored closed bars opening in ``[start_ms, end_ms)`` (``start_ms`` None: from the first
    stored one). A range reaching before the first or after the last stored bar raises a
    ValueError naming the missing span and the download command; ``end_ms`` is first capped at
    the forming bar, which is never stored."""
    step = timeframe_ms(interval)
    end = min(end_ms, now_ms // step * step)
    what = f"{symbol} {interval} bars of {venue.value}"
    covered = store.coverage(venue, symbol, interval, start_ms, end)  # HistoryError: a ValueError
    if not covered:
        span = f"{_utc(start_ms)} → {_utc(end)}" if start_ms is not None else f"before {_utc(end)}"
        hint = _download_hint(store, venue, symbol, interval, start_ms, end)
        raise ValueError(f"the local store has no {what} {span} (UTC); {hint}")
    missing: list[Span] = []
    if start_ms is not None and covered[0].start_ms - start_ms >= step:
        missing.append(Span(start_ms, covered[0].start_ms))
    if end - covered[-1].end_ms >= step:
        missing.append(Span(covered[-1].end_ms, end))
    if missing:
        spans = ", ".join(f"{_utc(m.start_ms)} → {_utc(m.end_ms)}" for m in missing)
        hint = _download_hint(store, venue, symbol, interval, missing[0].start_ms, missing[-1].end_ms)
        raise ValueError(f"the local store lacks {what} for {spans} (UTC); {hint}")
    holes = tuple(Span(a.end_ms, b.start_ms) for a, b in pairwise(covered))
    return StoredBars(store.read(venue, symbol, interval, start_ms, end), holes)


def _download_hint(
    store: HistoryStore, venue: Venue, symbol: str, interval: str, start_ms: int | None, end_ms: int
) -> str:
    def iso(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M")

    # the command is resumable and fetches only what the store lacks: the whole span is fine
    start = iso(start_ms) if start_ms is not None else "<start>"
    return (
        f"download them with: terminal history download --venue {venue.value} --symbol {symbol} "
        f"--interval {interval} --start {start} --end {iso(end_ms)} "
        f"{_store_option(store)}"
    )
