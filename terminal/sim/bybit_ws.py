"""Bybit v5 WebSockets for the simulator: ``/v5/public/{spot,linear}`` and ``/v5/private``.

Public books follow Bybit's contract: a snapshot on subscribe, then every push
interval a delta = the diff of the published top-N against the previously published
top-N (levels leaving the top N are deleted), ``u`` +1 per message per topic, ``seq``
the core's update id. Level 1 pushes snapshots only. Every message is serialised once
and the same string goes to every subscriber.

Faults: GAP skips one delta (the next ``u`` jumps by 2), DUPLICATE sends one twice,
REORDER swaps the next two, BOOK_RESET re-snapshots a symbol's books with ``u=1``,
STALL withholds data (pings still answered), DROP aborts matching sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Callable

import orjson
from aiohttp import web

from terminal.model.enums import Venue
from terminal.sim import bybit_format as fmt
from terminal.sim.bybit import BybitState, Category, PrivateSink, deriv_info
from terminal.sim.bybit_format import LINEAR, SPOT, ExecInfo, OrderMeta
from terminal.sim.events import AccountEvent, OrderEvent, SimEvent, TradeEvent
from terminal.sim.faults import StreamFault
from terminal.sim.instruments import SimInstrument
from terminal.sim.klines import Kline, bucket_start
from terminal.sim.orders import ExecType
from terminal.sim.wsconn import WsPeer, iter_text

log = logging.getLogger(__name__)

# Push intervals (s) per depth, as Bybit documents them.
BOOK_INTERVALS: dict[str, dict[int, float]] = {
    LINEAR: {1: 0.01, 50: 0.02, 200: 0.1, 1000: 0.2},
    SPOT: {1: 0.01, 50: 0.02, 200: 0.2, 1000: 0.2},
}
LEVEL1_RESEND_S = 3.0  # level 1 re-sends its snapshot after this long without a change
TICKER_INTERVAL_S = 0.1
KLINE_INTERVAL_S = 1.0
IDLE_TIMEOUT_S = 600.0  # no ping and no request for this long: the venue cuts the socket
SUBSCRIBE_RTT_S = 0.02  # emulated round trip before a subscribe is answered
PRIVATE_TOPICS = ("order", "execution", "execution.fast", "position", "wallet")


def _dumps(obj: object) -> str:
    return orjson.dumps(obj).decode()


class Conn:
    __slots__ = ("account_id", "conn_id", "last_rx", "peer", "topics")

    def __init__(self, peer: WsPeer) -> None:
        self.peer = peer
        self.conn_id = str(uuid.uuid4())
        self.topics: set[str] = set()
        self.last_rx = time.monotonic()
        self.account_id = ""


# ====================================================================== public topics


class Topic:
    """One public topic: its subscribers and (for polled topics) its publisher task."""

    interval = 0.0  # > 0: polled by a task while anyone listens

    def __init__(self, hub: PublicHub, name: str, symbol: str) -> None:
        self.hub = hub
        self.name = name
        self.symbol = symbol
        self.inst: SimInstrument = hub.cat.market.instruments[symbol]
        self.subs: set[Conn] = set()
        self._task: asyncio.Task[None] | None = None

    def fanout(self, payload: str) -> None:
        for conn in self.subs:
            conn.peer.send(payload)

    def attach(self, conn: Conn) -> None:
        first = not self.subs
        self.subs.add(conn)
        if first:
            self.start()
        self.welcome(conn)
        if self.interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def detach(self, conn: Conn) -> None:
        self.subs.discard(conn)
        if not self.subs:
            self.stop()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def start(self) -> None:
        """First subscriber arrived: (re)build the published state."""

    def welcome(self, conn: Conn) -> None:
        """Send a new subscriber what it needs before the stream's next message."""

    def tick(self) -> None: ...

    async def _run(self) -> None:
        while self.subs:
            await asyncio.sleep(self.interval)
            if self.hub.stalled(self.symbol):
                continue
            if all(conn.peer.closed for conn in self.subs):
                # Only cut sockets not yet detached (a drop): publishing to nobody would
                # consume one-shot faults (a restart's u=1 reset) that the reconnecting
                # subscriber must see.
                continue
            try:
                self.tick()
            except Exception:  # a publisher bug must not kill the stream silently
                log.exception("bybit %s: publisher failed", self.name)


