"""Candle history for the backtester as plain numpy arrays: load, check, slice, resample.

``Bars`` holds one symbol's closed bars of one interval, oldest first: float64 OHLCV and
int64 open times (ms). Sources:

* a CSV file: the Binance kline layout (``open_time,open,high,low,close,volume,close_time,...``
  with or without its header; microsecond times of the newer dumps are detected) or a simple
  ``time,open,high,low,close,volume`` header form (time in ms, s, or ISO-8601);
* a venue adapter's REST klines (``fetch_bars``), paged forward until the range is covered.

``resample`` builds higher-timeframe bars from lower ones (multi-timeframe strategies): a HTF
bar exists only once every LTF bar of its period is present up to its end, so a strategy never
sees a forming HTF bar (no look-ahead).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from terminal.strategies._common import check_timeframe, timeframe_ms
from terminal.strategies.base import ParamError

if TYPE_CHECKING:
    from terminal.venues.base import VenueAdapter

__all__ = ["Bars", "DataError", "check_interval", "fetch_bars", "load_csv", "parse_time", "resample"]

_FIELDS = ("open", "high", "low", "close", "volume")


class DataError(ValueError):
    """Candle data is unusable; the message names the file/row/field."""


@dataclass(frozen=True, slots=True)
class Bars:
    symbol: str
    interval: str
    time: np.ndarray  # int64 open time, ms
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.time)
        for name in _FIELDS:
            if len(getattr(self, name)) != n:
                raise DataError(
                    f"{self.symbol} {self.interval}: {name} has {len(getattr(self, name))} values, time {n}"
                )
        if n > 1 and not bool(np.all(np.diff(self.time) > 0)):
            raise DataError(f"{self.symbol} {self.interval}: times must be strictly increasing")
        # A bar outside [low, high] would make intrabar stop rules meaningless.
        bad = (self.low > np.minimum(self.open, self.close)) | (self.high < np.maximum(self.open, self.close))
        bad |= (
            ~np.isfinite(self.close)
            | ~np.isfinite(self.open)
            | ~np.isfinite(self.high)
            | ~np.isfinite(self.low)
        )
        if n and bool(bad.any()):
            i = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{self.symbol} {self.interval}: bar {i} (time {int(self.time[i])}) has open/close outside low/high"
                " or a non-finite price"
            )

    @classmethod
    def from_arrays(
        cls,
        symbol: str,
        interval: str,
        time: np.ndarray,
        open: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        volume: np.ndarray | None = None,
    ) -> Bars:
        f = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
        vol = np.zeros(len(time)) if volume is None else volume
        return cls(
            symbol, interval, np.asarray(time, dtype=np.int64), f(open), f(high), f(low), f(close), f(vol)
        )

    def __len__(self) -> int:
        return len(self.time)

    @property
    def interval_ms(self) -> int:
        return timeframe_ms(self.interval)

    @property
    def close_time(self) -> np.ndarray:
        """Inclusive close time (Binance style: next open - 1)."""
        return self.time + (self.interval_ms - 1)

    def arrays(self) -> dict[str, np.ndarray]:
        """The ``CandleSource`` / ``target_positions`` form."""
        return {
            "open": self.open,
            "high": self.high,
            "low": self.low,
            "close": self.close,
            "volume": self.volume,
            "time": self.time,
        }

    def between(self, start_ms: int | None, end_ms: int | None) -> Bars:
        """Bars whose open time is within [start_ms, end_ms)."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.time, start_ms, "left"))
        hi = len(self) if end_ms is None else int(np.searchsorted(self.time, end_ms, "left"))
        return self.take(slice(lo, hi))

    def take(self, index: slice) -> Bars:
        return Bars(
            self.symbol,
            self.interval,
            self.time[index],
            self.open[index],
            self.high[index],
            self.low[index],
            self.close[index],
            self.volume[index],
        )


