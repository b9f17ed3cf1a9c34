"""Local order books built from raw venue payloads by each venue's documented procedure.

One book per (venue, symbol). Internals are chosen for the hot path (hundreds of diffs/s per
symbol, each touching ~20-40 levels):

- Prices are **integer ticks**: one ``dict[int, float]`` per side, plus the best bid/ask
  ticks kept incrementally. A set above the best raises it (one compare); deleting the best
  walks down tick by tick to the next level (books are dense at the touch), falling back
  to ``max()``/``min()`` over the side when the gap is wide. Sorted order is only built
  when a reader asks for top-N (``heapq.nlargest``, O(n log N), at UI rates, not per diff).
  A sorted key list (bisect insert/delete per new/removed level) made the apply step ~1.5x
  slower in bench/book_ingest.py, for ordering that only readers need.
- Quantities are **floats**, not lots: a quantity is never a key or matched, only shown,
  summed and fed to numpy; msgspec parses them to float in C while decoding (a parsed-dict
  caller pays one ``float()``, the cost of the zero test it needs anyway), and
  ``repr(float)`` round-trips the wire value exactly (<= 15 significant digits), so
  :meth:`LocalBook.snapshot` hands out exact Decimals at the edge.
- Wire prices become ticks via ``round(float(price) * (1 / tick))``, memoised per book. The
  float error is ~1e-16 relative, i.e. < 1e-3 tick for any price below 1e12 ticks, so the
  rounding is exact for on-tick prices (venues only send those) without a Decimal per level.

Procedures (docs/PROTOCOLS.md §5): :class:`BinanceSpotBookSync`, :class:`BinanceFuturesBookSync`,
:class:`BybitBookSync`. Every feed method returns an :class:`ApplyResult`; on ``GAP`` the
book's :attr:`~LocalBook.state` is ``NEEDS_RESYNC`` and the caller must fetch a fresh REST
snapshot (Binance: diffs keep buffering meanwhile) or resubscribe (Bybit).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Any

import msgspec

from terminal.model._dec import to_decimal
from terminal.model.enums import Venue
from terminal.model.market import BookLevel, OrderBookSnapshot

__all__ = [
    "ApplyResult",
    "BinanceFuturesBookSync",
    "BinanceSpotBookSync",
    "BookState",
    "BybitBookSync",
    "DepthDiff",
    "LocalBook",
    "decode_binance_depth",
]

# Diffs buffered while waiting for a REST snapshot. Binance sends <= 10/s per symbol, so this
# is minutes of stream; beyond it the oldest go, and the snapshot check then asks for a newer one.
MAX_BUFFER = 4096


class BookState(StrEnum):
    SYNCING = "SYNCING"  # no usable snapshot yet: diffs are buffered (Binance) or dropped (Bybit)
    LIVE = "LIVE"  # snapshot applied and every diff since chained correctly
    NEEDS_RESYNC = "NEEDS_RESYNC"  # a gap or a crossed book: the caller must resnapshot


class ApplyResult(StrEnum):
    APPLIED = "APPLIED"
    BUFFERED = "BUFFERED"  # kept until the REST snapshot arrives
    STALE_DROPPED = "STALE_DROPPED"  # already covered by the snapshot / a duplicate delivery
    GAP = "GAP"  # sequence broken (or book crossed): state is now NEEDS_RESYNC
    SNAPSHOT_TOO_OLD = "SNAPSHOT_TOO_OLD"  # REST snapshot predates the buffer: fetch another


class DepthDiff(msgspec.Struct, gc=False):
    """A Binance ``depthUpdate`` reduced to what the procedures need.

    Decoded straight from the text/bytes frame by msgspec in lax mode, which turns the wire's
    qty strings into floats in C (no per-level Python ``float()``), and skips e/T/s. Prices stay
    the wire strings: they only key the per-book tick cache, and hashing a fresh short str is
    cheaper than parsing it to a float and hashing that (~8% of on_diff, bench/book_ingest.py).
    ``pu`` is -1 on spot (the field does not exist there). ``gc=False``: it only holds
    lists/numbers, never itself, so the cycle collector need not track millions of them.
    """

    U: int
    u: int
    # (price, qty): price is the wire string (keys the tick cache), qty a float.
    b: list[tuple[str, float]]
    a: list[tuple[str, float]]
    pu: int = -1
    E: int = 0


class _Combined(msgspec.Struct, gc=False):
    data: DepthDiff


# Enum members as module constants for the per-message paths: ``ApplyResult.APPLIED`` is a
# class attribute lookup through the enum metaclass, ~80 ns on CPython 3.11, twice per diff.
_APPLIED = ApplyResult.APPLIED
_LIVE = BookState.LIVE

_DIFF_DECODER = msgspec.json.Decoder(DepthDiff, strict=False)
_COMBINED_DECODER = msgspec.json.Decoder(_Combined, strict=False)


def decode_binance_depth(raw: bytes | str) -> DepthDiff:
    """Decode a raw ``depthUpdate`` frame, plain (``/ws``) or combined (``/stream``: ``{"stream","data"}``)."""
    # Both venues' frames start with the key, no whitespace: a prefix test beats a retry.
    if raw.startswith(b'{"stream"' if raw.__class__ is bytes else '{"stream"'):
        return _COMBINED_DECODER.decode(raw).data
    return _DIFF_DECODER.decode(raw)


def _diff_from_mapping(msg: Mapping[str, Any]) -> DepthDiff:
    """Accept an already-parsed event (or its combined-stream wrapper)."""
    if "data" in msg and "U" not in msg:
        msg = msg["data"]
    return DepthDiff(
        U=int(msg["U"]),
        u=int(msg["u"]),
        b=_float_qty(msg["b"]),
        a=_float_qty(msg["a"]),
        pu=int(msg.get("pu", -1)),
        E=msg.get("E", 0),
    )


def _float_qty(levels: Iterable[Sequence[Any]]) -> list[tuple[Any, float]]:
    """Wire ``[[price, qty_str]]`` -> ``(price, float)``: the apply loops rely on float qty
    (``if q:`` is the zero test), so the parsed-dict paths convert once here and the
    msgspec path, already float, pays nothing per level."""
    return [(lv[0], float(lv[1])) for lv in levels]


_NO_BID = -1  # ticks are >= 0: an empty bid side
_NO_ASK = 1 << 62  # an empty ask side
_TICK_CACHE_MAX = 50_000  # distinct wire prices remembered per book
_SCAN = 256  # tick steps tried before a full max()/min() when the best is deleted


def _tick(tick_of: dict[Any, int], p: Any, inv: float) -> int:
    """Cache miss: convert and remember; bounded so a long trend cannot grow it forever."""
    if len(tick_of) > _TICK_CACHE_MAX:
        tick_of.clear()
    t = tick_of[p] = round(float(p) * inv)
    return t


def _apply_bids(
    side: dict[int, float], levels: Iterable[Sequence[Any]], best: int, inv: float, tick_of: dict[Any, int]
) -> int:
    """Absolute quantities per level, 0 deletes (an unknown level's delete is normal).

    Returns the new best bid. ``tick_of`` memoises wire price -> ticks: a book revisits the
    same few hundred prices all day, and a dict hit is cheaper than ``float()`` + ``round()``;
    the wire price strings key it (floats convert too). The ask twin below mirrors this loop:
    two flat loops rather than one with a direction flag tested on every level.
    """
    for p, q in levels:
        try:
            t = tick_of[p]
        except KeyError:
            t = _tick(tick_of, p, inv)
        if q:
            side[t] = q
            if t > best:
                best = t
        else:
            side.pop(t, None)
    if best in side:
        return best
    if not side:
        return _NO_BID
    t = best - 1  # the best was deleted: the next one is just below, usually
    for _ in range(_SCAN):
        if t in side:
            return t
        t -= 1
    return max(side)


def _apply_asks(
    side: dict[int, float], levels: Iterable[Sequence[Any]], best: int, inv: float, tick_of: dict[Any, int]
) -> int:
    for p, q in levels:
        try:
            t = tick_of[p]
        except KeyError:
            t = _tick(tick_of, p, inv)
        if q:
            side[t] = q
            if t < best:
                best = t
        else:
            side.pop(t, None)
    if best in side:
        return best
    if not side:
        return _NO_ASK
    t = best + 1
    for _ in range(_SCAN):
        if t in side:
            return t
        t += 1
    return min(side)


class LocalBook:
    """The levels of one (venue, symbol) book; the venue subclasses add the sync procedure."""

    def __init__(self, venue: Venue, symbol: str, tick: Decimal | str) -> None:
        self.venue = venue
        self.symbol = symbol
        self.tick = to_decimal(tick, "tick")
        if self.tick <= 0:
            raise ValueError(f"tick must be positive, got {tick}")
        self._inv = 1.0 / float(self.tick)
        self._tick_of: dict[Any, int] = {}
        self.bids: dict[int, float] = {}
        self.asks: dict[int, float] = {}
        self._best_bid = _NO_BID
        self._best_ask = _NO_ASK
        self.update_id = -1
        self.ts = 0
        self.state = BookState.SYNCING
        self.reason = ""  # why the last GAP was declared (for logs / the status bar)
        self.applied = 0  # diffs applied since the last snapshot

    # ------------------------------------------------------------------ levels
    def _clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self._best_bid = _NO_BID
        self._best_ask = _NO_ASK

    def _load(self, bids: Iterable[Sequence[Any]], asks: Iterable[Sequence[Any]], update_id: int) -> None:
        self._clear()
        self._best_bid = _apply_bids(self.bids, _float_qty(bids), _NO_BID, self._inv, self._tick_of)
        self._best_ask = _apply_asks(self.asks, _float_qty(asks), _NO_ASK, self._inv, self._tick_of)
        self.update_id = update_id
        self.applied = 0
        self.state = BookState.LIVE
        self.reason = ""

    def _apply(
        self, bids: Iterable[Sequence[Any]], asks: Iterable[Sequence[Any]], update_id: int
    ) -> ApplyResult:
        bb = self._best_bid = _apply_bids(self.bids, bids, self._best_bid, self._inv, self._tick_of)
        ba = self._best_ask = _apply_asks(self.asks, asks, self._best_ask, self._inv, self._tick_of)
        self.update_id = update_id
        self.applied += 1
        if bb >= ba:  # the sentinels make an empty side never "cross"
            # Venues never publish a crossed/locked book: we missed an update somewhere.
            return self._gap(f"book crossed after u={update_id}: bid {bb} >= ask {ba} ticks")
        return _APPLIED

    def _gap(self, reason: str) -> ApplyResult:
        self._clear()  # stale levels must not be shown as if live
        self.state = BookState.NEEDS_RESYNC
        self.reason = reason
        return ApplyResult.GAP

    # ------------------------------------------------------------------ readers
    @property
    def is_live(self) -> bool:
        return self.state is _LIVE

    def best_bid_ticks(self) -> int | None:
        return None if self._best_bid == _NO_BID else self._best_bid

    def best_ask_ticks(self) -> int | None:
        return None if self._best_ask == _NO_ASK else self._best_ask

    def best_bid(self) -> BookLevel | None:
        t = self.best_bid_ticks()
        return None if t is None else self._level(t, self.bids[t])

    def best_ask(self) -> BookLevel | None:
        t = self.best_ask_ticks()
        return None if t is None else self._level(t, self.asks[t])

    def top_ticks(self, depth: int) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """Best-first (ticks, qty) per side, up to ``depth`` levels; the cheap form for charts."""
        bids, asks = self.bids, self.asks
        bk = heapq.nlargest(depth, bids) if depth > 0 else []
        ak = heapq.nsmallest(depth, asks) if depth > 0 else []
        return [(t, bids[t]) for t in bk], [(t, asks[t]) for t in ak]

    def price(self, ticks: int) -> Decimal:
        return self.tick * ticks

    def _level(self, ticks: int, qty: float) -> BookLevel:
        # repr() is the shortest round-trip form, so this is the wire quantity exactly.
        return BookLevel(self.tick * ticks, Decimal(repr(qty)))

    def snapshot(self, depth: int = 20) -> OrderBookSnapshot:
        """An immutable Decimal view of the top ``depth`` levels, best first."""
        b, a = self.top_ticks(depth)
        return OrderBookSnapshot(
            self.venue,
            self.symbol,
            tuple(self._level(t, q) for t, q in b),
            tuple(self._level(t, q) for t, q in a),
            ts=self.ts,
            last_update_id=self.update_id,
        )


class _BinanceBook(LocalBook):
    """Shared buffering + REST snapshot handling of both Binance procedures."""

    def __init__(self, venue: Venue, symbol: str, tick: Decimal | str) -> None:
        super().__init__(venue, symbol, tick)
        self._buffer: deque[DepthDiff] = deque(maxlen=MAX_BUFFER)
        self._started = False  # first event after the snapshot seen

    def on_diff(self, msg: Mapping[str, Any] | DepthDiff | bytes | str) -> ApplyResult:
        """Feed one ``depthUpdate``: a parsed dict, a decoded :class:`DepthDiff`, or raw bytes."""
        cls = msg.__class__
        if cls is bytes and not msg.startswith(b'{"stream"'):
            d = _DIFF_DECODER.decode(msg)  # the hot path, without a call to the generic decoder
        elif cls is bytes or cls is str:
            d = decode_binance_depth(msg)
        elif cls is DepthDiff:
            d = msg
        else:
            d = _diff_from_mapping(msg)
        if self.state is not _LIVE:
            # SYNCING or NEEDS_RESYNC: the documented procedure starts by buffering.
            self._buffer.append(d)
            return ApplyResult.BUFFERED
        return self._event(d)

    def on_snapshot(self, snap: Mapping[str, Any]) -> ApplyResult:
        """Apply a REST depth snapshot (``lastUpdateId``, ``bids``, ``asks``), then the buffer.

        Returns the outcome of the whole step: APPLIED (LIVE now), SNAPSHOT_TOO_OLD (still
        buffering: fetch another) or GAP (the buffer does not chain onto the snapshot).
        """
        last = int(snap["lastUpdateId"])
        if self._buffer and not self._continues(self._buffer[0], last):
            return ApplyResult.SNAPSHOT_TOO_OLD
        self._load(snap["bids"], snap["asks"], last)
        self.ts = int(snap.get("E", 0) or 0)
        self._started = False
        buffered = list(self._buffer)
        self._buffer.clear()
        for d in buffered:
            if self._event(d) is ApplyResult.GAP:
                return ApplyResult.GAP
        return ApplyResult.APPLIED

    def reset(self) -> None:
        """Start over (e.g. after a reconnect): empty book and buffer, SYNCING."""
        self._clear()
        self._buffer.clear()
        self.update_id = -1
        self.state = BookState.SYNCING

    def _event(self, d: DepthDiff) -> ApplyResult:
        raise NotImplementedError

    def _continues(self, d: DepthDiff, last: int) -> bool:
        """Whether ``d`` may be the first event after a snapshot at ``last`` (nothing between
        them missing). Spot: ``U <= lastUpdateId + 1``."""
        first = d.U  # (a local: ruff reads the capital attribute as a constant)
        return first <= last + 1


class BinanceSpotBookSync(_BinanceBook):
    """Binance spot ``@depth`` + ``GET /api/v3/depth``.

    Drop ``u <= lastUpdateId``; the first applied event must have ``U <= lastUpdateId+1 <= u``;
    afterwards ``u <= bookId`` is stale (dropped), ``U > bookId+1`` is a gap, else apply.
    The first-event rule is the same test as the running one once ``u > bookId``.
    """

    def __init__(self, symbol: str, tick: Decimal | str, venue: Venue = Venue.BINANCE_SPOT) -> None:
        super().__init__(venue, symbol, tick)

    def on_diff(self, msg: Mapping[str, Any] | DepthDiff | bytes | str) -> ApplyResult:
        # The steady state fused (LIVE, a raw text/bytes frame, plain or combined, whose U/u
        # continue the book): the adapter's per-frame path, without the generic dispatch,
        # _event and _apply calls (~15% of a 20-level frame). Anything else goes generic.
        cls = msg.__class__
        if (cls is str or cls is bytes) and self.state is _LIVE:
            # the first key's initial: 's'tream = combined, 'e' = plain (a slice never raises)
            c = msg[2:3]
            d = _COMBINED_DECODER.decode(msg).data if c == "s" or c == b"s" else _DIFF_DECODER.decode(msg)
            uid = self.update_id
            first, last = d.U, d.u
            if last > uid and first <= uid + 1:
                self.ts = d.E
                inv, tick_of = self._inv, self._tick_of
                bb = self._best_bid = _apply_bids(self.bids, d.b, self._best_bid, inv, tick_of)
                ba = self._best_ask = _apply_asks(self.asks, d.a, self._best_ask, inv, tick_of)
                self.update_id = last
                self.applied += 1
                if bb >= ba:
                    return self._gap(f"book crossed after u={last}: bid {bb} >= ask {ba} ticks")
                return _APPLIED
            return self._event(d)
        return super().on_diff(msg)

    def _event(self, d: DepthDiff) -> ApplyResult:
        if d.u <= self.update_id:
            return ApplyResult.STALE_DROPPED
        first = d.U  # (a local: ruff reads the capital attribute as a constant)
        if first > self.update_id + 1:
            return self._gap(f"U={first} > bookId+1={self.update_id + 1}")
        self._started = True
        self.ts = d.E
        return self._apply(d.b, d.a, d.u)


class BinanceFuturesBookSync(_BinanceBook):
    """Binance USDⓈ-M ``@depth`` + ``GET /fapi/v1/depth``.

    Drop ``u < lastUpdateId``; the first event must straddle it (``U <= lastUpdateId <= u``);
    afterwards each ``pu`` must equal the previous ``u``. ``U == prev_u+1`` is deliberately not
    checked (real data violates it, PROTOCOLS.md §5).
    """

    def __init__(self, symbol: str, tick: Decimal | str, venue: Venue = Venue.BINANCE_USDM) -> None:
        super().__init__(venue, symbol, tick)

    def on_diff(self, msg: Mapping[str, Any] | DepthDiff | bytes | str) -> ApplyResult:
        # The steady state inlined (LIVE, chain started, a raw text/bytes frame, plain or
        # combined, whose pu continues the chain): the per-message cost of every futures
        # symbol, of which the generic path's extra calls and type tests were ~4%. Anything
        # else goes generic (msg[2:3] is the first key's initial: 's'tream or 'e').
        cls = msg.__class__
        if (cls is bytes or cls is str) and self._started and self.state is _LIVE:
            c = msg[2:3]
            d = _COMBINED_DECODER.decode(msg).data if c == "s" or c == b"s" else _DIFF_DECODER.decode(msg)
            if d.pu == self.update_id:
                self.ts = d.E
                last = d.u
                inv, tick_of = self._inv, self._tick_of
                bb = self._best_bid = _apply_bids(self.bids, d.b, self._best_bid, inv, tick_of)
                ba = self._best_ask = _apply_asks(self.asks, d.a, self._best_ask, inv, tick_of)
                self.update_id = last
                self.applied += 1
                if bb >= ba:  # as in _apply, inlined
                    return self._gap(f"book crossed after u={last}: bid {bb} >= ask {ba} ticks")
                return _APPLIED
            return self._event(d)
        return super().on_diff(msg)

    def _continues(self, d: DepthDiff, last: int) -> bool:
        # The documented rule is U <= lastUpdateId <= u; an event whose pu *is* the snapshot's
        # id continues it exactly (the snapshot fell on an event boundary), so nothing is
        # missing - refusing it would resync again and again.
        first = d.U
        return first <= last or d.pu == last

    def _event(self, d: DepthDiff) -> ApplyResult:
        if not self._started:
            if d.u < self.update_id:
                return ApplyResult.STALE_DROPPED
            if not self._continues(d, self.update_id):
                return self._gap(f"first event U={d.U} > lastUpdateId={self.update_id}")
            self._started = True
        elif d.pu != self.update_id:
            if d.u <= self.update_id and d.pu < self.update_id:
                # An exact re-delivery of something already applied: harmless, not a gap.
                # (A reordered pair fails here too, but its *later* half arrives first and
                # is caught as a gap, so dropping the earlier half later is safe.)
                return ApplyResult.STALE_DROPPED
            return self._gap(f"pu={d.pu} != previous u={self.update_id}")
        self.ts = d.E
        return self._apply(d.b, d.a, d.u)


class BybitBookSync(LocalBook):
    """Bybit v5 ``orderbook.N.SYM``: every snapshot resets (also ``u=1`` after a restart);
    a delta must carry ``u`` = previous + 1, else resubscribe for a fresh snapshot."""

    def __init__(self, symbol: str, tick: Decimal | str, venue: Venue = Venue.BYBIT_LINEAR) -> None:
        super().__init__(venue, symbol, tick)

    def on_message(self, msg: Mapping[str, Any]) -> ApplyResult:
        """Feed a whole parsed ``{"topic","type","ts","data"}`` frame."""
        if msg.get("type") == "snapshot":
            return self.on_snapshot(msg["data"], ts=int(msg.get("ts", 0)))
        return self.on_diff(msg["data"], ts=int(msg.get("ts", 0)))

    def on_snapshot(self, data: Mapping[str, Any], ts: int = 0) -> ApplyResult:
        self._load(data["b"], data["a"], int(data["u"]))
        self.ts = ts
        return ApplyResult.APPLIED

    def on_diff(self, data: Mapping[str, Any], ts: int = 0) -> ApplyResult:
        if self.state is not _LIVE:
            # Deltas still in flight from before our (re)subscription: the next snapshot
            # replaces everything, so they are meaningless rather than a new gap.
            return ApplyResult.STALE_DROPPED
        u = int(data["u"])
        if u <= self.update_id:
            # A re-delivery (or a late reordered copy) of a delta already applied: the book
            # already holds it, so resubscribing would cost a snapshot for nothing. A venue
            # reset always starts with a snapshot (u=1), never with a lower delta.
            return ApplyResult.STALE_DROPPED
        if u != self.update_id + 1:
            return self._gap(f"u={u} != previous u+1={self.update_id + 1}")
        self.ts = ts
        return self._apply(_float_qty(data["b"]), _float_qty(data["a"]), u)

    def reset(self) -> None:
        self._clear()
        self.update_id = -1
        self.state = BookState.SYNCING
