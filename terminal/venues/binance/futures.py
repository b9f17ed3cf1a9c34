"""Binance USDⓈ-M Futures adapter: REST via python-binance's signing, streams via SupervisedStream.

Streams (PROTOCOLS.md §4 — a stream on the wrong path is silently empty):
- ``/public/stream?streams=<s>@depth@100ms/<s>@bookTicker``: the local book (pu chain,
  :class:`BinanceFuturesBookSync`; a GAP or a reconnect resyncs from ``/fapi/v1/depth``);
- ``/market/stream?streams=<s>@aggTrade/<s>@markPrice@1s/<s>@kline_<i>/<s>@ticker``;
- ``/private/ws?listenKey=K``: the user stream. The URL factory POSTs ``/fapi/v1/listenKey`` on
  every (re)connect (Binance returns the live key, or a new one), so ``listenKeyExpired``, a
  failed keepalive and a drop all heal the same way: close, reconnect with a valid key, then
  report ``FeedEvent(kind=USER, LIVE)`` so the OMS reconciles what it may have missed.

Conditional orders (STOP*, TAKE_PROFIT*) go to ``POST /fapi/v1/algoOrder`` (``clientAlgoId`` =
our client id); their ``venue_order_id`` is ``algo:<algoId>`` for their whole life (see
parse_futures). TRAILING_STOP_MARKET is not offered (the Order model has no callback rate).

Money safety: ``FilterRejected`` before sending; venue refusals -> ``OrderRejected`` with the
venue's code; a timeout, dropped connection or 5xx on a mutating request -> ``OutcomeUnknown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import aiohttp

from terminal.market.orderbook import ApplyResult, BinanceFuturesBookSync, LocalBook
from terminal.model import (
    Balance,
    Candle,
    FeedState,
    FeedStatus,
    Fill,
    MarginMode,
    Order,
    OrderType,
    Position,
    PositionSide,
    TimeInForce,
    Venue,
)
from terminal.venues.base import Capabilities, VenueAdapter, VenueConfig
from terminal.venues.binance import parse_futures as pf
from terminal.venues.binance.client import FUTURES_DEPTH_LIMITS, BinanceApi, BinanceRest, snapshot_limit
from terminal.venues.binance.urls import binance_urls
from terminal.venues.errors import (
    OrderNotFound,
    OrderRejected,
    RateLimited,
    VenueError,
)
from terminal.venues.events import (
    BookUpdated,
    CandleEvent,
    EventSink,
    FeedEvent,
    FillEvent,
    MarkPriceEvent,
    OrderReport,
    PublicTradeEvent,
    ReportSource,
    StreamKind,
    TickerEvent,
)
from terminal.venues.ratelimit import RateGate
from terminal.venues.ws import Backoff, SupervisedStream

__all__ = ["BinanceFuturesAdapter"]

log = logging.getLogger(__name__)

VENUE = Venue.BINANCE_USDM
_APPLIED = ApplyResult.APPLIED  # a module constant: the enum class attribute costs ~80 ns per frame
_MARKET_KEYS = ("aggTrade", "markPrice", "kline", "ticker")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


_FIXED_INTERVAL_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def _kline_limit(interval: str, start_ms: int | None, end_ms: int | None, now_ms: int, limit: int) -> int:
    """``limit`` cut to the bars that can exist in [start, end or now] (+1 of slack for clock
    skew). Futures klines cost 1/2/5/10 weight by *requested* limit (<100, <500, <=1000, more),
    and a reconnect's candle backfill asks for a full page that holds a bar or two."""
    if start_ms is None or interval[-1:] not in _FIXED_INTERVAL_MS or not interval[:-1].isdigit():
        return limit  # no start, or a calendar interval ("1M"): nothing to count on
    step = int(interval[:-1]) * _FIXED_INTERVAL_MS[interval[-1]]
    last = now_ms if end_ms is None else min(end_ms, now_ms)
    possible = max(0, last - start_ms) // step + 2
    return max(1, min(limit, possible))


