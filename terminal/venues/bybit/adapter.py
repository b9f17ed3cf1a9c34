"""Bybit v5 adapter for one category: ``Venue.BYBIT_SPOT`` (spot) or ``Venue.BYBIT_LINEAR``
(USDT perpetuals). Spot and linear share one unified account, so both adapters see the same
wallet; private rows of the other category are ignored here.

Streams (all ``SupervisedStream``, so they heal by themselves):

* one public connection per adapter (``/v5/public/{spot|linear}``): ``orderbook.N``,
  ``publicTrade``, ``kline.I`` and ``tickers`` topics; app ping ``{"op":"ping"}``; subscribe
  acks are matched by ``req_id`` and unknown ids are tolerated; every reconnect resubscribes
  and resets the books (the fresh snapshot rebuilds them);
* book: ``BybitBookSync``; a delta gap (or a crossed book) → ``FeedEvent(RESYNCING)`` and
  unsubscribe+subscribe of that one topic for a fresh snapshot → ``FeedEvent(LIVE)``;
* private (``/v5/private``): auth in the subscribe hook (re-auth after every reconnect), then
  ``order execution position wallet``; after each successful (re)subscription a
  ``FeedEvent(kind=USER, LIVE)`` tells the OMS to reconcile.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import itertools
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import aiohttp
import orjson

from terminal.market.orderbook import ApplyResult, BybitBookSync, LocalBook
from terminal.model import (
    Balance,
    Candle,
    FeedState,
    FeedStatus,
    Fill,
    Order,
    OrderStatus,
    OrderType,
    Position,
    PositionSide,
    Side,
    TimeInForce,
)
from terminal.venues.base import Capabilities, VenueAdapter, VenueConfig
from terminal.venues.bybit import parse
from terminal.venues.bybit.parse import TickerState, category_of, venue_of
from terminal.venues.bybit.rest import BybitRest
from terminal.venues.bybit.urls import urls_for
from terminal.venues.errors import AuthFailed, OrderRejected, OutcomeUnknown, VenueError
from terminal.venues.events import (
    BalancesEvent,
    BookUpdated,
    CandleEvent,
    EventSink,
    FeedEvent,
    FillEvent,
    MarkPriceEvent,
    OrderReport,
    PositionsEvent,
    PublicTradeEvent,
    ReportSource,
    StreamKind,
    TickerEvent,
)
from terminal.venues.ratelimit import RateGate
from terminal.venues.ws import Backoff, SupervisedStream

__all__ = ["BybitAdapter"]

log = logging.getLogger(__name__)

_TIFS = frozenset(TimeInForce)
_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d", "1w")
SPOT_CAPABILITIES = Capabilities(
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_MARKET, OrderType.STOP_LIMIT}),
    time_in_force=_TIFS,
    candle_intervals=_INTERVALS,
)
LINEAR_CAPABILITIES = Capabilities(
    order_types=frozenset(
        {
            OrderType.MARKET,
            OrderType.LIMIT,
            OrderType.STOP_MARKET,
            OrderType.STOP_LIMIT,
            OrderType.TAKE_PROFIT_MARKET,
            OrderType.TAKE_PROFIT_LIMIT,
        }
    ),
    time_in_force=_TIFS,
    reduce_only=True,
    leverage=True,
    hedge_mode=True,
    positions=True,
    candle_intervals=_INTERVALS,
)
PRIVATE_TOPICS = ("order", "execution", "position", "wallet")
_SUB_CHUNK = 10  # Bybit spot takes at most 10 args per subscribe request
_IDX = {PositionSide.BOTH: 0, PositionSide.LONG: 1, PositionSide.SHORT: 2}
_LEVERAGE_UNCHANGED = 110043


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class BybitAdapter(VenueAdapter):
    def __init__(
        self,
        config: VenueConfig,
        emit: EventSink,
        *,
        stream_depth: int = 50,
        ping_interval_s: float = 20.0,
        heartbeat_s: float = 10.0,
        backoff: Backoff | None = None,
        read_retries: int = 2,
    ) -> None:
        super().__init__(config, emit)
        self.category = category_of(config.venue)
        self.capabilities = SPOT_CAPABILITIES if self.category == "spot" else LINEAR_CAPABILITIES
        self.urls = urls_for(config)
        # Bybit sends no used-weight header; the gate only enforces 10006/403 bans.
        self.gate = RateGate(config.venue, weight_limit=10**9)
        self.rest = BybitRest(
            config.venue,
            self.urls.rest,
            config.credentials,
            gate=self.gate,
            recv_window_ms=config.recv_window_ms,
            timeout_s=config.request_timeout_s,
            read_retries=read_retries,
        )
        self.stream_depth = stream_depth
        self._ping_s = ping_interval_s
        self._heartbeat_s = heartbeat_s
        self._backoff = backoff
        self._req_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._decoded: tuple[str, dict[str, Any]] | None = None  # stream_key -> on_message cache
        # public
        self._public: SupervisedStream | None = None
        self._public_ws: aiohttp.ClientWebSocketResponse | None = None
        self._topics: dict[str, str] = {}  # topic -> symbol
        self._acked: set[str] = set()
        self._failed: dict[str, str] = {}  # topic -> ret_msg of a refused subscribe
        self._req_topics: dict[str, list[str]] = {}
        self._ack_event = asyncio.Event()
        self._books: dict[str, BybitBookSync] = {}
        self._book_topic: dict[str, str] = {}
        self._book_resync: set[str] = set()  # symbols waiting for a fresh snapshot
        self._book_status: dict[str, FeedStatus] = {}
        self._tickers: dict[str, TickerState] = {}
        # private
        self._private: SupervisedStream | None = None
        self._user_ready = asyncio.Event()
        self._user_error: VenueError | None = None
        self._user_status: FeedStatus | None = None
        self.user_subscriptions = 0  # successful auth+subscribe rounds (1 + reconnects)

    # ================================================================== lifecycle
    async def start(self) -> None:
        await self.rest.start()
        await self.load_instruments()

    async def load_instruments(self) -> None:
        params: dict[str, Any] = {"category": self.category, "limit": 1000}
        found = {}
        while True:
            result = await self.rest.public("/v5/market/instruments-info", params)
            for inst in parse.parse_instruments(self.venue, result):
                found[inst.symbol] = inst
            cursor = result.get("nextPageCursor")
            if not cursor:
                break
            params["cursor"] = cursor
        self.instruments = found

    async def close(self) -> None:
        for stream in (self._public, self._private):
            if stream is not None:
                await stream.stop()
        self._public = self._private = None
        self._public_ws = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.rest.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _decode(self, raw: str) -> dict[str, Any]:
        cached = self._decoded
        if cached is not None and cached[0] is raw:
            return cached[1]
        msg = orjson.loads(raw)
        if not isinstance(msg, dict):
            msg = {}
        self._decoded = (raw, msg)
        return msg

    def _stream(self, url: str, name: str, **kw: Any) -> SupervisedStream:
        return SupervisedStream(
            lambda: url,
            name=name,
            venue=self.venue,
            heartbeat_s=self._heartbeat_s,
            stale_after_s=self.config.stale_after_s,
            backoff=dataclasses.replace(self._backoff) if self._backoff else None,
            app_ping=lambda: '{"op":"ping"}',
            connect_timeout_s=self.config.request_timeout_s,
            **kw,
        )

    # ================================================================== market data
    async def watch_market(
        self,
        symbol: str,
        *,
        book: bool = True,
        trades: bool = True,
        candles: Sequence[str] = ("1m",),
        tickers: bool = True,
    ) -> None:
        inst = self.instrument(symbol)
        topics: list[str] = []
        if book:
            topic = f"orderbook.{self.stream_depth}.{symbol}"
            if symbol not in self._books:
                self._books[symbol] = BybitBookSync(symbol, inst.tick_size, self.venue)
                self._book_topic[symbol] = topic
                self._book_resync.add(symbol)
            topics.append(topic)
        if trades:
            topics.append(f"publicTrade.{symbol}")
        topics.extend(f"kline.{parse.bybit_interval(c)}.{symbol}" for c in candles)
        if tickers:
            self._tickers.setdefault(symbol, TickerState(self.venue, symbol))
            topics.append(f"tickers.{symbol}")
        new = [t for t in topics if t not in self._topics]
        for t in new:
            self._topics[t] = symbol
            self._failed.pop(t, None)
        if self._public is None:
            self._public = self._stream(
                self.urls.public_ws(self.category),
                f"{self.venue}:public",
                on_message=self._on_public,
                on_status=self._on_public_status,
                subscribe=self._public_subscribe,
                stream_key=self._public_key,
                app_ping_interval_s=self._ping_s,
            )
            self._public.start()
        elif self._public_ws is not None and not self._public_ws.closed:
            with contextlib.suppress(Exception):  # a dead socket resubscribes everything on reconnect
                await self._send_op(self._public_ws, "subscribe", new)
        await self._wait_acked(new)

    async def _wait_acked(self, topics: Iterable[str]) -> None:
        want = set(topics)
        limit = self.config.request_timeout_s * 2
        try:
            async with asyncio.timeout(limit):
                while True:
                    failed = {t: self._failed[t] for t in want if t in self._failed}
                    if failed:
                        raise VenueError(self.venue, f"subscribe refused: {failed}")
                    if want <= self._acked:
                        return
                    self._ack_event.clear()
                    await self._ack_event.wait()
        except TimeoutError:
            # The stream keeps trying (and resubscribes on connect); the caller learns it is not live yet.
            missing = sorted(want - self._acked)
            raise VenueError(self.venue, f"not subscribed within {limit:.0f}s: {missing}") from None

    async def unwatch_market(self, symbol: str) -> None:
        topics = [t for t, s in self._topics.items() if s == symbol]
        for t in topics:
            del self._topics[t]
            self._acked.discard(t)
        self._books.pop(symbol, None)
        self._book_topic.pop(symbol, None)
        self._book_resync.discard(symbol)
        self._tickers.pop(symbol, None)
        ws = self._public_ws
        if topics and ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await self._send_op(ws, "unsubscribe", topics)

    def book(self, symbol: str) -> LocalBook | None:
        return self._books.get(symbol)

    def feeds(self) -> Mapping[str, FeedStatus]:
        out: dict[str, FeedStatus] = {}
        # The private socket's own states are mirrored into the ":user" status (whose LIVE means
        # authenticated and subscribed), so only that one is listed.
        if self._public is not None:
            out[self._public.name] = self._public.status
            for st in self._public.key_status.values():
                out[st.stream_id] = st
        for st in self._book_status.values():
            out[st.stream_id] = st
        if self._user_status is not None:
            out[self._user_status.stream_id] = self._user_status
        return out

    async def _send_op(self, ws: aiohttp.ClientWebSocketResponse, op: str, args: Sequence[str]) -> None:
        for i in range(0, len(args), _SUB_CHUNK):
            chunk = list(args[i : i + _SUB_CHUNK])
            req_id = f"{op[:5]}-{next(self._req_ids)}"
            self._req_topics[req_id] = chunk
            await ws.send_str(orjson.dumps({"op": op, "req_id": req_id, "args": chunk}).decode())

    async def _public_subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """After every (re)connect: books start over from the fresh snapshots, all topics again."""
        self._public_ws = ws
        self._acked.clear()
        self._req_topics.clear()
        for symbol, book in self._books.items():
            book.reset()
            self._book_resync.add(symbol)
            if symbol in self._book_status:  # not on the first connect: nothing was live yet
                self._book_feed(symbol, FeedState.RESYNCING, "reconnected: waiting for a snapshot")
        if self._topics:
            await self._send_op(ws, "subscribe", list(self._topics))

    def _public_key(self, raw: str) -> str | None:
        return self._decode(raw).get("topic")

    def _on_public_status(self, status: FeedStatus) -> None:
        symbol = None
        _, _, key = status.stream_id.partition(":public:")
        if key:
            symbol = key.rsplit(".", 1)[-1]
        self._emit(FeedEvent(status, StreamKind.MARKET, symbol))

    def _on_public(self, raw: str, recv_ns: int) -> None:
        # recv_ns: SupervisedStream's perf_counter_ns receive time (BookUpdated.recv_ns)
        msg = self._decode(raw)
        topic = msg.get("topic")
        if topic is None:
            self._on_ack(msg)
            return
        kind = topic.split(".", 1)[0]
        if kind == "orderbook":
            self._on_book(topic, msg, recv_ns)
        elif kind == "publicTrade":
            for trade in parse.parse_public_trades(self.venue, msg):
                self._emit(PublicTradeEvent(trade))
        elif kind == "kline":
            symbol = topic.rsplit(".", 1)[-1]
            for row in msg.get("data") or []:
                self._emit(CandleEvent(parse.parse_candle_ws(self.venue, symbol, row)))
        elif kind == "tickers":
            state = self._tickers.get(topic.rsplit(".", 1)[-1])
            if state is None:
                return
            ticker, mark = state.apply(msg)
            if ticker is not None:
                self._emit(TickerEvent(ticker))
            if mark is not None:
                self._emit(MarkPriceEvent(mark))

    def _on_ack(self, msg: Mapping[str, Any]) -> None:
        op = msg.get("op")
        if op not in ("subscribe", "unsubscribe"):
            return  # pong
        # pybit's thread dies on an unknown req_id; an ack we cannot place is just logged.
        topics = self._req_topics.pop(str(msg.get("req_id")), None)
        if topics is None:
            log.debug("%s: ack for unknown req_id %r", self.venue, msg.get("req_id"))
            return
        if op == "subscribe":
            text = str(msg.get("ret_msg", ""))
            if msg.get("success") or "already subscribed" in text:
                self._acked.update(topics)
            else:
                log.warning("%s: subscribe %s refused: %s", self.venue, topics, text)
                for t in topics:
                    self._failed[t] = text
            self._ack_event.set()

    def _on_book(self, topic: str, msg: Mapping[str, Any], recv_ns: int) -> None:
        symbol = topic.rsplit(".", 1)[-1]
        book = self._books.get(symbol)
        if book is None or self._book_topic.get(symbol) != topic:
            return
        snapshot = msg.get("type") == "snapshot"
        result = book.on_message(msg)
        if result is ApplyResult.GAP:
            log.warning("%s %s: book gap (%s); resubscribing", self.venue, symbol, book.reason)
            self._book_resync.add(symbol)
            self._book_feed(symbol, FeedState.RESYNCING, book.reason)
            self._spawn(self._resubscribe(topic))
            return
        if result is not ApplyResult.APPLIED:
            return
        if snapshot and symbol in self._book_resync:
            self._book_resync.discard(symbol)
            self._book_feed(symbol, FeedState.LIVE, f"snapshot u={book.update_id}")
        self._emit(
            BookUpdated(
                self.venue, symbol, book.update_id, int(msg.get("ts") or 0), recv_ns, resynced=snapshot
            )
        )

    def _book_feed(self, symbol: str, state: FeedState, detail: str) -> None:
        now = _wall_ms()
        status = self._book_status.get(symbol) or FeedStatus(
            stream_id=f"{self.venue}:book:{symbol}", venue=self.venue, since=now
        )
        changed = status.state is not state
        status = status.with_state(state, now, detail)
        self._book_status[symbol] = status
        if changed:
            self._emit(FeedEvent(status, StreamKind.MARKET, symbol))

    async def _resubscribe(self, topic: str) -> None:
        ws = self._public_ws
        if ws is None or ws.closed:
            return  # the reconnect resubscribes everything
        try:
            await self._send_op(ws, "unsubscribe", [topic])
            await self._send_op(ws, "subscribe", [topic])
        except Exception as exc:  # the socket died meanwhile: reconnect will resubscribe
            log.info("%s: resubscribe %s failed: %s", self.venue, topic, exc)

    async def fetch_candles(
        self,
        symbol: str,
        interval: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[Candle]:
        self.instrument(symbol)
        wire = parse.bybit_interval(interval)
        params = {
            "category": self.category,
            "symbol": symbol,
            "interval": wire,
            "start": start_ms,
            "end": end_ms,
            "limit": max(1, min(limit, 1000)),
        }
        result = await self.rest.public("/v5/market/kline", params)
        return parse.parse_rest_klines(self.venue, symbol, wire, result, self.rest.now_ms())

    # ================================================================== private stream
    async def watch_user(self) -> None:
        creds = self.config.credentials
        if creds is None:
            raise AuthFailed(self.venue, "watch_user needs API credentials")
        if self._private is None:
            self._user_ready.clear()
            self._user_error = None
            # A private stream may be silent for long: pongs count as liveness there, so the
            # app ping must come well inside the staleness window.
            ping = min(self._ping_s, max(0.05, self.config.stale_after_s / 3))
            self._private = self._stream(
                self.urls.private_ws,
                f"{self.venue}:private",
                on_message=self._on_private,
                on_status=self._on_private_status,
                subscribe=self._private_subscribe,
                stream_key=lambda raw: "user",
                app_ping_interval_s=ping,
            )
            self._private.start()
        limit = self.config.request_timeout_s * 2
        try:
            async with asyncio.timeout(limit):
                await self._user_ready.wait()
        except TimeoutError:
            raise VenueError(self.venue, f"private stream not subscribed within {limit:.0f}s") from None
        if self._user_error is not None:
            err = self._user_error
            stream, self._private = self._private, None
            if stream is not None:
                await stream.stop()
            raise err

    async def _private_subscribe(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        creds = self.config.credentials
        assert creds is not None
        expires = self.rest.now_ms() + 10_000
        sig = hmac.new(creds.secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()
        await ws.send_str(orjson.dumps({"op": "auth", "args": [creds.key, expires, sig]}).decode())
        ack = await self._await_op(ws, "auth")
        if not ack.get("success"):
            code = ack.get("retCode")
            err = AuthFailed(
                self.venue,
                f"private stream auth refused: {ack.get('ret_msg') or ack.get('retMsg')}",
                code=int(code) if code is not None else None,
            )
            if self.user_subscriptions == 0:
                self._user_error = err
                self._user_ready.set()
            raise err
        await ws.send_str(
            orjson.dumps({"op": "subscribe", "req_id": "user", "args": list(PRIVATE_TOPICS)}).decode()
        )
        ack = await self._await_op(ws, "subscribe")
        if not ack.get("success"):
            raise VenueError(self.venue, f"private subscribe refused: {ack.get('ret_msg')}")
        self.user_subscriptions += 1
        detail = "subscribed" if self.user_subscriptions == 1 else "resubscribed after reconnect: reconcile"
        self._set_user_status(FeedState.LIVE, detail)
        self._user_ready.set()

    async def _await_op(self, ws: aiohttp.ClientWebSocketResponse, op: str) -> dict[str, Any]:
        """Read frames until the ack of ``op`` (the reader task starts only after the hook)."""
        while True:
            frame = await ws.receive()
            if frame.type is not aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"private stream closed while waiting for {op} ack ({frame.type.name})")
            msg = self._decode(frame.data)
            if msg.get("op") == op:
                return msg
            if msg.get("topic"):
                self._on_private(frame.data, time.perf_counter_ns())

    def _set_user_status(self, state: FeedState, detail: str) -> None:
        now = _wall_ms()
        status = self._user_status or FeedStatus(stream_id=f"{self.venue}:user", venue=self.venue, since=now)
        self._user_status = status.with_state(state, now, detail)
        self._emit(FeedEvent(self._user_status, StreamKind.USER))

    def _on_private_status(self, status: FeedStatus) -> None:
        # LIVE is reported by the subscribe hook (authenticated + subscribed), not by the socket.
        current = self._user_status.state if self._user_status else None
        if status.state is FeedState.LIVE and current is not FeedState.STALE:
            return
        if status.state is current:
            return
        self._set_user_status(status.state, status.detail)

    def _on_private(self, raw: str, recv_ns: int) -> None:
        msg = self._decode(raw)
        topic = msg.get("topic")
        if not topic:
            return  # pong / ack
        base = topic.split(".", 1)[0]
        ts = int(msg.get("creationTime") or 0)
        rows = msg.get("data") or []
        if base == "order":
            for row in self._mine(rows):
                self._emit(parse.parse_order(self.venue, row, ReportSource.STREAM))
        elif base == "execution":
            for row in self._mine(rows):
                fill = self._fill(row)
                if fill is not None:
                    self._emit(FillEvent(fill, ReportSource.STREAM))
        elif base == "position":
            if self.category == "linear":
                positions = tuple(parse.parse_position(self.venue, r) for r in self._mine(rows, "linear"))
                if positions:
                    self._emit(PositionsEvent(self.venue, positions, snapshot=False, ts=ts))
        elif base == "wallet":
            balances = tuple(parse.parse_balances(rows))
            self._emit(BalancesEvent(self.venue, balances, snapshot=False, ts=ts))

    def _mine(self, rows: Iterable[Mapping[str, Any]], default: str | None = None) -> list[Mapping[str, Any]]:
        return [r for r in rows if venue_of(r.get("category") or default) is self.venue]

    def _fill(self, row: Mapping[str, Any]) -> Fill | None:
        inst = self.instruments.get(row.get("symbol", ""))
        return parse.parse_execution(
            self.venue, row, quote=inst.quote if inst else None, base=inst.base if inst else None
        )

    # ================================================================== account
    async def fetch_balances(self) -> list[Balance]:
        result = await self.rest.get("/v5/account/wallet-balance", {"accountType": "UNIFIED"})
        return parse.parse_balances(result.get("list") or [])

    async def fetch_positions(self) -> list[Position]:
        if self.category == "spot":
            return []
        out: list[Position] = []
        params: dict[str, Any] = {"category": "linear", "settleCoin": "USDT", "limit": 200}
        for row in await self._paged("/v5/position/list", params):
            pos = parse.parse_position(self.venue, row)
            if not pos.is_flat:
                out.append(pos)
        return out

    async def fetch_fills(self, symbol: str, *, since_ms: int | None = None) -> list[Fill]:
        self.instrument(symbol)
        params = {"category": self.category, "symbol": symbol, "startTime": since_ms, "limit": 100}
        fills = [f for f in map(self._fill, await self._paged("/v5/execution/list", params)) if f]
        return sorted(fills, key=lambda f: (f.ts, f.trade_id))

    async def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        if self.category == "spot":
            raise NotImplementedError(f"{self.venue} has no leverage")
        self.instrument(symbol)
        text = format(leverage.normalize(), "f")
        body = {"category": "linear", "symbol": symbol, "buyLeverage": text, "sellLeverage": text}
        try:
            await self.rest.post("/v5/position/set-leverage", body)
        except VenueError as exc:
            if exc.code != _LEVERAGE_UNCHANGED:
                raise

    async def _paged(self, path: str, params: dict[str, Any], max_pages: int = 50) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        params = dict(params)
        for _ in range(max_pages):
            result = await self.rest.get(path, params)
            rows.extend(result.get("list") or [])
            cursor = result.get("nextPageCursor")
            if not cursor:
                break
            params["cursor"] = cursor
        return rows

    # ================================================================== orders
    def _order_body(self, order: Order) -> dict[str, Any]:
        inst = self.instrument(order.symbol)
        body: dict[str, Any] = {
            "category": self.category,
            "symbol": order.symbol,
            "side": parse.wire_side(order.side),
            "orderType": parse.wire_order_type(order.type),
            "qty": inst.format_qty(order.qty),
            "orderLinkId": order.client_id,
        }
        if order.type is OrderType.TRAILING_STOP_MARKET:
            raise OrderRejected(self.venue, "trailing stops are not order types on Bybit v5 (not sent)")
        if order.type.has_limit_price:
            assert order.price is not None  # check_order ran first
            body["price"] = inst.format_price(order.price)
            tif = TimeInForce.POST_ONLY if order.post_only else order.tif
            body["timeInForce"] = parse.wire_tif(tif)
        elif order.tif in (TimeInForce.IOC, TimeInForce.FOK):
            body["timeInForce"] = parse.wire_tif(order.tif)
        if order.type.is_conditional:
            assert order.stop_price is not None
            body["triggerPrice"] = inst.format_price(order.stop_price)
            take_profit = order.type in (OrderType.TAKE_PROFIT_MARKET, OrderType.TAKE_PROFIT_LIMIT)
            rises = (order.side is Side.BUY) != take_profit  # buy stops fire on a rise, TPs on a fall
            body["triggerDirection"] = 1 if rises else 2
            if self.category == "spot":
                body["orderFilter"] = "StopOrder"
        if self.category == "spot":
            if order.type in (OrderType.MARKET, OrderType.STOP_MARKET):
                body["marketUnit"] = "baseCoin"  # qty in base, as the OMS sized it
        else:
            body["positionIdx"] = _IDX[order.position_side]
            if order.reduce_only:
                body["reduceOnly"] = True
        return body

    async def place_order(self, order: Order) -> OrderReport:
        self.check_order(order)  # FilterRejected: never sent
        body = self._order_body(order)
        result = await self.rest.post("/v5/order/create", body, order=True)
        venue_id = str(result.get("orderId") or "") or None
        # create answers with ids only; the order's state comes from a query (or the stream).
        try:
            report = await self.fetch_order(order.symbol, order.client_id)
        except VenueError as exc:
            log.warning("%s: order %s placed, state query failed: %s", self.venue, order.client_id, exc)
            report = None
        if report is not None:
            return report
        pending = dataclasses.replace(order, venue_order_id=venue_id, status=OrderStatus.PENDING_NEW)
        return OrderReport(pending, ReportSource.REST, self.rest.now_ms())

    async def cancel_order(self, symbol: str, client_id: str) -> OrderReport:
        self.instrument(symbol)
        body = {"category": self.category, "symbol": symbol, "orderLinkId": client_id}
        await self.rest.post("/v5/order/cancel", body, order=True)
        report = await self.fetch_order(symbol, client_id)
        if report is None:
            raise OutcomeUnknown(self.venue, f"cancel of {client_id} accepted but the order cannot be found")
        return report

    async def fetch_order(self, symbol: str, client_id: str) -> OrderReport | None:
        self.instrument(symbol)
        params = {"category": self.category, "symbol": symbol, "orderLinkId": client_id}
        for path in ("/v5/order/realtime", "/v5/order/history"):
            result = await self.rest.get(path, params)
            for row in result.get("list") or []:
                if row.get("orderLinkId") == client_id:
                    return parse.parse_order(self.venue, row, ReportSource.REST)
        return None

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        params: dict[str, Any] = {"category": self.category, "openOnly": 0, "limit": 50}
        if symbol is not None:
            self.instrument(symbol)
            params["symbol"] = symbol
        elif self.category == "linear":
            params["settleCoin"] = "USDT"
        rows = await self._paged("/v5/order/realtime", params)
        reports = [parse.parse_order(self.venue, r, ReportSource.RECONCILE) for r in rows]
        return [r for r in reports if r.order.is_open]
