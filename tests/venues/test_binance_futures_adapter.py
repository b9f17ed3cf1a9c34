"""BinanceFuturesAdapter against the simulator over real sockets: instruments, the local book
(sync, GAP and DROP healing), mark price, candles, orders over REST + the user stream, local
filter rejection, listenKey expiry, -1021 and 429."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from terminal.model import (
    FeedState,
    MarginMode,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    Venue,
)
from terminal.model.order import Order
from terminal.sim.binance_futures import FUTURES_KEY
from terminal.sim.faults import HttpFault, StreamFault
from terminal.sim.server import RunningSim
from terminal.venues.binance.client import FUTURES_DEPTH_LIMITS, snapshot_limit
from terminal.venues.binance.futures import BinanceFuturesAdapter
from terminal.venues.errors import FilterRejected, OrderNotFound, OrderRejected, OutcomeUnknown, RateLimited
from terminal.venues.events import (
    BookUpdated,
    CandleEvent,
    FeedEvent,
    FillEvent,
    MarkPriceEvent,
    OrderReport,
    PositionsEvent,
    PublicTradeEvent,
    ReportSource,
    StreamKind,
)
from terminal.venues.ws import Backoff
from tests.venues.binance_support import live_sim, sim, venue_config, wait_for  # noqa: F401

pytestmark = pytest.mark.timeout(30)

V = Venue.BINANCE_USDM
SYMBOL = "BTCUSDT"


class Events(list[Any]):
    def of(self, cls: type, pred: Callable[[Any], bool] = lambda e: True) -> list[Any]:
        return [e for e in self if isinstance(e, cls) and pred(e)]


def _adapter(
    running: RunningSim, events: Events, cfg: dict[str, Any] | None = None, **kw: Any
) -> BinanceFuturesAdapter:
    return BinanceFuturesAdapter(
        venue_config(running, V, **(cfg or {})),
        events.append,
        backoff=Backoff(base_s=0.02, cap_s=0.2, rng=random.Random(3)),
        heartbeat_s=2.0,
        **kw,
    )


@pytest.fixture
async def started() -> AsyncIterator[Callable[..., Any]]:
    adapters: list[BinanceFuturesAdapter] = []

    async def start(
        running: RunningSim, events: Events, cfg: dict[str, Any] | None = None, **kw: Any
    ) -> BinanceFuturesAdapter:
        a = _adapter(running, events, cfg, **kw)
        adapters.append(a)
        await a.start()
        return a

    yield start
    for a in adapters:
        await a.close()


def _market(running: RunningSim) -> Any:
    return running.exchange.markets[V]


def _account(running: RunningSim) -> str:
    return running.exchange.default_credentials.account_id


def _order(cid: str, side: Side, typ: OrderType, qty: str, price: str | None = None, **kw: Any) -> Order:
    return Order.new(cid, V, SYMBOL, side, typ, qty, price, **kw)


# ------------------------------------------------------------------ reference data


async def test_start_loads_instruments_with_filters(sim, started) -> None:  # noqa: F811
    a = await started(sim, Events())
    core = _market(sim).instruments
    assert set(a.instruments) == set(core)
    i, c = a.instrument(SYMBOL), core[SYMBOL]
    assert (i.tick_size, i.step_size, i.min_notional, i.min_qty) == (
        c.tick,
        c.step,
        c.min_notional,
        c.min_qty,
    )
    assert i.min_notional == Decimal(5) and i.kind.value == "linear_perpetual"
    assert abs(a.server_now_ms() - time.time() * 1000) < 2000


# ------------------------------------------------------------------ market data


def _book_equals_core(a: BinanceFuturesAdapter, running: RunningSim, depth: int = 50) -> bool:
    book = a.book(SYMBOL)
    inst = _market(running).instruments[SYMBOL]
    uid, bids, asks = _market(running).depth(SYMBOL, depth)
    if book is None or not book.is_live or book.update_id != uid:
        return False
    snap = book.snapshot(depth)
    ours = ([(lv.price, lv.qty) for lv in snap.bids], [(lv.price, lv.qty) for lv in snap.asks])
    core = (
        [(Decimal(inst.fmt_price(p)), Decimal(inst.fmt_qty(q))) for p, q in bids],
        [(Decimal(inst.fmt_price(p)), Decimal(inst.fmt_qty(q))) for p, q in asks],
    )
    return ours == core


async def _assert_book_matches_at_pause(a: BinanceFuturesAdapter, running: RunningSim) -> None:
    gen = running.exchange.generator
    gen.pause()
    try:
        await wait_for(lambda: _book_equals_core(a, running), timeout=5, what="book == core book")
    finally:
        gen.resume()


def _book_states(events: Events, start: int = 0) -> list[FeedState]:
    return [
        e.status.state
        for e in events[start:]
        if isinstance(e, FeedEvent) and e.status.stream_id.endswith(f"{SYMBOL}:book")
    ]


async def test_book_syncs_then_heals_after_gap_and_drop(live_sim, started) -> None:  # noqa: F811
    ev = Events()
    a = await started(live_sim, ev)
    await a.watch_market(SYMBOL, trades=False, candles=(), tickers=False)
    await wait_for(lambda: a.book(SYMBOL) is not None and a.book(SYMBOL).is_live, what="book LIVE")
    assert ev.of(BookUpdated, lambda e: e.resynced)
    await wait_for(lambda: len(ev.of(BookUpdated)) > 5, what="diffs applied")
    await _assert_book_matches_at_pause(a, live_sim)

    # one depth message vanishes: the pu chain breaks -> RESYNCING -> REST snapshot -> LIVE
    mark = len(ev)
    live_sim.exchange.faults.inject_stream(StreamFault.GAP, V, symbol=SYMBOL)
    await wait_for(lambda: FeedState.LIVE in _book_states(ev, mark), what="book LIVE after gap")
    assert _book_states(ev, mark) == [FeedState.RESYNCING, FeedState.LIVE]
    assert len(ev.of(BookUpdated, lambda e: e.resynced)) == 2
    await _assert_book_matches_at_pause(a, live_sim)

    # the connection is cut: RECONNECTING on the socket, the book resyncs after the reconnect
    mark = len(ev)
    live_sim.exchange.faults.inject_stream(StreamFault.DROP, V)
    await wait_for(lambda: FeedState.LIVE in _book_states(ev, mark), what="book LIVE after drop")
    socket_states = [
        e.status.state
        for e in ev[mark:]
        if isinstance(e, FeedEvent) and e.status.stream_id == f"{V}:{SYMBOL}:public"
    ]
    assert FeedState.RECONNECTING in socket_states
    # no socket: the book stops claiming to be live until it has resynced on the new one
    assert _book_states(ev, mark) == [FeedState.RECONNECTING, FeedState.RESYNCING, FeedState.LIVE]
    await _assert_book_matches_at_pause(a, live_sim)
    assert all(e.symbol == SYMBOL and e.kind is StreamKind.MARKET for e in ev.of(FeedEvent))


async def test_mark_price_trades_and_candles(live_sim, started) -> None:  # noqa: F811
    m = _market(live_sim)
    offset = {"ms": 0}
    real_clock = m.clock
    m.clock = lambda: real_clock() + offset["ms"]
    ev = Events()
    a = await started(live_sim, ev)
    await a.watch_market(SYMBOL, book=False, candles=("1m",), tickers=False)
    await wait_for(
        lambda: ev.of(MarkPriceEvent) and ev.of(CandleEvent) and ev.of(PublicTradeEvent), what="data"
    )
    mp = ev.of(MarkPriceEvent)[0].mark
    assert mp.symbol == SYMBOL and mp.mark_price > 0 and mp.index_price and mp.index_price > 0
    assert mp.funding_rate == m.funding_rate(SYMBOL) and mp.next_funding_time == m.next_funding_ms()
    t = ev.of(PublicTradeEvent)[0].trade
    assert t.symbol == SYMBOL and t.price > 0 and t.qty > 0
    live = ev.of(CandleEvent)[0].candle
    assert live.closed is False and live.interval == "1m" and live.close_time == live.open_time + 59_999
    # jump the simulator's clock past the bar's end: exactly one closed=True for it
    offset["ms"] = live.close_time + 1 - real_clock() + 50
    await wait_for(
        lambda: ev.of(CandleEvent, lambda e: e.candle.open_time > live.open_time), what="next bar", timeout=5
    )
    finals = ev.of(CandleEvent, lambda e: e.candle.closed)
    assert [c.candle.open_time for c in finals] == [live.open_time]
    assert all(not c.candle.closed for c in ev.of(CandleEvent, lambda e: e.candle.open_time > live.open_time))


async def test_fetch_candles_marks_only_the_forming_bar_open(sim, started) -> None:  # noqa: F811
    a = await started(sim, Events())
    bars = await a.fetch_candles(SYMBOL, "1m", limit=5)
    assert len(bars) == 5 and [b.open_time for b in bars] == sorted(b.open_time for b in bars)
    assert [b.closed for b in bars] == [True, True, True, True, False]


# ------------------------------------------------------------------ orders and the user stream


def _user_states(ev: Events, start: int = 0) -> list[FeedState]:
    return [e.status.state for e in ev[start:] if isinstance(e, FeedEvent) and e.kind is StreamKind.USER]


async def test_limit_order_new_then_cancel_over_rest_and_stream(sim, started) -> None:  # noqa: F811
    ev = Events()
    a = await started(sim, ev)
    await a.watch_user()
    assert _user_states(ev) == [FeedState.CONNECTING, FeedState.LIVE]
    bid = _market(sim).books[SYMBOL].best_bid()
    price = a.instrument(SYMBOL).ticks_to_price(bid - 20)
    o = _order("lim-1", Side.BUY, OrderType.LIMIT, "0.010", str(price))
    rest = await a.place_order(o)
    assert rest.source is ReportSource.REST
    assert (rest.order.status, rest.order.client_id, rest.order.price, rest.order.qty) == (
        OrderStatus.NEW,
        "lim-1",
        price,
        Decimal("0.010"),
    )
    await wait_for(lambda: ev.of(OrderReport, lambda r: r.order.client_id == "lim-1"), what="stream NEW")
    new = ev.of(OrderReport, lambda r: r.order.client_id == "lim-1")[0]
    assert new.source is ReportSource.STREAM and new.order.venue_order_id == rest.order.venue_order_id
    assert [r.order.client_id for r in await a.fetch_open_orders(SYMBOL)] == ["lim-1"]
    got = await a.fetch_order(SYMBOL, "lim-1")
    assert got is not None and got.order.status is OrderStatus.NEW
    assert await a.fetch_order(SYMBOL, "never-sent") is None

    canceled = await a.cancel_order(SYMBOL, "lim-1")
    assert canceled.order.status is OrderStatus.CANCELED
    await wait_for(
        lambda: ev.of(OrderReport, lambda r: r.order.status is OrderStatus.CANCELED), what="stream CANCELED"
    )
    with pytest.raises(OrderNotFound):
        await a.cancel_order(SYMBOL, "lim-1")
    # the OMS can apply the stream's reports on top of the REST one
    state = o.apply(rest.update())
    for r in ev.of(OrderReport):
        state = state.apply(r.update())
    assert state.status is OrderStatus.CANCELED


async def test_market_fills_report_realized_pnl_and_positions(sim, started) -> None:  # noqa: F811
    ev = Events()
    a = await started(sim, ev, {"stale_after_s": 30.0})  # static books: the depth stream is quiet
    await a.set_leverage(SYMBOL, Decimal(10))
    await a.watch_user()
    await a.watch_market(SYMBOL, trades=False, candles=(), tickers=False)  # mid price for notional check
    await wait_for(lambda: a.book(SYMBOL) is not None and a.book(SYMBOL).is_live, what="book")
    buy = await a.place_order(_order("mkt-open", Side.BUY, OrderType.MARKET, "0.020"))
    assert buy.order.status is OrderStatus.FILLED and buy.order.filled_qty == Decimal("0.020")
    await wait_for(lambda: ev.of(FillEvent, lambda f: f.fill.client_id == "mkt-open"), what="open fill")
    await wait_for(lambda: ev.of(PositionsEvent, lambda p: any(x.qty for x in p.positions)), what="position")
    pos = [p for e in ev.of(PositionsEvent) for p in e.positions if p.symbol == SYMBOL][-1]
    assert pos.qty == Decimal("0.020") and pos.leverage == Decimal(10)

    await a.place_order(_order("mkt-close", Side.SELL, OrderType.MARKET, "0.020", reduce_only=True))
    await wait_for(lambda: ev.of(FillEvent, lambda f: f.fill.client_id == "mkt-close"), what="close fill")
    closes = ev.of(FillEvent, lambda f: f.fill.client_id == "mkt-close")
    core = {str(f.trade_id): f for f in _market(sim).fills(_account(sim), SYMBOL)}
    for fe in closes:
        f = fe.fill
        assert f.realized_pnl == core[f.trade_id].realized_pnl and f.fee == core[f.trade_id].fee
        assert f.fee_asset == "USDT" and f.side is Side.SELL
    assert sum((f.fill.realized_pnl for f in closes), Decimal(0)) != 0  # bought the ask, sold the bid
    await wait_for(
        lambda: any(p.is_flat for e in ev.of(PositionsEvent) for p in e.positions), what="flat position"
    )
    # REST views agree with the stream
    fills = await a.fetch_fills(SYMBOL)
    assert {f.trade_id for f in fills} == {fe.fill.trade_id for fe in ev.of(FillEvent)}
    assert {f.client_id for f in fills} == {"mkt-open", "mkt-close"}
    assert await a.fetch_positions() == []
    (usdt,) = await a.fetch_balances()
    assert usdt.asset == "USDT" and usdt.total < Decimal(100000)  # fees and the spread were paid


async def test_position_with_liquidation_price_and_leverage(sim, started) -> None:  # noqa: F811
    a = await started(sim, Events())
    await a.set_leverage(SYMBOL, Decimal(20))
    await a.set_margin_mode(SYMBOL, MarginMode.ISOLATED)
    ask = _market(sim).books[SYMBOL].best_ask()
    price = a.instrument(SYMBOL).ticks_to_price(ask + 10)
    r = await a.place_order(_order("lim-take", Side.BUY, OrderType.LIMIT, "0.050", str(price)))
    assert r.order.status is OrderStatus.FILLED
    (p,) = await a.fetch_positions()
    assert (p.symbol, p.qty, p.leverage, p.margin_mode) == (
        SYMBOL,
        Decimal("0.050"),
        Decimal(20),
        MarginMode.ISOLATED,
    )
    assert p.liquidation_price is not None and 0 < p.liquidation_price < p.entry_price
    assert p.mark_price is not None and p.mark_price > 0


async def test_post_only_and_conditional_orders(sim, started) -> None:  # noqa: F811
    ev = Events()
    a = await started(sim, ev)
    await a.watch_user()
    inst = a.instrument(SYMBOL)
    ask = _market(sim).books[SYMBOL].best_ask()
    # post-only (GTX) that would cross is refused by the venue, never filled
    with pytest.raises(OrderRejected) as err:
        await a.place_order(
            _order("gtx-1", Side.BUY, OrderType.LIMIT, "0.010", str(inst.ticks_to_price(ask)), post_only=True)
        )
    assert err.value.code is not None
    # a stop on the algo service: UNTRIGGERED, listed as open, cancel by client id
    stop = inst.ticks_to_price(ask + 500)
    r = await a.place_order(_order("stop-1", Side.BUY, OrderType.STOP_MARKET, "0.010", stop_price=str(stop)))
    assert (r.order.status, r.order.stop_price, r.order.venue_order_id[:5]) == (
        OrderStatus.UNTRIGGERED,
        stop,
        "algo:",
    )
    await wait_for(
        lambda: ev.of(OrderReport, lambda x: x.order.client_id == "stop-1"), what="ALGO_UPDATE NEW"
    )
    opened = await a.fetch_open_orders(SYMBOL)
    assert [(x.order.client_id, x.order.status) for x in opened] == [("stop-1", OrderStatus.UNTRIGGERED)]
    fetched = await a.fetch_order(SYMBOL, "stop-1")
    assert fetched is not None and fetched.order.venue_order_id == r.order.venue_order_id
    c = await a.cancel_order(SYMBOL, "stop-1")
    assert c.order.status is OrderStatus.CANCELED and c.order.venue_order_id == r.order.venue_order_id


async def test_filter_violations_never_reach_the_venue(sim, started) -> None:  # noqa: F811
    a = await started(sim, Events())
    before = len(_market(sim).all_orders(_account(sim)))
    bad = [
        _order("bad-tick", Side.BUY, OrderType.LIMIT, "0.010", "60000.05"),  # tick 0.10
        _order("bad-step", Side.BUY, OrderType.LIMIT, "0.0105", "60000.0"),  # step 0.001
        _order("bad-notional", Side.BUY, OrderType.LIMIT, "0.001", "1000.0"),  # 1 USDT < 5
    ]
    names = []
    for o in bad:
        with pytest.raises(FilterRejected) as err:
            await a.place_order(o)
        names.append(err.value.violations[0].filter.value)
    assert names == ["PRICE_FILTER", "LOT_SIZE", "MIN_NOTIONAL"]
    assert len(_market(sim).all_orders(_account(sim))) == before  # the simulator never saw them


async def test_listen_key_expiry_recovers_and_next_update_arrives(sim, started) -> None:  # noqa: F811
    ev = Events()
    a = await started(sim, ev, keepalive_s=0.2)
    await a.watch_user()
    await wait_for(lambda: a.keepalives >= 2, what="keepalive PUTs")
    assert a.listen_keys_created == 1
    mark = len(ev)
    sim.exchange.faults.inject_stream(StreamFault.EXPIRE_LISTEN_KEY, V)
    await wait_for(lambda: _user_states(ev, mark)[-1:] == [FeedState.LIVE], what="user LIVE again")
    assert _user_states(ev, mark) == [FeedState.RECONNECTING, FeedState.LIVE]
    assert a.listen_keys_created == 2
    bid = _market(sim).books[SYMBOL].best_bid()
    price = a.instrument(SYMBOL).ticks_to_price(bid - 30)
    await a.place_order(_order("after-expiry", Side.BUY, OrderType.LIMIT, "0.010", str(price)))
    await wait_for(
        lambda: ev.of(
            OrderReport, lambda r: r.order.client_id == "after-expiry" and r.source is ReportSource.STREAM
        ),
        what="ORDER_TRADE_UPDATE on the new key",
    )

    # a dropped connection heals the same way (and says LIVE so the OMS reconciles)
    mark = len(ev)
    sim.exchange.faults.inject_stream(StreamFault.DROP, V)
    await wait_for(lambda: _user_states(ev, mark)[-1:] == [FeedState.LIVE], what="user LIVE after drop")
    assert FeedState.RECONNECTING in _user_states(ev, mark)
    await a.cancel_order(SYMBOL, "after-expiry")
    await wait_for(
        lambda: ev.of(
            OrderReport, lambda r: r.order.status is OrderStatus.CANCELED and r.source is ReportSource.STREAM
        ),
        what="update after drop",
    )


async def test_timestamp_error_resyncs_and_retries_once(sim, started) -> None:  # noqa: F811
    a = await started(sim, Events())
    faults = sim.exchange.faults
    faults.inject_http(HttpFault.TIMESTAMP, V, count=1)
    (usdt,) = await a.fetch_balances()
    assert usdt.asset == "USDT" and faults.injected.get("timestamp") == 1
    # an order, too, is re-sent once after -1021: the venue refused it unseen
    faults.inject_http(HttpFault.TIMESTAMP, V, count=1)
    bid = _market(sim).books[SYMBOL].best_bid()
    r = await a.place_order(
        _order("ts-1", Side.BUY, OrderType.LIMIT, "0.010", str(a.instrument(SYMBOL).ticks_to_price(bid - 40)))
    )
    assert r.order.status is OrderStatus.NEW and faults.injected.get("timestamp") == 2


async def test_rate_limit_raises_rate_limited_and_blocks_the_gate(sim, started) -> None:  # noqa: F811
    a = await started(sim, Events())
    sim.exchange.faults.inject_http(HttpFault.RATE_LIMIT, V, count=1, retry_after_s=2)
    with pytest.raises(RateLimited) as err:
        await a.fetch_balances()
    assert err.value.retry_after_s == 2 and err.value.code == -1003
    assert a.gate.wait_s() > 1.0  # nothing else goes out until Retry-After passed
    await asyncio.sleep(0)


async def test_time_in_force_mapping_round_trips(sim, started) -> None:  # noqa: F811
    a = await started(sim, Events())
    bid = _market(sim).books[SYMBOL].best_bid()
    price = str(a.instrument(SYMBOL).ticks_to_price(bid - 50))
    r = await a.place_order(_order("gtx-ok", Side.BUY, OrderType.LIMIT, "0.010", price, post_only=True))
    assert r.order.status is OrderStatus.NEW and r.order.tif is TimeInForce.POST_ONLY and r.order.post_only
    r = await a.place_order(_order("ioc-1", Side.BUY, OrderType.LIMIT, "0.010", price, tif=TimeInForce.IOC))
    assert r.order.status is OrderStatus.EXPIRED and r.order.tif is TimeInForce.IOC


async def test_triggered_stop_keeps_one_venue_id_through_fill(sim, started) -> None:  # noqa: F811
    """ALGO_UPDATE -> trigger -> ORDER_TRADE_UPDATE (si = algo id) -> fill: one order for the OMS."""
    ev = Events()
    a = await started(sim, ev)
    await a.watch_user()
    m = _market(sim)
    inst = a.instrument(SYMBOL)
    _, _, asks = m.depth(SYMBOL, 3)
    stop = inst.ticks_to_price(asks[1][0])
    o = _order("stop-fill", Side.BUY, OrderType.STOP_MARKET, "0.010", stop_price=str(stop))
    placed = await a.place_order(o)
    m.mm_take(SYMBOL, Side.BUY, sum(q for _, q in asks[:3]))  # last trade goes through the stop
    await wait_for(lambda: ev.of(FillEvent, lambda f: f.fill.client_id == "stop-fill"), what="stop fill")
    await wait_for(
        lambda: ev.of(OrderReport, lambda r: r.order.client_id == "stop-fill" and r.order.status.is_terminal),
        what="terminal report",
    )
    reports = ev.of(OrderReport, lambda r: r.order.client_id == "stop-fill")
    assert {r.order.venue_order_id for r in reports} == {placed.order.venue_order_id}
    assert {f.fill.venue_order_id for f in ev.of(FillEvent)} == {placed.order.venue_order_id}
    state = o.apply(placed.update())
    for r in reports:
        state = state.apply(r.update())  # never IllegalTransition
    assert state.status is OrderStatus.FILLED and state.filled_qty == Decimal("0.010")
    got = await a.fetch_order(SYMBOL, "stop-fill")
    assert got is not None and got.order.status is OrderStatus.FILLED
    assert got.order.venue_order_id == placed.order.venue_order_id and got.order.type is OrderType.STOP_MARKET
    (fill,) = await a.fetch_fills(SYMBOL)
    assert (fill.client_id, fill.venue_order_id) == ("stop-fill", placed.order.venue_order_id)
    # a fresh adapter (after a restart) knows nothing and still reconciles to the same ids
    b = await started(sim, Events())
    (fill,) = await b.fetch_fills(SYMBOL)
    assert (fill.client_id, fill.venue_order_id) == ("stop-fill", placed.order.venue_order_id)
    got = await b.fetch_order(SYMBOL, "stop-fill")
    assert got is not None and got.order.venue_order_id == placed.order.venue_order_id
    assert got.order.status is OrderStatus.FILLED and got.order.stop_price == stop


async def test_lost_order_response_is_outcome_unknown_and_the_order_exists(sim, started) -> None:  # noqa: F811
    a = await started(sim, Events())
    faults = sim.exchange.faults
    bid = _market(sim).books[SYMBOL].best_bid()
    price = str(a.instrument(SYMBOL).ticks_to_price(bid - 60))
    # processed, then the TCP connection is cut before the answer: the order may exist
    faults.inject_http(HttpFault.DROP_RESPONSE, V, count=1, paths=["POST /fapi/v1/order"])
    with pytest.raises(OutcomeUnknown) as err:
        await a.place_order(_order("lost-1", Side.BUY, OrderType.LIMIT, "0.010", price))
    secret = sim.exchange.default_credentials.api_secret
    assert secret not in str(err.value) and "signature=" not in str(err.value).replace("signature=***", "")
    found = await a.fetch_order(SYMBOL, "lost-1")  # the OMS asks before sending anything again
    assert found is not None and found.order.status is OrderStatus.NEW
    # a 5xx on an order request is unknown too (never OrderRejected)
    faults.inject_http(HttpFault.SERVER_ERROR, V, count=1, status=503, paths=["POST /fapi/v1/order"])
    with pytest.raises(OutcomeUnknown):
        await a.place_order(_order("lost-2", Side.BUY, OrderType.LIMIT, "0.010", price))
    assert secret not in repr(a.config)


async def test_hedge_mode_legs(sim, started) -> None:  # noqa: F811
    ev = Events()
    a = await started(sim, ev, {"stale_after_s": 30.0})  # static books: the depth stream is quiet
    await a.set_hedge_mode(True)
    assert await a.hedge_mode() is True
    await a.watch_user()
    await a.watch_market(SYMBOL, trades=False, candles=(), tickers=False)
    await wait_for(lambda: a.book(SYMBOL) is not None and a.book(SYMBOL).is_live, what="book")
    long_open = _order("h-long", Side.BUY, OrderType.MARKET, "0.010", position_side=PositionSide.LONG)
    short_open = _order("h-short", Side.SELL, OrderType.MARKET, "0.020", position_side=PositionSide.SHORT)
    await a.place_order(long_open)
    await a.place_order(short_open)
    legs = {(p.side, p.qty) for p in await a.fetch_positions()}
    assert legs == {(PositionSide.LONG, Decimal("0.010")), (PositionSide.SHORT, Decimal("0.020"))}
    # closing the long leg: SELL on LONG, reduce_only is implied (not sent: the venue refuses it)
    await a.place_order(
        _order(
            "h-close", Side.SELL, OrderType.MARKET, "0.010", position_side=PositionSide.LONG, reduce_only=True
        )
    )
    (short,) = await a.fetch_positions()
    assert (short.side, short.qty, short.signed_qty) == (
        PositionSide.SHORT,
        Decimal("0.020"),
        Decimal("-0.020"),
    )
    await wait_for(
        lambda: ev.of(
            FillEvent, lambda f: f.fill.client_id == "h-close" and f.fill.position_side is PositionSide.LONG
        ),
        what="close fill on the LONG leg",
    )


async def test_unreadable_user_event_is_not_swallowed(sim, started) -> None:  # noqa: F811
    """A user event the parser refuses (unknown status) makes the feed say RESYNCING -> LIVE,
    which is the OMS's cue to reconcile over REST; nothing is silently dropped."""
    ev = Events()
    a = await started(sim, ev)
    await a.watch_user()
    mark = len(ev)
    bad = '{"e":"ORDER_TRADE_UPDATE","E":1,"o":{"s":"BTCUSDT","c":"x","S":"BUY","o":"LIMIT","q":"1","z":"0","l":"0","x":"NEW","X":"SOMETHING_NEW","i":1}}'
    a._on_user(bad, time.time_ns())
    assert _user_states(ev, mark) == [FeedState.RESYNCING, FeedState.LIVE]
    assert "SOMETHING_NEW" in next(e for e in ev[mark:] if isinstance(e, FeedEvent)).status.detail


