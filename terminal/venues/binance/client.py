"""The Binance REST layer shared by the spot and USDⓈ-M adapters.

python-binance 1.0.37 ``AsyncClient`` does the signing (HMAC, sorted params, timestamp +
offset) and the HTTP; this module adds what it lacks for trading:

* URLs from ``urls.py`` for every network (live, testnet, the simulator): one code path;
* one ``call()`` that waits for the ``RateGate``, records ``X-MBX-USED-WEIGHT-1M``, and turns
  every failure into a ``terminal.venues.errors`` type. The money rule: a timeout, dropped
  connection or 5xx on a state-changing request (``order=True``) is ``OutcomeUnknown`` and is
  never retried; idempotent reads are retried a bounded number of times;
* -1021 (timestamp outside recvWindow): resync the offset from ``GET /time`` and retry once
  (the venue refused the request before looking at it, so even an order may be re-sent);
* the measured clock offset (``clock_offset_ms``) for display;
* ``instrument_from_binance``: exchangeInfo symbol -> ``Instrument`` (spot and futures filters).

Nothing here logs or raises text containing the API secret or a signature.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Any

import aiohttp
from binance import AsyncClient
from binance.exceptions import BinanceAPIException, BinanceRequestException

from terminal.model import Instrument, InstrumentKind, Venue
from terminal.venues.base import VenueConfig
from terminal.venues.binance.urls import BinanceUrls, binance_urls
from terminal.venues.errors import (
    AuthFailed,
    ClockSkew,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    UnknownSymbol,
    VenueError,
)
from terminal.venues.ratelimit import RateGate

__all__ = [
    "FUTURES_DEPTH_LIMITS",
    "SNAPSHOT_LEVELS",
    "BinanceApi",
    "BinanceRest",
    "client_class",
    "instrument_from_binance",
    "scrub",
    "snapshot_limit",
]

log = logging.getLogger(__name__)

AUTH_CODES = frozenset({-2014, -2015, -1022})
NOT_FOUND_CODES = frozenset({-2011, -2013})
TIMESTAMP_CODE = -1021
UNKNOWN_SYMBOL_CODE = -1121

_SIG = re.compile(r"(signature=)[^&\s'\"]+", re.IGNORECASE)


# ---- depth snapshot size (request weight) ----
# Binance prices a REST depth snapshot by its ``limit``: futures 5-50 -> 2, 100 -> 5, 500 -> 10,
# 1000 -> 20; spot 1-100 -> 5, 101-500 -> 25, 501-1000 -> 50, 1001-5000 -> 250. Every resync
# (each reconnect, each gap) pays it, so the snapshot asks for what a consumer reads, not more:
# the depth chart reads at most 500 levels per side and the DOM ladder's 1000 raw levels (for
# grouping) end in a partial bucket it drops anyway. Levels below the snapshot are not lost for
# good: the diff stream adds every level it touches afterwards. A book kept to 1000 levels
# costs twice the weight on every resync for levels no one looks at.
SNAPSHOT_LEVELS = 500
FUTURES_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)  # the only limits /fapi/v1/depth accepts


def snapshot_limit(book_depth: int, allowed: tuple[int, ...] | None = None) -> int:
    """The ``limit`` for a resync snapshot: ``book_depth`` (the config) capped at
    ``SNAPSHOT_LEVELS``, rounded up to the nearest limit in ``allowed`` (None: any limit)."""
    if book_depth < 1:
        raise ValueError(f"book_depth must be >= 1, got {book_depth}")
    want = min(book_depth, SNAPSHOT_LEVELS)
    if allowed is None:
        return want
    return next((a for a in sorted(allowed) if a >= want), max(allowed))


def scrub(text: str) -> str:
    """Remove signatures from text that may contain a request URL or body."""
    return _SIG.sub(r"\1***", text)


class BinanceApi(StrEnum):
    SPOT = "spot"  # {API_URL}/{version}/path, version "v3"
    FUTURES = "futures"  # {FUTURES_URL}/{version}/path, version 1/2/3
    FUTURES_DATA = "futures_data"  # {FUTURES_DATA_URL}/path


HeadersHook = Callable[[Mapping[str, str]], None]


def client_class(urls: BinanceUrls) -> type[AsyncClient]:
    """An ``AsyncClient`` subclass whose URL class attributes are ``urls`` (PROTOCOLS.md §1).

    It also hands every response's headers to ``headers_hook`` (set per instance), so used
    weight is read from the response that carried it, not from the shared ``client.response``.
    """

    class _BinanceClient(AsyncClient):
        API_URL = urls.api
        FUTURES_URL = urls.futures
        FUTURES_DATA_URL = urls.futures_data
        WS_API_URL = urls.ws_api
        WS_FUTURES_URL = urls.ws_futures_api
        headers_hook: HeadersHook | None = None

        async def _handle_response(self, response: aiohttp.ClientResponse) -> Any:
            hook = self.headers_hook
            if hook is not None:
                try:
                    hook(response.headers)
                except Exception:  # bookkeeping must never lose a response
                    log.exception("headers hook failed")
            return await super()._handle_response(response)

    _BinanceClient.__name__ = _BinanceClient.__qualname__ = "BinanceClient"
    return _BinanceClient


def _retry_after(headers: Mapping[str, str] | None, default: float = 1.0) -> float:
    if not headers:
        return default
    raw = headers.get("Retry-After")
    try:
        return float(raw) if raw is not None else default
    except ValueError:
        return default


class BinanceRest:
    """One python-binance client plus the error/rate/clock policy; shared by both adapters.

    ``venue`` decides which ``/time`` the clock syncs against (spot ``/api/v3/time`` or futures
    ``/fapi/v1/time``). Construct, then ``await open()`` (inside the event loop).
    """

    def __init__(
        self,
        config: VenueConfig,
        *,
        gate: RateGate | None = None,
        read_retries: int = 2,
        retry_backoff_s: float = 0.25,
        max_gate_wait_s: float = 30.0,
    ) -> None:
        self.config = config
        self.venue: Venue = config.venue
        self.urls = binance_urls(config)
        weight_limit = 2400 if config.venue is Venue.BINANCE_USDM else 6000
        self.gate = gate or RateGate(config.venue, weight_limit=weight_limit)
        self.read_retries = read_retries
        self.retry_backoff_s = retry_backoff_s
        self.max_gate_wait_s = max_gate_wait_s
        self.clock_offset_ms = 0  # server minus local, ms (for display and signing)
        self.clock_rtt_ms = 0.0  # round trip of the last /time probe
        self.clock_synced_at = 0.0  # time.time() of the last sync
        self._client: AsyncClient | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            raise RuntimeError("BinanceRest.open() was not awaited")
        return self._client

    async def open(self) -> None:
        """Build the client (no network) and sync the clock through ``call`` (gate + mapping)."""
        if self._client is None:
            creds = self.config.credentials
            cls = client_class(self.urls)
            # __init__ does no I/O (AsyncClient.create would ping outside our error mapping).
            c = cls(
                creds.key if creds else None,
                creds.secret if creds else None,
                requests_params={"timeout": aiohttp.ClientTimeout(total=self.config.request_timeout_s)},
                testnet=False,
            )
            c.REQUEST_RECVWINDOW = self.config.recv_window_ms
            c.headers_hook = self._on_headers
            self._client = c
        await self.sync_clock()

    async def close(self) -> None:
        c, self._client = self._client, None
        if c is not None:
            await c.close_connection()

    # ------------------------------------------------------------------ clock
    async def sync_clock(self) -> int:
        """Measure the offset to the venue clock (midpoint of the round trip); returns ms."""
        if self.venue is Venue.BINANCE_USDM:
            api, version = BinanceApi.FUTURES, 1
        else:
            api, version = BinanceApi.SPOT, "v3"
        t0 = time.time()
        res = await self.call("GET", "time", api=api, version=version, _clock=False)
        t1 = time.time()
        server = int(res["serverTime"])
        offset = round(server - (t0 + t1) * 500)
        self.clock_offset_ms = offset
        self.clock_rtt_ms = (t1 - t0) * 1000
        self.clock_synced_at = t1
        self.client.timestamp_offset = offset
        return offset

    def server_time_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    # ------------------------------------------------------------------ requests
    def _on_headers(self, headers: Mapping[str, str]) -> None:
        raw = headers.get("X-MBX-USED-WEIGHT-1M") or headers.get("X-MBX-USED-WEIGHT")
        if raw is not None:
            try:
                self.gate.note_weight(int(raw))
            except ValueError:
                pass

    async def _send(
        self, method: str, path: str, signed: bool, api: BinanceApi, version: str | int | None, params: dict
    ) -> Any:
        c = self.client
        m = method.lower()
        # a fresh dict per attempt: python-binance adds timestamp/signature into it
        data = dict(params)
        kwargs: dict[str, Any] = {"data": data} if data or signed else {}
        if api is BinanceApi.SPOT:
            return await c._request_api(m, path, signed, version or "v3", **kwargs)
        if api is BinanceApi.FUTURES:
            return await c._request_futures_api(m, path, signed, version or 1, **kwargs)
        return await c._request_futures_data_api(m, path, signed, **kwargs)

    async def call(
        self,
        method: str,
        path: str,
        *,
        signed: bool = False,
        params: Mapping[str, Any] | None = None,
        api: BinanceApi = BinanceApi.SPOT,
        version: str | int | None = None,
        order: bool = False,
        retries: int | None = None,
        _clock: bool = True,
    ) -> Any:
        """One REST request with the venue's failure modes mapped to typed errors.

        ``order=True``: a state-changing request (place/cancel/amend). It is sent at most once
        (plus one re-send after a -1021 resync, which the venue refused unseen); a timeout,
        connection loss or 5xx raises ``OutcomeUnknown``, and a 4xx refusal ``OrderRejected``
        (or ``OrderNotFound`` for -2011/-2013). Reads are retried ``retries`` times with backoff
        on transport errors and 5xx, then raise ``VenueError``.
        ``params`` with value None are dropped (as python-binance does).
        """
        p = {k: v for k, v in (params or {}).items() if v is not None}
        tries_left = 0 if order else (self.read_retries if retries is None else retries)
        resynced = False
        attempt = 0
        what = f"{method.upper()} {path}"
        while True:
            await self.gate.acquire(max_wait_s=self.max_gate_wait_s)
            # The error is built inside ``except`` but raised outside it, so it carries no
            # implicit __context__: python-binance's exception holds the request URL (with a
            # GET's signature) and must not travel up with ours.
            error: VenueError
            try:
                return await self._send(method, path, signed, api, version, p)
            except BinanceAPIException as exc:
                error = self._api_error(exc, what, order)
            except (aiohttp.ClientError, OSError, TimeoutError, BinanceRequestException) as exc:
                detail = f"{type(exc).__name__}: {scrub(str(exc))}".rstrip(": ")
                if order:
                    error = OutcomeUnknown(
                        self.venue, f"{what}: {detail}; the request may have been executed"
                    )
                else:
                    error = _Retryable(self.venue, f"{what}: {detail}")
            if isinstance(error, _Retryable):
                if tries_left > 0:
                    tries_left -= 1
                    attempt += 1
                    await asyncio.sleep(self.retry_backoff_s * attempt)
                    continue
                raise VenueError(self.venue, error.venue_message, code=error.code)
            if isinstance(error, ClockSkew) and _clock and not resynced:
                resynced = True  # the venue refused the request unseen: one re-send is safe
                old = self.clock_offset_ms
                await self.sync_clock()
                log.warning(
                    "%s: -1021 on %s, clock offset %d -> %d ms; retrying once",
                    self.venue,
                    what,
                    old,
                    self.clock_offset_ms,
                )
                continue
            raise error

    def _api_error(self, exc: BinanceAPIException, what: str, order: bool) -> VenueError:
        """Map a non-2xx answer; ``_Retryable`` marks a read that may be sent again."""
        status = int(exc.status_code)
        code = exc.code if isinstance(exc.code, int) and exc.code != 0 else None
        msg = scrub(str(exc.message or ""))
        if code is None and msg.startswith("Invalid JSON"):
            msg = "(non-JSON error body)"  # a gateway HTML page; its repr holds the URL
        if status in (418, 429):
            retry_after = _retry_after(getattr(exc.response, "headers", None))
            self.gate.block_for(retry_after)
            return RateLimited(
                self.venue, f"{what}: HTTP {status} {msg}".strip(), retry_after_s=retry_after, code=code
            )
        if status >= 500:
            if order:
                return OutcomeUnknown(
                    self.venue, f"{what}: HTTP {status} {msg}; the request may have been executed", code=code
                )
            return _Retryable(self.venue, f"{what}: HTTP {status} {msg}", code=code)
        if code == TIMESTAMP_CODE:
            return ClockSkew(self.venue, f"{what}: {msg}", code=code)
        if code in AUTH_CODES:
            return AuthFailed(self.venue, f"{what}: {msg}", code=code)
        if code in NOT_FOUND_CODES:
            return OrderNotFound(self.venue, f"{what}: {msg}", code=code)
        if code == UNKNOWN_SYMBOL_CODE:
            return UnknownSymbol(self.venue, f"{what}: {msg}", code=code)
        if order:
            return OrderRejected(self.venue, msg or f"HTTP {status}", code=code)
        return VenueError(self.venue, f"{what}: HTTP {status} {msg}", code=code)


class _Retryable(VenueError):
    """Internal: a read failed in a way worth one more try (transport error, 5xx)."""


# ---------------------------------------------------------------------- exchangeInfo


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def _positive(value: Any) -> Decimal | None:
    """Binance writes 0 for "no limit" in several filters."""
    if value is None:
        return None
    d = _dec(value)
    return d if d > 0 else None


def instrument_from_binance(info: Mapping[str, Any], venue: Venue, kind: InstrumentKind) -> Instrument:
    """One ``exchangeInfo`` symbol (spot or USDⓈ-M) -> ``Instrument``.

    PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, NOTIONAL (spot) / MIN_NOTIONAL (old spot
    ``minNotional``, futures ``notional``), PERCENT_PRICE(_BY_SIDE: the widest envelope of both
    sides, so the local check never refuses what the venue accepts).
    """
    filters = {f["filterType"]: f for f in info.get("filters", ())}
    pf = filters.get("PRICE_FILTER", {})
    lot = filters.get("LOT_SIZE", {})
    mlot = filters.get("MARKET_LOT_SIZE", {})
    tick = _positive(pf.get("tickSize"))
    step = _positive(lot.get("stepSize"))
    if tick is None:  # tickSize 0 disables the rule: fall back to the published precision
        tick = Decimal(1).scaleb(-int(info.get("pricePrecision", info.get("quotePrecision", 8))))
    if step is None:
        step = Decimal(1).scaleb(-int(info.get("quantityPrecision", info.get("baseAssetPrecision", 8))))

    min_notional = Decimal(0)
    max_notional: Decimal | None = None
    if "NOTIONAL" in filters:
        nf = filters["NOTIONAL"]
        min_notional = _dec(nf.get("minNotional", "0"))
        max_notional = _positive(nf.get("maxNotional"))
    elif "MIN_NOTIONAL" in filters:
        nf = filters["MIN_NOTIONAL"]
        min_notional = _dec(nf.get("minNotional", nf.get("notional", "0")))

    up = down = None
    if "PERCENT_PRICE_BY_SIDE" in filters:
        f = filters["PERCENT_PRICE_BY_SIDE"]
        up = max(_dec(f["bidMultiplierUp"]), _dec(f["askMultiplierUp"]))
        down = min(_dec(f["bidMultiplierDown"]), _dec(f["askMultiplierDown"]))
    elif "PERCENT_PRICE" in filters:
        f = filters["PERCENT_PRICE"]
        up, down = _positive(f.get("multiplierUp")), _positive(f.get("multiplierDown"))

    return Instrument(
        venue=venue,
        symbol=info["symbol"],
        base=info["baseAsset"],
        quote=info["quoteAsset"],
        kind=kind,
        tick_size=tick,
        step_size=step,
        min_qty=_dec(lot.get("minQty", "0")),
        max_qty=_positive(lot.get("maxQty")),
        market_max_qty=_positive(mlot.get("maxQty")),
        min_notional=min_notional,
        max_notional=max_notional,
        min_price=_dec(pf.get("minPrice", "0")),
        max_price=_positive(pf.get("maxPrice")),
        percent_price_up=up,
        percent_price_down=down,
    )
