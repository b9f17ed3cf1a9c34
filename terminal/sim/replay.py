"""Replay mode: the simulator's markets driven by a recording instead of the random walk.

The demo's exchange normally moves by ``MarketGenerator``. With ``SimConfig.replay`` it moves by
``ReplayGenerator``: the recorded order book (``terminal.storage.recorder``'s level changes) is
mirrored as the simulator's own liquidity, and every recorded public trade is replayed as a
marketable order against it. Everything else is the normal simulator: the real clients connect
over the real protocols, the user's orders rest in the same book and are matched by the same
engine, so a recorded session can be traded again.

How the recording becomes a market, and what that means for the user's orders:

* A recorded book level becomes one simulator order of exactly the recorded size at that price
  (a change cancels/shrinks it; a larger size re-adds it, behind any user order at that price).
  So the user sees the recorded depth plus their own orders.
* A recorded trade of ``q`` at ``p`` by a buyer (seller) takes up to ``q`` from the asks (bids)
  at prices no worse than ``p``: a user order queued there is filled by it, after the recorded
  liquidity ahead of it. The recorded levels are then restored (the recording's own book
  changes say what the trade left; they may arrive before or after the print), and whatever
  of ``q`` found no liquidity is printed on the tape anyway, so the tape, last price and
  candles are the recording's.
* A user's marketable order takes the recorded liquidity; the recording does not react to it
  (there is no counterfactual market), so large orders see the recorded book refill.
* Time: events are spaced by their recorded receive times divided by ``speed``; the simulator
  stamps them with the replay's wall clock, so candles and ticks are "now". The 1m history
  before the replay is the simulator's synthetic path, ending at the recording's first price.
* A market the recording lacks (e.g. Bybit when only Binance was recorded) follows the same
  symbol from another recorded venue, spot preferring spot and futures futures; prices are
  mapped onto the simulator's tick. Symbols the simulator does not list are skipped (logged).
* At the end the market holds still (``loop=False``, logged) or starts over (``loop=True``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from terminal.model.enums import InstrumentKind, Side, Venue
from terminal.sim.generator import MarketDriver
from terminal.sim.instruments import known_symbols
from terminal.storage.recorder import BookRec, RecordError, TradeRec, read_records

__all__ = [
    "RecordingSummary",
    "ReplayError",
    "ReplayGenerator",
    "ReplaySpec",
    "ReplayStats",
    "check_replay_path",
    "summarize_recording",
]

log = logging.getLogger(__name__)

SEED_SPAN_US = 10_000_000  # books seeded from at most the first 10 s of the recording
SUMMARY_MAX_RECORDS = 500_000  # a summary reads at most this many lines (symbols, first prices)
_YIELD_EVERY = 500  # records applied back to back before the loop gets a turn
_SPOT = (Venue.BINANCE_SPOT, Venue.BYBIT_SPOT)


class ReplayError(ValueError):
    """The recording cannot drive the simulator (the message says why)."""


@dataclass(frozen=True, slots=True)
class ReplaySpec:
    path: Path
    speed: float = 1.0  # 2.0: twice as fast as recorded
    loop: bool = False  # start over at the end (the price jumps back to the first one)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ReplayError(f"replay speed must be > 0, got {self.speed}")


@dataclass(frozen=True, slots=True)
class RecordingSummary:
    """What a recording holds: its markets and each one's first price (trade, else book mid)."""

    first_price: dict[tuple[Venue, str], Decimal]
    has_book: frozenset[tuple[Venue, str]]

    @property
    def symbols(self) -> tuple[str, ...]:
        """The recorded symbols the simulator lists, in first-seen order."""
        listed = set(known_symbols())
        seen = dict.fromkeys(s for _, s in self.first_price)
        return tuple(s for s in seen if s in listed)

    def price_of(self, symbol: str) -> Decimal | None:
        prices = [p for (_, s), p in self.first_price.items() if s == symbol]
        return prices[0] if prices else None


