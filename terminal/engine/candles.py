"""Candle series per (venue, symbol, interval): REST backfill and live bars merged by open time.

Rules (why: a chart or an indicator that sees a bar "closed" must be able to trust its OHLC):

- Bars are keyed by ``open_time``: a live update and a backfilled bar for the same period are one
  bar, never two.
- A bar becomes closed only when the venue says so: a live ``CandleEvent`` with ``closed=True``,
  or a REST answer that has it as a past bar (closed, or followed by a later bar in that answer).
  Time passing or a stalled stream never closes a forming bar.
- A closed bar is never reopened by a late forming update (a re-delivered or reordered frame).
- ``merge_live`` reports when bars are missing before a live bar (a missed close, a dropped
  stream), so the owner backfills the gap through REST.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sortedcontainers import SortedDict

from terminal.model import Candle, Venue

__all__ = ["CandleKey", "CandleSeries", "LiveMerge", "interval_ms"]

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_INTERVAL = re.compile(r"(\d+)([smhdw])")


def interval_ms(interval: str) -> int | None:
    """Length of a fixed interval in ms ("1m" -> 60000); None for calendar intervals ("1M")."""
    m = _INTERVAL.fullmatch(interval)
    return int(m.group(1)) * _UNIT_MS[m.group(2)] if m else None


@dataclass(frozen=True, slots=True)
class CandleKey:
    venue: Venue
    symbol: str
    interval: str


@dataclass(frozen=True, slots=True)
class LiveMerge:
    """Outcome of one live update: was it taken, and is there a hole before it to backfill."""

    accepted: bool
    gap: bool = False


class CandleSeries:
    """Bars of one series, oldest first; bounded to ``max_bars`` (the oldest go first)."""

    def __init__(self, key: CandleKey, max_bars: int = 5000) -> None:
        self.key = key
        self.max_bars = max_bars
        self.step_ms = interval_ms(key.interval)
        self._bars: SortedDict = SortedDict()  # open_time -> Candle
        self.version = 0
        self.history_loaded = False  # the initial REST history arrived (else a backfill loads it)
        self._cache: tuple[int, tuple[Candle, ...]] = (-1, ())

    def __len__(self) -> int:
        return len(self._bars)

    # ------------------------------------------------------------------ writers
    def merge_live(self, candle: Candle) -> LiveMerge:
        bars = self._bars
        t = candle.open_time
        old = bars.get(t)
        if old is not None and old.closed and not candle.closed:
            return LiveMerge(False)  # a late forming update must not reopen a closed bar
        gap = self._gap_before(t) if old is None else False
        bars[t] = candle
        self._changed()
        return LiveMerge(True, gap)

    def merge_backfill(self, candles: Iterable[Candle]) -> int:
        """Merge a REST answer (any order); returns how many bars changed."""
        batch = sorted(candles, key=lambda c: c.open_time)
        bars = self._bars
        changed = 0
        for i, c in enumerate(batch):
            # A later bar in the same answer proves this period has ended.
            if not c.closed and i + 1 < len(batch) and batch[i + 1].open_time > c.open_time:
                c = dataclasses.replace(c, closed=True)
            old = bars.get(c.open_time)
            if old is not None and not c.closed and (old.closed or c.volume < old.volume):
                # never reopen; and a REST copy of the forming bar may be older than the live
                # one (volume only grows within a bar)
                continue
            if old == c:
                continue
            bars[c.open_time] = c
            changed += 1
        if changed:
            self._changed()
        return changed

    def _gap_before(self, open_time: int) -> bool:
        """True if the bar just before ``open_time`` is missing or never closed."""
        bars = self._bars
        i = bars.bisect_left(open_time)
        if i == 0:
            return False  # nothing older known: the initial backfill covers history
        prev = bars.peekitem(i - 1)[1]
        if not prev.closed:
            return True
        return self.step_ms is not None and open_time - prev.open_time > self.step_ms

    def _changed(self) -> None:
        while len(self._bars) > self.max_bars:
            self._bars.popitem(0)
        self.version += 1

    # ------------------------------------------------------------------ readers
    def bars(self) -> tuple[Candle, ...]:
        """Immutable snapshot, oldest first (cached per version: UI timers call it often)."""
        version, cached = self._cache
        if version != self.version:
            cached = tuple(self._bars.values())
            self._cache = (self.version, cached)
        return cached

    def last(self) -> Candle | None:
        return self._bars.peekitem(-1)[1] if self._bars else None

    def forming(self) -> Candle | None:
        last = self.last()
        return last if last is not None and not last.closed else None

    def last_closed(self) -> Candle | None:
        for t in reversed(self._bars):
            c = self._bars[t]
            if c.closed:
                return c
        return None

    def missing(self) -> list[int]:
        """Open times of bars missing between the first and the last bar (fixed intervals only)."""
        step = self.step_ms
        if step is None or len(self._bars) < 2:
            return []
        keys = list(self._bars.keys())
        out: list[int] = []
        for a, b in itertools.pairwise(keys):
            out.extend(range(a + step, b, step))
        return out

    def unclosed_before_last(self) -> list[int]:
        """Open times of bars that are not closed although a later bar exists."""
        keys = list(self._bars.keys())
        return [t for t in keys[:-1] if not self._bars[t].closed]

    def backfill_start_ms(self) -> int | None:
        """Where a gap backfill starts: the first hole (a missing bar, or a bar that is not
        closed), else the newest bar (None when empty: fetch the default history)."""
        step = self.step_ms
        prev: int | None = None
        for t, c in self._bars.items():
            if prev is not None and step is not None and t - prev > step:
                return prev + step
            if not c.closed:
                return t
            prev = t
        return prev
