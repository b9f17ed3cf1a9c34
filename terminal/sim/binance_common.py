"""What Binance Spot and USDⓈ-M share: errors, parameters, signing, weights, streams.

The protocol modules (``binance_spot``, ``binance_futures``) build on this:

- ``BinanceHttp.route`` wraps an endpoint with Binance's request pipeline: injected
  HTTP faults, the per-IP request-weight limiter (429, then 418), API-key and HMAC
  signature checks, the timestamp/recvWindow rule, and error rendering
  (``{"code":..,"msg":..}`` with the venue's HTTP status). Every response carries
  ``X-MBX-USED-WEIGHT-1M``.
- ``StreamEngine`` serves market streams (``/ws/<stream>``, ``/stream?streams=``, live
  SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS), runs one publisher per stream source
  (depth diffs per (symbol, speed) built on ``market.changes_since``, partial depth,
  klines, tickers, bookTicker) and serialises each message once. The payload shapes
  come from a venue's ``StreamFormat`` subclass.

A venue plugs in with: a ``WeightLimiter`` (its limit), a RejectReason -> error table
(``SPOT_REJECTS`` / ``FUTURES_REJECTS``), a ``StreamDialect`` (accepted names and speeds),
a ``StreamFormat`` subclass (payloads), and ``stream_routes(..., prefix, allowed)`` for
path-split streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import WSMsgType, web

from terminal.model.enums import Side, Venue
from terminal.sim.events import SimEvent, TradeEvent
from terminal.sim.exchange import Credentials, SimExchange
from terminal.sim.faults import AFTER_PROCESSING, HttpFault, HttpFaultSpec, StreamFault, lose_response
from terminal.sim.instruments import SimInstrument
from terminal.sim.klines import DAY_MS, MINUTE_MS, MONTH, WEEK_MS, Kline, bucket_start
from terminal.sim.orders import RejectReason, SimReject
from terminal.sim.wsconn import WsPeer

log = logging.getLogger(__name__)

JsonObj = dict[str, Any]

# =====================================================================================
# Errors
# =====================================================================================


class BinanceApiError(Exception):
    """A Binance error answer: HTTP ``http_status`` with body ``{"code":..,"msg":..}``."""

    def __init__(
        self, code: int, msg: str, http_status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.http_status = http_status
        self.headers = headers or {}

    def body(self) -> JsonObj:
        return {"code": self.code, "msg": self.msg}

    def to_response(self, extra_headers: dict[str, str] | None = None) -> web.Response:
        headers = {**self.headers, **(extra_headers or {})}
        return web.Response(
            status=self.http_status,
            body=orjson.dumps(self.body()),
            content_type="application/json",
            headers=headers,
        )


DECIMAL_PATTERN = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
INT_PATTERN = r"^[0-9]{1,20}$"
_DECIMAL_RE = re.compile(DECIMAL_PATTERN)
_INT_RE = re.compile(r"^-?[0-9]{1,20}$")


def mandatory(name: str) -> BinanceApiError:
    return BinanceApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal_chars(name: str, legal: str = DECIMAL_PATTERN) -> BinanceApiError:
    return BinanceApiError(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'."
    )


def too_much_precision(name: str) -> BinanceApiError:
    return BinanceApiError(-1111, f"Parameter '{name}' has too much precision.")


def invalid_symbol() -> BinanceApiError:
    return BinanceApiError(-1121, "Invalid symbol.")


@dataclass(frozen=True, slots=True)
class ApiErr:
    """A row of a RejectReason -> venue error table."""

    code: int
    msg: str
    http_status: int = 400

    def error(self) -> BinanceApiError:
        return BinanceApiError(self.code, self.msg, self.http_status)


# What cancel / query say when the order is not there (the core says UNKNOWN_ORDER for both).
UNKNOWN_ORDER_ON_CANCEL = ApiErr(-2011, "Unknown order sent.")
UNKNOWN_ORDER_ON_QUERY = ApiErr(-2013, "Order does not exist.")

SPOT_REJECTS: dict[RejectReason, ApiErr] = {
    RejectReason.UNKNOWN_SYMBOL: ApiErr(-1121, "Invalid symbol."),
    RejectReason.PRICE_FILTER: ApiErr(-1013, "Filter failure: PRICE_FILTER"),
    RejectReason.LOT_SIZE: ApiErr(-1013, "Filter failure: LOT_SIZE"),
    RejectReason.MARKET_LOT_SIZE: ApiErr(-1013, "Filter failure: MARKET_LOT_SIZE"),
    RejectReason.MIN_NOTIONAL: ApiErr(-1013, "Filter failure: NOTIONAL"),
    RejectReason.MAX_NOTIONAL: ApiErr(-1013, "Filter failure: NOTIONAL"),
    RejectReason.INSUFFICIENT_BALANCE: ApiErr(
        -2010, "Account has insufficient balance for requested action."
    ),
    RejectReason.POST_ONLY_WOULD_TAKE: ApiErr(-2010, "Order would immediately match and take."),
    RejectReason.WOULD_TRIGGER_IMMEDIATELY: ApiErr(-2010, "Stop price would trigger immediately."),
    RejectReason.DUPLICATE_CLIENT_ID: ApiErr(-2010, "Duplicate order sent."),
    RejectReason.UNKNOWN_ORDER: UNKNOWN_ORDER_ON_QUERY,
    RejectReason.INVALID_PARAMETER: ApiErr(-1013, "Invalid quantity."),
    RejectReason.NO_LIQUIDITY: ApiErr(
        -2010, "Order book liquidity is less than LOT_SIZE filter minimum quantity."
    ),
    RejectReason.MARGIN_INSUFFICIENT: ApiErr(-2010, "Account has insufficient balance for requested action."),
    RejectReason.REDUCE_ONLY_REJECTED: ApiErr(-2010, "Order would immediately match and take."),
    RejectReason.POSITION_SIDE_MISMATCH: ApiErr(-1106, "Parameter 'positionSide' sent when not required."),
    RejectReason.MODE_CHANGE_WITH_OPEN: ApiErr(-2010, "Order rejected."),
}

# USDⓈ-M futures codes (binance_futures may extend or override rows in its own copy).
FUTURES_REJECTS: dict[RejectReason, ApiErr] = {
    RejectReason.UNKNOWN_SYMBOL: ApiErr(-1121, "Invalid symbol."),
    RejectReason.PRICE_FILTER: ApiErr(-4014, "Price not increased by tick size."),
    RejectReason.LOT_SIZE: ApiErr(-4023, "Quantity not increased by step size."),
    RejectReason.MARKET_LOT_SIZE: ApiErr(-4005, "Quantity greater than max quantity."),
    RejectReason.MIN_NOTIONAL: ApiErr(
        -4164, "Order's notional must be no smaller than 5 (unless you choose reduce only)."
    ),
    RejectReason.MAX_NOTIONAL: ApiErr(-2027, "Exceeded the maximum allowable position at current leverage."),
    RejectReason.INSUFFICIENT_BALANCE: ApiErr(-2019, "Margin is insufficient."),
    RejectReason.MARGIN_INSUFFICIENT: ApiErr(-2019, "Margin is insufficient."),
    RejectReason.POST_ONLY_WOULD_TAKE: ApiErr(
        -5022,
        "Due to the order could not be executed as maker, the Post Only order will be rejected. "
        "The order will not be recorded in the order history",
    ),
    RejectReason.WOULD_TRIGGER_IMMEDIATELY: ApiErr(-2021, "Order would immediately trigger."),
    RejectReason.REDUCE_ONLY_REJECTED: ApiErr(-2022, "ReduceOnly Order is rejected."),
    RejectReason.DUPLICATE_CLIENT_ID: ApiErr(-4116, "ClientOrderId is duplicated."),
    RejectReason.UNKNOWN_ORDER: UNKNOWN_ORDER_ON_QUERY,
    RejectReason.INVALID_PARAMETER: ApiErr(-4003, "Quantity less than or equal to zero."),
    RejectReason.POSITION_SIDE_MISMATCH: ApiErr(
        -4061, "Order's position side does not match user's setting."
    ),
    RejectReason.MODE_CHANGE_WITH_OPEN: ApiErr(
        -4068, "Position side cannot be changed if there exists position."
    ),
    RejectReason.NO_LIQUIDITY: ApiErr(-2010, "Order would immediately match and take."),
}


def reject_error(
    exc: SimReject, table: dict[RejectReason, ApiErr], unknown_order: ApiErr = UNKNOWN_ORDER_ON_QUERY
) -> BinanceApiError:
    """The venue error for a core refusal; ``unknown_order`` picks cancel (-2011) vs query (-2013)."""
    if exc.reason is RejectReason.UNKNOWN_ORDER:
        return unknown_order.error()
    row = table.get(exc.reason)
    if row is None:
        return BinanceApiError(-1000, "An unknown error occured while processing the request.", 400)
    return row.error()


# =====================================================================================
# Parameters
# =====================================================================================


async def read_params(request: web.Request) -> tuple[dict[str, str], str]:
    """Merged query + form-body parameters, and the payload the signature covers.

    Binance signs ``totalParams`` = raw query string + raw request body (concatenated),
    with the ``signature`` parameter removed.
    """
    query = request.query_string
    body = ""
    if request.can_read_body:
        body = (await request.read()).decode("utf-8", errors="replace")
    params: dict[str, str] = {}
    for source in (query, body):
        if source:
            for k, v in parse_qsl(source, keep_blank_values=True):
                params[k] = v
    payload = _strip_signature(query) + _strip_signature(body)
    return params, payload


def _strip_signature(raw: str) -> str:
    if "signature=" not in raw:
        return raw
    return "&".join(p for p in raw.split("&") if not p.startswith("signature="))


def param_str(params: dict[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise mandatory(name)
    return value


def opt_str(params: dict[str, str], name: str) -> str | None:
    value = params.get(name)
    return value if value else None


def param_decimal(params: dict[str, str], name: str, max_decimals: int | None = None) -> Decimal:
    """A required non-negative decimal (-1102 if missing, -1100 if malformed, -1111 if too precise)."""
    return _decimal(param_str(params, name), name, max_decimals)


def opt_decimal(params: dict[str, str], name: str, max_decimals: int | None = None) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    return _decimal(raw, name, max_decimals)


def _decimal(raw: str, name: str, max_decimals: int | None) -> Decimal:
    if not _DECIMAL_RE.match(raw):
        raise illegal_chars(name)
    if max_decimals is not None and "." in raw:
        frac = raw.split(".", 1)[1].rstrip("0")
        if len(frac) > max_decimals:
            raise too_much_precision(name)
    try:
        return Decimal(raw)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guarantees it
        raise illegal_chars(name) from exc


def opt_int(params: dict[str, str], name: str, default: int | None = None) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not _INT_RE.match(raw):
        raise illegal_chars(name, INT_PATTERN)
    return int(raw)


def param_int(params: dict[str, str], name: str) -> int:
    value = opt_int(params, name)
    if value is None:
        raise mandatory(name)
    return value


def param_side(params: dict[str, str]) -> Side:
    raw = param_str(params, "side")
    try:
        return Side(raw)
    except ValueError as exc:
        raise BinanceApiError(-1117, "Invalid side.") from exc


def parse_bool(params: dict[str, str], name: str, default: bool = False) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    raise BinanceApiError(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is 'true, false'."
    )


def limit_param(params: dict[str, str], default: int, maximum: int, name: str = "limit") -> int:
    value = opt_int(params, name, default)
    assert value is not None
    if value <= 0:
        raise BinanceApiError(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '{INT_PATTERN}'."
        )
    return min(value, maximum)


# =====================================================================================
# Signed requests
# =====================================================================================

RECV_WINDOW_DEFAULT = 5000
RECV_WINDOW_MAX = 60000
FUTURE_TOLERANCE_MS = 1000


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def server_time_ms(exchange: SimExchange, venue: Venue) -> int:
    market = exchange.markets.get(venue)
    return market.now_ms() if market is not None else int(time.time() * 1000)


def check_api_key(exchange: SimExchange, api_key: str | None) -> Credentials:
    if not api_key:
        raise BinanceApiError(-2014, "API-key format invalid.", 401)
    creds = exchange.credentials_for(api_key)
    if creds is None:
        raise BinanceApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
    return creds


def check_timestamp(params: dict[str, str], now_ms: int, timestamp_fault: bool = False) -> None:
    """Binance's rule: ``timestamp < server + 1000`` and ``server - timestamp <= recvWindow``."""
    recv_window = opt_int(params, "recvWindow", RECV_WINDOW_DEFAULT)
    assert recv_window is not None
    if recv_window > RECV_WINDOW_MAX:
        raise BinanceApiError(-1131, "recvWindow must be less than 60000.")
    ts = opt_int(params, "timestamp")
    if ts is None:
        raise mandatory("timestamp")
    if timestamp_fault:
        raise BinanceApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
    if ts >= now_ms + FUTURE_TOLERANCE_MS:
        raise BinanceApiError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now_ms - ts > recv_window:
        raise BinanceApiError(-1021, "Timestamp for this request is outside of the recvWindow.")


