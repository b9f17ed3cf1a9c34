"""Binance Spot venue adapter: REST via ``BinanceRest``, streams via ``SupervisedStream``.

Market data: ONE combined-stream connection per adapter (``/stream?streams=a/b``). The URL is
rebuilt from the current subscription set on every (re)connect; streams added while connected
go out as a live ``SUBSCRIBE``. Books follow Binance's documented sync (PROTOCOLS.md §5) in
``BinanceSpotBookSync``: diffs buffer while a REST snapshot is fetched; a gap, a crossed book
or a reconnect resets the book and resyncs it by itself (FeedEvent RESYNCING, then LIVE).

User data: the WebSocket API subscription ``userDataStream.subscribe.signature`` on
``/ws-api/v3``, sent again after every reconnect (python-binance 1.0.37 does not, §2). After a
reconnect a FeedEvent(kind=USER) tells the OMS to reconcile what it may have missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp
import orjson

from terminal.market.orderbook import ApplyResult, BinanceSpotBookSync, LocalBook
from terminal.model import (
    Balance,
    Candle,
    FeedState,
    FeedStatus,
    Fill,
    Order,
    OrderType,
    Position,
    TimeInForce,
    Venue,
)
from terminal.venues.base import Capabilities, VenueAdapter, VenueConfig
from terminal.venues.binance import parse_spot as P
from terminal.venues.binance.client import BinanceRest, snapshot_limit
from terminal.venues.errors import AuthFailed, ClockSkew, OrderNotFound, OrderRejected, VenueError
from terminal.venues.events import (
    BookUpdated,
    CandleEvent,
    EventSink,
    FeedEvent,
    FillEvent,
    OrderReport,
    PublicTradeEvent,
    ReportSource,
    StreamKind,
    TickerEvent,
)
from terminal.venues.ratelimit import RateGate
from terminal.venues.ws import Backoff, SupervisedStream

__all__ = ["BinanceSpotAdapter"]

log = logging.getLogger(__name__)

VENUE = Venue.BINANCE_SPOT
_STREAM_PREFIX = '{"stream":"'
_MARKET_NAME = f"{VENUE}:market"
_APPLIED = ApplyResult.APPLIED  # a module constant: the enum class attribute costs ~80 ns per frame
_SNAPSHOT_RETRY_S = 0.2
_FIRST_DIFF_WAIT_S = 0.5  # wait this long for a buffered diff before taking the snapshot
_CLIENT_IDS_KEPT = 20_000  # order id -> client id entries kept for myTrades (~2 MB at most)

SPOT_CAPABILITIES = Capabilities(
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
    time_in_force=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.POST_ONLY}),
    reduce_only=False,
    post_only=True,
    leverage=False,
    hedge_mode=False,
    oco=True,
    positions=False,
    candle_intervals=(
        "1s",
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
        "1M",
    ),
)


def _stream_name(raw: str) -> str | None:
    """``{"stream":"btcusdt@trade","data":...}`` -> ``btcusdt@trade``; None for acks/errors."""
    if not raw.startswith(_STREAM_PREFIX):
        return None
    end = raw.find('"', 11)
    return raw[11:end] if end > 0 else None


class BinanceSpotAdapter(VenueAdapter):
    capabilities = SPOT_CAPABILITIES

    def __init__(
        self,
        config: VenueConfig,
        emit: EventSink,
        *,
        gate: RateGate | None = None,
        backoff_factory: Callable[[], Backoff] | None = None,
        heartbeat_s: float = 10.0,
    ) -> None:
        if config.venue is not VENUE:
            raise ValueError(f"BinanceSpotAdapter needs venue {VENUE}, got {config.venue}")
        super().__init__(config, emit)
        self.rest = BinanceRest(config, gate=gate)
        self.snapshot_limit = snapshot_limit(config.book_depth)  # spot takes any limit up to 5000
        self._backoff_factory = backoff_factory or Backoff
        self._heartbeat_s = heartbeat_s
        self._feeds: dict[str, FeedStatus] = {}
        # market streams
        self._market: SupervisedStream | None = None
        self._market_ws: aiohttp.ClientWebSocketResponse | None = None
        self._market_connected = asyncio.Event()
        self._streams: dict[str, tuple[str, str]] = {}  # stream name -> (kind, symbol)
        self._url_streams: frozenset[str] = frozenset()  # what the current connection's URL held
        self._ids = itertools.count(1)
        self._books: dict[str, BinanceSpotBookSync] = {}
        # depth stream name -> its book: the per-frame route of the hot path, one dict hit
        # (kept in step with _streams/_books by watch_market/unwatch_market)
        self._depth: dict[str, BinanceSpotBookSync] = {}
        self._buffered: dict[str, int] = {}  # diffs buffered since the book's last reset
        self._resyncs: dict[str, asyncio.Task[None]] = {}
        # user stream
        self._user: SupervisedStream | None = None
        self._user_subscribed = asyncio.Event()
        self._user_error: BaseException | None = None
        self.user_subscriptions = 0  # successful subscribe.signature calls (observability)
        # venue order id -> client id of every order seen (REST or stream): myTrades rows carry
        # only the order id, and allOrders (weight 20) is needed just for ids not seen here
        self._client_ids: dict[str, str] = {}
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        await self.rest.open()
        info = await self.rest.call("GET", "exchangeInfo")
        self.instruments = P.instruments(info)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._resyncs.values()):
            task.cancel()
        for task in list(self._resyncs.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._resyncs.clear()
        for stream in (self._market, self._user):
            if stream is not None:
                await stream.stop()
        self._market = self._user = None
        await self.rest.close()

    @property
    def clock_offset_ms(self) -> int:
        return self.rest.clock_offset_ms

    # ------------------------------------------------------------------ feeds
    def feeds(self) -> Mapping[str, FeedStatus]:
        return dict(self._feeds)

    def _feed(self, status: FeedStatus, kind: StreamKind, symbol: str | None) -> None:
        self._feeds[status.stream_id] = status
        self._emit(FeedEvent(status, kind, symbol))

    def _on_market_status(self, status: FeedStatus) -> None:
        # key statuses are "<stream name>:<key>", the connection's is "<stream name>"
        key = status.stream_id.removeprefix(_MARKET_NAME + ":")
        route = self._streams.get(key)
        self._feed(status, StreamKind.MARKET, route[1] if route else None)

    # ------------------------------------------------------------------ market data
    def book(self, symbol: str) -> LocalBook | None:
        return self._books.get(symbol)

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
        s = symbol.lower()
        wanted: dict[str, tuple[str, str]] = {}
        if book:
            wanted[f"{s}@depth@100ms"] = ("depth", symbol)
            if symbol not in self._books:
                self._books[symbol] = BinanceSpotBookSync(symbol, inst.tick_size)
                self._buffered[symbol] = 0
            self._depth[f"{s}@depth@100ms"] = self._books[symbol]
        if trades:
            wanted[f"{s}@trade"] = ("trade", symbol)
        for interval in candles:
            wanted[f"{s}@kline_{interval}"] = ("kline", symbol)
        if tickers:
            wanted[f"{s}@bookTicker"] = ("bookTicker", symbol)
            wanted[f"{s}@ticker"] = ("ticker", symbol)
        new = [n for n in wanted if n not in self._streams]
        self._streams.update(wanted)
        if self._market is None:
            self._market = SupervisedStream(
                self._market_url,
                name=_MARKET_NAME,
                venue=VENUE,
                on_message=self._on_market_frame,
                on_status=self._on_market_status,
                subscribe=self._on_market_connect,
                stream_key=_stream_name,
                heartbeat_s=self._heartbeat_s,
                stale_after_s=self.config.stale_after_s,
                backoff=self._backoff_factory(),
                connect_timeout_s=self.config.request_timeout_s,
            )
            self._market.start()
        elif new and self._market_ws is not None and not self._market_ws.closed:
            await self._send_subscribe(self._market_ws, new)
        try:
            await asyncio.wait_for(self._market_connected.wait(), self.config.request_timeout_s)
        except TimeoutError:
            st = self._market.status if self._market else None
            raise VenueError(
                VENUE, f"market stream not connected: {st.detail if st else 'timeout'}"
            ) from None
        if book and not self._books[symbol].is_live:
            self._schedule_resync(symbol)  # no-op when the first diff already started one

    async def unwatch_market(self, symbol: str) -> None:
        gone = [n for n, (_, sym) in self._streams.items() if sym == symbol]
        for n in gone:
            del self._streams[n]
            self._depth.pop(n, None)
        task = self._resyncs.pop(symbol, None)
        if task is not None:
            task.cancel()
        self._books.pop(symbol, None)
        ws = self._market_ws
        if gone and ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await ws.send_str(
                    orjson.dumps({"method": "UNSUBSCRIBE", "params": gone, "id": next(self._ids)}).decode()
                )

    def _market_url(self) -> str:
        self._url_streams = frozenset(self._streams)
        return f"{self.rest.urls.spot_stream}/stream?streams=" + "/".join(sorted(self._url_streams))

    async def _send_subscribe(self, ws: aiohttp.ClientWebSocketResponse, names: list[str]) -> None:
        await ws.send_str(
            orjson.dumps({"method": "SUBSCRIBE", "params": names, "id": next(self._ids)}).decode()
        )

    async def _on_market_connect(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """After every (re)connect: subscribe what the URL missed, resync every book."""
        missing = [n for n in self._streams if n not in self._url_streams]
        if missing:
            await self._send_subscribe(ws, missing)
        reconnect = self._market is not None and self._market.connects > 1
        self._market_ws = ws
        self._market_connected.set()
        if reconnect:
            # diffs were lost while disconnected: every book starts over from a new snapshot
            for symbol in list(self._books):
                self._books[symbol].reset()
                self._buffered[symbol] = 0
                self._set_book_feed(symbol, FeedState.RESYNCING, "reconnected")
                self._schedule_resync(symbol)

    def _on_market_frame(self, raw: str, recv_ns: int) -> None:
        """SupervisedStream's on_message; ``recv_ns`` is its perf_counter_ns receive time.

        Per frame, the depth diff of a LIVE book is the hot path (bench/book_ingest.py): the
        stream name sliced out of the text (no parse), one dict hit to the book, the result
        tested against a module constant, one BookUpdated.
        """
        # Slice first, test the prefix only on a miss: the hot path saves a call. A non-stream
        # frame's slice is junk that routes nowhere (and one that did would fail the book's
        # strict decode, which needs U/u/b/a, and be logged, never applied).
        name = raw[11 : raw.find('"', 11)]
        book = self._depth.get(name)
        if book is not None:
            result = book.on_diff(raw)
            if result is _APPLIED:
                self._emit(BookUpdated(VENUE, book.symbol, book.update_id, book.ts, recv_ns))
            else:
                self._on_depth_result(book, result)
            return
        if not raw.startswith(_STREAM_PREFIX):
            if '"error"' in raw:
                log.warning("%s market stream: %s", VENUE, raw[:200])
            return  # acks and errors
        route = self._streams.get(name)
        if route is None:
            return  # unsubscribed meanwhile
        kind = route[0]
        msg = P.loads(raw)
        if kind == "trade":
            self._emit(PublicTradeEvent(P.trade(msg)))
        elif kind == "kline":
            self._emit(CandleEvent(P.kline(msg)))
        elif kind == "bookTicker":
            self._emit(P.book_ticker(msg))
        elif kind == "ticker":
            self._emit(TickerEvent(P.ticker_24h(msg)))

    def _on_depth_result(self, book: BinanceSpotBookSync, result: ApplyResult) -> None:
        """A diff that was not simply applied: buffered while syncing, or a gap."""
        symbol = book.symbol
        if self._books.get(symbol) is not book:
            return  # unwatched meanwhile
        if result is ApplyResult.BUFFERED:
            self._buffered[symbol] = self._buffered.get(symbol, 0) + 1
            if symbol not in self._resyncs:  # e.g. a reset raced a finishing resync
                self._schedule_resync(symbol)
        elif result is ApplyResult.GAP:
            log.info("%s %s book gap: %s; resyncing", VENUE, symbol, book.reason)
            self._buffered[symbol] = 0
            self._set_book_feed(symbol, FeedState.RESYNCING, book.reason)
            self._schedule_resync(symbol)

    def _set_book_feed(self, symbol: str, state: FeedState, detail: str) -> None:
        sid = f"{VENUE}:{symbol}:book"
        now = int(time.time() * 1000)
        old = self._feeds.get(sid) or FeedStatus(stream_id=sid, venue=VENUE, since=now)
        new = old.with_state(state, now, detail)
        if new is not old:
            self._feed(new, StreamKind.MARKET, symbol)

    def _schedule_resync(self, symbol: str) -> None:
        task = self._resyncs.get(symbol)
        if task is not None and not task.done():
            return
        if self._closed:
            return
        self._resyncs[symbol] = asyncio.get_running_loop().create_task(
            self._resync(symbol), name=f"{VENUE}:{symbol}:resync"
        )

    async def _resync(self, symbol: str) -> None:
        """Snapshot + buffered diffs until the book is LIVE; retries forever with a short pause."""
        try:
            self._set_book_feed(symbol, FeedState.RESYNCING, "snapshot")
            attempt = 0
            while not self._closed and symbol in self._books:
                book = self._books[symbol]
                if book.is_live:
                    return  # (a resync scheduled twice: the first one already did the work)
                await self._market_connected.wait()
                # The documented order is: buffer first, then snapshot. Wait briefly for a diff;
                # a quiet book (no diffs at all) is snapshotted anyway, and a diff that then does
                # not chain shows up as a gap and brings us back here.
                deadline = time.monotonic() + _FIRST_DIFF_WAIT_S
                while self._buffered.get(symbol, 0) == 0 and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                try:
                    snap = await self.rest.call(
                        "GET", "depth", params={"symbol": symbol, "limit": self.snapshot_limit}
                    )
                except VenueError as exc:
                    attempt += 1
                    self._set_book_feed(symbol, FeedState.RESYNCING, f"snapshot failed: {exc}")
                    await asyncio.sleep(min(5.0, _SNAPSHOT_RETRY_S * 2**attempt))
                    continue
                if self._books.get(symbol) is not book:
                    return  # unwatched meanwhile
                result = book.on_snapshot(snap)
                if result is ApplyResult.APPLIED:
                    self._buffered[symbol] = 0
                    self._set_book_feed(symbol, FeedState.LIVE, "")
                    self._emit(
                        BookUpdated(VENUE, symbol, book.update_id, book.ts, time.perf_counter_ns(), True)
                    )
                    return
                attempt += 1
                if result is ApplyResult.GAP:
                    # the buffer did not chain onto the snapshot: start over
                    book.reset()
                    self._buffered[symbol] = 0
                self._set_book_feed(symbol, FeedState.RESYNCING, f"snapshot: {result}")
                await asyncio.sleep(_SNAPSHOT_RETRY_S)
        finally:
            if self._resyncs.get(symbol) is asyncio.current_task():
                del self._resyncs[symbol]

    async def fetch_candles(
        self,
        symbol: str,
        interval: str,
        *,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[Candle]:
        rows = await self.rest.call(
            "GET",
            "klines",
            params={
                "symbol": symbol,
                "interval": interval,
                "startTime": start_ms,
                "endTime": end_ms,
                "limit": limit,
            },
        )
        now = self.rest.server_time_ms()
        return [P.rest_kline(r, symbol, interval, now) for r in rows]

    # ------------------------------------------------------------------ user data
    async def watch_user(self) -> None:
        if self.config.credentials is None:
            raise AuthFailed(VENUE, "watch_user needs API credentials")
        if self._user is None:
            ping_s = max(0.2, self.config.stale_after_s / 3)
            self._user = SupervisedStream(
                lambda: self.rest.urls.ws_api,
                name=f"{VENUE}:user",
                venue=VENUE,
                on_message=self._on_user_frame,
                on_status=self._on_user_status,
                subscribe=self._on_user_connect,
                # any frame proves the connection; the app ping keeps a quiet account from
                # looking stale (its answers count as liveness here)
                stream_key=lambda raw: "user",
                heartbeat_s=self._heartbeat_s,
                stale_after_s=self.config.stale_after_s,
                backoff=self._backoff_factory(),
                app_ping=lambda: orjson.dumps({"id": f"ping-{next(self._ids)}", "method": "ping"}).decode(),
                app_ping_interval_s=ping_s,
                connect_timeout_s=self.config.request_timeout_s,
            )
            self._user.start()
        deadline = time.monotonic() + self.config.request_timeout_s
        while not self._user_subscribed.is_set():
            err = self._user_error
            if isinstance(err, AuthFailed) or time.monotonic() > deadline:
                # bad keys do not heal by reconnecting: stop, and tell the caller now
                stream, self._user = self._user, None
                if stream is not None:
                    await stream.stop()
                if isinstance(err, VenueError):
                    raise err
                raise VenueError(VENUE, f"user stream not subscribed: {err or 'timeout'}")
            await asyncio.sleep(0.02)

    def _on_user_status(self, status: FeedStatus) -> None:
        # One USER feed: the single key ("user") only mirrors the connection, and as a second
        # feed id its return to LIVE cued a second OMS reconcile per reconnect (~120 weight).
        if status.stream_id == f"{VENUE}:user":
            self._feed(status, StreamKind.USER, None)

    def _ws_signed_params(self) -> dict[str, Any]:
        creds = self.config.credentials
        assert creds is not None
        params: dict[str, Any] = {"apiKey": creds.key, "timestamp": self.rest.server_time_ms()}
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
        params["signature"] = hmac.new(creds.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        return params

    async def _ws_request(
        self, ws: aiohttp.ClientWebSocketResponse, method: str, params: dict[str, Any]
    ) -> Any:
        """Send one WebSocket-API request and read frames until its answer (the hook runs before
        the supervisor's reader, so nothing else is reading)."""
        req_id = f"{method}-{next(self._ids)}"
        await ws.send_str(orjson.dumps({"id": req_id, "method": method, "params": params}).decode())
        while True:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise aiohttp.ClientConnectionError(f"user stream closed during {method}")
            data = orjson.loads(msg.data)
            if data.get("id") != req_id:
                continue
            if data.get("status") == 200:
                return data.get("result")
            err = data.get("error") or {}
            code, text = err.get("code"), err.get("msg", "")
            if code == -1021:
                raise ClockSkew(VENUE, f"{method}: {text}", code=code)
            if code in (-2014, -2015, -1022):
                raise AuthFailed(VENUE, f"{method}: {text}", code=code)
            raise VenueError(VENUE, f"{method}: HTTP {data.get('status')} {text}", code=code)

    async def _on_user_connect(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Subscribe on every (re)connect; one clock resync on -1021."""
        try:
            try:
                await self._ws_request(ws, "userDataStream.subscribe.signature", self._ws_signed_params())
            except ClockSkew:
                await self.rest.sync_clock()
                await self._ws_request(ws, "userDataStream.subscribe.signature", self._ws_signed_params())
        except Exception as exc:
            self._user_error = exc
            raise
        self.user_subscriptions += 1
        self._user_error = None
        first = not self._user_subscribed.is_set()
        self._user_subscribed.set()
        if self._user is not None:
            # Subscribed = live, even on a quiet account. After a reconnect events may have been
            # missed while disconnected: this LIVE is the OMS's cue to reconcile.
            detail = "subscribed" if first else "resubscribed"
            st = self._user.status.with_state(FeedState.LIVE, int(time.time() * 1000), detail)
            self._feed(st, StreamKind.USER, None)

    def _on_user_frame(self, raw: str, recv_ns: int) -> None:
        if not raw.startswith('{"subscriptionId"'):
            return  # answers to our requests (pings)
        ev = P.loads(raw)
        e = ev.get("e")
        if e == "executionReport":
            rep = P.execution_report(ev)
            self._seen(rep.report)
            self._emit(rep.report)
            if rep.fill is not None:
                self._emit(FillEvent(rep.fill, ReportSource.STREAM))
        elif e == "outboundAccountPosition":
            self._emit(P.account_position(ev))
        elif e in ("balanceUpdate", "listStatus"):
            pass  # balances follow in outboundAccountPosition; legs in their executionReports
        else:
            log.info("%s user stream: unhandled event %s", VENUE, e)

    async def fetch_balances(self) -> list[Balance]:
        return P.account_balances(await self.rest.call("GET", "account", signed=True))

    async def fetch_positions(self) -> list[Position]:
        return []

    async def fetch_fills(self, symbol: str, *, since_ms: int | None = None) -> list[Fill]:
        rows = await self.rest.call(
            "GET", "myTrades", signed=True, params={"symbol": symbol, "startTime": since_ms, "limit": 1000}
        )
        if not rows:
            return []
        # myTrades has no client id: orders seen in this session are mapped from memory, the
        # rest through allOrders from the oldest unknown one on
        unknown = [int(r["orderId"]) for r in rows if str(r["orderId"]) not in self._client_ids]
        if unknown:
            orders = await self.rest.call(
                "GET",
                "allOrders",
                signed=True,
                params={"symbol": symbol, "orderId": min(unknown), "limit": 1000},
            )
            for o in orders:
                self._remember(str(o["orderId"]), o["clientOrderId"])
        return [P.my_trade(r, self._client_ids.get(str(r["orderId"]), "")) for r in rows]

    def _remember(self, venue_order_id: str | None, client_id: str) -> None:
        if not venue_order_id or not client_id:
            return
        self._client_ids[venue_order_id] = client_id
        if len(self._client_ids) > _CLIENT_IDS_KEPT:
            del self._client_ids[next(iter(self._client_ids))]  # the oldest: allOrders finds it

    def _seen(self, report: OrderReport) -> OrderReport:
        self._remember(report.order.venue_order_id, report.order.client_id)
        return report

    # ------------------------------------------------------------------ orders
    def _order_params(self, order: Order) -> dict[str, Any]:
        if order.reduce_only:
            raise OrderRejected(VENUE, f"{order.client_id}: reduce-only orders do not exist on spot")
        if order.type not in self.capabilities.order_types:
            raise OrderRejected(VENUE, f"{order.client_id}: {order.type} orders are not supported on spot")
        inst = self.instrument(order.symbol)
        post_only = order.post_only or order.tif is TimeInForce.POST_ONLY
        if post_only and order.type is not OrderType.LIMIT:
            raise OrderRejected(VENUE, f"{order.client_id}: post-only applies to LIMIT orders only")
        wire_type = P.order_type_to_wire(order.type, post_only)
        params: dict[str, Any] = {
            "symbol": order.symbol,
            "side": order.side.value,
            "type": wire_type,
            # exact: check_order() refused unaligned values, so formatting only pads zeros
            "quantity": inst.format_qty(order.qty),
            "newClientOrderId": order.client_id,
            "newOrderRespType": "FULL",
        }
        if order.type.has_limit_price:
            assert order.price is not None
            params["price"] = inst.format_price(order.price)
            if wire_type != "LIMIT_MAKER":
                params["timeInForce"] = order.tif.value
        if order.type.is_conditional:
            assert order.stop_price is not None
            params["stopPrice"] = inst.format_price(order.stop_price)
        return params

    async def place_order(self, order: Order) -> OrderReport:
        self.check_order(order)  # FilterRejected: never sent
        params = self._order_params(order)
        res = await self.rest.call("POST", "order", signed=True, params=params, order=True)
        report, fills = P.order_response(res, ReportSource.REST)
        self._seen(report)
        for f in fills:
            self._emit(FillEvent(f, ReportSource.REST))
        return report

    async def cancel_order(self, symbol: str, client_id: str) -> OrderReport:
        res = await self.rest.call(
            "DELETE",
            "order",
            signed=True,
            params={"symbol": symbol, "origClientOrderId": client_id},
            order=True,
        )
        return self._seen(P.order_response(res, ReportSource.REST)[0])

    async def fetch_order(self, symbol: str, client_id: str) -> OrderReport | None:
        try:
            res = await self.rest.call(
                "GET", "order", signed=True, params={"symbol": symbol, "origClientOrderId": client_id}
            )
        except OrderNotFound:
            return None
        return self._seen(P.order_response(res, ReportSource.RECONCILE)[0])

    async def fetch_open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        rows = await self.rest.call("GET", "openOrders", signed=True, params={"symbol": symbol})
        return [self._seen(P.order_response(r, ReportSource.RECONCILE)[0]) for r in rows]