class BookTopic(Topic):
    def __init__(self, hub: PublicHub, name: str, symbol: str, depth: int) -> None:
        super().__init__(hub, name, symbol)
        self.depth = depth
        self.interval = BOOK_INTERVALS[hub.cat.name][depth]
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.u = 0
        self.seq = 0
        self.reset_pending = False
        self._held: str | None = None
        self._last_push = 0.0

    # ---- state ----
    def _read(self) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        return self.hub.cat.market.depth(self.symbol, self.depth)

    def start(self) -> None:
        seq, bids, asks = self._read()
        self.u = max(seq, 1)  # any large running counter; 1 is reserved for restarts
        self.seq = seq
        self.bids, self.asks = dict(bids), dict(asks)
        self._held = None

    def _snapshot(self) -> str:
        now = fmt.now_ms()
        inst = self.inst
        bids = sorted(self.bids.items(), reverse=True)
        asks = sorted(self.asks.items())
        data = {"s": self.symbol, "b": fmt.book_levels(inst, bids), "a": fmt.book_levels(inst, asks)}
        data["u"], data["seq"] = self.u, self.seq
        return _dumps({"topic": self.name, "type": "snapshot", "ts": now, "data": data, "cts": now})

    def welcome(self, conn: Conn) -> None:
        conn.peer.send(self._snapshot())

    # ---- publishing ----
    def tick(self) -> None:
        if self.hub.book_reset_due(self):
            seq, bids, asks = self._read()
            self.u, self.seq = 1, seq
            self.bids, self.asks = dict(bids), dict(asks)
            self._held = None
            self.fanout(self._snapshot())
            return
        seq, bids, asks = self._read()
        if self.depth == 1:
            self._tick_level1(seq, bids, asks)
            return
        inst = self.inst
        db = _diff(self.bids, bids, inst, reverse=True)
        da = _diff(self.asks, asks, inst, reverse=False)
        if not db and not da:
            return
        self.bids, self.asks = dict(bids), dict(asks)
        self.u += 1
        self.seq = seq
        if self.hub.take(StreamFault.GAP, self.symbol):
            return  # the message is lost: the next one's u reveals the gap
        now = fmt.now_ms()
        data = {"s": self.symbol, "b": db, "a": da, "u": self.u, "seq": seq}
        self._emit(_dumps({"topic": self.name, "type": "delta", "ts": now, "data": data, "cts": now}))

    def _tick_level1(self, seq: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        changed = dict(bids) != self.bids or dict(asks) != self.asks
        now = time.monotonic()
        if changed:
            self.bids, self.asks = dict(bids), dict(asks)
            self.u += 1
            self.seq = seq
        elif now - self._last_push < LEVEL1_RESEND_S:
            return
        self._last_push = now
        if changed and self.hub.take(StreamFault.GAP, self.symbol):
            return
        self._emit(self._snapshot())

    def _emit(self, payload: str) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self.fanout(payload)
            self.fanout(held)
            return
        if self.hub.take(StreamFault.REORDER, self.symbol):
            self._held = payload
            return
        self.fanout(payload)
        if self.hub.take(StreamFault.DUPLICATE, self.symbol):
            self.fanout(payload)


def _diff(
    old: dict[int, int], new: list[tuple[int, int]], inst: SimInstrument, reverse: bool
) -> list[list[str]]:
    """Levels of ``new`` that differ from ``old`` plus deletions ("0") of levels gone from it."""
    changes: list[tuple[int, int]] = [(p, q) for p, q in new if old.get(p) != q]
    if len(new) != len(old) or changes:
        present = {p for p, _ in new}
        changes.extend((p, 0) for p in old if p not in present)
    if not changes:
        return []
    changes.sort(reverse=reverse)
    fp, fq = inst.fmt_price, inst.fmt_qty
    return [[fp(p), fq(q) if q else "0"] for p, q in changes]


class TradeTopic(Topic):
    """Fed by the hub's trade listener, flushed once per loop iteration (one taker sweep = one message)."""


class KlineTopic(Topic):
    interval = KLINE_INTERVAL_S

    def __init__(self, hub: PublicHub, name: str, symbol: str, interval: str) -> None:
        super().__init__(hub, name, symbol)
        self.kline_interval = interval
        self.interval_ms = fmt.KLINE_INTERVALS[interval]
        self.open_ms: int | None = None

    def _message(self, bar: Kline, confirm: bool) -> str:
        now = fmt.now_ms()
        data = [fmt.kline_ws(self.inst, bar, self.kline_interval, confirm, now)]
        return _dumps({"topic": self.name, "data": data, "ts": now, "type": "snapshot"})

    def _current(self) -> Kline:
        # From the bucket start: the core's newest-N path builds every stored minute first.
        market = self.hub.cat.market
        start = bucket_start(market.now_ms(), self.interval_ms)
        bars = market.klines(self.symbol, self.interval_ms, start, None, 1)
        return bars[-1] if bars else market.current_kline(self.symbol, self.interval_ms)

    def welcome(self, conn: Conn) -> None:
        bar = self._current()
        if self.open_ms is None:
            self.open_ms = bar.open_ms
        conn.peer.send(self._message(bar, False))

    def tick(self) -> None:
        market = self.hub.cat.market
        market.roll_klines()
        bar = self._current()
        if self.open_ms is not None and bar.open_ms != self.open_ms:
            done = market.klines(self.symbol, self.interval_ms, self.open_ms, self.open_ms, 1)
            if done and done[0].open_ms == self.open_ms:
                self.fanout(self._message(done[0], True))
        self.open_ms = bar.open_ms
        self.fanout(self._message(bar, False))


class TickerTopic(Topic):
    interval = TICKER_INTERVAL_S

    def __init__(self, hub: PublicHub, name: str, symbol: str) -> None:
        super().__init__(hub, name, symbol)
        self.last: dict[str, str] = {}

    def _current(self) -> dict[str, str]:
        hub = self.hub
        market = hub.cat.market
        t = market.ticker_24h(self.symbol)
        if hub.cat.is_spot:
            return fmt.ticker_spot(self.inst, t, rest=False)
        return fmt.ticker_linear(
            self.inst,
            t,
            deriv_info(hub.cat, self.symbol, t),
            hub.tick_dir.get(self.symbol, ""),
            rest=False,
        )

    def _message(self, kind: str, data: dict[str, str]) -> str:
        cs = self.hub.cat.market.books[self.symbol].update_id
        return _dumps({"topic": self.name, "type": kind, "data": data, "cs": cs, "ts": fmt.now_ms()})

    def start(self) -> None:
        self.last = self._current()

    def welcome(self, conn: Conn) -> None:
        conn.peer.send(self._message("snapshot", self.last))

    def tick(self) -> None:
        cur = self._current()
        if cur == self.last:
            return
        if self.hub.cat.is_spot:
            self.last = cur
            self.fanout(self._message("snapshot", cur))
            return
        delta = {k: v for k, v in cur.items() if self.last.get(k) != v}
        self.last = cur
        self.fanout(self._message("delta", {"symbol": self.symbol, **delta}))


# ====================================================================== public hub


class PublicHub:
    def __init__(self, server: BybitWs, cat: Category) -> None:
        self.server = server
        self.state = server.state
        self.cat = cat
        self.venue: Venue = cat.venue
        self.conns: set[Conn] = set()
        self.topics: dict[str, Topic] = {}
        self.tick_dir: dict[str, str] = {}
        self._last_trade_price: dict[str, int] = {}
        self._trade_buf: dict[str, list[TradeEvent]] = {}
        self._flush_scheduled = False
        self._unsubscribe = cat.market.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()
        for topic in self.topics.values():
            topic.stop()

    # ---- faults ----
    def take(self, kind: StreamFault, symbol: str) -> bool:
        faults = self.state.exchange.faults
        return faults.pending_stream(self.venue, kind) and faults.take_stream(self.venue, kind, symbol)

    def stalled(self, symbol: str) -> bool:
        return self.state.exchange.faults.stalled(self.venue, symbol)

    def book_reset_due(self, topic: BookTopic) -> bool:
        """A BOOK_RESET re-snapshots the symbol's books with u=1, as after a service restart.
        The strike also claims the armed resets of the venue's other symbols right away, so a
        restart armed as "one per symbol" resets each book exactly once."""
        if self.take(StreamFault.BOOK_RESET, topic.symbol):
            struck = {topic.symbol}
            struck.update(
                s
                for s in self.cat.market.instruments
                if s != topic.symbol and self.take(StreamFault.BOOK_RESET, s)
            )
            for other in self.topics.values():
                if isinstance(other, BookTopic) and other.symbol in struck:
                    other.reset_pending = True
        due, topic.reset_pending = topic.reset_pending, False
        return due

    # ---- topics ----
    def make_topic(self, name: str) -> Topic | None:
        parts = name.split(".")
        market = self.cat.market
        if len(parts) == 3 and parts[0] == "orderbook" and parts[2] in market.instruments:
            depth = int(parts[1]) if parts[1].isdigit() else 0
            if depth in BOOK_INTERVALS[self.cat.name]:
                return BookTopic(self, name, parts[2], depth)
        elif len(parts) == 2 and parts[0] == "publicTrade" and parts[1] in market.instruments:
            return TradeTopic(self, name, parts[1])
        elif len(parts) == 3 and parts[0] == "kline" and parts[2] in market.instruments:
            if parts[1] in fmt.KLINE_INTERVALS:
                return KlineTopic(self, name, parts[2], parts[1])
        elif len(parts) == 2 and parts[0] == "tickers" and parts[1] in market.instruments:
            return TickerTopic(self, name, parts[1])
        return None

    def topic(self, name: str) -> Topic | None:
        topic = self.topics.get(name)
        if topic is None:
            topic = self.make_topic(name)
            if topic is not None:
                self.topics[name] = topic
        return topic

    # ---- connection protocol ----
    def on_text(self, conn: Conn, text: str) -> None:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            msg = None
        if not isinstance(msg, dict):
            conn.peer.send(
                _dumps({"success": False, "ret_msg": "error:request not json", "conn_id": conn.conn_id})
            )
            return
        op = msg.get("op")
        req_id = msg.get("req_id")
        if op == "ping":
            conn.peer.send(_dumps(self._ack("ping", True, "pong", conn, req_id)))
        elif op == "subscribe":
            self._subscribe(conn, msg.get("args"), req_id)
        elif op == "unsubscribe":
            self._unsubscribe_topics(conn, msg.get("args"), req_id)
        else:
            conn.peer.send(
                _dumps(self._ack(str(op or ""), False, f"error:unsupported op: {op}", conn, req_id))
            )

    def _ack(self, op: str, ok: bool, ret_msg: str, conn: Conn, req_id: object) -> dict:
        """Spot echoes req_id only when sent; linear always carries it ("" if none)."""
        out: dict[str, object] = {"success": ok, "ret_msg": ret_msg, "conn_id": conn.conn_id}
        if req_id is not None or self.cat.name == LINEAR:
            out["req_id"] = req_id if req_id is not None else ""
        out["op"] = op
        return out

    def _subscribe(self, conn: Conn, args: object, req_id: object) -> None:
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            conn.peer.send(_dumps(self._ack("subscribe", False, "error:args invalid", conn, req_id)))
            return
        for name in args:
            if name in conn.topics:
                err = f"error:already subscribed,topic:{name}"
                conn.peer.send(_dumps(self._ack("subscribe", False, err, conn, req_id)))
                return
            if self.topic(name) is None:
                conn.peer.send(_dumps(self._ack("subscribe", False, f"Invalid topic: {name}", conn, req_id)))
                return
        ok_msg = "subscribe" if self.cat.is_spot else ""
        conn.peer.send(_dumps(self._ack("subscribe", True, ok_msg, conn, req_id)))
        for name in args:
            conn.topics.add(name)
            topic = self.topics[name]
            topic.attach(conn)

    def _unsubscribe_topics(self, conn: Conn, args: object, req_id: object) -> None:
        names = [a for a in args if isinstance(a, str)] if isinstance(args, list) else []
        for name in names:
            conn.topics.discard(name)
            topic = self.topics.get(name)
            if topic is not None:
                topic.detach(conn)
        ok_msg = "unsubscribe" if self.cat.is_spot else ""
        conn.peer.send(_dumps(self._ack("unsubscribe", bool(names), ok_msg, conn, req_id)))

    def remove(self, conn: Conn) -> None:
        self.conns.discard(conn)
        for name in conn.topics:
            topic = self.topics.get(name)
            if topic is not None:
                topic.detach(conn)
        conn.topics.clear()

    # ---- trades (event driven) ----
    def _on_event(self, ev: SimEvent) -> None:
        if not isinstance(ev, TradeEvent):
            return
        self._track_tick(ev)
        topic = self.topics.get(f"publicTrade.{ev.symbol}")
        if topic is None or not topic.subs:
            return
        self._trade_buf.setdefault(ev.symbol, []).append(ev)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_trades)

    def _track_tick(self, ev: TradeEvent) -> None:
        """Bybit's tickDirection: Plus/Minus on a price change, Zero* repeats the last move."""
        prev = self._last_trade_price.get(ev.symbol)
        if prev is None or ev.price_ticks == prev:
            old = self.tick_dir.get(ev.symbol, "ZeroPlusTick")
            self.tick_dir[ev.symbol] = (
                "ZeroPlusTick" if old in ("PlusTick", "ZeroPlusTick") else "ZeroMinusTick"
            )
        else:
            self.tick_dir[ev.symbol] = "PlusTick" if ev.price_ticks > prev else "MinusTick"
        self._last_trade_price[ev.symbol] = ev.price_ticks

    def _flush_trades(self) -> None:
        self._flush_scheduled = False
        buf, self._trade_buf = self._trade_buf, {}
        for symbol, trades in buf.items():
            topic = self.topics.get(f"publicTrade.{symbol}")
            if topic is None or not topic.subs or self.stalled(symbol):
                continue
            inst = topic.inst
            tick_dir = self.tick_dir.get(symbol, "ZeroPlusTick")
            data = [fmt.public_trade(self.cat.name, inst, t, tick_dir) for t in trades]
            payload = {"topic": topic.name, "type": "snapshot", "ts": fmt.now_ms(), "data": data}
            topic.fanout(_dumps(payload))