def _stream_name(raw: str) -> str | None:
    """The ``stream`` of a combined frame without a JSON parse (``{"stream":"x@y","data":..}``)."""
    if not raw.startswith('{"stream":"'):
        return None
    end = raw.find('"', 11)
    return raw[11:end] if end > 0 else None


class BinanceFuturesAdapter(VenueAdapter):
    capabilities = Capabilities(
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
        time_in_force=frozenset(TimeInForce),
        reduce_only=True,
        post_only=True,
        leverage=True,
        hedge_mode=True,
        positions=True,
        candle_intervals=(
            "1m",
            "3m",
            "5m",
            "15m",
            "30m",
            "1h",
            "2h",
            "4h",
            "6h",
            "8h",
            "12h",
            "1d",
            "3d",
            "1w",
        ),
    )

    def __init__(
        self,
        config: VenueConfig,
        emit: EventSink,
        *,
        keepalive_s: float = 30 * 60.0,
        backoff: Backoff | None = None,
        heartbeat_s: float = 10.0,
        depth_speed_ms: int = 100,
    ) -> None:
        super().__init__(config, emit)
        if config.venue is not VENUE:
            raise ValueError(f"BinanceFuturesAdapter needs venue {VENUE}, got {config.venue}")
        self.urls = binance_urls(config)
        self.gate = RateGate(VENUE, weight_limit=2400)
        self._keepalive_s = keepalive_s
        self._backoff = backoff
        self._heartbeat_s = heartbeat_s
        self._depth_speed_ms = depth_speed_ms
        self.snapshot_limit = snapshot_limit(config.book_depth, FUTURES_DEPTH_LIMITS)
        self._rest: BinanceRest | None = None
        self._books: dict[str, BinanceFuturesBookSync] = {}
        self._resync: dict[str, asyncio.Task[None]] = {}
        self._buffered: set[str] = set()  # symbols with a diff buffered since the last snapshot try
        self._market_streams: dict[str, list[SupervisedStream]] = {}
        self._feeds: dict[str, FeedStatus] = {}
        self._user_stream: SupervisedStream | None = None
        self._user_ws: aiohttp.ClientWebSocketResponse | None = None
        self._user_connected = asyncio.Event()
        self._user_connects = 0
        self._keepalive_task: asyncio.Task[None] | None = None
        self._listen_key: str | None = None
        self._leverage: dict[str, Decimal] = {}
        self._algo_clients: set[str] = set()  # client ids placed as algo (conditional) orders
        self._order_ids: dict[str, tuple[str, str]] = {}  # venue orderId -> (client id, venue id)
        self.listen_keys_created = 0  # observability (tests)
        self.keepalives = 0

    # ================================================================== lifecycle
    async def start(self) -> None:
        self._rest = BinanceRest(self.config, gate=self.gate)
        try:
            await self._rest.open()  # builds the client and syncs the clock on /fapi/v1/time
            info = await self._req("get", "exchangeInfo")
        except BaseException:
            await self.close()
            raise
        self.instruments = {i.symbol: i for i in pf.parse_exchange_info(info)}

    async def close(self) -> None:
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive_task
            self._keepalive_task = None
        if self._user_stream is not None:
            await self._user_stream.stop()
            self._user_stream = None
        for symbol in list(self._market_streams):
            await self.unwatch_market(symbol)
        if self._rest is not None:
            with contextlib.suppress(Exception):
                await self._rest.close()
            self._rest = None

    def server_now_ms(self) -> int:
        return self._rest.server_time_ms() if self._rest is not None else _now_ms()

    # ================================================================== REST plumbing
    async def _req(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        signed: bool = False,
        version: int = 1,
        order: bool = False,
    ) -> Any:
        """``/fapi/v<version>/<path>`` through the shared client (gate, -1021 retry, error mapping).

        ``order=True`` for place/cancel: never retried, transport failures are OutcomeUnknown."""
        if self._rest is None:
            raise VenueError(VENUE, "adapter not started")
        return await self._rest.call(
            method.upper(),
            path,
            signed=signed,
            params=params,
            api=BinanceApi.FUTURES,
            version=version,
            order=order,
        )

    # ================================================================== market data
    def book(self, symbol: str) -> LocalBook | None:
        return self._books.get(symbol)

    def feeds(self) -> Mapping[str, FeedStatus]:
        return dict(self._feeds)

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
        if symbol in self._market_streams:
            await self.unwatch_market(symbol)  # "extend" = restart with the union is simplest
        s = symbol.lower()
        streams: list[SupervisedStream] = []
        public: list[str] = []
        if book:
            self._books[symbol] = BinanceFuturesBookSync(symbol, inst.tick_size)
            public += [f"{s}@depth@{self._depth_speed_ms}ms"]
        if tickers:
            public.append(f"{s}@bookTicker")
        market = [f"{s}@aggTrade"] if trades else []
        market += [f"{s}@markPrice@1s"]
        market += [f"{s}@kline_{i}" for i in candles]
        market += [f"{s}@ticker"] if tickers else []
        if public:
            streams.append(self._market_stream(symbol, "public", public, with_book=book))
        streams.append(self._market_stream(symbol, "market", market, with_book=False))
        self._market_streams[symbol] = streams
        for st in streams:
            st.start()

    def _market_stream(
        self, symbol: str, path: str, names: list[str], *, with_book: bool
    ) -> SupervisedStream:
        url = f"{self.urls.futures_stream}/{path}/stream?streams={'/'.join(names)}"
        name = f"{VENUE}:{symbol}:{path}"

        async def on_connect(ws: aiohttp.ClientWebSocketResponse) -> None:
            if with_book:
                self._begin_resync(symbol, reset=True)

        return SupervisedStream(
            lambda: url,
            name=name,
            venue=VENUE,
            on_message=self._market_handler(symbol),
            on_status=(lambda st: self._on_book_socket_status(st, symbol))
            if with_book
            else (lambda st: self._on_feed_status(st, StreamKind.MARKET, symbol)),
            subscribe=on_connect if with_book else None,
            stream_key=_stream_name,
            heartbeat_s=self._heartbeat_s,
            stale_after_s=self.config.stale_after_s,
            backoff=dataclasses.replace(self._backoff) if self._backoff else None,
        )

    async def unwatch_market(self, symbol: str) -> None:
        task = self._resync.pop(symbol, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for st in self._market_streams.pop(symbol, []):
            await st.stop()
        self._books.pop(symbol, None)

    def _on_feed_status(self, status: FeedStatus, kind: StreamKind, symbol: str | None) -> None:
        self._feeds[status.stream_id] = status
        self._emit(FeedEvent(status, kind, symbol))

    def _set_feed(
        self, stream_id: str, state: FeedState, detail: str, kind: StreamKind, symbol: str | None
    ) -> None:
        old = self._feeds.get(stream_id) or FeedStatus(stream_id=stream_id, venue=VENUE, since=_now_ms())
        new = old.with_state(state, _now_ms(), detail)
        if new.state is old.state and stream_id in self._feeds:
            self._feeds[stream_id] = new  # a new detail only: no event
        else:
            self._on_feed_status(new, kind, symbol)

    def _market_handler(self, symbol: str) -> Callable[[str, int], None]:
        """The on_message of ``symbol``'s market connections (``recv_ns``: perf_counter_ns).

        Per frame, the depth diff of a LIVE book is the hot path (bench/book_ingest.py): a prefix
        test instead of slicing out the stream name, one dict hit to the book, the result tested
        against a module constant, one BookUpdated. Everything else goes to ``_on_market``.
        """
        depth_prefix = f'{{"stream":"{symbol.lower()}@depth'
        books = self._books

        def on_message(raw: str, recv_ns: int) -> None:
            if raw.startswith(depth_prefix):
                book = books.get(symbol)
                if book is not None:
                    result = book.on_diff(raw)
                    if result is _APPLIED:
                        self._emit(BookUpdated(VENUE, symbol, book.update_id, book.ts, recv_ns))
                    else:
                        self._on_depth_result(symbol, result)
                return
            self._on_market(symbol, raw, recv_ns)

        return on_message

    def _on_market(self, symbol: str, raw: str, recv_ns: int) -> None:
        key = _stream_name(raw)
        if key is None:
            return
        if "@depth" in key:
            self._on_depth(symbol, raw, recv_ns)
            return
        data = json.loads(raw)["data"]
        e = data.get("e")
        if e == "aggTrade":
            self._emit(PublicTradeEvent(pf.parse_agg_trade(data)))
        elif e == "bookTicker":
            self._emit(pf.parse_book_ticker(data))
        elif e == "markPriceUpdate":
            self._emit(MarkPriceEvent(pf.parse_mark_price(data)))
        elif e == "kline":
            self._emit(CandleEvent(pf.parse_kline(data)))
        elif e == "24hrTicker":
            self._emit(TickerEvent(pf.parse_ticker(data)))

    # ---- book ----
    def _on_book_socket_status(self, status: FeedStatus, symbol: str) -> None:
        self._on_feed_status(status, StreamKind.MARKET, symbol)
        book = self._books.get(symbol)
        if (
            status.state is FeedState.RECONNECTING
            and status.stream_id.endswith(":public")
            and book is not None
        ):
            # no socket, no diffs: the levels are stale from now on, not shown as live
            task = self._resync.pop(symbol, None)
            if task is not None:
                task.cancel()
            book.reset()
            self._buffered.discard(symbol)
            self._set_feed(
                self._book_feed_id(symbol), FeedState.RECONNECTING, status.detail, StreamKind.MARKET, symbol
            )

    def _book_feed_id(self, symbol: str) -> str:
        return f"{VENUE}:{symbol}:book"

    def _on_depth(self, symbol: str, raw: str, recv_ns: int) -> None:
        book = self._books.get(symbol)
        if book is None:
            return
        result = book.on_diff(raw)
        if result is _APPLIED:
            self._emit(BookUpdated(VENUE, symbol, book.update_id, book.ts, recv_ns))
        else:
            self._on_depth_result(symbol, result)

    def _on_depth_result(self, symbol: str, result: ApplyResult) -> None:
        """A diff that was not simply applied: buffered while syncing, or a gap."""
        if result is ApplyResult.BUFFERED:
            self._buffered.add(symbol)
        elif result is ApplyResult.GAP:
            book = self._books.get(symbol)
            log.warning("%s book gap: %s; resyncing", symbol, book.reason if book else "")
            self._begin_resync(symbol, reset=False)

    def _begin_resync(self, symbol: str, *, reset: bool) -> None:
        book = self._books.get(symbol)
        if book is None:
            return
        self._buffered.discard(symbol)
        if reset:
            book.reset()  # a new connection: whatever was buffered belongs to the old one
            old = self._resync.pop(symbol, None)
            if old is not None:
                old.cancel()
        elif symbol in self._resync and not self._resync[symbol].done():
            return  # already resyncing; the diffs keep buffering
        self._set_feed(
            self._book_feed_id(symbol),
            FeedState.RESYNCING,
            book.reason or "syncing",
            StreamKind.MARKET,
            symbol,
        )
        self._resync[symbol] = asyncio.get_running_loop().create_task(
            self._resync_book(symbol, book), name=f"resync:{symbol}"
        )

    async def _resync_book(self, symbol: str, book: BinanceFuturesBookSync) -> None:
        """Snapshot after the first buffered diff (so the snapshot can straddle it), then replay."""
        attempt = 0
        while True:
            deadline = time.monotonic() + 0.5  # a quiet book may send nothing: snapshot anyway
            while symbol not in self._buffered and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            try:
                snap = await self._req("get", "depth", {"symbol": symbol, "limit": self.snapshot_limit})
            except VenueError as exc:
                log.warning("%s depth snapshot failed: %s", symbol, exc)
                await asyncio.sleep(min(5.0, 0.2 * 2**attempt))
                attempt += 1
                continue
            result = book.on_snapshot(snap)
            self._buffered.discard(symbol)  # the buffer was consumed (or is stale): wait anew
            if result is ApplyResult.APPLIED:
                self._set_feed(self._book_feed_id(symbol), FeedState.LIVE, "", StreamKind.MARKET, symbol)
                self._emit(
                    BookUpdated(VENUE, symbol, book.update_id, book.ts, time.perf_counter_ns(), resynced=True)
                )
                return
            log.info("%s snapshot %s (lastUpdateId %s); again", symbol, result, snap.get("lastUpdateId"))
            attempt += 1
            await asyncio.sleep(0.05)

    async def fetch_candles(
        self,
        symbol: str,
        interval: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[Candle]:
        now = self.server_now_ms()
        rows = await self._req(
            "get",
            "klines",
            {
                "symbol": symbol,
                "interval": interval,
                "startTime": start_ms,
                "endTime": end_ms,
                "limit": _kline_limit(interval, start_ms, end_ms, now, limit),
            },
        )
        return [pf.parse_kline_row(symbol, interval, r, now) for r in rows]

    # ================================================================== user stream
    @property
    def user_feed_id(self) -> str:
        return f"{VENUE}:user"

    async def watch_user(self) -> None:
        if self._user_stream is not None:
            return
        # ACCOUNT_UPDATE carries no leverage: know it per symbol before the first one arrives
        await self._load_symbol_config()
        self._user_connected.clear()
        self._user_stream = SupervisedStream(
            self._user_url,
            name=self.user_feed_id,
            venue=VENUE,
            on_message=self._on_user,
            on_status=self._on_user_status,
            subscribe=self._on_user_connect,
            heartbeat_s=self._heartbeat_s,
            # a quiet account is normal: only the heartbeat (dead TCP) recycles this socket
            stale_after_s=max(self._keepalive_s * 2, 3600.0),
            backoff=dataclasses.replace(self._backoff) if self._backoff else None,
        )
        self._user_stream.start()
        self._keepalive_task = asyncio.get_running_loop().create_task(
            self._keepalive(), name="listenKey keepalive"
        )
        try:
            async with asyncio.timeout(self.config.request_timeout_s * 2):
                await self._user_connected.wait()
        except TimeoutError:
            # the stream keeps retrying in the background; the caller learns it is not up yet
            raise VenueError(VENUE, f"user stream not connected: {self._user_stream.status.detail}") from None

    async def _user_url(self) -> str:
        # POST returns the account's live key (extended) or a new one: valid after any failure.
        body = await self._req("post", "listenKey", signed=False)
        key = body["listenKey"]
        if key != self._listen_key:
            self.listen_keys_created += 1
        self._listen_key = key
        return f"{self.urls.futures_stream}/private/ws?listenKey={key}"

    async def _on_user_connect(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._user_ws = ws
        self._user_connects += 1
        # The handshake only succeeds with a live key: the stream is up. LIVE after any
        # outage tells the OMS to reconcile (events during the gap are lost).
        self._set_feed(self.user_feed_id, FeedState.LIVE, "connected", StreamKind.USER, None)
        self._user_connected.set()

    def _on_user_status(self, status: FeedStatus) -> None:
        if status.state is FeedState.LIVE:
            return  # LIVE is ours to say (on connect), not on the first message
        self._set_feed(self.user_feed_id, status.state, status.detail, StreamKind.USER, None)

    def _recycle_user(self, why: str) -> None:
        log.warning("user stream: %s; reconnecting with a fresh listenKey", why)
        self._listen_key = None
        ws = self._user_ws
        if ws is not None and not ws.closed:
            asyncio.get_running_loop().create_task(ws.close())

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive_s)
            key = self._listen_key
            if key is None:
                continue
            try:
                await self._req("put", "listenKey", {"listenKey": key})
                self.keepalives += 1
            except VenueError as exc:
                if exc.code is None or isinstance(exc, RateLimited):
                    continue  # transport trouble: try again next round, the key lives 60 min
                self._recycle_user(f"keepalive refused: {exc}")  # -1125: the key is gone

    def _on_user(self, raw: str, recv_ns: int) -> None:
        try:
            self._handle_user(json.loads(raw))
        except Exception as exc:
            # An event we cannot read is an event the OMS missed: say so, and make it reconcile.
            log.exception("user stream: unreadable event %.200r", raw)
            self._set_feed(
                self.user_feed_id, FeedState.RESYNCING, f"unreadable event: {exc}", StreamKind.USER, None
            )
            self._set_feed(self.user_feed_id, FeedState.LIVE, "", StreamKind.USER, None)

    def _handle_user(self, msg: dict[str, Any]) -> None:
        e = msg.get("e")
        if e == "ORDER_TRADE_UPDATE":
            u = pf.parse_order_trade_update(msg)
            if u.report is not None:
                self._remember(u.report.order, msg["o"].get("i"))
                self._emit(u.report)
            if u.fill is not None:
                self._emit(FillEvent(u.fill))
        elif e == "ALGO_UPDATE":
            o = msg["o"]
            if o.get("X") == "FINISHED" and o.get("ai"):
                return  # the triggered order's own ORDER_TRADE_UPDATE is the authority
            report = pf.parse_algo_update(msg)
            self._algo_clients.add(report.order.client_id)
            self._emit(report)
        elif e == "ACCOUNT_UPDATE":
            balances, positions = pf.parse_account_update(msg, self._leverage)
            self._emit(balances)
            self._emit(positions)
        elif e == "ACCOUNT_CONFIG_UPDATE":
            ac = msg.get("ac")
            if ac and "l" in ac:
                self._leverage[ac["s"]] = Decimal(ac["l"])
        elif e == "listenKeyExpired":
            expired = msg.get("listenKey")
            if expired and self._listen_key and expired != self._listen_key:
                return  # a late notice about a key we already replaced
            self._set_feed(
                self.user_feed_id, FeedState.RECONNECTING, "listenKeyExpired", StreamKind.USER, None
            )
            self._recycle_user("listenKeyExpired")

    def _remember(self, order: Order, order_id: Any) -> None:
        if order_id:
            self._order_ids[str(order_id)] = (order.client_id, order.venue_order_id or str(order_id))

    # ================================================================== orders
    async def place_order(self, order: Order) -> OrderReport:
        inst = self.instrument(order.symbol)
        if order.type is OrderType.TRAILING_STOP_MARKET:
            raise OrderRejected(VENUE, "TRAILING_STOP_MARKET is not supported by this adapter")
        self.check_order(order)
        params: dict[str, Any] = {
            "symbol": order.symbol,
            "side": order.side.value,
            "type": pf.TYPE_TO_WIRE[order.type],
            "quantity": inst.format_qty(order.qty),
        }
        if order.position_side is not PositionSide.BOTH:
            # hedge mode: a leg is closed by trading against it; the venue refuses reduceOnly (-1106)
            params["positionSide"] = order.position_side.value
        elif order.reduce_only:
            params["reduceOnly"] = "true"
        if order.type.has_limit_price:
            assert order.price is not None
            params["price"] = inst.format_price(order.price)
            tif = TimeInForce.POST_ONLY if order.post_only else order.tif
            params["timeInForce"] = pf.TIF_TO_WIRE[tif]
        elif order.post_only:
            raise OrderRejected(VENUE, f"post-only needs a limit price ({order.type})")
        if order.type.is_conditional:
            assert order.stop_price is not None
            params.update(
                algoType="CONDITIONAL",
                triggerPrice=inst.format_price(order.stop_price),
                clientAlgoId=order.client_id,
            )
            self._algo_clients.add(order.client_id)
            body = await self._req("post", "algoOrder", params, signed=True, order=True)
            return pf.parse_algo_order(body)
        params.update(newClientOrderId=order.client_id, newOrderRespType="RESULT")
        body = await self._req("post", "order", params, signed=True, order=True)
        report = pf.parse_order(body)
        self._remember(report.order, body.get("orderId"))
        return report

    async def cancel_order(self, symbol: str, client_id: str) -> OrderReport:
        if client_id not in self._algo_clients:
            try:
                body = await self._req(
                    "delete",
                    "order",
                    {"symbol": symbol, "origClientOrderId": client_id},
                    signed=True,
                    order=True,
                )
                return await self._order_report(body)
            except OrderNotFound:
                pass  # maybe an algo order we did not place in this session
        try:
            await self._req(
                "delete", "algoOrder", {"symbol": symbol, "clientAlgoId": client_id}, signed=True, order=True
            )
        except OrderNotFound:
            if client_id in self._algo_clients:
                # triggered already: the working order lives on /order now
                body = await self._req(
                    "delete",
                    "order",
                    {"symbol": symbol, "origClientOrderId": client_id},
                    signed=True,
                    order=True,
                )
                return await self._order_report(body)
            raise
        report = await self._fetch_algo(symbol, client_id)
        if report is None:
            raise OrderNotFound(VENUE, f"algo order {client_id} vanished after cancel")
        return report

    async def fetch_order(self, symbol: str, client_id: str) -> OrderReport | None:
        if client_id in self._algo_clients:
            report = await self._fetch_algo(symbol, client_id)
            if report is not None:
                return report
        try:
            body = await self._req(
                "get", "order", {"symbol": symbol, "origClientOrderId": client_id}, signed=True
            )
        except OrderNotFound:
            return await self._fetch_algo(symbol, client_id)
        return await self._order_report(body, ReportSource.RECONCILE)

    async def _fetch_algo(self, symbol: str, client_id: str) -> OrderReport | None:
        try:
            body = await self._req(
                "get", "algoOrder", {"symbol": symbol, "clientAlgoId": client_id}, signed=True
            )
        except OrderNotFound:
            return None
        self._algo_clients.add(client_id)
        return await self._algo_report(body)

    async def _algo_report(self, body: Mapping[str, Any]) -> OrderReport:
        """An algo order; once triggered, its state is that of the order it spawned."""
        report = pf.parse_algo_order(body, ReportSource.RECONCILE)
        actual = body.get("actualOrderId")
        if not actual:
            return report
        spawned = await self._req("get", "order", {"symbol": body["symbol"], "orderId": actual}, signed=True)
        o = pf.parse_order(spawned, ReportSource.RECONCILE).order
        merged = dataclasses.replace(
            o,
            venue_order_id=report.order.venue_order_id,
            type=report.order.type,
            stop_price=report.order.stop_price,
        )
        self._order_ids[str(actual)] = (merged.client_id, merged.venue_order_id or "")
        return OrderReport(merged, ReportSource.RECONCILE, max(report.ts, o.updated_at))

    async def _order_report(
        self, body: Mapping[str, Any], source: ReportSource = ReportSource.REST
    ) -> OrderReport:
        """A /order body; a triggered conditional order keeps its algo id as venue id."""
        report = pf.parse_order(body, source)
        if report.order.type.is_conditional:
            algo = await self._fetch_algo_body(body["symbol"], report.order.client_id)
            if algo is not None:
                vid = pf.algo_venue_id(algo["algoId"])
                trig = pf.parse_algo_order(algo).order.stop_price
                report = OrderReport(
                    dataclasses.replace(report.order, venue_order_id=vid, stop_price=trig), source, report.ts
                )
        self._remember(report.order, body.get("orderId"))
        return report

    async def _fetch_algo_body(self, symbol: str, client_id: str) -> Mapping[str, Any] | None:
        try:
            return await self._req(
                "get", "algoOrder", {"symbol": symbol, "clientAlgoId": client_id}, signed=True
            )
        except OrderNotFound:
            return None

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        params = {"symbol": symbol} if symbol else {}
        rows = await self._req("get", "openOrders", params, signed=True)
        out = [await self._order_report(r, ReportSource.RECONCILE) for r in rows]
        algos = await self._req("get", "openAlgoOrders", params, signed=True)
        for a in algos:
            self._algo_clients.add(a["clientAlgoId"])
            out.append(pf.parse_algo_order(a, ReportSource.RECONCILE))
        return out

    # ================================================================== account
    async def fetch_fills(self, symbol: str, *, since_ms: int | None = None) -> list[Fill]:
        rows = await self._req("get", "userTrades", {"symbol": symbol, "startTime": since_ms}, signed=True)
        out = []
        for r in rows:
            oid = str(r["orderId"])
            if oid not in self._order_ids:
                try:
                    body = await self._req("get", "order", {"symbol": symbol, "orderId": oid}, signed=True)
                    await self._order_report(body, ReportSource.RECONCILE)
                except OrderNotFound:
                    pass
            client_id, venue_id = self._order_ids.get(oid, ("", oid))
            out.append(dataclasses.replace(pf.parse_user_trade(r, client_id), venue_order_id=venue_id))
        return out

    async def fetch_balances(self) -> list[Balance]:
        rows = await self._req("get", "balance", signed=True, version=3)
        return [pf.parse_balance(r) for r in rows]

    async def _load_symbol_config(self) -> dict[str, pf.SymbolConfig]:
        rows = await self._req("get", "symbolConfig", signed=True)
        configs = {c.symbol: c for c in map(pf.parse_symbol_config, rows)}
        self._leverage.update({s: c.leverage for s, c in configs.items()})
        return configs

    async def fetch_positions(self) -> list[Position]:
        rows = await self._req("get", "positionRisk", signed=True, version=3)
        rows = [r for r in rows if Decimal(r["positionAmt"]) != 0]
        # v3 rows carry no leverage/margin type; symbolConfig (weight 5) only when a position
        # needs them - a flat account's reconcile skips it
        configs = await self._load_symbol_config() if rows else {}
        positions = [pf.parse_position_risk(r, configs.get(r["symbol"])) for r in rows]
        return [p for p in positions if not p.is_flat]

    async def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        self.instrument(symbol)
        if leverage != leverage.to_integral_value():
            raise ValueError(f"Binance leverage is an integer, got {leverage}")
        body = await self._req("post", "leverage", {"symbol": symbol, "leverage": int(leverage)}, signed=True)
        self._leverage[symbol] = Decimal(body["leverage"])

    async def set_margin_mode(self, symbol: str, mode: MarginMode) -> None:
        """CROSSED/ISOLATED for ``symbol`` (refused by the venue with a position or open orders)."""
        self.instrument(symbol)
        wire = "ISOLATED" if mode is MarginMode.ISOLATED else "CROSSED"
        try:
            await self._req("post", "marginType", {"symbol": symbol, "marginType": wire}, signed=True)
        except VenueError as exc:
            if exc.code != -4046:  # "No need to change margin type."
                raise

    async def set_hedge_mode(self, hedge: bool) -> None:
        """Dual-side (hedge) position mode on or off (refused with open positions or orders)."""
        try:
            await self._req(
                "post", "positionSide/dual", {"dualSidePosition": "true" if hedge else "false"}, signed=True
            )
        except VenueError as exc:
            if exc.code != -4059:  # "No need to change position side."
                raise

    async def hedge_mode(self) -> bool:
        body = await self._req("get", "positionSide/dual", signed=True)
        return bool(body["dualSidePosition"])
