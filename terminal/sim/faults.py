"""Fault injection: what goes wrong next, per venue.

Faults are armed through the Python API or ``POST /sim/faults`` and consumed by the
protocol servers where the real venue would misbehave. They are observable only as
the real venue shows them (a closed socket, a skipped update id, an HTTP 429 with
Retry-After, ...), never as a flag in a payload.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from terminal.model.enums import Venue


class HttpFault(StrEnum):
    RATE_LIMIT = "rate_limit"  # Binance HTTP 429 -1003 / Bybit retCode 10006, with Retry-After
    IP_BAN = "ip_ban"  # Binance HTTP 418 / Bybit HTTP 403
    SERVER_ERROR = "server_error"  # HTTP 5xx (status configurable, default 503)
    TIMESTAMP = "timestamp"  # signed requests only: Binance -1021 / Bybit 10002
    DELAY = "delay"  # answer correctly, but after delay_s
    # The venue executes the request, then the answer is lost: what a client sees as a
    # timeout or a dropped connection although its order exists.
    DROP_RESPONSE = "drop_response"  # process, then abort the TCP connection without answering
    TIMEOUT_RESPONSE = "timeout_response"  # process, then hold the answer for delay_s


# Faults applied after the request was processed (the others replace processing).
AFTER_PROCESSING = frozenset({HttpFault.DROP_RESPONSE, HttpFault.TIMEOUT_RESPONSE})

# Order-placement routes, for ``inject_http(paths=ORDER_PLACEMENT_PATHS)``.
ORDER_PLACEMENT_PATHS = frozenset({"POST /api/v3/order", "POST /fapi/v1/order", "POST /v5/order/create"})


class StreamFault(StrEnum):
    DROP = "drop"  # abort matching websocket connections (no close frame)
    GAP = "gap"  # skip one depth message: the next one's U/pu/u reveals the gap
    DUPLICATE = "duplicate"  # send the next data message twice
    REORDER = "reorder"  # swap the next two data messages of a stream
    STALL = "stall"  # stop data messages for duration_s; the socket stays open, pings answered
    EXPIRE_LISTEN_KEY = "expire_listen_key"  # Binance futures: listenKeyExpired, key dead
    BOOK_RESET = "book_reset"  # Bybit: snapshot with u=1, as after a service restart


@dataclass(slots=True)
class HttpFaultSpec:
    kind: HttpFault
    venue: Venue | None  # None: every venue
    remaining: int
    status: int = 0  # SERVER_ERROR status
    retry_after_s: int = 2
    delay_s: float = 0.0
    probability: float = 1.0  # chance that a matching request is struck (seeded: ``rng``)
    # "METHOD /path" or "/path" (any method); None matches every request. Requests that do
    # not say which route they are (WebSocket API) never match a path-restricted fault.
    paths: frozenset[str] | None = None
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def matches(self, method: str | None, path: str | None) -> bool:
        if self.paths is None:
            return True
        if path is None:
            return False
        return path in self.paths or f"{(method or '').upper()} {path}" in self.paths


@dataclass(slots=True)
class StreamFaultSpec:
    kind: StreamFault
    venue: Venue | None
    remaining: int
    symbol: str | None = None  # None: any symbol
    duration_s: float = 5.0  # STALL
    armed_at: float = field(default_factory=time.monotonic)


class FaultController:
    """Armed faults; consumers call ``take_*`` where the fault would strike."""

    def __init__(self) -> None:
        self._http: list[HttpFaultSpec] = []
        self._stream: list[StreamFaultSpec] = []
        self._stalls: dict[tuple[Venue, str | None], float] = {}  # -> monotonic end
        self.injected: dict[str, int] = {}  # kind -> times it struck (for tests/bench)
        self._drop_listeners: list = []

    # ---- arming ----
    def inject_http(
        self,
        kind: HttpFault,
        venue: Venue | None = None,
        count: int = 1,
        status: int = 503,
        retry_after_s: int = 2,
        delay_s: float = 0.0,
        *,
        probability: float = 1.0,
        paths: Iterable[str] | None = None,
        seed: int = 0,
    ) -> None:
        """Arm ``count`` strikes of ``kind``. With ``probability`` < 1 each matching request
        is struck with that chance (seeded, reproducible) until ``count`` strikes happened;
        ``paths`` restricts the fault to routes such as ``ORDER_PLACEMENT_PATHS``."""
        if not 0.0 < probability <= 1.0:
            raise ValueError(f"probability must be in (0, 1], got {probability}")
        self._http.append(
            HttpFaultSpec(
                kind,
                venue,
                count,
                status,
                retry_after_s,
                delay_s,
                probability=probability,
                paths=None if paths is None else frozenset(paths),
                rng=random.Random(seed),
            )
        )

    def inject_stream(
        self,
        kind: StreamFault,
        venue: Venue | None = None,
        count: int = 1,
        symbol: str | None = None,
        duration_s: float = 5.0,
    ) -> None:
        if kind is StreamFault.STALL:
            # A stall is a state, not a countable event: it starts now.
            for v in [venue] if venue else list(Venue):
                self._stalls[(v, symbol)] = time.monotonic() + duration_s
            self._count(kind)
            return
        if kind is StreamFault.DROP:
            # A drop strikes now (the listeners abort the matching sockets): counted once,
            # never left armed, or a later connection would be judged by a stale spec.
            for cb in list(self._drop_listeners):
                cb(venue, symbol)
            self._count(kind)
            return
        self._stream.append(StreamFaultSpec(kind, venue, count, symbol, duration_s))

    def on_drop(self, callback) -> None:
        """Register ``callback(venue | None, symbol | None)`` run when a DROP is armed."""
        self._drop_listeners.append(callback)

    def clear(self) -> None:
        self._http.clear()
        self._stream.clear()
        self._stalls.clear()

    # ---- consuming ----
    def take_http(
        self,
        venue: Venue,
        signed: bool,
        kinds: frozenset[HttpFault] | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> HttpFaultSpec | None:
        """Consume one armed fault for this request (only of ``kinds`` if given)."""
        for spec in self._http:
            if spec.venue not in (None, venue) or (kinds is not None and spec.kind not in kinds):
                continue
            if spec.kind is HttpFault.TIMESTAMP and not signed:
                continue
            if not spec.matches(method, path):
                continue
            if spec.probability < 1.0 and spec.rng.random() >= spec.probability:
                continue  # this request is spared; the fault stays armed
            spec.remaining -= 1
            if spec.remaining <= 0:
                self._http.remove(spec)
            self._count(spec.kind)
            return spec
        return None

    def take_stream(self, venue: Venue, kind: StreamFault, symbol: str | None = None) -> bool:
        """Consume one armed ``kind`` fault matching venue/symbol; True if it strikes now."""
        for spec in self._stream:
            if spec.kind is not kind or spec.venue not in (None, venue):
                continue
            if spec.symbol is not None and symbol is not None and spec.symbol != symbol:
                continue
            spec.remaining -= 1
            if spec.remaining <= 0:
                self._stream.remove(spec)
            self._count(kind)
            return True
        return False

    def pending_stream(self, venue: Venue, kind: StreamFault) -> bool:
        return any(s.kind is kind and s.venue in (None, venue) for s in self._stream)

    def stalled(self, venue: Venue, symbol: str | None = None) -> bool:
        if not self._stalls:
            return False
        now = time.monotonic()
        for key in ((venue, None), (venue, symbol)):
            end = self._stalls.get(key)
            if end is not None:
                if now < end:
                    return True
                del self._stalls[key]
        return False

    def _count(self, kind: StrEnum) -> None:
        self.injected[str(kind)] = self.injected.get(str(kind), 0) + 1


async def lose_response(request: Any, spec: HttpFaultSpec) -> None:
    """Apply a lost-answer fault to an already processed aiohttp ``request``.

    DROP_RESPONSE aborts the connection (the client sees it closed without a response);
    TIMEOUT_RESPONSE holds the answer ``delay_s`` so a client with a shorter timeout gives up.
    """
    if spec.kind is HttpFault.TIMEOUT_RESPONSE:
        await asyncio.sleep(spec.delay_s)
    elif spec.kind is HttpFault.DROP_RESPONSE and request.transport is not None:
        request.transport.abort()