async def test_close_stops_every_stream_and_task(live_sim) -> None:  # noqa: F811
    before = set(asyncio.all_tasks())
    ev = Events()
    a = _adapter(live_sim, ev, keepalive_s=0.2)
    await a.start()
    await a.watch_market(SYMBOL)
    await a.watch_market("ETHUSDT", trades=False, candles=("1m", "5m"))
    await a.watch_user()
    await wait_for(lambda: a.book(SYMBOL) is not None and a.book(SYMBOL).is_live, what="book")
    await a.close()
    await a.close()  # idempotent
    await asyncio.sleep(0)
    ours = ("ws:", "resync:", "listenKey")  # the simulator's own publishers are not ours
    leaked = [t for t in asyncio.all_tasks() - before if not t.done() and t.get_name().startswith(ours)]
    assert not leaked, leaked
    assert a.book(SYMBOL) is None
    assert {s.state for s in a.feeds().values() if s.stream_id.endswith((":public", ":market", ":user"))} == {
        FeedState.STOPPED
    }


# ------------------------------------------------------------------ request weight


class WeightMeter:
    """The simulator's own request-weight accounting for this host, as one window (no
    wall-clock minute rollover in the middle of a measurement)."""

    def __init__(self, running: RunningSim) -> None:
        self.limiter = running.runner.app[FUTURES_KEY].http.limiter
        self.limiter.window_s = 1e9
        self.limiter.reset()

    def used(self) -> int:
        return self.limiter.used("127.0.0.1")


