"""BinanceSpotAdapter against the simulator over real sockets: instruments, book sync and its
self-healing, candles, the order lifecycle, local filter rejects, clock and rate-limit faults,
and a user stream that survives a dropped connection."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from terminal.model import FeedState, Order, OrderStatus, OrderType, Side, TimeInForce, Venue
from terminal.sim.faults import ORDER_PLACEMENT_PATHS, HttpFault, StreamFault
from terminal.sim.server import RunningSim
from terminal.venues.base import ApiCredentials
from terminal.venues.binance.spot import BinanceSpotAdapter
from terminal.venues.errors import (
    AuthFailed,
    ClockSkew,
    FilterRejected,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
    VenueError,
)
from terminal.venues.events import (
    BalancesEvent,
    BookTickerEvent,
    BookUpdated,
    CandleEvent,
    FeedEvent,
    FillEvent,
    OrderReport,
    PublicTradeEvent,
    ReportSource,
    StreamKind,
    TickerEvent,
)
from terminal.venues.ws import Backoff
from tests.venues.binance_support import live_sim, sim, venue_config, wait_for  # noqa: F401

pytestmark = pytest.mark.timeout(30)

V = Venue.BINANCE_SPOT
SYM = "BTCUSDT"


class Events(list):
    def of(self, cls: type) -> list[Any]:
        return [e for e in self if isinstance(e, cls)]

    def feed_states(self, stream_id: str) -> list[FeedState]:
        return [e.status.state for e in self.of(FeedEvent) if e.status.stream_id == stream_id]


def _fast_backoff() -> Backoff:
    return Backoff(base_s=0.05, cap_s=0.2)


async def _adapter(running: RunningSim, **kw: Any) -> tuple[BinanceSpotAdapter, Events]:
    events = Events()
    kw.setdefault("stale_after_s", 3.0)
    cfg = venue_config(running, V, **kw)
    a = BinanceSpotAdapter(cfg, events.append, backoff_factory=_fast_backoff)
    await a.start()
    return a, events


@pytest.fixture
async def spot(sim: RunningSim) -> AsyncIterator[tuple[BinanceSpotAdapter, Events]]:  # noqa: F811
    a, events = await _adapter(sim)
    try:
        yield a, events
    finally:
        await a.close()


@pytest.fixture
async def live_spot(live_sim: RunningSim) -> AsyncIterator[tuple[BinanceSpotAdapter, Events]]:  # noqa: F811
    a, events = await _adapter(live_sim)
    try:
        yield a, events
    finally:
        await a.close()


def _market(running: RunningSim):
    return running.exchange.markets[V]


def _limit(cid: str, side: Side, qty: str, price: Decimal, **kw: Any) -> Order:
    return Order.new(cid, V, SYM, side, OrderType.LIMIT, qty, price, **kw)


def _below_bid(running: RunningSim, ticks: int = 500) -> Decimal:
    m = _market(running)
    return m.instruments[SYM].price(m.books[SYM].best_bid() - ticks)


async def _sim_orders(a: BinanceSpotAdapter) -> list[dict]:
    return await a.rest.call("GET", "allOrders", signed=True, params={"symbol": SYM})


# ---------------------------------------------------------------------- reference data


async def test_instruments_have_the_sims_filters(spot, sim):  # noqa: F811
    a, _ = spot
    sim_inst = _market(sim).instruments[SYM]
    inst = a.instrument(SYM)
    assert set(a.instruments) == set(_market(sim).instruments)
    assert (inst.base, inst.quote) == (sim_inst.base, sim_inst.quote)
    assert inst.tick_size == sim_inst.tick and inst.step_size == sim_inst.step
    assert inst.min_qty == sim_inst.min_qty and inst.max_qty == sim_inst.max_qty
    assert inst.market_max_qty == sim_inst.market_max_qty
    assert inst.min_notional == sim_inst.min_notional and inst.max_notional == sim_inst.max_notional
    assert inst.min_price == sim_inst.min_price and inst.max_price == sim_inst.max_price
    assert abs(a.clock_offset_ms) < 1000 and a.rest.clock_synced_at > 0
    assert a.rest.gate.used_weight > 0  # X-MBX-USED-WEIGHT-1M was recorded
    assert a.capabilities.oco and not a.capabilities.reduce_only and not a.capabilities.leverage
    assert await a.fetch_positions() == []


# ---------------------------------------------------------------------- market data


def _assert_book_equals_sim(a: BinanceSpotAdapter, running: RunningSim, depth: int = 200) -> None:
    m = _market(running)
    inst = m.instruments[SYM]
    u, bids, asks = m.depth(SYM, depth)
    book = a.book(SYM)
    assert book is not None and book.is_live
    assert book.update_id == u
    snap = book.snapshot(depth)
    assert [(lv.price, lv.qty) for lv in snap.bids] == [
        (Decimal(inst.fmt_price(p)), Decimal(inst.fmt_qty(q))) for p, q in bids
    ]
    assert [(lv.price, lv.qty) for lv in snap.asks] == [
        (Decimal(inst.fmt_price(p)), Decimal(inst.fmt_qty(q))) for p, q in asks
    ]


async def _quiesce_and_compare(a: BinanceSpotAdapter, running: RunningSim) -> None:
    gen = running.exchange.generator
    gen.pause()
    try:
        target = _market(running).books[SYM].update_id
        book = a.book(SYM)
        assert book is not None
        await wait_for(lambda: book.is_live and book.update_id >= target, what="book catches up")
        _assert_book_equals_sim(a, running)
    finally:
        gen.resume()


@pytest.mark.timeout(40)
async def test_book_syncs_and_heals_after_gap_and_drop(live_spot, live_sim):  # noqa: F811
    a, ev = live_spot
    await a.watch_market(SYM)
    book = a.book(SYM)
    assert book is not None
    await wait_for(lambda: book.is_live and book.applied >= 5, what="book live")
    await _quiesce_and_compare(a, live_sim)
    ups = ev.of(BookUpdated)
    assert ups[0].resynced and all(u.recv_ns > 0 and u.symbol == SYM for u in ups)
    assert [u.update_id for u in ups] == sorted(u.update_id for u in ups)
    # every market stream delivered typed events
    await wait_for(lambda: ev.of(TickerEvent) and ev.of(BookTickerEvent) and ev.of(CandleEvent))
    await wait_for(lambda: ev.of(PublicTradeEvent))
    assert ev.of(PublicTradeEvent)[0].trade.symbol == SYM

    book_id = f"{V}:{SYM}:book"
    faults = live_sim.exchange.faults
    # a lost depth message: the next U reveals it, the book resyncs by itself
    n = len(ev)
    faults.inject_stream(StreamFault.GAP, V, symbol=SYM)
    await wait_for(lambda: FeedState.RESYNCING in Events(ev[n:]).feed_states(book_id), what="RESYNCING")
    await wait_for(lambda: Events(ev[n:]).feed_states(book_id)[-1] is FeedState.LIVE, what="LIVE after gap")
    resynced = [u for u in Events(ev[n:]).of(BookUpdated) if u.resynced]
    assert len(resynced) == 1
    await _quiesce_and_compare(a, live_sim)

    # a dropped connection: RECONNECTING, then the book resyncs from a fresh snapshot
    n = len(ev)
    faults.inject_stream(StreamFault.DROP, V)
    conn_id = f"{V}:market"
    await wait_for(lambda: FeedState.RECONNECTING in Events(ev[n:]).feed_states(conn_id), what="RECONNECTING")
    await wait_for(
        lambda: (
            Events(ev[n:]).feed_states(book_id)[-1:] == [FeedState.LIVE]
            and FeedState.RESYNCING in Events(ev[n:]).feed_states(book_id)
        ),
        what="book LIVE after drop",
    )
    assert Events(ev[n:]).feed_states(conn_id)[-1] is FeedState.LIVE
    assert a._market is not None and a._market.connects == 2
    await _quiesce_and_compare(a, live_sim)
    assert all(e.kind is StreamKind.MARKET for e in ev.of(FeedEvent))
    # one feed per stream key, tagged with its symbol; the connection's own has none
    by_id = {e.status.stream_id: e.symbol for e in ev.of(FeedEvent)}
    assert by_id[f"{conn_id}:{SYM.lower()}@depth@100ms"] == SYM and by_id[book_id] == SYM
    assert by_id[f"{conn_id}:{SYM.lower()}@trade"] == SYM and by_id[conn_id] is None
    assert a.feeds()[book_id].state is FeedState.LIVE


async def test_quiet_book_syncs_and_follows_our_own_orders(spot, sim):  # noqa: F811
    """No generator: the depth stream is silent until something changes, so the snapshot is
    taken without a buffered diff; our resting order then arrives as a diff."""
    a, ev = spot
    await a.watch_market(SYM, trades=False, candles=(), tickers=False)
    book = a.book(SYM)
    assert book is not None
    await wait_for(lambda: book.is_live, what="book live")
    _assert_book_equals_sim(a, sim)
    price = _below_bid(sim, 3)
    await a.place_order(_limit("bk-1", Side.BUY, "0.5", price))
    target = _market(sim).books[SYM].update_id
    await wait_for(lambda: book.update_id == target, what="diff applied")
    _assert_book_equals_sim(a, sim)
    assert [u.resynced for u in ev.of(BookUpdated)][:1] == [True] and not ev.of(BookUpdated)[-1].resynced
    assert a.reference_price(SYM) is not None


async def test_second_symbol_is_subscribed_live_on_the_same_connection(live_spot, live_sim):  # noqa: F811
    a, ev = live_spot
    await a.watch_market(SYM, book=False, candles=(), tickers=False)
    await a.watch_market("ETHUSDT", book=False, candles=(), tickers=False)  # live SUBSCRIBE

    def traded(symbol: str, start: int = 0) -> bool:
        return any(t.trade.symbol == symbol for t in Events(ev[start:]).of(PublicTradeEvent))

    await wait_for(lambda: traded(SYM) and traded("ETHUSDT"), what="trades of both symbols")
    assert a._market is not None and a._market.connects == 1
    # after a reconnect the URL carries both streams
    live_sim.exchange.faults.inject_stream(StreamFault.DROP, V)
    await wait_for(lambda: a._market is not None and a._market.connects == 2, what="reconnect")
    n = len(ev)
    await wait_for(lambda: traded(SYM, n) and traded("ETHUSDT", n), what="trades after reconnect")
    await a.unwatch_market("ETHUSDT")
    await asyncio.sleep(0.3)  # frames already in flight
    n = len(ev)
    await wait_for(lambda: traded(SYM, n), what="BTC trades continue")
    await asyncio.sleep(0.5)
    assert not traded("ETHUSDT", n)


async def test_candles_close_only_when_the_venue_says_so(spot, sim):  # noqa: F811
    a, ev = spot
    m = _market(sim)
    real_clock = m.clock
    # start 5 s into a fresh minute, so no bar closes by itself during the test
    now = real_clock()
    shift = {"ms": (now // 60_000 + 1) * 60_000 + 5_000 - now}
    m.clock = lambda: real_clock() + shift["ms"]
    await a.watch_market(SYM, book=False, trades=False, tickers=False, candles=("1m",))
    await wait_for(lambda: any(not c.candle.closed for c in ev.of(CandleEvent)), what="live candle")
    first = next(c.candle for c in ev.of(CandleEvent) if not c.candle.closed)
    m.mm_take(SYM, Side.BUY, 30)
    await asyncio.sleep(1.2)
    assert not any(c.candle.closed for c in ev.of(CandleEvent) if c.candle.open_time == first.open_time)
    shift["ms"] = first.close_time + 1 - real_clock() + 50  # now jump just past the close
    await wait_for(lambda: any(c.candle.closed for c in ev.of(CandleEvent)), what="closed candle")
    await wait_for(lambda: any(c.candle.open_time > first.open_time for c in ev.of(CandleEvent)))
    await asyncio.sleep(1.2)
    closed = [c.candle for c in ev.of(CandleEvent) if c.candle.closed]
    assert len(closed) == 1 and closed[0].open_time == first.open_time and closed[0].trades >= 1
    later = [c.candle for c in ev.of(CandleEvent) if c.candle.open_time > first.open_time]
    assert later and not any(c.closed for c in later)

    # REST backfill: oldest first, only the still-forming bar is open (on the venue's clock,
    # which the test moved: measure it again)
    await a.rest.sync_clock()
    candles = await a.fetch_candles(SYM, "1m", limit=5)
    assert len(candles) == 5 and [c.open_time for c in candles] == sorted(c.open_time for c in candles)
    assert all(c.closed for c in candles[:-1]) and not candles[-1].closed


# ---------------------------------------------------------------------- orders


async def test_limit_order_lifecycle_over_rest_and_stream(spot, sim):  # noqa: F811
    a, ev = spot
    await a.watch_user()
    price = _below_bid(sim)
    rep = await a.place_order(_limit("lc-1", Side.BUY, "0.01", price))
    assert rep.source is ReportSource.REST and rep.order.status is OrderStatus.NEW
    assert rep.order.client_id == "lc-1" and rep.order.price == price and rep.order.qty == Decimal("0.01")
    vid = rep.order.venue_order_id
    assert vid is not None

    def stream_reports(status: OrderStatus) -> list[OrderReport]:
        return [
            r
            for r in ev.of(OrderReport)
            if r.source is ReportSource.STREAM and r.order.client_id == "lc-1" and r.order.status is status
        ]

    await wait_for(lambda: stream_reports(OrderStatus.NEW), what="executionReport NEW")
    assert stream_reports(OrderStatus.NEW)[0].order.venue_order_id == vid
    opened = await a.fetch_open_orders(SYM)
    assert [r.order.client_id for r in opened] == ["lc-1"]
    assert (await a.fetch_order(SYM, "lc-1")).order.status is OrderStatus.NEW

    canceled = await a.cancel_order(SYM, "lc-1")
    assert canceled.order.status is OrderStatus.CANCELED and canceled.order.client_id == "lc-1"
    await wait_for(lambda: stream_reports(OrderStatus.CANCELED), what="executionReport CANCELED")
    got = await a.fetch_order(SYM, "lc-1")
    assert (
        got is not None and got.order.status is OrderStatus.CANCELED and got.source is ReportSource.RECONCILE
    )
    assert await a.fetch_open_orders(SYM) == []
    assert await a.fetch_order(SYM, "never-sent") is None
    with pytest.raises(OrderNotFound) as err:
        await a.cancel_order(SYM, "lc-1")
    assert err.value.code == -2011
    # a post-only order goes out as LIMIT_MAKER and comes back as LIMIT + POST_ONLY
    pm = await a.place_order(_limit("lc-2", Side.BUY, "0.01", price, tif=TimeInForce.POST_ONLY))
    assert pm.order.type is OrderType.LIMIT and pm.order.post_only and pm.order.tif is TimeInForce.POST_ONLY


async def test_market_order_fills_with_fees(spot, sim):  # noqa: F811
    a, ev = spot
    await a.watch_user()
    before = {b.asset: b for b in await a.fetch_balances()}
    rep = await a.place_order(Order.new("mk-1", V, SYM, Side.BUY, OrderType.MARKET, "0.05"))
    assert rep.order.status is OrderStatus.FILLED and rep.order.filled_qty == Decimal("0.05")
    assert rep.order.avg_price is not None and rep.order.avg_price > 0
    rest_fills = [f.fill for f in ev.of(FillEvent) if f.source is ReportSource.REST]
    assert rest_fills and sum(f.qty for f in rest_fills) == Decimal("0.05")
    assert all(f.fee > 0 and f.fee_asset == "BTC" and f.client_id == "mk-1" for f in rest_fills)

    def stream_fills() -> list:
        return [f.fill for f in ev.of(FillEvent) if f.source is ReportSource.STREAM]

    await wait_for(lambda: sum(f.qty for f in stream_fills()) == Decimal("0.05"), what="stream fills")
    assert {f.trade_id for f in stream_fills()} == {f.trade_id for f in rest_fills}
    assert [(f.price, f.qty, f.fee) for f in stream_fills()] == [(f.price, f.qty, f.fee) for f in rest_fills]
    await wait_for(lambda: ev.of(BalancesEvent), what="outboundAccountPosition")
    fetched = await a.fetch_fills(SYM)
    assert {(f.trade_id, f.client_id, f.fee) for f in fetched} == {
        (f.trade_id, f.client_id, f.fee) for f in rest_fills
    }
    after = {b.asset: b for b in await a.fetch_balances()}
    fees = sum(f.fee for f in rest_fills)
    assert after["BTC"].free == before["BTC"].free + Decimal("0.05") - fees
    last = {b.asset: b for b in ev.of(BalancesEvent)[-1].balances}
    assert last["BTC"].free == after["BTC"].free and not ev.of(BalancesEvent)[-1].snapshot


async def test_filter_violations_are_rejected_locally_and_never_sent(spot, sim):  # noqa: F811
    a, _ = spot
    price = _below_bid(sim)
    bad = [
        _limit("f-tick", Side.BUY, "0.01", price + Decimal("0.001")),  # off tick
        _limit("f-step", Side.BUY, "0.010005", price),  # off step
        _limit("f-notional", Side.BUY, "0.00001", price),  # below min notional
    ]
    expected = ["PRICE_FILTER", "LOT_SIZE", "MIN_NOTIONAL"]
    for order, name in zip(bad, expected, strict=True):
        with pytest.raises(FilterRejected) as err:
            await a.place_order(order)
        assert [v.filter.value for v in err.value.violations] == [name]
    assert await _sim_orders(a) == []
    assert _market(sim).books[SYM].best_bid() is not None


async def test_timestamp_error_resyncs_clock_and_retries_once(spot, sim):  # noqa: F811
    a, _ = spot
    # our clock runs 5 s ahead: the venue answers -1021, we resync and the order goes through
    a.rest.clock_offset_ms = a.rest.client.timestamp_offset = 5000
    rep = await a.place_order(_limit("ts-1", Side.BUY, "0.01", _below_bid(sim)))
    assert rep.order.status is OrderStatus.NEW and abs(a.clock_offset_ms) < 1000
    # an injected -1021 is retried once as well
    sim.exchange.faults.inject_http(HttpFault.TIMESTAMP, V)
    rep = await a.place_order(_limit("ts-2", Side.BUY, "0.01", _below_bid(sim)))
    assert rep.order.status is OrderStatus.NEW
    # twice in a row: ClockSkew, and the order was not created
    sim.exchange.faults.inject_http(HttpFault.TIMESTAMP, V, count=2)
    with pytest.raises(ClockSkew) as err:
        await a.place_order(_limit("ts-3", Side.BUY, "0.01", _below_bid(sim)))
    assert err.value.code == -1021
    assert sorted(o["clientOrderId"] for o in await _sim_orders(a)) == ["ts-1", "ts-2"]


async def test_rate_limit_raises_and_the_gate_holds_requests_back(spot, sim):  # noqa: F811
    a, _ = spot
    sim.exchange.faults.inject_http(HttpFault.RATE_LIMIT, V, retry_after_s=3)
    with pytest.raises(RateLimited) as err:
        await a.fetch_balances()
    assert err.value.retry_after_s == 3 and err.value.code == -1003
    assert a.rest.gate.wait_s() > 2
    a.rest.max_gate_wait_s = 0.5  # a caller that cannot wait is refused at once, nothing is sent
    with pytest.raises(RateLimited):
        await a.place_order(_limit("rl-1", Side.BUY, "0.01", _below_bid(sim)))
    a.rest.gate.blocked_until = 0.0  # (the simulator's fault was one-shot)
    assert await _sim_orders(a) == []
    # 418 (IP ban) is the same, with its own Retry-After
    sim.exchange.faults.inject_http(HttpFault.IP_BAN, V, retry_after_s=7)
    with pytest.raises(RateLimited) as err:
        await a.fetch_open_orders(SYM)
    assert err.value.retry_after_s == 7 and a.rest.gate.bans == 2 and a.rest.gate.wait_s() > 6


async def test_lost_order_answers_are_outcome_unknown(spot, sim):  # noqa: F811
    a, _ = spot
    faults = sim.exchange.faults
    faults.inject_http(HttpFault.SERVER_ERROR, V, status=503, paths=ORDER_PLACEMENT_PATHS)
    with pytest.raises(OutcomeUnknown):
        await a.place_order(_limit("ou-1", Side.BUY, "0.01", _below_bid(sim)))
    # the order was executed, then the answer lost: unknown outcome, and the order exists
    faults.inject_http(HttpFault.DROP_RESPONSE, V, paths=ORDER_PLACEMENT_PATHS)
    with pytest.raises(OutcomeUnknown):
        await a.place_order(_limit("ou-2", Side.BUY, "0.01", _below_bid(sim)))
    found = await a.fetch_order(SYM, "ou-2")
    assert found is not None and found.order.status is OrderStatus.NEW
    assert sorted(o["clientOrderId"] for o in await _sim_orders(a)) == ["ou-2"]
    # reads are retried: one 503 on GET account is invisible to the caller
    faults.inject_http(HttpFault.SERVER_ERROR, V, status=503, paths={"GET /api/v3/account"})
    assert {b.asset for b in await a.fetch_balances()} >= {"BTC", "USDT"}
    assert faults.injected.get("server_error") == 2
    # a read that keeps failing is a VenueError, not OutcomeUnknown (nothing to reconcile)
    faults.inject_http(HttpFault.SERVER_ERROR, V, status=503, count=5, paths={"GET /api/v3/account"})
    with pytest.raises(VenueError) as err:
        await a.fetch_balances()
    assert not isinstance(err.value, OutcomeUnknown)


async def test_errors_never_show_signatures_or_secrets(spot, sim):  # noqa: F811
    a, _ = spot
    a.rest.retry_backoff_s = 0.01
    # a gateway 502 (HTML body) on a signed GET, whose URL carries the signature
    sim.exchange.faults.inject_http(HttpFault.SERVER_ERROR, V, status=502, count=3)
    with pytest.raises(VenueError) as err:
        await a.fetch_open_orders(SYM)
    text = f"{err.value} {err.value!r} {err.value.__context__!r}"
    assert "502" in text and "signature=" not in text
    assert a.config.credentials is not None and a.config.credentials.secret not in text + repr(a.config)


async def test_bad_credentials_are_auth_failed(sim):  # noqa: F811
    cfg = venue_config(sim, V)
    assert cfg.credentials is not None
    cfg = dataclasses.replace(cfg, credentials=ApiCredentials(cfg.credentials.key, "0" * 64))
    a = BinanceSpotAdapter(cfg, lambda e: None)
    try:
        await a.start()
        with pytest.raises(AuthFailed) as err:
            await a.fetch_balances()
        assert err.value.code == -1022 and "0" * 64 not in str(err.value)
        with pytest.raises(AuthFailed):  # the user-stream subscription is refused as well
            await a.watch_user()
    finally:
        await a.close()


# ---------------------------------------------------------------------- user stream


async def test_user_stream_resubscribes_after_a_drop(spot, sim):  # noqa: F811
    a, ev = spot
    await a.watch_user()
    assert a.user_subscriptions == 1
    n = len(ev)
    sim.exchange.faults.inject_stream(StreamFault.DROP, V)
    user_id = f"{V}:user"

    def resubscribed() -> bool:
        return any(
            e.kind is StreamKind.USER and e.status.detail == "resubscribed"
            for e in Events(ev[n:]).of(FeedEvent)
        )

    await wait_for(resubscribed, what="user stream resubscribed")
    assert FeedState.RECONNECTING in Events(ev[n:]).feed_states(user_id)
    assert a.user_subscriptions == 2
    await a.place_order(_limit("us-1", Side.BUY, "0.01", _below_bid(sim)))
    await wait_for(
        lambda: any(
            r.source is ReportSource.STREAM and r.order.client_id == "us-1" for r in ev.of(OrderReport)
        ),
        what="executionReport after reconnect",
    )


async def test_a_user_reconnect_cues_one_reconcile_not_two(spot, sim):  # noqa: F811
    """The OMS reconciles (openOrders 80 + myTrades 20 + account 20 request weight) each time a
    USER feed id comes back LIVE. The stream's single key ("user") mirrors the connection; shown
    as a second USER feed it cued a second reconcile per reconnect, which made the soak's
    Binance spot drops wait for the weight budget."""
    a, ev = spot
    await a.watch_user()
    mark = len(ev)
    sim.exchange.faults.inject_stream(StreamFault.DROP, V)
    await wait_for(lambda: a.user_subscriptions == 2, what="resubscribed")
    # the first frame on the new socket brings the stream's own LIVE (an executionReport here)
    await a.place_order(_limit("one-cue", Side.BUY, "0.01", _below_bid(sim)))
    await wait_for(
        lambda: any(
            r.source is ReportSource.STREAM and r.order.client_id == "one-cue" for r in ev.of(OrderReport)
        ),
        what="a frame on the new socket",
    )
    last: dict[str, FeedState] = {}
    cues = 0  # what OrderManager._on_feed counts: per stream id, a return to LIVE
    for i, e in enumerate(ev):
        if isinstance(e, FeedEvent) and e.kind is StreamKind.USER:
            prev, last[e.status.stream_id] = last.get(e.status.stream_id), e.status.state
            if i >= mark and e.status.state is FeedState.LIVE and prev not in (None, FeedState.LIVE):
                cues += 1
    assert cues == 1, [
        (e.status.stream_id, e.status.state) for e in ev.of(FeedEvent) if e.kind is StreamKind.USER
    ]
    assert [sid for sid in a.feeds() if sid.startswith(f"{V}:user")] == [f"{V}:user"]
