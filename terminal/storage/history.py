"""Local candle history: one SQLite file of closed bars, and a resumable venue download into it.

Why SQLite: it ships with Python, a WAL file lets the chart or a backtest read while a download
writes, and the primary key ``(venue, symbol, interval, open_time)`` makes a duplicate bar
impossible (a re-fetched page replaces the same rows). ``synchronous=NORMAL`` rather than the
journal's FULL: history can always be downloaded again, so a power cut may cost a page, not money.

``download`` fills only what the store lacks in the asked range (so a killed download continues
where it stopped), one page per transaction, through the adapter's own rate gate; a 429/418
waits the venue's Retry-After and goes on, however often the venue says so.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from terminal.backtest.data import Bars, DataError, check_interval
from terminal.model import Candle, Venue
from terminal.strategies._common import timeframe_ms
from terminal.venues.base import Network
from terminal.venues.errors import RateLimited

if TYPE_CHECKING:
    from terminal.venues.base import VenueAdapter

__all__ = [
    "HISTORY_FILENAME",
    "DownloadProgress",
    "DownloadReport",
    "HistoryError",
    "HistoryStore",
    "SeriesInfo",
    "Span",
    "download",
    "storable",
]

log = logging.getLogger(__name__)

HISTORY_FILENAME = "history.sqlite3"
MAX_PAGE = 1000  # the venues' kline page cap (Binance 1000/1500, Bybit 1000)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS candles (
    venue TEXT NOT NULL,
    symbol TEXT NOT NULL,
    interval TEXT NOT NULL,
    open_time INTEGER NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume REAL NOT NULL,
    quote_volume REAL NOT NULL,
    trades INTEGER NOT NULL,
    PRIMARY KEY (venue, symbol, interval, open_time)
) STRICT, WITHOUT ROWID;
"""


