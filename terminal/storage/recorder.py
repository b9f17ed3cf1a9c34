"""Record live market events to disk and replay them onto a bus with the original timing.

What is recorded, from the bus: public trades, candle updates, and the order book.
The book is recorded as *level changes of the adapter's local book* at each ``BookUpdated``
(a full snapshot on the first update and after every resync), not as the venue's raw diffs:

* ``BookUpdated`` carries no levels (it is a "read the book now" signal), so recording only it
  would replay nothing a consumer could read;
* raw venue diffs are not on the bus, and replaying them would need each venue's sync procedure
  (REST snapshot, ``U/u/pu`` bridging) plus the REST snapshots, which never pass the stream;
* a change set in ticks is venue-neutral, and applying it rebuilds exactly the book the engine
  read at that moment, so a replay shows what the live session showed, update for update.

File layout: a directory of JSON lines (msgspec), one file per UTC hour. The current hour is a
plain ``.jsonl`` appended to (a killed recorder loses at most the last unflushed second); a
finished hour is gzipped to ``.jsonl.gz``. Each line carries ``t``, the local wall-clock
receive time in µs, which is what replay spaces events by.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from terminal.bus import EventBus
from terminal.market.orderbook import LocalBook
from terminal.model import Candle, Side, Trade, Venue
from terminal.venues.events import BookUpdated, CandleEvent, PublicTradeEvent

__all__ = [
    "BookLookup",
    "RecordError",
    "Recorder",
    "ReplayBook",
    "ReplayMarket",
    "ReplayStats",
    "read_records",
    "recorded_bars",
    "recorded_venues",
    "recording_files",
    "replay",
]

log = logging.getLogger(__name__)

BookLookup = Callable[[Venue, str], LocalBook | None]
Levels = list[tuple[int, float]]  # (price in ticks, qty); qty 0 removes the level


class RecordError(ValueError):
    """A recording cannot be read; the message names the file and line."""


# ---------------------------------------------------------------- the line format
class TradeRec(msgspec.Struct, tag="trade", frozen=True):
    t: int
    venue: Venue
    symbol: str
    id: int | str
    price: str  # Decimal as text: exact
    qty: str
    side: Side
    ts: int


class CandleRec(msgspec.Struct, tag="candle", frozen=True):
    t: int
    venue: Venue
    symbol: str
    interval: str
    open_time: int
    close_time: int
    o: float
    h: float
    lo: float
    c: float
    v: float
    qv: float
    n: int
    closed: bool


class BookRec(msgspec.Struct, tag="book", frozen=True):
    t: int
    venue: Venue
    symbol: str
    tick: str
    update_id: int
    event_ms: int
    resynced: bool
    snapshot: bool  # True: bids/asks are the whole book, else changed levels
    bids: Levels
    asks: Levels


Record = TradeRec | CandleRec | BookRec
_decoder = msgspec.json.Decoder(Record)
_encoder = msgspec.json.Encoder()


def _now_us() -> int:
    return time.time_ns() // 1000


def _changes(prev: dict[int, float], cur: dict[int, float]) -> Levels:
    out = [(t, q) for t, q in cur.items() if prev.get(t) != q]
    out += [(t, 0.0) for t in prev.keys() - cur.keys()]
    return out


# ---------------------------------------------------------------- recording
class Recorder:
    """Subscribe to ``bus`` and append trades, candles and book changes under ``path`` (a directory).

    ``books`` finds the adapter's local book for a ``BookUpdated`` (e.g. ``lambda v, s:
    adapters[v].book(s)``); without it book updates are not recorded. Call ``stop()`` (sync,
    unsubscribes) then ``close()``; ``async with`` does both.
    """

    def __init__(self, bus: EventBus, path: str | Path, *, books: BookLookup | None = None) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._books = books
        self._shadow: dict[tuple[Venue, str], tuple[dict[int, float], dict[int, float]]] = {}
        self._hour = ""
        self._file: object | None = None
        self._buf: list[bytes] = []
        self._last_flush = time.monotonic()
        self.records = 0
        self._unsub = [
            bus.subscribe(PublicTradeEvent, self._on_trade),
            bus.subscribe(CandleEvent, self._on_candle),
        ]
        if books is not None:
            self._unsub.append(bus.subscribe(BookUpdated, self._on_book))

    # handlers run on the bus: they only encode and buffer (a flush per second or 1000 lines)
    def _on_trade(self, ev: PublicTradeEvent) -> None:
        tr = ev.trade
        self._write(
            TradeRec(
                _now_us(), tr.venue, tr.symbol, tr.trade_id, str(tr.price), str(tr.qty), tr.taker_side, tr.ts
            )
        )

    def _on_candle(self, ev: CandleEvent) -> None:
        c = ev.candle
        self._write(
            CandleRec(
                _now_us(),
                c.venue,
                c.symbol,
                c.interval,
                c.open_time,
                c.close_time,
                c.open,
                c.high,
                c.low,
                c.close,
                c.volume,
                c.quote_volume,
                c.trades,
                c.closed,
            )
        )

    def _on_book(self, ev: BookUpdated) -> None:
        assert self._books is not None
        book = self._books(ev.venue, ev.symbol)
        if book is None:
            return
        key = (ev.venue, ev.symbol)
        prev = self._shadow.get(key)
        snapshot = prev is None or ev.resynced
        if snapshot:
            bids, asks = list(book.bids.items()), list(book.asks.items())
        else:
            assert prev is not None
            bids, asks = _changes(prev[0], book.bids), _changes(prev[1], book.asks)
        self._shadow[key] = (dict(book.bids), dict(book.asks))
        self._write(
            BookRec(
                _now_us(),
                ev.venue,
                ev.symbol,
                str(book.tick),
                ev.update_id,
                ev.event_ms,
                ev.resynced,
                snapshot,
                bids,
                asks,
            )
        )

    def _write(self, rec: Record) -> None:
        hour = datetime.fromtimestamp(rec.t / 1e6, UTC).strftime("%Y%m%d-%H")
        if hour != self._hour:
            self._rotate(hour)
        self._buf.append(_encoder.encode(rec) + b"\n")
        self.records += 1
        if len(self._buf) >= 1000 or time.monotonic() - self._last_flush > 1.0:
            self.flush()

    def _rotate(self, hour: str) -> None:
        self.flush()
        self._finish()
        self._hour = hour
        self._file = (self.path / f"rec-{hour}.jsonl").open("ab")

    def flush(self) -> None:
        if self._buf and self._file is not None:
            self._file.write(b"".join(self._buf))  # type: ignore[attr-defined]
            self._file.flush()  # type: ignore[attr-defined]
        self._buf.clear()
        self._last_flush = time.monotonic()

    def _finish(self) -> None:
        """Close the current hour's file and gzip it (the finished hour is never appended again)."""
        if self._file is None:
            return
        self._file.close()  # type: ignore[attr-defined]
        self._file = None
        plain = self.path / f"rec-{self._hour}.jsonl"
        with plain.open("rb") as src, gzip.open(plain.with_suffix(".jsonl.gz"), "ab") as dst:
            shutil.copyfileobj(src, dst)
        plain.unlink()

    def stop(self) -> None:
        """Unsubscribe: nothing after this call is recorded."""
        for unsub in self._unsub:
            unsub()
        self._unsub.clear()

    async def close(self) -> None:
        self.stop()
        self.flush()
        await asyncio.to_thread(self._finish)

    async def __aenter__(self) -> Recorder:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


