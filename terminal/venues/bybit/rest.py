"""Bybit v5 REST over aiohttp, signed by us (PROTOCOLS.md §3).

Why not pybit's ``HTTP`` (5.17.0, ``_http_manager.py``), the issue's first suggestion:

* it is blocking (``requests``) and, on 10006, ``time.sleep``s inside the call until the limit
  resets, then re-sends: an executor thread is parked and the caller never sees the limit;
* on 10002 it re-sends with a recv_window widened by 2.5 s instead of fixing the clock, and its
  timestamps are the local clock only (no server-time offset to resync);
* with ``force_retry`` it re-sends after ``ReadTimeout``/``ConnectionError`` - for
  ``order/create`` that is a blind duplicate of an order whose outcome is unknown; without it
  the distinction between "refused" and "unknown" is left to string-matching exceptions.

Configuring all of that away (``retry_codes=set()``, ``max_retries=1``) leaves pybit as a
signing helper around ``requests``; the signature is one HMAC, so we own the request instead
and every failure maps to one typed error (``terminal.venues.errors``):

* retCode 10002 → resync the server-time offset, retry once, then ``ClockSkew``;
* retCode 10006 / HTTP 403 → ``RateGate.block_for`` (until ``X-Bapi-Limit-Reset-Timestamp``)
  and ``RateLimited``;
* 10003/10004/10005 → ``AuthFailed``; 110001 (and spot's 170213) → ``OrderNotFound``;
* other retCodes → ``OrderRejected`` on order writes, ``VenueError`` elsewhere;
* timeout / connection loss / 5xx → ``OutcomeUnknown`` on writes (never re-sent); reads are
  retried a bounded number of times.

The API secret is used only inside ``_sign`` and never appears in a message or repr.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from terminal.model import Venue
from terminal.venues.base import ApiCredentials
from terminal.venues.errors import (
    AuthFailed,
    ClockSkew,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
    VenueError,
)
from terminal.venues.ratelimit import RateGate

__all__ = ["BybitRest"]

log = logging.getLogger(__name__)

AUTH_CODES = frozenset({10003, 10004, 10005, 10007, 33004})
NOT_FOUND_CODES = frozenset({110001, 170213})
TIME_CODE = 10002
RATE_CODE = 10006
IP_BAN_DEFAULT_S = 600.0  # Bybit: an HTTP 403 IP ban lasts at least 10 minutes
RATE_DEFAULT_S = 1.0  # 10006 without a reset header


class BybitRest:
    """One aiohttp session to Bybit's REST API; ``start()`` measures the server-time offset."""

    def __init__(
        self,
        venue: Venue,
        base_url: str,
        credentials: ApiCredentials | None,
        *,
        gate: RateGate,
        recv_window_ms: int = 5000,
        timeout_s: float = 10.0,
        read_retries: int = 2,
        retry_delay_s: float = 0.2,
    ) -> None:
        self.venue = venue
        self.base_url = base_url.rstrip("/")
        self._creds = credentials
        self.gate = gate
        self.recv_window_ms = recv_window_ms
        self.timeout_s = timeout_s
        self.read_retries = read_retries
        self.retry_delay_s = retry_delay_s
        self.offset_ms = 0  # server time - local time
        self.time_syncs = 0
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"BybitRest({self.venue}, {self.base_url}, creds={self._creds!r})"

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        await self.sync_time()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def now_ms(self) -> int:
        """Server time estimate (local clock + measured offset)."""
        return time.time_ns() // 1_000_000 + self.offset_ms

    async def sync_time(self) -> None:
        before = time.time_ns() // 1_000_000
        result = await self.public("/v5/market/time")
        after = time.time_ns() // 1_000_000
        if result.get("timeNano"):
            server = int(result["timeNano"]) // 1_000_000
        else:
            server = int(result["timeSecond"]) * 1000
        # The server stamped the answer somewhere in the round trip: assume the middle.
        self.offset_ms = server - (before + after) // 2
        self.time_syncs += 1

    # ------------------------------------------------------------------ requests
    async def public(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._call("GET", path, params or {}, signed=False, write=False, order=False)

    async def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Signed read; transport failures are retried ``read_retries`` times."""
        return await self._call("GET", path, params or {}, signed=True, write=False, order=False)

    async def post(self, path: str, body: dict[str, Any], *, order: bool = False) -> dict[str, Any]:
        """Signed write; never re-sent after a transport failure (→ ``OutcomeUnknown``).

        ``order`` marks order-entry calls, whose refusals raise ``OrderRejected``.
        """
        return await self._call("POST", path, body, signed=True, write=True, order=order)

    async def _call(
        self, method: str, path: str, params: dict[str, Any], *, signed: bool, write: bool, order: bool
    ) -> dict[str, Any]:
        if signed and self._creds is None:
            raise AuthFailed(self.venue, f"{path} needs API credentials")
        resynced = False
        attempt = 0
        while True:
            await self.gate.acquire()
            try:
                status, headers, body = await self._send(method, path, params, signed)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                detail = f"{method} {path}: {type(exc).__name__}: {exc}"
                if write:
                    raise OutcomeUnknown(self.venue, detail) from None
                if attempt < self.read_retries:
                    attempt += 1
                    await asyncio.sleep(self.retry_delay_s * attempt)
                    continue
                raise VenueError(self.venue, detail) from None
            if status == 403:
                retry = self._reset_in(headers, IP_BAN_DEFAULT_S)
                self.gate.block_for(retry)
                raise RateLimited(self.venue, f"{path}: HTTP 403 (IP rate limit)", retry_after_s=retry)
            if status >= 500:
                detail = f"{method} {path}: HTTP {status}"
                if write:
                    raise OutcomeUnknown(self.venue, detail)
                if attempt < self.read_retries:
                    attempt += 1
                    await asyncio.sleep(self.retry_delay_s * attempt)
                    continue
                raise VenueError(self.venue, detail)
            try:
                env = json.loads(body)
                code = int(env.get("retCode", -1))
                msg = str(env.get("retMsg", ""))
            except (ValueError, TypeError, AttributeError):
                detail = f"{method} {path}: HTTP {status}, not a JSON envelope"
                if write:  # an unreadable answer to a write: it may have been executed
                    raise OutcomeUnknown(self.venue, detail) from None
                raise VenueError(self.venue, detail) from None
            if code == 0:
                result = env.get("result")
                return result if isinstance(result, dict) else {}
            if code == TIME_CODE and signed:
                # Rejected at the gate (nothing executed): fix the clock and try exactly once more.
                if resynced:
                    raise ClockSkew(self.venue, msg, code=code)
                resynced = True
                log.warning("%s: %s rejected for timestamp; resyncing server time", self.venue, path)
                await self.sync_time()
                continue
            raise self._error(code, msg, headers, path, order=order)

    def _error(self, code: int, msg: str, headers: Any, path: str, *, order: bool) -> VenueError:
        if code == RATE_CODE:
            retry = self._reset_in(headers, RATE_DEFAULT_S)
            self.gate.block_for(retry)
            return RateLimited(self.venue, f"{path}: {msg}", retry_after_s=retry, code=code)
        if code in AUTH_CODES:
            # 10004's message echoes the signed string (no secret), but keep it out anyway.
            text = "signature rejected" if code == 10004 else msg
            return AuthFailed(self.venue, f"{path}: {text}", code=code)
        if code in NOT_FOUND_CODES:
            return OrderNotFound(self.venue, msg, code=code)
        if order:
            return OrderRejected(self.venue, msg, code=code)
        return VenueError(self.venue, f"{path}: {msg}", code=code)

    def _reset_in(self, headers: Any, default_s: float) -> float:
        raw = headers.get("X-Bapi-Limit-Reset-Timestamp") if headers is not None else None
        try:
            reset_ms = int(raw) if raw else None
        except ValueError:
            reset_ms = None
        if reset_ms is None:
            return default_s
        return max(0.0, (reset_ms - self.now_ms()) / 1000)

    async def _send(
        self, method: str, path: str, params: dict[str, Any], signed: bool
    ) -> tuple[int, Any, bytes]:
        session = self._session
        if session is None:
            raise VenueError(self.venue, "REST client not started")
        clean = {k: v for k, v in params.items() if v is not None}
        headers: dict[str, str] = {}
        data: bytes | None = None
        if method == "GET":
            query = urlencode(clean)
            url = URL(f"{self.base_url}{path}" + (f"?{query}" if query else ""), encoded=True)
            payload = query
        else:
            url = URL(f"{self.base_url}{path}")
            data = json.dumps(clean, separators=(",", ":")).encode()
            payload = data.decode()
            headers["Content-Type"] = "application/json"
        if signed:
            headers.update(self._sign(payload))
        async with session.request(method, url, data=data, headers=headers) as resp:
            body = await resp.read()
            return resp.status, resp.headers, body

    def _sign(self, payload: str) -> dict[str, str]:
        assert self._creds is not None
        ts = str(self.now_ms())
        recv = str(self.recv_window_ms)
        text = ts + self._creds.key + recv + payload
        sign = hmac.new(self._creds.secret.encode(), text.encode(), hashlib.sha256).hexdigest()
        return {
            "X-BAPI-API-KEY": self._creds.key,
            "X-BAPI-SIGN": sign,
            "X-BAPI-SIGN-TYPE": "2",
            "X-BAPI-TIMESTAMP": ts,
            "X-BAPI-RECV-WINDOW": recv,
        }