def summarize_recording(path: str | Path, max_records: int = SUMMARY_MAX_RECORDS) -> RecordingSummary:
    """Read the start of the recording: which markets it has and where their prices start."""
    first: dict[tuple[Venue, str], Decimal] = {}
    has_book: set[tuple[Venue, str]] = set()
    for n, rec in enumerate(read_records(path), 1):
        key = (rec.venue, rec.symbol)
        if isinstance(rec, TradeRec):
            first.setdefault(key, Decimal(rec.price))
        elif isinstance(rec, BookRec) and rec.bids and rec.asks:
            has_book.add(key)
            if key not in first:
                tick = Decimal(rec.tick)
                bid = max(t for t, q in rec.bids if q > 0) if any(q > 0 for _, q in rec.bids) else None
                ask = min(t for t, q in rec.asks if q > 0) if any(q > 0 for _, q in rec.asks) else None
                if bid is not None and ask is not None:
                    first[key] = tick * (bid + ask) / 2
        if n >= max_records:
            break
    if not first:
        raise ReplayError(f"{path}: the recording holds no trades or books to replay")
    return RecordingSummary(first, frozenset(has_book))


@dataclass(slots=True)
class ReplayStats:
    records: int = 0
    trades: int = 0  # recorded trades replayed
    trade_lots_printed: int = 0  # recorded trade size that found no liquidity: printed only
    books: int = 0
    loops: int = 0
    finished: bool = False


class _Flow:
    """Mirrors one recorded market into one simulator market's book."""

    def __init__(self, market, symbol: str, mirrors_book: bool) -> None:  # market: SimMarket
        self.market = market
        self.symbol = symbol
        self.inst = market.instrument(symbol)
        self.book = market.books[symbol]
        self.tick = float(self.inst.tick)
        self.step = float(self.inst.step)
        # False: the source has no recorded book, so a replayed trade brings its own liquidity
        self.mirrors_book = mirrors_book
        self.levels: dict[tuple[bool, int], int] = {}  # (is_bid, price ticks) -> our order id
        self.targets: dict[tuple[bool, int], int] = {}  # (is_bid, price ticks) -> recorded lots
        self.book_ms = 0  # venue event time of the newest recorded book applied

    def _px(self, price: float) -> int:
        return max(1, round(price / self.tick))

    def _lots(self, qty: float) -> int:
        return round(qty / self.step)

    def clear(self) -> None:
        for oid in self.levels.values():
            self.market.mm_cancel(self.symbol, oid)
        self.levels.clear()
        self.targets.clear()

    def _set_level(self, key: tuple[bool, int], lots: int) -> tuple[tuple[bool, int], int] | None:
        """Bring our order at ``key`` to ``lots``; returns (key, lots) when it must be (re-)added."""
        oid = self.levels.get(key)
        resting = self.book.orders.get(oid) if oid is not None else None
        have = resting.lots if resting is not None else 0
        if lots == have:
            return None
        if 0 < lots < have:
            self.book.reduce(oid, lots)
            return None
        if resting is not None:
            self.market.mm_cancel(self.symbol, oid)
        self.levels.pop(key, None)
        return (key, lots) if lots > 0 else None

    def _add(self, grow: list[tuple[tuple[bool, int], int]]) -> None:
        for (is_bid, px), lots in grow:
            oid = self.market.mm_add(self.symbol, Side.BUY if is_bid else Side.SELL, px, lots)
            if oid:
                self.levels[(is_bid, px)] = oid

    def apply_book(self, rec: BookRec, rec_tick: float) -> None:
        if rec.snapshot:
            self.clear()
        self.book_ms = max(self.book_ms, rec.event_ms)
        targets: dict[tuple[bool, int], int] = {}
        for is_bid, levels in ((True, rec.bids), (False, rec.asks)):
            for ticks, qty in levels:
                # levels landing on one simulator tick (a finer recorded tick) add up
                key = (is_bid, self._px(ticks * rec_tick))
                targets[key] = targets.get(key, 0) + self._lots(qty)
        # shrink and remove first, then grow and add: a consistent recorded book never crosses
        # itself, so an add can only meet a user's order (which it then fills, as it would have)
        grow: list[tuple[tuple[bool, int], int]] = []
        for key, lots in targets.items():
            if lots > 0:
                self.targets[key] = lots
            else:
                self.targets.pop(key, None)
            change = self._set_level(key, lots)
            if change is not None:
                grow.append(change)
        self._add(grow)

    def apply_trade(self, rec: TradeRec) -> int:
        """Replay one recorded print; returns the lots that found no liquidity (printed only).

        A print at ``px`` proves the venue had no liquidity at better prices then: unless the
        print is older than the book we mirror (venue times), our levels there are stale (the
        recorded book is sampled, its change may still be on the way) and go. The print then takes up to its size at prices no worse than ``px`` - a user's order
        at a better price first, then the level ``px`` in queue order - and our level at ``px``
        is restored to its recorded size: the recording's own change says what the trade left,
        arriving before or after the print (separate venue streams), so letting the print
        consume the mirror would count that liquidity out twice. Whatever found no liquidity
        is printed anyway, so the tape, last price and candles are the recording's."""
        lots = max(1, self._lots(float(rec.qty)))
        px = self._px(float(rec.price))
        maker_bid = rec.side is Side.SELL
        if self.mirrors_book and rec.ts >= self.book_ms:
            # (a print older than the mirrored book - its stream lagged the book's - proves
            # nothing about levels the book added after it)
            self._drop_better_than(maker_bid, px)
        best = self.book.best_bid() if maker_bid else self.book.best_ask()
        filled = self.market.mm_take(self.symbol, rec.side, lots, limit=px)
        left = lots - filled
        if left > 0:
            self.market.mm_print(self.symbol, rec.side, px, left)
        if filled and best is not None:
            self._restore(maker_bid, *((px, best) if maker_bid else (best, px)))
        return left

    def _restore(self, maker_bid: bool, lo: int, hi: int) -> None:
        """Our levels in [lo, hi] back to their recorded sizes (a print went through them)."""
        if hi - lo <= 2000:
            keys = [(maker_bid, p) for p in range(lo, hi + 1) if (maker_bid, p) in self.targets]
        else:
            keys = [k for k in self.targets if k[0] is maker_bid and lo <= k[1] <= hi]
        grow = [c for k in keys if (c := self._set_level(k, self.targets[k])) is not None]
        self._add(grow)

    def _drop_better_than(self, maker_bid: bool, px: int) -> None:
        side = self.book.bids if maker_bid else self.book.asks  # best price first
        stale: list[int] = []
        for price in side:
            if (price <= px) if maker_bid else (price >= px):
                break
            stale.append(price)
        for price in stale:
            key = (maker_bid, price)
            self.targets.pop(key, None)
            oid = self.levels.pop(key, None)
            if oid is not None:
                self.market.mm_cancel(self.symbol, oid)