class HistoryError(ValueError):
    """A history request cannot be served as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class Span:
    """Open times ``[start_ms, end_ms)``: the bars present (coverage) or missing (gaps)."""

    start_ms: int
    end_ms: int

    def bars(self, interval_ms: int) -> int:
        return (self.end_ms - self.start_ms) // interval_ms


@dataclass(frozen=True, slots=True)
class SeriesInfo:
    venue: Venue
    symbol: str
    interval: str
    bars: int
    first_ms: int
    last_ms: int  # open time of the newest bar


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """After each committed page: ``done_ms`` is how far the download got within the range."""

    bars: int
    pages: int
    retries: int
    done_ms: int
    start_ms: int
    end_ms: int

    @property
    def fraction(self) -> float:
        span = self.end_ms - self.start_ms
        return 1.0 if span <= 0 else min(1.0, max(0.0, (self.done_ms - self.start_ms) / span))


@dataclass(frozen=True, slots=True)
class DownloadReport:
    """``bars``/``pages``: written by this run; ``retries``: rate-limit waits; ``gaps``: what
    is still missing in the range up to the newest stored bar (bars the venue does not have)."""

    bars: int
    pages: int
    retries: int
    gaps: tuple[Span, ...]


def storable(interval: str) -> bool:
    """Whether bars of ``interval`` can be stored (every fixed-length interval; not months)."""
    try:
        _interval_ms(interval)
    except ValueError:  # HistoryError, or check_interval's DataError
        return False
    return True


def history_dir(network: Network) -> Path:
    """Where a network's candles are stored by default: per network, not per mode - paper and
    live trade on the same live klines and share them (one download serves the chart, the
    backtester and both modes); testnet's own prices never mix with them. No default for the
    simulator (``Network.CUSTOM``): its history is synthetic and regenerated on every start."""
    if network is Network.CUSTOM:
        raise HistoryError("simulator candles have no default store: name a --data-dir")
    from platformdirs import user_data_path

    return user_data_path("crypto-terminal") / "history" / network.value


def _interval_ms(interval: str) -> int:
    check_interval(interval)
    if interval.endswith("M"):  # calendar months have no fixed step: gaps cannot be computed
        raise HistoryError(f"interval {interval}: monthly bars are not stored; use 1w or shorter")
    return timeframe_ms(interval)


class HistoryStore:
    """The candle store. Synchronous, short statements: callers on the asyncio loop use it directly.

    Every SQLite failure (locked past ``timeout_s``, a damaged file) is a ``HistoryError`` naming
    the file. ``timeout_s`` is how long a write waits for another writer (e.g. a ``terminal
    history download`` in another process): a caller on the UI loop passes a short one.
    """

    def __init__(self, path: str | Path, *, timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=timeout_s)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"cannot open the history store {self.path}: {exc}") from None

    @classmethod
    def for_network(cls, network: Network, *, timeout_s: float = 5.0) -> HistoryStore:
        return cls.open_in(history_dir(network), timeout_s=timeout_s)

    @classmethod
    def open_in(cls, data_dir: str | Path, *, timeout_s: float = 5.0) -> HistoryStore:
        return cls(Path(data_dir) / HISTORY_FILENAME, timeout_s=timeout_s)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise HistoryError(f"history store {self.path}: {exc}") from None

    # ------------------------------------------------------------------ writing
    def write(self, candles: Iterable[Candle]) -> int:
        """Store closed bars in one transaction (a bar already present is replaced); forming bars
        are skipped: a stored bar is final. Returns the number of bars written."""
        rows = [
            (
                c.venue.value,
                c.symbol,
                c.interval,
                c.open_time,
                c.open,
                c.high,
                c.low,
                c.close,
                c.volume,
                c.quote_volume,
                c.trades,
            )
            for c in candles
            if c.closed
        ]
        if not rows:
            return 0
        with self._errors(), self._tx():
            self._db.executemany("INSERT OR REPLACE INTO candles VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        return len(rows)

    def _rows(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        with self._errors():
            return self._db.execute(sql, args).fetchall()

    def _tx(self) -> _Tx:
        return _Tx(self._db)

    # ------------------------------------------------------------------ reading
    def read(
        self, venue: Venue, symbol: str, interval: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> Bars:
        """Stored bars opening within ``[start_ms, end_ms)`` as the backtester's ``Bars``."""
        check_interval(interval)
        rows = self._rows(
            "SELECT open_time, open, high, low, close, volume FROM candles"
            " WHERE venue=? AND symbol=? AND interval=? AND open_time>=? AND open_time<?"
            " ORDER BY open_time",
            (venue.value, symbol, interval, *_bounds(start_ms, end_ms)),
        )
        data = np.array(rows, dtype=np.float64).reshape(-1, 6)
        try:
            return Bars.from_arrays(symbol, interval, data[:, 0].astype(np.int64), *data[:, 1:].T)
        except DataError as exc:
            raise HistoryError(f"{venue} {symbol} {interval} in {self.path}: {exc}") from None

    def candles(
        self, venue: Venue, symbol: str, interval: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[Candle]:
        """The same bars as ``Candle`` values (what the chart draws), oldest first."""
        step = _interval_ms(interval)
        rows = self._rows(
            "SELECT open_time, open, high, low, close, volume, quote_volume, trades FROM candles"
            " WHERE venue=? AND symbol=? AND interval=? AND open_time>=? AND open_time<?"
            " ORDER BY open_time",
            (venue.value, symbol, interval, *_bounds(start_ms, end_ms)),
        )
        return [
            Candle(venue, symbol, interval, t, t + step - 1, o, h, lo, c, v, qv, n, closed=True)
            for t, o, h, lo, c, v, qv, n in rows
        ]

    def coverage(
        self, venue: Venue, symbol: str, interval: str, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[Span]:
        """Contiguous runs of stored bars within the range, oldest first."""
        step = _interval_ms(interval)
        # gaps-and-islands: within a run, open_time - rank*step is constant
        rows = self._rows(
            "SELECT MIN(open_time), MAX(open_time) FROM ("
            "  SELECT open_time, open_time - ? * ROW_NUMBER() OVER (ORDER BY open_time) AS grp"
            "  FROM candles WHERE venue=? AND symbol=? AND interval=? AND open_time>=? AND open_time<?"
            ") GROUP BY grp ORDER BY 1",
            (step, venue.value, symbol, interval, *_bounds(start_ms, end_ms)),
        )
        return [Span(lo, hi + step) for lo, hi in rows]

    def missing(self, venue: Venue, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[Span]:
        """The parts of ``[start_ms, end_ms)`` (aligned to the interval) with no stored bar."""
        step = _interval_ms(interval)
        start = -(-start_ms // step) * step  # first open time at or after start
        out: list[Span] = []
        cursor = start
        for span in self.coverage(venue, symbol, interval, start, end_ms):
            if span.start_ms > cursor:
                out.append(Span(cursor, span.start_ms))
            cursor = span.end_ms
        if cursor < end_ms:
            out.append(Span(cursor, -(-end_ms // step) * step))
        return out

    def series(self) -> list[SeriesInfo]:
        """Every stored (venue, symbol, interval) with its bar count and range."""
        rows = self._rows(
            "SELECT venue, symbol, interval, COUNT(*), MIN(open_time), MAX(open_time) FROM candles"
            " GROUP BY venue, symbol, interval ORDER BY venue, symbol, interval"
        )
        return [SeriesInfo(Venue(v), s, i, n, lo, hi) for v, s, i, n, lo, hi in rows]


class _Tx:
    """``BEGIN IMMEDIATE ... COMMIT`` (ROLLBACK on error): a page is stored whole or not at all."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _bounds(start_ms: int | None, end_ms: int | None) -> tuple[int, int]:
    return (-(2**62) if start_ms is None else start_ms, 2**62 if end_ms is None else end_ms)


ProgressFn = Callable[[DownloadProgress], None]


async def download(
    adapter: VenueAdapter,
    store: HistoryStore,
    symbol: str,
    interval: str,
    start_ms: int,
    end_ms: int,
    *,
    page: int = MAX_PAGE,
    progress: ProgressFn | None = None,
) -> DownloadReport:
    """Download the closed bars opening within ``[start_ms, end_ms)`` that ``store`` lacks.

    Each missing span is paged forward; every request asks for a window of at most ``page``
    bars, so venues that answer a wide window with its *newest* bars (Bybit) page correctly too.
    Cancelling keeps every committed page: the next call fetches only the rest.
    """
    step = _interval_ms(interval)
    if end_ms <= start_ms:
        raise HistoryError(f"empty range: start {start_ms} is not before end {end_ms}")
    if not 1 <= page <= MAX_PAGE:
        raise HistoryError(f"page must be 1..{MAX_PAGE}, got {page}")
    venue = adapter.venue
    # Bars after the current one do not exist yet: asking for them would page through empty windows.
    end_ms = min(end_ms, (int(time.time() * 1000) // step + 1) * step)
    bars = pages = retries = 0
    for span in store.missing(venue, symbol, interval, start_ms, end_ms):
        cursor = span.start_ms
        while cursor < span.end_ms:
            window_end = min(span.end_ms, cursor + page * step)
            try:
                got = await adapter.fetch_candles(
                    symbol, interval, start_ms=cursor, end_ms=window_end - 1, limit=page
                )
            except RateLimited as exc:
                # The venue said "wait": wait as long as it asks (the adapter's gate also holds
                # every other request back meanwhile), then ask again. Never give up here.
                retries += 1
                wait = max(exc.retry_after_s, 0.05)
                log.warning("%s %s %s: rate limited, retrying in %.1f s", venue, symbol, interval, wait)
                await asyncio.sleep(wait)
                continue
            fresh = [c for c in got if c.closed and cursor <= c.open_time < window_end]
            bars += store.write(fresh)
            pages += 1
            cursor = window_end
            if progress is not None:
                progress(DownloadProgress(bars, pages, retries, cursor, start_ms, end_ms))
            if got and not any(c.closed for c in got):
                break  # reached the forming bar: nothing later exists yet
    return DownloadReport(
        bars, pages, retries, tuple(_gaps(store, venue, symbol, interval, start_ms, end_ms))
    )


def _gaps(
    store: HistoryStore, venue: Venue, symbol: str, interval: str, start_ms: int, end_ms: int
) -> list[Span]:
    """Missing spans up to the newest stored bar in the range (later bars may not exist yet)."""
    covered = store.coverage(venue, symbol, interval, start_ms, end_ms)
    if not covered:
        return []
    return store.missing(venue, symbol, interval, start_ms, covered[-1].end_ms)