def test_snapshot_limit_caps_at_500_and_rounds_up_to_a_valid_limit() -> None:
    assert snapshot_limit(1000, FUTURES_DEPTH_LIMITS) == 500  # the config default: weight 10, not 20
    assert snapshot_limit(20, FUTURES_DEPTH_LIMITS) == 20
    assert snapshot_limit(30, FUTURES_DEPTH_LIMITS) == 50  # futures accepts only its listed limits
    assert snapshot_limit(200, FUTURES_DEPTH_LIMITS) == 500
    assert snapshot_limit(1000) == 500 and snapshot_limit(150) == 150  # spot takes any limit
    with pytest.raises(ValueError, match="book_depth"):
        snapshot_limit(0)


async def test_book_resync_snapshot_is_500_levels_for_weight_10(sim, started) -> None:  # noqa: F811
    a = await started(sim, Events(), {"stale_after_s": 30.0})
    meter = WeightMeter(sim)
    _uid, bids, asks = _market(sim).depth(SYMBOL, 5000)
    assert len(bids) > 500 and len(asks) > 500  # the sim's book is deeper than the snapshot
    await a.watch_market(SYMBOL, trades=False, candles=(), tickers=False)
    await wait_for(lambda: a.book(SYMBOL) is not None and a.book(SYMBOL).is_live, what="book LIVE")
    assert meter.used() == 10  # one GET /fapi/v1/depth?limit=500
    snap = a.book(SYMBOL).snapshot(5000)
    assert (len(snap.bids), len(snap.asks)) == (500, 500)
    assert _book_equals_core(a, sim, depth=500)  # the levels it has are the venue's