# ====================================================================== private hub


class PrivateHub(PrivateSink):
    def __init__(self, server: BybitWs) -> None:
        self.server = server
        self.state = server.state
        self.conns: set[Conn] = set()
        self.by_account: dict[str, set[Conn]] = {}
        self._wallet_due: set[str] = set()
        self._valid_topics = set(PRIVATE_TOPICS)
        for base in PRIVATE_TOPICS:
            for cat in (SPOT, LINEAR):
                if not (base in ("position",) and cat == SPOT):
                    self._valid_topics.add(f"{base}.{cat}")

    # ---- connection protocol ----
    def on_text(self, conn: Conn, text: str) -> None:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            msg = None
        if not isinstance(msg, dict):
            conn.peer.send(
                _dumps({"success": False, "ret_msg": "error:request not json", "conn_id": conn.conn_id})
            )
            return
        op, req_id = msg.get("op"), msg.get("req_id")
        if op == "ping":
            pong: dict[str, object] = {"op": "pong", "args": [str(fmt.now_ms())], "conn_id": conn.conn_id}
            if req_id is not None:
                pong = {"req_id": req_id, **pong}
            conn.peer.send(_dumps(pong))
        elif op == "auth":
            self._auth(conn, msg.get("args"), req_id)
        elif op in ("subscribe", "unsubscribe"):
            self._subscribe(conn, op, msg.get("args"), req_id)
        else:
            conn.peer.send(
                _dumps(self._ack(str(op or ""), False, f"error:unsupported op: {op}", conn, req_id))
            )

    @staticmethod
    def _ack(op: str, ok: bool, ret_msg: str, conn: Conn, req_id: object) -> dict:
        out: dict[str, object] = {"success": ok, "ret_msg": ret_msg, "op": op, "conn_id": conn.conn_id}
        if req_id is not None:
            out["req_id"] = req_id
        return out

    def _auth(self, conn: Conn, args: object, req_id: object) -> None:
        code, msg = self._check_auth(conn, args)
        # v5/private answers {success, ret_msg, op, conn_id}; the order-entry style
        # {retCode, retMsg, connId} rides along so clients reading either spelling work.
        ack = self._ack("auth", code == 0, msg, conn, req_id)
        ack.update({"retCode": code, "retMsg": msg, "connId": conn.conn_id})
        conn.peer.send(_dumps(ack))

    def _check_auth(self, conn: Conn, args: object) -> tuple[int, str]:
        if conn.account_id:
            return 10005, "Repeat auth"
        if not isinstance(args, list) or len(args) != 3:
            return 10001, "Params Error"
        key, expires, sign = args
        creds = self.state.exchange.credentials_for(str(key))
        if creds is None:
            return 10003, "Invalid apikey"
        try:
            expires_ms = int(expires)
        except (TypeError, ValueError):
            return 10001, "Params Error"
        if expires_ms <= fmt.now_ms():
            return 10002, "Request expired"
        expected = hmac.new(creds.api_secret.encode(), f"GET/realtime{expires_ms}".encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), str(sign)):
            return 10004, "Signature error"
        conn.account_id = creds.account_id
        self.by_account.setdefault(creds.account_id, set()).add(conn)
        return 0, ""

    def _subscribe(self, conn: Conn, op: str, args: object, req_id: object) -> None:
        if not conn.account_id:
            conn.peer.send(_dumps(self._ack(op, False, "Request not authorized", conn, req_id)))
            return
        names = [a for a in args if isinstance(a, str)] if isinstance(args, list) else []
        bad = [n for n in names if n not in self._valid_topics]
        if not names or bad:
            conn.peer.send(
                _dumps(self._ack(op, False, f"Invalid topic: {','.join(bad) or args}", conn, req_id))
            )
            return
        if op == "subscribe":
            conn.topics.update(names)
        else:
            conn.topics.difference_update(names)
        conn.peer.send(_dumps(self._ack(op, True, "", conn, req_id)))

    def remove(self, conn: Conn) -> None:
        self.conns.discard(conn)
        if conn.account_id:
            conns = self.by_account.get(conn.account_id)
            if conns is not None:
                conns.discard(conn)

    # ---- fan-out ----
    def _send(self, account_id: str, base: str, category: str, build: Callable[[str], dict]) -> None:
        """Serialise once per topic spelling (``order`` / ``order.spot``) and send to its subscribers."""
        conns = self.by_account.get(account_id)
        if not conns:
            return
        cat_topic = f"{base}.{category}"
        cache: dict[str, str] = {}
        for conn in conns:
            for name in (base, cat_topic):
                if name in conn.topics:
                    payload = cache.get(name)
                    if payload is None:
                        payload = cache[name] = _dumps(build(name))
                    conn.peer.send(payload)

    @staticmethod
    def _envelope(topic: str, data: list) -> dict:
        return {"topic": topic, "id": uuid.uuid4().hex, "creationTime": fmt.now_ms(), "data": data}

    def on_order(self, cat: Category, ev: OrderEvent, meta: OrderMeta, ex: ExecInfo | None) -> None:
        account = ev.account_id
        if not self.by_account.get(account):
            return
        order = ev.order
        inst = cat.market.instruments[order.symbol]
        if ex is not None:
            execution = fmt.execution_ws(inst, cat.name, order, meta, ex)
            self._send(account, "execution", cat.name, lambda t: self._envelope(t, [execution]))
            fast = fmt.execution_fast_ws(cat.name, ex, inst, meta.link_id)
            self._send(account, "execution.fast", cat.name, lambda t: self._envelope(t, [fast]))
        shown = self.state.shown_qty(cat, order)
        triggered = ev.exec_type is ExecType.TRIGGERED
        row = fmt.order_ws(inst, order, meta, shown, triggered_now=triggered)
        self._send(account, "order", cat.name, lambda t: self._envelope(t, [row]))

    def on_account(self, cat: Category, ev: AccountEvent) -> None:
        account = ev.account_id
        if not self.by_account.get(account):
            return
        if ev.positions and not cat.is_spot:
            market = cat.market
            rows = []
            for snap in ev.positions:
                inst = market.instruments[snap.symbol]
                extra = self.state.extra(account, snap.symbol, snap.position_side)
                rows.append(fmt.position_ws(inst, snap, extra, market.books[snap.symbol].update_id))
            self._send(account, "position", cat.name, lambda t: self._envelope(t, rows))
        if account not in self._wallet_due:
            # one wallet push per burst of balance changes (a sweep fills many levels)
            self._wallet_due.add(account)
            asyncio.get_running_loop().call_soon(self._push_wallet, account)

    def _push_wallet(self, account: str) -> None:
        self._wallet_due.discard(account)
        if not self.by_account.get(account):
            return
        data = [fmt.wallet_ws(self.state.coins(account))]
        self._send(account, "wallet", "unified", lambda t: self._envelope(t, data))


