"""Reference implementations of the venues' documented local order-book procedures.

Each class is fed parsed stream messages (and REST snapshots) and keeps the book as
``{price_str: qty_str}`` per side, exactly as the wire spells the levels (clients match
levels as strings). A broken sequence raises ``GapDetected``; the caller then starts
over (new instance, new snapshot), as the venues' docs prescribe.

- ``BinanceSpotBookSync``: ``@depth`` U/u + ``GET /api/v3/depth`` lastUpdateId.
- ``BinanceFuturesBookSync``: ``@depth`` pu chain + ``GET /fapi/v1/depth``.
- ``BybitBookSync``: ``orderbook.N.SYM`` snapshot/delta with ``u`` incrementing by one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any


class GapDetected(Exception):
    """The update sequence is broken: discard the book and resynchronise."""


class SnapshotTooOld(Exception):
    """The REST snapshot predates the first buffered event: fetch another one."""


Levels = dict[str, str]


def _is_zero(qty: str) -> bool:
    return Decimal(qty) == 0


def _apply(side: Levels, changes: Iterable[Iterable[str]]) -> None:
    for level in changes:
        price, qty = level[0], level[1]
        if _is_zero(qty):
            side.pop(price, None)  # deleting an unknown level is normal
        else:
            side[price] = qty


class _Book:
    def __init__(self) -> None:
        self.bids: Levels = {}
        self.asks: Levels = {}
        self.update_id = -1
        self.synced = False
        self.applied = 0  # events applied after the snapshot

    def load(self, bids: Iterable[Iterable[str]], asks: Iterable[Iterable[str]], update_id: int) -> None:
        self.bids = {b[0]: b[1] for b in bids}
        self.asks = {a[0]: a[1] for a in asks}
        self.update_id = update_id
        self.synced = True

    def top(self, n: int | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Sorted levels (best first), up to ``n`` per side."""
        bids = sorted(self.bids.items(), key=lambda kv: Decimal(kv[0]), reverse=True)
        asks = sorted(self.asks.items(), key=lambda kv: Decimal(kv[0]))
        if n is not None:
            bids, asks = bids[:n], asks[:n]
        return bids, asks


class BinanceSpotBookSync(_Book):
    """Binance spot: buffer ``depthUpdate`` events, then apply a ``/api/v3/depth`` snapshot.

    1. Buffer events; 2. snapshot: if ``lastUpdateId`` < first buffered ``U`` fetch again;
    3. drop events with ``u <= lastUpdateId``; 4. for every event: ``u < id`` ignore,
    ``U > id + 1`` gap, else apply (absolute quantities, 0 deletes) and ``id = u``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._buffer: list[Mapping[str, Any]] = []

    def on_event(self, msg: Mapping[str, Any]) -> None:
        if not self.synced:
            self._buffer.append(msg)
            return
        self._apply_event(msg)

    def on_snapshot(self, snap: Mapping[str, Any]) -> None:
        last = int(snap["lastUpdateId"])
        if self._buffer and last < int(self._buffer[0]["U"]):
            raise SnapshotTooOld(f"snapshot {last} < first buffered U {self._buffer[0]['U']}")
        self.load(snap["bids"], snap["asks"], last)
        buffered, self._buffer = self._buffer, []
        for msg in buffered:
            if int(msg["u"]) <= last:
                continue
            self._apply_event(msg)

    def _apply_event(self, msg: Mapping[str, Any]) -> None:
        first, final = int(msg["U"]), int(msg["u"])
        if final < self.update_id:
            return  # old
        if first > self.update_id + 1:
            self.synced = False
            raise GapDetected(f"U={first} > last u + 1 = {self.update_id + 1}")
        _apply(self.bids, msg["b"])
        _apply(self.asks, msg["a"])
        self.update_id = final
        self.applied += 1


class BinanceFuturesBookSync(_Book):
    """Binance USDⓈ-M: the first event straddles ``lastUpdateId``; then each ``pu`` = previous ``u``."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer: list[Mapping[str, Any]] = []
        self._started = False

    def on_event(self, msg: Mapping[str, Any]) -> None:
        if not self.synced:
            self._buffer.append(msg)
            return
        self._apply_event(msg)

    def on_snapshot(self, snap: Mapping[str, Any]) -> None:
        last = int(snap["lastUpdateId"])
        if self._buffer and last < int(self._buffer[0]["U"]):
            raise SnapshotTooOld(f"snapshot {last} < first buffered U {self._buffer[0]['U']}")
        self.load(snap["bids"], snap["asks"], last)
        self._started = False
        buffered, self._buffer = self._buffer, []
        for msg in buffered:
            self._apply_event(msg)

    def _apply_event(self, msg: Mapping[str, Any]) -> None:
        first, final = int(msg["U"]), int(msg["u"])
        if not self._started:
            if final < self.update_id:
                return  # before the snapshot
            if first > self.update_id:
                self.synced = False
                raise GapDetected(f"first event U={first} > lastUpdateId={self.update_id}")
            self._started = True
        elif int(msg["pu"]) != self.update_id:
            self.synced = False
            raise GapDetected(f"pu={msg['pu']} != previous u={self.update_id}")
        _apply(self.bids, msg["b"])
        _apply(self.asks, msg["a"])
        self.update_id = final
        self.applied += 1


class BybitBookSync(_Book):
    """Bybit v5 ``orderbook.N.SYM``: a snapshot resets the book; deltas need ``u`` = previous + 1."""

    def on_message(self, msg: Mapping[str, Any]) -> None:
        data = msg["data"]
        u = int(data["u"])
        if msg["type"] == "snapshot":
            self.load(data["b"], data["a"], u)
            return
        if not self.synced:
            raise GapDetected("delta before any snapshot")
        if u != self.update_id + 1:
            self.synced = False
            raise GapDetected(f"u={u} != previous u + 1 = {self.update_id + 1}")
        _apply(self.bids, data["b"])
        _apply(self.asks, data["a"])
        self.update_id = u
        self.applied += 1