def check_signature(secret: str, payload: str, signature: str | None) -> None:
    if not signature:
        raise mandatory("signature")
    if not hmac.compare_digest(sign(secret, payload), signature.lower()):
        raise BinanceApiError(-1022, "Signature for this request is not valid.")


def verify_signed(
    exchange: SimExchange,
    request: web.Request,
    params: dict[str, str],
    payload: str,
    venue: Venue,
    timestamp_fault: bool | None = None,
) -> Credentials:
    """Check key, timestamp window and HMAC of a SIGNED request; return the caller's credentials.

    ``timestamp_fault``: whether an injected TIMESTAMP fault strikes this request. ``None``
    (standalone use) consumes one from the FaultController here; ``BinanceHttp`` passes the
    fault it already took at the start of the request.
    """
    creds = check_api_key(exchange, request.headers.get("X-MBX-APIKEY"))
    if timestamp_fault is None:
        spec = _take_timestamp_fault(exchange, venue)
        timestamp_fault = spec is not None
    check_timestamp(params, server_time_ms(exchange, venue), timestamp_fault)
    check_signature(creds.api_secret, payload, params.get("signature"))
    return creds


def _take_timestamp_fault(exchange: SimExchange, venue: Venue) -> HttpFaultSpec | None:
    # Only consume a TIMESTAMP fault here: others belong to the request start.
    return exchange.faults.take_http(venue, signed=True, kinds=frozenset({HttpFault.TIMESTAMP}))