# ====================================================================== server


class BybitWs:
    def __init__(self, state: BybitState) -> None:
        self.state = state
        self.public = {name: PublicHub(self, cat) for name, cat in state.cats.items()}
        self.private = PrivateHub(self)
        state.private = self.private
        self.idle_timeout_s = IDLE_TIMEOUT_S
        self.closed = False
        self._sweeper: asyncio.Task[None] | None = None
        state.exchange.faults.on_drop(self._on_drop)

    async def public_handler(self, request: web.Request) -> web.StreamResponse:
        hub = self.public.get(request.match_info["category"])
        if hub is None:
            raise web.HTTPNotFound()
        return await self._serve(request, hub.on_text, hub.conns, hub.remove, f"bybit-{hub.cat.name}")

    async def private_handler(self, request: web.Request) -> web.StreamResponse:
        hub = self.private
        return await self._serve(request, hub.on_text, hub.conns, hub.remove, "bybit-private")

    async def _serve(
        self, request: web.Request, on_text, conns: set[Conn], remove, name: str
    ) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = Conn(WsPeer(ws, name))
        conn.peer.start()
        conns.add(conn)
        try:
            async for text in iter_text(ws):
                conn.last_rx = time.monotonic()
                if '"subscribe"' in text:
                    # A network round trip: pybit sends a subscribe and only then records its
                    # req_id; an ack faster than a thread switch hits an unknown req_id and
                    # kills pybit's thread. Requests are handled in order, so nothing reorders.
                    await asyncio.sleep(SUBSCRIBE_RTT_S)
                on_text(conn, text)
        finally:
            remove(conn)
            await conn.peer.close()
        return ws

    # ---- faults / housekeeping ----
    def _on_drop(self, venue: Venue | None, symbol: str | None) -> None:
        if self.closed:
            return
        for hub in self.public.values():
            if venue not in (None, hub.venue):
                continue
            for conn in list(hub.conns):
                if symbol is None or any(t.endswith(f".{symbol}") for t in conn.topics):
                    conn.peer.drop()
        if symbol is None and venue in (None, Venue.BYBIT_SPOT, Venue.BYBIT_LINEAR):
            for conn in list(self.private.conns):
                conn.peer.drop()

    def all_conns(self) -> list[Conn]:
        out = list(self.private.conns)
        for hub in self.public.values():
            out.extend(hub.conns)
        return out

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, min(1.0, self.idle_timeout_s / 4)))
            cutoff = time.monotonic() - self.idle_timeout_s
            for conn in self.all_conns():
                if conn.last_rx < cutoff and not conn.peer.closed:
                    asyncio.get_running_loop().create_task(conn.peer.close())

    async def on_startup(self, _: web.Application) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def on_cleanup(self, _: web.Application) -> None:
        self.closed = True
        self.state.private = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for hub in self.public.values():
            hub.close()
        for conn in self.all_conns():
            await conn.peer.close()


WS_KEY = web.AppKey("bybit_ws", BybitWs)


def setup(app: web.Application, state: BybitState) -> None:
    server = BybitWs(state)
    app[WS_KEY] = server
    app.router.add_get("/v5/public/{category}", server.public_handler)
    app.router.add_get("/v5/private", server.private_handler)
    app.on_startup.append(server.on_startup)
    app.on_cleanup.append(server.on_cleanup)