def parse_time(text: str) -> int:
    """ms since the epoch from an ISO-8601 date/time (UTC unless it says otherwise) or a number
    (ms; seconds if below 1e11; microseconds if above 1e14)."""
    s = text.strip()
    try:
        value = float(s)
    except ValueError:
        try:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            raise DataError(f"not a time: {text!r} (expected ISO-8601 like 2024-01-31T12:00 or ms)") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp() * 1000)
    if not math.isfinite(value):
        raise DataError(f"not a time: {text!r}")
    if value > 1e14:  # microseconds (Binance dumps since 2025)
        return int(value // 1000)
    if value < 1e11:  # seconds
        return int(value * 1000)
    return int(value)


def load_csv(path: str | Path, symbol: str, interval: str) -> Bars:
    """Bars from a Binance kline CSV or a ``time,open,high,low,close,volume`` CSV."""
    p = Path(path)
    check_interval(interval)
    try:
        handle = p.open(newline="")
    except OSError as exc:
        raise DataError(f"cannot read {p}: {exc.strerror or exc}") from None
    with handle:
        rows = list(csv.reader(handle))
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{p}: no rows")
    header = [c.strip().lower() for c in rows[0]]
    if _is_number(header[0]):  # headerless: the Binance layout
        cols = {"time": 0, "open": 1, "high": 2, "low": 3, "close": 4, "volume": 5}
        body, first_line = rows, 1
    else:
        names = {"open_time": "time", "timestamp": "time", "date": "time", "datetime": "time"}
        index = {names.get(h, h): i for i, h in enumerate(header)}
        missing = [c for c in ("time", *_FIELDS[:4]) if c not in index]
        if missing:
            raise DataError(f"{p}: header lacks {', '.join(missing)} (got {', '.join(header)})")
        cols = {c: index[c] for c in ("time", *_FIELDS) if c in index}
        body, first_line = rows[1:], 2
    if not body:
        raise DataError(f"{p}: header only, no bars")
    n = len(body)
    times = np.empty(n, dtype=np.int64)
    data = {c: np.zeros(n) for c in _FIELDS}
    for k, row in enumerate(body):
        line = k + first_line
        try:
            times[k] = parse_time(row[cols["time"]])
            for c in _FIELDS:
                if c in cols:
                    data[c][k] = float(row[cols[c]])
        except IndexError:
            raise DataError(
                f"{p}:{line}: expected {max(cols.values()) + 1} columns, got {len(row)}"
            ) from None
        except (ValueError, DataError) as exc:
            raise DataError(f"{p}:{line}: {exc}") from None
    try:
        return Bars(
            symbol, interval, times, data["open"], data["high"], data["low"], data["close"], data["volume"]
        )
    except DataError as exc:
        raise DataError(f"{p}: {exc}") from None


def check_interval(interval: str) -> None:
    try:
        check_timeframe("timeframe", interval)
    except ParamError as exc:
        raise DataError(str(exc)) from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def resample(bars: Bars, interval: str) -> Bars:
    """Higher-timeframe bars from ``bars`` (periods aligned to the epoch, as the venues do).

    A period is emitted only if its last LTF bar is present (the HTF bar has closed); a period
    with missing LTF bars in the middle is still built from those present."""
    step = timeframe_ms(interval)
    base = bars.interval_ms
    if step <= base or step % base:
        raise DataError(f"cannot resample {bars.interval} to {interval}: not a whole multiple above it")
    if len(bars) == 0:
        return Bars.from_arrays(bars.symbol, interval, *(np.empty(0),) * 6)
    period = bars.time // step
    starts = np.flatnonzero(np.concatenate(([True], period[1:] != period[:-1])))
    ends = np.concatenate((starts[1:], [len(bars)])) - 1
    # closed: the period's last LTF bar ends where the HTF period ends
    closed = bars.time[ends] + base == (period[starts] + 1) * step
    # reduce over every period first, then keep the closed ones (reduceat runs to the next start)
    high = np.maximum.reduceat(bars.high, starts)[closed]
    low = np.minimum.reduceat(bars.low, starts)[closed]
    volume = np.add.reduceat(bars.volume, starts)[closed]
    starts, ends = starts[closed], ends[closed]
    return Bars(
        bars.symbol, interval, period[starts] * step, bars.open[starts], high, low, bars.close[ends], volume
    )


async def fetch_bars(
    adapter: VenueAdapter,
    symbol: str,
    interval: str,
    start_ms: int,
    end_ms: int,
    *,
    page: int = 1000,
) -> Bars:
    """Closed bars opening within [start_ms, end_ms) over the adapter's REST klines, paged
    forward (each page starts after the last bar seen); duplicates and forming bars dropped."""
    if end_ms <= start_ms:
        raise DataError(f"empty range: start {start_ms} is not before end {end_ms}")
    step = timeframe_ms(interval)
    seen: dict[int, tuple[float, float, float, float, float]] = {}
    cursor = start_ms
    while cursor < end_ms:
        got = await adapter.fetch_candles(symbol, interval, start_ms=cursor, end_ms=end_ms - 1, limit=page)
        fresh = [c for c in got if c.closed and start_ms <= c.open_time < end_ms]
        for c in fresh:
            seen[c.open_time] = (c.open, c.high, c.low, c.close, c.volume)
        if not got:
            break
        last = max(c.open_time for c in got)
        if last + step <= cursor:
            break  # the venue did not move forward: stop rather than loop
        cursor = last + step
        if len(got) < page:
            break
    times = np.array(sorted(seen), dtype=np.int64)
    ohlcv = np.array([seen[t] for t in times.tolist()], dtype=np.float64).reshape(-1, 5)
    return Bars.from_arrays(symbol, interval, times, *ohlcv.T)