# =====================================================================================
# Request weight
# =====================================================================================


@dataclass(slots=True)
class _IpWeight:
    window: int = -1
    used: int = 0
    violations: int = 0
    banned_until: float = 0.0  # wall-clock seconds


class WeightLimiter:
    """Per-IP request weight per fixed window (Binance resets at each wall-clock minute).

    Over ``limit``: HTTP 429 -1003 with Retry-After (seconds to the window's end).
    Going on after ``ban_after`` 429s in one window: an IP ban, HTTP 418 with
    Retry-After, for ``ban_s`` seconds. Attributes may be changed at runtime (tests).
    """

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        ban_s: float = 120.0,
        ban_after: int = 3,
        header: str = "X-MBX-USED-WEIGHT-1M",
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.ban_s = ban_s
        self.ban_after = ban_after
        self.header = header
        self._ips: dict[str, _IpWeight] = {}

    def reset(self) -> None:
        self._ips.clear()

    def used(self, ip: str) -> int:
        rec = self._ips.get(ip)
        if rec is None or rec.window != self._window(time.time()):
            return 0
        return rec.used

    def _window(self, now: float) -> int:
        return int(now // self.window_s)

    def headers(self, used: int) -> dict[str, str]:
        return {self.header: str(used), "X-MBX-USED-WEIGHT": str(used)}

    def charge(self, ip: str, weight: int) -> dict[str, str]:
        """Count ``weight`` for ``ip``; return the weight headers or raise 429/418."""
        now = time.time()
        rec = self._ips.setdefault(ip, _IpWeight())
        window = self._window(now)
        if rec.window != window:
            rec.window, rec.used, rec.violations = window, 0, 0
        rec.used += weight
        headers = self.headers(rec.used)
        if rec.banned_until > now:
            raise ip_banned_error(rec.banned_until, headers)
        if rec.used <= self.limit:
            return headers
        rec.violations += 1
        if rec.violations > self.ban_after:
            rec.banned_until = now + self.ban_s
            raise ip_banned_error(rec.banned_until, headers)
        retry = max(1, math.ceil((window + 1) * self.window_s - now))
        raise rate_limit_error(self.limit, retry, headers)


def rate_limit_error(
    limit: int, retry_after_s: int, headers: dict[str, str] | None = None
) -> BinanceApiError:
    return BinanceApiError(
        -1003,
        f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid polling the API.",
        429,
        {**(headers or {}), "Retry-After": str(retry_after_s)},
    )


def ip_banned_error(until_s: float, headers: dict[str, str] | None = None) -> BinanceApiError:
    retry = max(1, math.ceil(until_s - time.time()))
    return BinanceApiError(
        -1003,
        f"Way too much request weight used; IP banned until {int(until_s * 1000)}. "
        "Please use WebSocket Streams for live updates to avoid bans.",
        418,
        {**(headers or {}), "Retry-After": str(retry)},
    )


_GATEWAY_HTML = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n</body>\r\n</html>\r\n"
)


def server_error_response(status: int, headers: dict[str, str]) -> web.Response:
    """A 5xx as Binance shows it: JSON for 500/503 from the API, an HTML page from the gateway."""
    if status == 503:
        body = {"code": -1008, "msg": "Service Unavailable."}
        return web.Response(
            status=503, body=orjson.dumps(body), content_type="application/json", headers=headers
        )
    if status == 500:
        body = {"code": -1000, "msg": "An unknown error occured while processing the request."}
        return web.Response(
            status=500, body=orjson.dumps(body), content_type="application/json", headers=headers
        )
    reason = {502: "Bad Gateway", 504: "Gateway Time-out"}.get(status, "Error")
    return web.Response(
        status=status,
        text=_GATEWAY_HTML.format(status=status, reason=reason),
        content_type="text/html",
        headers=headers,
    )


# =====================================================================================
# HTTP endpoint pipeline
# =====================================================================================


class Security(StrEnum):
    NONE = "NONE"
    API_KEY = "API_KEY"  # X-MBX-APIKEY required (USER_STREAM / MARKET_DATA keyed)
    SIGNED = "SIGNED"


@dataclass(slots=True)
class RequestCtx:
    request: web.Request
    params: dict[str, str]
    now_ms: int
    creds: Credentials | None = None
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers

    @property
    def account_id(self) -> str:
        assert self.creds is not None
        return self.creds.account_id


Handler = Callable[[RequestCtx], Awaitable[Any]]
Weight = int | Callable[[dict[str, str]], int]