async def test_candle_backfill_asks_only_for_bars_that_can_exist(sim, started) -> None:  # noqa: F811
    a = await started(sim, Events())
    meter = WeightMeter(sim)
    start = (a.server_now_ms() // 60_000 - 2) * 60_000
    bars = await a.fetch_candles(SYMBOL, "1m", start_ms=start, limit=1000)  # the engine's page size
    assert meter.used() == 1  # limit <= 4 (weight 1), not 1000 (weight 5)
    assert [b.open_time for b in bars] == [start, start + 60_000, start + 120_000]
    assert [b.closed for b in bars] == [True, True, False]
    assert bars == (await a.fetch_candles(SYMBOL, "1m", limit=3))
    # a start far back keeps the caller's page size (the engine pages on a full page)
    assert len(await a.fetch_candles(SYMBOL, "1m", start_ms=start - 2000 * 60_000, limit=1000)) == 1000


async def test_positions_read_symbol_config_only_with_a_position(sim, started) -> None:  # noqa: F811
    a = await started(sim, Events())
    await a.set_leverage(SYMBOL, Decimal(7))
    meter = WeightMeter(sim)
    assert await a.fetch_positions() == []
    assert meter.used() == 5  # positionRisk only: a flat account needs no leverage/margin type
    ask = _market(sim).books[SYMBOL].best_ask()
    price = a.instrument(SYMBOL).ticks_to_price(ask + 10)
    await a.place_order(_order("take-1", Side.BUY, OrderType.LIMIT, "0.010", str(price)))
    before = meter.used()
    (p,) = await a.fetch_positions()
    assert meter.used() - before == 10  # positionRisk + symbolConfig
    assert (p.qty, p.leverage, p.margin_mode) == (Decimal("0.010"), Decimal(7), MarginMode.CROSS)