class ReplayGenerator(MarketDriver):
    """Drives the simulator's markets from a recording (see the module docstring).

    Same wiring as ``MarketGenerator``: ``seed_books()`` before serving, then ``run()`` as a task;
    ``pause()``/``resume()`` for the control plane.
    """

    _task_name = "sim-replay"

    def __init__(self, exchange, spec: ReplaySpec, summary: RecordingSummary) -> None:
        super().__init__()
        self.exchange = exchange
        self.spec = spec
        self.summary = summary
        self.stats = ReplayStats()
        self._ticks: dict[str, float] = {}
        # recorded (venue, symbol) -> the simulator markets it drives
        self.routes: dict[tuple[Venue, str], list[_Flow]] = {}
        for venue, market in exchange.markets.items():
            for symbol in exchange.config.symbols:
                if symbol not in market.instruments:
                    continue
                source = self._source_for(venue, symbol, market.kind)
                if source is None:
                    log.warning(
                        "replay: the recording has no %s market to drive %s %s", symbol, venue, symbol
                    )
                    continue
                flow = _Flow(market, symbol, mirrors_book=source in summary.has_book)
                if not flow.mirrors_book:
                    log.warning(
                        "replay: %s %s has no recorded book: its prints replay, but orders that "
                        "need liquidity find only other users' orders",
                        *source,
                    )
                self.routes.setdefault(source, []).append(flow)
                if source != (venue, symbol):
                    log.info("replay: %s %s follows the recorded %s %s", venue, symbol, *source)
        if not self.routes:
            raise ReplayError(
                f"{spec.path}: none of the recorded markets is listed by the simulator "
                f"(recorded: {sorted({s for _, s in summary.first_price})}; listed: {known_symbols()})"
            )
        self._records: Iterator[TradeRec | BookRec] | None = None
        self._held: TradeRec | BookRec | None = None  # read during seeding, applied by run()
        self._seeded_at: int | None = None  # recorded time the seeding reached: run()'s clock origin

    def _source_for(self, venue: Venue, symbol: str, kind: InstrumentKind) -> tuple[Venue, str] | None:
        recorded = [v for v, s in self.summary.first_price if s == symbol]
        if not recorded:
            return None
        if venue in recorded:
            return (venue, symbol)
        spot = kind is InstrumentKind.SPOT
        same_kind = [v for v in recorded if (v in _SPOT) == spot]
        return ((same_kind or recorded)[0], symbol)

    # ---- work ---------------------------------------------------------------
    def _replayable(self) -> Iterator[TradeRec | BookRec]:
        for rec in read_records(self.spec.path):
            if isinstance(rec, TradeRec | BookRec) and (rec.venue, rec.symbol) in self.routes:
                yield rec

    def _rec_tick(self, text: str) -> float:
        tick = self._ticks.get(text)
        if tick is None:
            tick = self._ticks[text] = float(Decimal(text))
        return tick

    def apply(self, rec: TradeRec | BookRec) -> None:
        flows = self.routes.get((rec.venue, rec.symbol), ())
        st = self.stats
        st.records += 1
        if isinstance(rec, BookRec):
            st.books += 1
            tick = self._rec_tick(rec.tick)
            for flow in flows:
                flow.apply_book(rec, tick)
        else:
            st.trades += 1
            for flow in flows:
                st.trade_lots_printed += flow.apply_trade(rec)

    def seed_books(self) -> None:
        """Apply the recording's opening books (its first ``SEED_SPAN_US``; trades in that span
        are skipped) so the simulator serves a full book before any client connects."""
        self._records = self._replayable()
        waiting = {src for src in self.routes if src in self.summary.has_book}
        t0: int | None = None
        for rec in self._records:
            if t0 is None:
                t0 = rec.t
            if rec.t - t0 > SEED_SPAN_US or not waiting:
                self._held = rec
                break
            self._seeded_at = rec.t
            if isinstance(rec, BookRec):
                self.apply(rec)
                waiting.discard((rec.venue, rec.symbol))
        if waiting:
            log.warning("replay: no opening book for %s in the first 10 s", sorted(waiting))

    async def run(self) -> None:
        """Apply the rest of the recording at its recorded pace (``speed``); at its end hold
        still or start over (``loop``)."""
        loop = asyncio.get_running_loop()
        speed = self.spec.speed
        while True:
            if self._records is None:
                self.seed_books()
            started = loop.time()
            # the recorded gap between the seeded books and the next event is kept
            t0, self._seeded_at = self._seeded_at, None
            burst = 0
            while True:
                rec = self._held if self._held is not None else next(self._records, None)  # type: ignore[arg-type]
                self._held = None
                if rec is None:
                    break
                if t0 is None:
                    t0 = rec.t
                while self._paused:  # time stands still while paused
                    pause_start = loop.time()
                    await asyncio.sleep(0.05)
                    started += loop.time() - pause_start
                delay = started + (rec.t - t0) / 1e6 / speed - loop.time()
                if delay > 0:
                    burst = 0
                    await asyncio.sleep(delay)
                else:
                    burst += 1
                    if burst >= _YIELD_EVERY:  # a backlog must not starve the servers
                        burst = 0
                        await asyncio.sleep(0)
                try:
                    self.apply(rec)
                except Exception:  # one bad record must not stop the market
                    log.exception("replay: applying a %s record failed", type(rec).__name__)
            if not self.spec.loop:
                self.stats.finished = True
                log.info(
                    "replay of %s finished: %d records (%d trades, %d books); the market holds still",
                    self.spec.path,
                    self.stats.records,
                    self.stats.trades,
                    self.stats.books,
                )
                return
            self.stats.loops += 1
            log.info("replay of %s starts over (loop %d)", self.spec.path, self.stats.loops)
            self._records = None


def check_replay_path(path: Path) -> RecordingSummary:
    """Fail early, with the reason, on a path that is not a usable recording."""
    try:
        return summarize_recording(path)
    except RecordError as exc:
        raise ReplayError(str(exc)) from None