class BinanceHttp:
    """Registers endpoints of one venue behind Binance's request pipeline."""

    def __init__(
        self,
        exchange: SimExchange,
        venue: Venue,
        limiter: WeightLimiter,
        rejects: dict[RejectReason, ApiErr] | None = None,
    ) -> None:
        self.exchange = exchange
        self.venue = venue
        self.limiter = limiter
        self.rejects = rejects if rejects is not None else SPOT_REJECTS

    def route(
        self,
        app: web.Application,
        method: str,
        path: str,
        handler: Handler,
        weight: Weight = 1,
        security: Security = Security.NONE,
    ) -> None:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            return await self.handle(request, handler, weight, security)

        app.router.add_route(method, path, endpoint)

    async def handle(
        self, request: web.Request, handler: Handler, weight: Weight, security: Security
    ) -> web.StreamResponse:
        headers: dict[str, str] = {}
        try:
            params, payload = await read_params(request)
            w = weight(params) if callable(weight) else weight
            headers = self.limiter.charge(request.remote or "?", w)
            fault = self.exchange.faults.take_http(
                self.venue, signed=security is Security.SIGNED, method=request.method, path=request.path
            )
        except BinanceApiError as err:
            return err.to_response(headers)
        response = await self._process(request, params, payload, handler, security, fault, headers)
        if fault is not None and fault.kind in AFTER_PROCESSING:
            await lose_response(request, fault)
        return response

    async def _process(
        self,
        request: web.Request,
        params: dict[str, str],
        payload: str,
        handler: Handler,
        security: Security,
        fault: HttpFaultSpec | None,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        try:
            ts_fault = False
            if fault is not None:
                response = await self._apply_fault(fault, headers)
                if response is not None:
                    return response
                ts_fault = fault.kind is HttpFault.TIMESTAMP
            ctx = RequestCtx(request, params, server_time_ms(self.exchange, self.venue))
            if security is Security.SIGNED:
                ctx.creds = verify_signed(self.exchange, request, params, payload, self.venue, ts_fault)
            elif security is Security.API_KEY:
                ctx.creds = check_api_key(self.exchange, request.headers.get("X-MBX-APIKEY"))
            result = await handler(ctx)
        except BinanceApiError as err:
            return err.to_response(headers)
        except SimReject as rej:
            return reject_error(rej, self.rejects).to_response(headers)
        if isinstance(result, web.StreamResponse):
            result.headers.update(headers)
            return result
        return web.Response(
            body=orjson.dumps(result), content_type="application/json", headers={**headers, **ctx.headers}
        )

    async def _apply_fault(self, fault: HttpFaultSpec, headers: dict[str, str]) -> web.Response | None:
        if fault.kind is HttpFault.DELAY:
            await asyncio.sleep(fault.delay_s)
            return None
        if fault.kind is HttpFault.RATE_LIMIT:
            return rate_limit_error(self.limiter.limit, fault.retry_after_s, headers).to_response()
        if fault.kind is HttpFault.IP_BAN:
            return ip_banned_error(time.time() + fault.retry_after_s, headers).to_response()
        if fault.kind is HttpFault.SERVER_ERROR:
            return server_error_response(fault.status or 503, headers)
        return None  # TIMESTAMP: struck inside verify_signed


# =====================================================================================
# Streams
# =====================================================================================

KLINE_INTERVALS_MS: dict[str, int] = {
    "1s": 1000,
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "2h": 120 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "6h": 360 * MINUTE_MS,
    "8h": 480 * MINUTE_MS,
    "12h": 720 * MINUTE_MS,
    "1d": DAY_MS,
    "3d": 3 * DAY_MS,
    "1w": WEEK_MS,
    "1M": MONTH,
}


class StreamKind(StrEnum):
    TRADE = "trade"
    AGG_TRADE = "aggTrade"
    KLINE = "kline"
    BOOK_TICKER = "bookTicker"
    DEPTH = "depth"  # diff stream
    PARTIAL_DEPTH = "partialDepth"  # depth5/10/20
    TICKER = "ticker"
    MINI_TICKER = "miniTicker"
    MARK_PRICE = "markPrice"


@dataclass(frozen=True, slots=True)
class StreamDialect:
    """Which stream names and speeds a venue accepts."""

    depth_speeds: frozenset[int]  # accepted @<n>ms suffixes for depth streams
    depth_default_ms: int
    kline_intervals: frozenset[str]
    mark_price: bool = False
    partial_levels: frozenset[int] = frozenset({5, 10, 20})


SPOT_DIALECT = StreamDialect(
    depth_speeds=frozenset({100, 1000}),
    depth_default_ms=1000,
    # 1s candles exist on Binance spot, but the simulator's candles are built from minutes.
    kline_intervals=frozenset(KLINE_INTERVALS_MS) - {"1s"},
)


@dataclass(frozen=True, slots=True)
class StreamSpec:
    name: str  # exactly as subscribed, e.g. "btcusdt@depth@100ms"
    symbol: str  # upper case
    kind: StreamKind
    interval: str = ""  # kline interval
    levels: int = 0  # partial depth levels
    speed_ms: int = 0  # depth / markPrice update period


_STREAM_RE = re.compile(r"^([a-z0-9]+)@([A-Za-z0-9_]+)(?:@([0-9]+m?s))?$")


def parse_stream(name: str, dialect: StreamDialect, symbols: Iterable[str]) -> StreamSpec | None:
    """Parse ``<sym>@<type>[@<speed>]``; None if the name is not a stream of this venue."""
    m = _STREAM_RE.match(name)
    if m is None:
        return None
    sym_l, typ, speed = m.groups()
    symbol = sym_l.upper()
    if symbol not in symbols:
        return None
    speed_ms = _speed_ms(speed) if speed else 0
    if typ in ("trade", "aggTrade", "bookTicker", "ticker", "miniTicker") and not speed:
        return StreamSpec(name, symbol, StreamKind(typ))
    if typ.startswith("kline_") and not speed:
        interval = typ[len("kline_") :]
        if interval in dialect.kline_intervals:
            return StreamSpec(name, symbol, StreamKind.KLINE, interval=interval)
        return None
    if typ == "markPrice" and dialect.mark_price:
        if speed and speed_ms != 1000:
            return None
        return StreamSpec(name, symbol, StreamKind.MARK_PRICE, speed_ms=speed_ms or 3000)
    if typ.startswith("depth"):
        if speed and speed_ms not in dialect.depth_speeds:
            return None
        speed_ms = speed_ms if speed else dialect.depth_default_ms
        rest = typ[len("depth") :]
        if rest == "":
            return StreamSpec(name, symbol, StreamKind.DEPTH, speed_ms=speed_ms)
        if rest.isdigit() and int(rest) in dialect.partial_levels:
            return StreamSpec(name, symbol, StreamKind.PARTIAL_DEPTH, levels=int(rest), speed_ms=speed_ms)
    return None


def _speed_ms(raw: str) -> int:
    if raw.endswith("ms"):
        return int(raw[:-2])
    return int(raw[:-1]) * 1000


# ---- data handed to formatters -------------------------------------------------------


@dataclass(slots=True)
class DepthDiff:
    """Changes ``first_id``..``final_id`` of one book; ``prev_final_id`` is the previous message's u."""

    symbol: str
    event_ms: int
    first_id: int
    final_id: int
    prev_final_id: int
    bids: list[list[str]]
    asks: list[list[str]]


@dataclass(slots=True)
class DepthSnap:
    symbol: str
    event_ms: int
    update_id: int
    prev_update_id: int
    bids: list[list[str]]
    asks: list[list[str]]


@dataclass(slots=True)
class BookTop:
    update_id: int
    bid: int
    bid_qty: int
    ask: int
    ask_qty: int


class StreamFormat:
    """Payload builders; the Binance-spot shapes. Futures subclasses override what differs."""

    def fmt_quote(self, inst: SimInstrument, value: Decimal) -> str:
        return f"{value:.8f}"

    def depth_diff(self, inst: SimInstrument, d: DepthDiff) -> JsonObj:
        return {
            "e": "depthUpdate",
            "E": d.event_ms,
            "s": d.symbol,
            "U": d.first_id,
            "u": d.final_id,
            "b": d.bids,
            "a": d.asks,
        }

    def partial_depth(self, inst: SimInstrument, s: DepthSnap) -> JsonObj:
        return {"lastUpdateId": s.update_id, "bids": s.bids, "asks": s.asks}

    def trade(self, inst: SimInstrument, ev: TradeEvent, now_ms: int) -> JsonObj:
        # Binance: m = "is the buyer the maker", i.e. the taker sold.
        return {
            "e": "trade",
            "E": now_ms,
            "s": ev.symbol,
            "t": ev.trade_id,
            "p": inst.fmt_price(ev.price_ticks),
            "q": inst.fmt_qty(ev.qty_lots),
            "b": ev.taker_order_id if ev.taker_side is Side.BUY else ev.maker_order_id,
            "a": ev.maker_order_id if ev.taker_side is Side.BUY else ev.taker_order_id,
            "T": ev.ts_ms,
            "m": ev.taker_side is Side.SELL,
            "M": True,
        }

    def agg_trade(self, inst: SimInstrument, ev: TradeEvent, now_ms: int) -> JsonObj:
        return {
            "e": "aggTrade",
            "E": now_ms,
            "s": ev.symbol,
            "a": ev.trade_id,
            "p": inst.fmt_price(ev.price_ticks),
            "q": inst.fmt_qty(ev.qty_lots),
            "f": ev.trade_id,
            "l": ev.trade_id,
            "T": ev.ts_ms,
            "m": ev.taker_side is Side.SELL,
            "M": True,
        }

    def kline(
        self, inst: SimInstrument, interval: str, k: Kline, first_id: int, last_id: int, now_ms: int
    ) -> JsonObj:
        return {
            "e": "kline",
            "E": now_ms,
            "s": inst.symbol,
            "k": {
                "t": k.open_ms,
                "T": k.close_ms,
                "s": inst.symbol,
                "i": interval,
                "f": first_id,
                "L": last_id,
                "o": inst.fmt_price(k.open),
                "c": inst.fmt_price(k.close),
                "h": inst.fmt_price(k.high),
                "l": inst.fmt_price(k.low),
                "v": inst.fmt_qty(k.volume),
                "n": k.trades,
                "x": k.closed,
                "q": self.fmt_quote(inst, k.quote_volume),
                "V": inst.fmt_qty(k.taker_buy_volume),
                "Q": self.fmt_quote(inst, k.taker_buy_quote),
                "B": "0",
            },
        }

    def book_ticker(self, inst: SimInstrument, b: BookTop, now_ms: int) -> JsonObj:
        return {
            "u": b.update_id,
            "s": inst.symbol,
            "b": inst.fmt_price(b.bid),
            "B": inst.fmt_qty(b.bid_qty),
            "a": inst.fmt_price(b.ask),
            "A": inst.fmt_qty(b.ask_qty),
        }

    def ticker(self, inst: SimInstrument, t: Any, now_ms: int) -> JsonObj:
        """``t`` is the market's Ticker24h."""
        change = t.last - t.open
        pct = Decimal(change * 100) / Decimal(t.open) if t.open else Decimal(0)
        return {
            "e": "24hrTicker",
            "E": now_ms,
            "s": inst.symbol,
            "p": inst.fmt_price(change),
            "P": f"{pct:.3f}",
            "w": inst.fmt_price_dec(t.weighted_avg),
            "x": inst.fmt_price(t.open),
            "c": inst.fmt_price(t.last),
            "Q": inst.fmt_qty(t.last_qty),
            "b": inst.fmt_price(t.best_bid),
            "B": inst.fmt_qty(t.best_bid_qty),
            "a": inst.fmt_price(t.best_ask),
            "A": inst.fmt_qty(t.best_ask_qty),
            "o": inst.fmt_price(t.open),
            "h": inst.fmt_price(t.high),
            "l": inst.fmt_price(t.low),
            "v": inst.fmt_qty(t.volume),
            "q": self.fmt_quote(inst, t.quote_volume),
            "O": t.open_ms,
            "C": t.close_ms,
            "F": t.first_trade_id,
            "L": t.last_trade_id,
            "n": t.trades,
        }

    def mini_ticker(self, inst: SimInstrument, t: Any, now_ms: int) -> JsonObj:
        return {
            "e": "24hrMiniTicker",
            "E": now_ms,
            "s": inst.symbol,
            "c": inst.fmt_price(t.last),
            "o": inst.fmt_price(t.open),
            "h": inst.fmt_price(t.high),
            "l": inst.fmt_price(t.low),
            "v": inst.fmt_qty(t.volume),
            "q": self.fmt_quote(inst, t.quote_volume),
        }

    def mark_price(self, inst: SimInstrument, market: Any, now_ms: int) -> JsonObj | None:
        return None  # futures only


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


# ---- connections and subscriptions -----------------------------------------------------


@dataclass(eq=False, slots=True)
class StreamConn:
    peer: WsPeer
    combined: bool
    allowed: Callable[[StreamSpec], bool] | None
    streams: list[str] = field(default_factory=list)  # in subscription order


class StreamHub:
    """Who listens to which stream name; sends one serialised payload to all of them."""

    def __init__(self) -> None:
        self.subs: dict[str, set[StreamConn]] = {}
        self.conns: set[StreamConn] = set()

    def has(self, name: str) -> bool:
        return name in self.subs

    def add(self, conn: StreamConn, name: str) -> bool:
        """Subscribe; True if ``name`` had no listener before."""
        if name in conn.streams:
            return False
        conn.streams.append(name)
        listeners = self.subs.get(name)
        if listeners is None:
            self.subs[name] = {conn}
            return True
        listeners.add(conn)
        return False

    def remove(self, conn: StreamConn, name: str) -> None:
        if name not in conn.streams:
            return
        conn.streams.remove(name)
        listeners = self.subs.get(name)
        if listeners is not None:
            listeners.discard(conn)
            if not listeners:
                del self.subs[name]

    def remove_conn(self, conn: StreamConn) -> None:
        for name in list(conn.streams):
            self.remove(conn, name)
        self.conns.discard(conn)

    def publish(self, name: str, data: str) -> int:
        """Send ``data`` (a serialised payload) to every listener of ``name``."""
        listeners = self.subs.get(name)
        if not listeners:
            return 0
        wrapped: str | None = None
        for conn in listeners:
            if conn.combined:
                if wrapped is None:
                    wrapped = '{"stream":"' + name + '","data":' + data + "}"
                conn.peer.send(wrapped)
            else:
                conn.peer.send(data)
        return len(listeners)


# ---- publishers -------------------------------------------------------------------------


class _Publisher:
    """One running source of messages (a task) feeding one or more stream names."""

    def __init__(self, engine: StreamEngine, symbol: str) -> None:
        self.engine = engine
        self.symbol = symbol
        self.names: set[str] = set()
        self.task: asyncio.Task[None] | None = None

    def alive(self) -> bool:
        hub = self.engine.hub
        self.names = {n for n in self.names if hub.has(n)}
        return bool(self.names)

    def publish(self, data: str) -> None:
        for name in self.names:
            self.engine.hub.publish(name, data)

    def stalled(self) -> bool:
        return self.engine.stalled(self.symbol)

    async def run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class DepthDiffPublisher(_Publisher):
    """Diff depth every ``speed_ms``: one message per interval covering U..u exactly."""

    def __init__(self, engine: StreamEngine, symbol: str, speed_ms: int) -> None:
        super().__init__(engine, symbol)
        self.speed_ms = speed_ms
        self._held: str | None = None  # REORDER: message waiting to go after the next one

    async def run(self) -> None:
        engine = self.engine
        market, inst = engine.market, engine.market.instruments[self.symbol]
        book = market.books[self.symbol]
        last_u = book.update_id
        period = self.speed_ms / 1000
        while self.alive():
            await asyncio.sleep(period)
            if self.stalled():
                continue  # keep last_u: the first message after the stall covers it all
            changes = market.changes_since(self.symbol, last_u)
            if changes is None:  # history trimmed: skip ahead, clients see a gap and resync
                last_u = book.update_id
                continue
            if not changes:
                continue
            diff = _build_diff(inst, self.symbol, changes, last_u, market.now_ms())
            last_u = diff.final_id
            self._emit(dumps(engine.fmt.depth_diff(inst, diff)))
        self._flush_held()

    def _emit(self, data: str) -> None:
        engine = self.engine
        if engine.take_fault(StreamFault.GAP, self.symbol):
            return
        if self._held is not None:
            self.publish(data)
            self._flush_held()
            return
        if engine.take_fault(StreamFault.REORDER, self.symbol):
            self._held = data
            return
        self.publish(data)
        if engine.take_fault(StreamFault.DUPLICATE, self.symbol):
            self.publish(data)

    def _flush_held(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self.publish(held)


def _build_diff(
    inst: SimInstrument, symbol: str, changes: list[tuple[int, bool, int, int]], prev_u: int, now_ms: int
) -> DepthDiff:
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    for _uid, is_bid, price, total in changes:
        (bids if is_bid else asks)[price] = total
    fp, fq = inst.fmt_price, inst.fmt_qty
    return DepthDiff(
        symbol,
        now_ms,
        changes[0][0],
        changes[-1][0],
        prev_u,
        [[fp(p), fq(q)] for p, q in sorted(bids.items(), reverse=True)],
        [[fp(p), fq(q)] for p, q in sorted(asks.items())],
    )


class PartialDepthPublisher(_Publisher):
    def __init__(self, engine: StreamEngine, symbol: str, levels: int, speed_ms: int) -> None:
        super().__init__(engine, symbol)
        self.levels = levels
        self.speed_ms = speed_ms

    async def run(self) -> None:
        engine = self.engine
        market, inst = engine.market, engine.market.instruments[self.symbol]
        prev = market.books[self.symbol].update_id
        while self.alive():
            await asyncio.sleep(self.speed_ms / 1000)
            if self.stalled():
                continue
            uid, bids, asks = market.depth(self.symbol, self.levels)
            if uid == prev:
                continue
            fp, fq = inst.fmt_price, inst.fmt_qty
            snap = DepthSnap(
                self.symbol,
                market.now_ms(),
                uid,
                prev,
                [[fp(p), fq(q)] for p, q in bids],
                [[fp(p), fq(q)] for p, q in asks],
            )
            prev = uid
            self.publish(dumps(engine.fmt.partial_depth(inst, snap)))


class BookTickerPublisher(_Publisher):
    """Best bid/ask on every change (sampled every ``poll_s``; the id is the book's update id)."""

    poll_s = 0.01

    async def run(self) -> None:
        engine = self.engine
        market, inst = engine.market, engine.market.instruments[self.symbol]
        book = market.books[self.symbol]
        last: tuple[int, int, int, int] | None = None
        while self.alive():
            await asyncio.sleep(self.poll_s)
            if self.stalled():
                continue
            bid = book.best_bid_level()
            ask = book.best_ask_level()
            if bid is None or ask is None:
                continue
            top = (bid[0], bid[1], ask[0], ask[1])
            if top == last:
                continue
            last = top
            b = BookTop(book.update_id, *top)
            self.publish(dumps(engine.fmt.book_ticker(inst, b, market.now_ms())))


class KlinePublisher(_Publisher):
    """The live candle every ``period_s`` (x=false) and each closed candle once (x=true)."""

    period_s = 1.0

    def __init__(self, engine: StreamEngine, symbol: str, interval: str) -> None:
        super().__init__(engine, symbol)
        self.interval = interval
        self.interval_ms = KLINE_INTERVALS_MS[interval]

    async def run(self) -> None:
        engine = self.engine
        market, inst = engine.market, engine.market.instruments[self.symbol]
        open_ms = -1
        while self.alive():
            now = market.now_ms()
            k = market.current_kline(self.symbol, self.interval_ms)
            if open_ms >= 0 and k.open_ms > open_ms:
                closed = market.klines(self.symbol, self.interval_ms, open_ms, open_ms, 1)
                if closed and closed[0].closed and closed[0].open_ms == open_ms and not self.stalled():
                    self._send(inst, closed[0], now)
            open_ms = k.open_ms
            if not self.stalled():
                self._send(inst, k, now)
            # wake at the next period, or just after the candle closes, whichever is first
            to_close = (k.close_ms + 1 - market.now_ms()) / 1000
            await asyncio.sleep(max(0.005, min(self.period_s, to_close + 0.005)))

    def _send(self, inst: SimInstrument, k: Kline, now_ms: int) -> None:
        first, last = self.engine.trade_ids(self.symbol, self.interval_ms, k.open_ms)
        self.publish(dumps(self.engine.fmt.kline(inst, self.interval, k, first, last, now_ms)))


class PeriodicPublisher(_Publisher):
    """A payload rebuilt every ``period_s`` (tickers, mark price)."""

    def __init__(
        self, engine: StreamEngine, symbol: str, period_s: float, build: Callable[[], JsonObj | None]
    ) -> None:
        super().__init__(engine, symbol)
        self.period_s = period_s
        self.build = build

    async def run(self) -> None:
        while self.alive():
            await asyncio.sleep(self.period_s)
            if self.stalled():
                continue
            payload = self.build()
            if payload is not None:
                self.publish(dumps(payload))


# ---- engine ----------------------------------------------------------------------------


class StreamEngine:
    """Market streams of one venue: connections, subscriptions, publishers, faults."""

    ping_interval_s = 20.0
    ticker_period_s = 1.0

    def __init__(
        self, exchange: SimExchange, venue: Venue, dialect: StreamDialect, fmt: StreamFormat
    ) -> None:
        self.exchange = exchange
        self.venue = venue
        self.dialect = dialect
        self.fmt = fmt
        self.hub = StreamHub()
        self.publishers: dict[tuple[Any, ...], _Publisher] = {}
        self._unsubscribe: Callable[[], None] | None = None
        # (symbol, interval_ms, open_ms) -> [first trade id, last trade id] for kline f/L
        self._kline_ids: dict[tuple[str, int], tuple[int, int, int]] = {}
        exchange.faults.on_drop(self._on_drop)

    @property
    def market(self) -> Any:
        return self.exchange.markets[self.venue]

    # ---- lifecycle ----
    def start(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self.market.subscribe(self._on_event)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for pub in list(self.publishers.values()):
            if pub.task is not None:
                pub.task.cancel()
        for conn in list(self.hub.conns):
            await conn.peer.close(1001, b"server shutdown")
        self.publishers.clear()

    # ---- faults ----
    def stalled(self, symbol: str) -> bool:
        return self.exchange.faults.stalled(self.venue, symbol)

    def take_fault(self, kind: StreamFault, symbol: str) -> bool:
        return self.exchange.faults.take_stream(self.venue, kind, symbol)

    def _on_drop(self, venue: Venue | None, symbol: str | None) -> None:
        if venue not in (None, self.venue):
            return
        prefix = symbol.lower() + "@" if symbol else None
        for conn in list(self.hub.conns):
            if prefix is None or any(n.startswith(prefix) for n in conn.streams):
                conn.peer.drop()

    # ---- market events ----
    def _on_event(self, ev: SimEvent) -> None:
        if not isinstance(ev, TradeEvent):
            return
        self._track_trade_id(ev)
        sym_l = ev.symbol.lower()
        trade_name, agg_name = sym_l + "@trade", sym_l + "@aggTrade"
        hub = self.hub
        if not (hub.has(trade_name) or hub.has(agg_name)) or self.stalled(ev.symbol):
            return
        inst = self.market.instruments[ev.symbol]
        now = self.market.now_ms()
        if hub.has(trade_name):
            hub.publish(trade_name, dumps(self.fmt.trade(inst, ev, now)))
        if hub.has(agg_name):
            hub.publish(agg_name, dumps(self.fmt.agg_trade(inst, ev, now)))

    def _track_trade_id(self, ev: TradeEvent) -> None:
        # Only for (symbol, interval) pairs someone streams: a few dict operations per trade.
        for key, (open_ms, first, _last) in self._kline_ids.items():
            if key[0] != ev.symbol:
                continue
            start = bucket_start(ev.ts_ms, key[1])
            if start != open_ms:
                self._kline_ids[key] = (start, ev.trade_id, ev.trade_id)
            else:
                self._kline_ids[key] = (open_ms, first if first >= 0 else ev.trade_id, ev.trade_id)

    def trade_ids(self, symbol: str, interval_ms: int, open_ms: int) -> tuple[int, int]:
        """First/last trade id of the candle at ``open_ms`` seen while streaming; -1 if unknown."""
        key = (symbol, interval_ms)
        rec = self._kline_ids.get(key)
        if rec is None:
            self._kline_ids[key] = (open_ms, -1, -1)
            return -1, -1
        if rec[0] != open_ms:
            return -1, -1
        return rec[1], rec[2]

    # ---- subscriptions ----
    def parse(self, name: str) -> StreamSpec | None:
        return parse_stream(name, self.dialect, self.market.instruments)

    def subscribe(self, conn: StreamConn, name: str) -> bool:
        """Subscribe ``conn`` to ``name``; False if the name is invalid for this venue."""
        spec = self.parse(name)
        if spec is None:
            return False
        self.hub.add(conn, name)
        if conn.allowed is not None and not conn.allowed(spec):
            # Accepted but never fed (e.g. a futures stream on the wrong path): stays silent.
            self.hub.remove(conn, name)
            conn.streams.append(name)
            return True
        self._ensure_publisher(spec)
        return True

    def unsubscribe(self, conn: StreamConn, name: str) -> None:
        if name in conn.streams and name not in self.hub.subs:
            conn.streams.remove(name)  # a silent (disallowed) subscription
            return
        self.hub.remove(conn, name)

    def _ensure_publisher(self, spec: StreamSpec) -> None:
        key, factory = self._publisher_key(spec)
        if key is None:
            return  # event driven (trade, aggTrade)
        pub = self.publishers.get(key)
        if pub is None or pub.task is None or pub.task.done():
            pub = factory()
            self.publishers[key] = pub
            pub.names.add(spec.name)
            pub.task = asyncio.get_running_loop().create_task(self._run(pub, key))
        else:
            pub.names.add(spec.name)

    async def _run(self, pub: _Publisher, key: tuple[Any, ...]) -> None:
        try:
            await pub.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s publisher %s failed", self.venue, key)
        finally:
            if self.publishers.get(key) is pub:
                del self.publishers[key]

    def _publisher_key(self, spec: StreamSpec) -> tuple[tuple[Any, ...] | None, Callable[[], _Publisher]]:
        s = spec.symbol
        market = self.market
        inst = market.instruments[s]
        if spec.kind is StreamKind.DEPTH:
            return ("depth", s, spec.speed_ms), lambda: DepthDiffPublisher(self, s, spec.speed_ms)
        if spec.kind is StreamKind.PARTIAL_DEPTH:
            return (
                ("partial", s, spec.levels, spec.speed_ms),
                lambda: PartialDepthPublisher(self, s, spec.levels, spec.speed_ms),
            )
        if spec.kind is StreamKind.BOOK_TICKER:
            return ("bookTicker", s), lambda: BookTickerPublisher(self, s)
        if spec.kind is StreamKind.KLINE:
            return ("kline", s, spec.interval), lambda: KlinePublisher(self, s, spec.interval)
        if spec.kind is StreamKind.TICKER:
            return ("ticker", s), lambda: PeriodicPublisher(
                self,
                s,
                self.ticker_period_s,
                lambda: self.fmt.ticker(inst, market.ticker_24h(s), market.now_ms()),
            )
        if spec.kind is StreamKind.MINI_TICKER:
            return ("miniTicker", s), lambda: PeriodicPublisher(
                self,
                s,
                self.ticker_period_s,
                lambda: self.fmt.mini_ticker(inst, market.ticker_24h(s), market.now_ms()),
            )
        if spec.kind is StreamKind.MARK_PRICE:
            return ("markPrice", s, spec.speed_ms), lambda: PeriodicPublisher(
                self, s, spec.speed_ms / 1000, lambda: self.fmt.mark_price(inst, market, market.now_ms())
            )
        return None, lambda: _Publisher(self, s)

    # ---- websocket handling ----
    async def serve(
        self,
        request: web.Request,
        streams: list[str],
        combined: bool,
        allowed: Callable[[StreamSpec], bool] | None = None,
    ) -> web.WebSocketResponse:
        """Serve one market-stream connection (``/ws/<a>/<b>`` raw or ``/stream?streams=`` combined)."""
        ws = binance_ws_response(self.ping_interval_s, max_msg_size=1 << 16)
        await ws.prepare(request)
        peer = WsPeer(ws, f"{self.venue}:{request.path_qs}")
        peer.start()
        conn = StreamConn(peer, combined, allowed)
        self.hub.conns.add(conn)
        try:
            for name in streams:
                if name:
                    self.subscribe(conn, name)
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_control(conn, msg.data)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    break
        finally:
            self.hub.remove_conn(conn)
            if not peer.closed:
                await peer.close()
        return ws

    def _on_control(self, conn: StreamConn, text: str) -> None:
        """SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS, answered as Binance does."""
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError:
            conn.peer.send(
                dumps({"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}})
            )
            return
        if not isinstance(req, dict):
            conn.peer.send(dumps({"error": {"code": 3, "msg": "Invalid JSON: expected an object"}}))
            return
        req_id = req.get("id")
        method = req.get("method")
        params = req.get("params", [])
        if method == "LIST_SUBSCRIPTIONS":
            conn.peer.send(dumps({"result": list(conn.streams), "id": req_id}))
            return
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            msg = f"Invalid request: unknown variant `{method}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, "
            msg += "`LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
            conn.peer.send(dumps({"error": {"code": 2, "msg": msg}, "id": req_id}))
            return
        names = [p for p in params if isinstance(p, str)]
        if method == "SUBSCRIBE":
            bad = [n for n in names if self.parse(n) is None]
            if bad:
                conn.peer.send(
                    dumps(
                        {
                            "error": {"code": 2, "msg": f"Invalid request: invalid stream name: {bad[0]}"},
                            "id": req_id,
                        }
                    )
                )
                return
            for name in names:
                self.subscribe(conn, name)
        else:
            for name in names:
                self.unsubscribe(conn, name)
        conn.peer.send(dumps({"result": None, "id": req_id}))


def binance_ws_response(ping_interval_s: float = 20.0, max_msg_size: int = 1 << 20) -> web.WebSocketResponse:
    """A server socket that pings every ``ping_interval_s`` and waits a minute for the pong (Binance)."""
    ws = web.WebSocketResponse(heartbeat=ping_interval_s, autoping=True, max_msg_size=max_msg_size)
    if hasattr(ws, "_pong_heartbeat"):
        ws._pong_heartbeat = 60.0  # aiohttp's default is heartbeat/2; Binance allows 1 minute
    return ws


def stream_routes(
    app: web.Application,
    engine: StreamEngine,
    prefix: str = "",
    allowed: Callable[[StreamSpec], bool] | None = None,
) -> None:
    """``{prefix}/ws``, ``{prefix}/ws/<a>/<b>`` (raw payloads) and ``{prefix}/stream?streams=a/b``.

    ``allowed``: which streams this path feeds (e.g. futures ``/public`` vs ``/market``);
    others are accepted and stay silent, as the venue does.
    """

    async def raw(request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("streams", "")
        return await engine.serve(request, [s for s in tail.split("/") if s], combined=False, allowed=allowed)

    async def combined(request: web.Request) -> web.StreamResponse:
        names = request.query.get("streams", "")
        return await engine.serve(request, [s for s in names.split("/") if s], combined=True, allowed=allowed)

    app.router.add_get(f"{prefix}/ws", raw)
    app.router.add_get(f"{prefix}/ws/{{streams:.+}}", raw)
    app.router.add_get(f"{prefix}/stream", combined)


def on_app_lifecycle(
    app: web.Application, start: Callable[[], None], stop: Callable[[], Awaitable[None]]
) -> None:
    """Run ``start`` when the app starts and ``stop`` on cleanup."""

    async def _startup(_app: web.Application) -> None:
        start()

    async def _cleanup(_app: web.Application) -> None:
        with contextlib.suppress(Exception):
            await stop()

    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)