# ---------------------------------------------------------------- replay
class ReplayBook(LocalBook):
    """A local book rebuilt from recorded level changes."""

    def load(self, bids: Levels, asks: Levels, update_id: int, ts: int) -> None:
        tick = float(self.tick)
        self._load([(t * tick, q) for t, q in bids], [(t * tick, q) for t, q in asks], update_id)
        self.ts = ts

    def change(self, bids: Levels, asks: Levels, update_id: int, ts: int) -> None:
        tick = float(self.tick)
        self._apply([(t * tick, q) for t, q in bids], [(t * tick, q) for t, q in asks], update_id)
        self.ts = ts


class ReplayMarket:
    """Stands in for a venue adapter during replay: ``engine.attach(market)`` lets the engine
    read the replayed books; it has no REST history (``fetch_candles`` returns nothing)."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.books: dict[str, ReplayBook] = {}

    def book(self, symbol: str) -> LocalBook | None:
        return self.books.get(symbol)

    async def fetch_candles(
        self,
        symbol: str,
        interval: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[Candle]:
        return []


@dataclass(frozen=True, slots=True)
class ReplayStats:
    trades: int
    candles: int
    books: int
    recorded_s: float  # span of the recording
    took_s: float


def recording_files(path: str | Path) -> list[Path]:
    """The hour files under ``path`` in time order (names sort by hour)."""
    p = Path(path)
    if not p.is_dir():
        raise RecordError(f"{p}: not a recording directory")
    files = sorted(p.glob("rec-*.jsonl*"), key=lambda f: f.name.split(".")[0])
    if not files:
        raise RecordError(f"{p}: no recording files (rec-*.jsonl[.gz])")
    return files


def read_records(path: str | Path) -> Iterator[Record]:
    """Every record of a recording, in time order (torn last lines and cut gzips tolerated)."""
    for f in recording_files(path):
        opener = gzip.open if f.suffix == ".gz" else open
        try:
            with opener(f, "rb") as handle:  # type: ignore[operator]
                for n, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        yield _decoder.decode(line)
                    except msgspec.DecodeError as exc:
                        if not line.endswith(b"\n"):
                            log.warning("%s:%d: torn last line skipped (recorder killed?)", f, n)
                            break
                        raise RecordError(f"{f}:{n}: {exc}") from None
        except (EOFError, gzip.BadGzipFile) as exc:  # a gzip cut short: keep what was read
            log.warning("%s: truncated (%s); replayed what it held", f, exc)


async def replay(
    path: str | Path,
    bus: EventBus,
    *,
    speed: float = 1.0,
    markets: dict[Venue, ReplayMarket] | None = None,
) -> ReplayStats:
    """Publish the recorded events on ``bus`` in order, spaced by the recorded times / ``speed``
    (0: as fast as possible). Book changes are applied to ``markets[venue]``'s books (created
    on demand) before their ``BookUpdated`` is published; without ``markets`` they are skipped."""
    if speed < 0:
        raise ValueError(f"speed must be >= 0 (0 = as fast as possible), got {speed}")
    loop = asyncio.get_running_loop()
    started = loop.time()
    t0: int | None = None
    last_t = 0
    trades = candles = books = 0
    for rec in read_records(path):
        if t0 is None:
            t0 = rec.t
        last_t = rec.t
        if speed > 0:
            delay = started + (rec.t - t0) / 1e6 / speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        if isinstance(rec, TradeRec):
            trade = Trade(
                rec.venue, rec.symbol, rec.id, Decimal(rec.price), Decimal(rec.qty), rec.side, rec.ts
            )
            bus.publish(PublicTradeEvent(trade))
            trades += 1
        elif isinstance(rec, CandleRec):
            c = Candle(
                rec.venue,
                rec.symbol,
                rec.interval,
                rec.open_time,
                rec.close_time,
                rec.o,
                rec.h,
                rec.lo,
                rec.c,
                rec.v,
                rec.qv,
                rec.n,
                rec.closed,
            )
            bus.publish(CandleEvent(c))
            candles += 1
        elif markets is not None:
            market = markets.setdefault(rec.venue, ReplayMarket(rec.venue))
            book = market.books.get(rec.symbol)
            if book is None:
                book = market.books[rec.symbol] = ReplayBook(rec.venue, rec.symbol, rec.tick)
            if rec.snapshot:
                book.load(rec.bids, rec.asks, rec.update_id, rec.event_ms)
            else:
                book.change(rec.bids, rec.asks, rec.update_id, rec.event_ms)
            bus.publish(
                BookUpdated(
                    rec.venue, rec.symbol, rec.update_id, rec.event_ms, time.perf_counter_ns(), rec.resynced
                )
            )
            books += 1
        if (trades + candles + books) % 2000 == 0:
            await asyncio.sleep(0)  # a fast replay must not starve the loop
    span = 0.0 if t0 is None else (last_t - t0) / 1e6
    return ReplayStats(trades, candles, books, span, loop.time() - started)


def recorded_venues(path: str | Path, symbol: str, interval: str) -> list[Venue]:
    """The venues a recording has closed ``symbol`` ``interval`` candles of, in first-seen order."""
    seen: dict[Venue, None] = {}
    for rec in read_records(path):
        if isinstance(rec, CandleRec) and rec.closed and rec.symbol == symbol and rec.interval == interval:
            seen.setdefault(rec.venue)
    return list(seen)


def recorded_bars(path: str | Path, venue: Venue, symbol: str, interval: str) -> Any:
    """The closed candles of one market in a recording, as the backtester's ``Bars`` (each bar
    once - the last closed version recorded - in time order): a recorded session can be
    backtested like downloaded history."""
    from terminal.backtest.data import Bars

    closed: dict[int, CandleRec] = {}
    for rec in read_records(path):
        if (
            isinstance(rec, CandleRec)
            and rec.closed
            and rec.venue is venue
            and rec.symbol == symbol
            and rec.interval == interval
        ):
            closed[rec.open_time] = rec
    bars = [closed[t] for t in sorted(closed)]
    col = lambda name: np.fromiter((getattr(b, name) for b in bars), np.float64, len(bars))  # noqa: E731
    return Bars.from_arrays(
        symbol,
        interval,
        np.fromiter((b.open_time for b in bars), np.int64, len(bars)),
        col("o"),
        col("h"),
        col("lo"),
        col("c"),
        col("v"),
    )
