"""BybitAdapter against the simulator over real sockets: instruments, book sync under faults,
candles, order lifecycle over REST + the private stream, local filter rejections, clock resync,
rate limits, and a private stream that survives a drop. Both categories where it matters."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from decimal import Decimal

import pytest

from terminal.model import (
    FeedState,
    InstrumentKind,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    Venue,
)
from terminal.sim.faults import HttpFault, StreamFault
from terminal.sim.server import RunningSim
from terminal.venues.bybit import BybitAdapter
from terminal.venues.errors import (
    ClockSkew,
    FilterRejected,
    OrderNotFound,
    OrderRejected,
    OutcomeUnknown,
    RateLimited,
)
from terminal.venues.events import (
    BookUpdated,
    CandleEvent,
    FeedEvent,
    FillEvent,
    OrderReport,
    PositionsEvent,
    PublicTradeEvent,
    ReportSource,
    StreamKind,
    TickerEvent,
)
from terminal.venues.ws import Backoff
from tests.venues.bybit_support import (
    Recorder,
    adapter_for,
    churn,
    config_for,
    market,
    running_sim,
    wait_for,
)

pytestmark = pytest.mark.timeout(60)

SYMBOL = "BTCUSDT"
BOTH = [Venue.BYBIT_SPOT, Venue.BYBIT_LINEAR]
_ids = iter(range(1, 1_000_000))


def cid(tag: str) -> str:
    return f"t-{tag}-{next(_ids)}"


def book_matches(adapter: BybitAdapter, sim: RunningSim, venue: Venue, depth: int = 50) -> bool:
    """The adapter's local book equals the simulator's top ``depth`` levels exactly."""
    local = adapter.book(SYMBOL)
    if local is None or not local.is_live:
        return False
    m = market(sim, venue)
    inst = m.instruments[SYMBOL]
    _, bids, asks = m.depth(SYMBOL, depth)
    snap = local.snapshot(depth)
    want_b = [(Decimal(inst.fmt_price(p)), Decimal(inst.fmt_qty(q))) for p, q in bids]
    want_a = [(Decimal(inst.fmt_price(p)), Decimal(inst.fmt_qty(q))) for p, q in asks]
    return [(lv.price, lv.qty) for lv in snap.bids] == want_b and [
        (lv.price, lv.qty) for lv in snap.asks
    ] == want_a


async def churn_and_match(adapter: BybitAdapter, sim: RunningSim, venue: Venue, rng: random.Random) -> None:
    m = market(sim, venue)
    for _ in range(4):
        churn(m, SYMBOL, rng, 20)
        await asyncio.sleep(0.05)
    await wait_for(lambda: book_matches(adapter, sim, venue), timeout=5, what="book equals the sim's")


# ---------------------------------------------------------------- reference data
@pytest.mark.parametrize("venue", BOTH)
async def test_instruments_and_clock(venue: Venue) -> None:
    async with running_sim() as sim, adapter_for(sim, venue) as adapter:
        inst = adapter.instrument(SYMBOL)
        sim_inst = market(sim, venue).instruments[SYMBOL]
        assert inst.kind is (
            InstrumentKind.SPOT if venue is Venue.BYBIT_SPOT else InstrumentKind.LINEAR_PERPETUAL
        )
        assert inst.tick_size == Decimal(sim_inst.fmt_price(1))
        assert inst.step_size == Decimal(sim_inst.fmt_qty(1))
        assert inst.min_qty > 0 and inst.min_notional > 0
        assert adapter.rest.time_syncs == 1 and abs(adapter.rest.offset_ms) < 1000
        assert set(adapter.instruments) == set(market(sim, venue).instruments)


# ---------------------------------------------------------------- market data
@pytest.mark.parametrize("venue", BOTH)
async def test_book_syncs_and_heals_after_gap_drop_and_reset(venue: Venue) -> None:
    rec = Recorder()
    async with running_sim() as sim, adapter_for(sim, venue, rec) as adapter:
        faults = sim.exchange.faults
        rng = random.Random(7)
        await adapter.watch_market(SYMBOL, trades=True, candles=("1m",), tickers=True)
        await churn_and_match(adapter, sim, venue, rng)
        assert rec.of(BookUpdated)[0].resynced
        assert rec.feed_states(StreamKind.MARKET, SYMBOL)[-1] is FeedState.LIVE

        # GAP: one delta skipped -> RESYNCING, fresh snapshot via unsubscribe+subscribe -> LIVE
        mark = len(rec.events)
        faults.inject_stream(StreamFault.GAP, venue, symbol=SYMBOL)
        await churn_and_match(adapter, sim, venue, rng)
        states = rec.feed_states(StreamKind.MARKET, SYMBOL, mark)
        assert FeedState.RESYNCING in states, states
        assert states[states.index(FeedState.RESYNCING) :].count(FeedState.LIVE) >= 1
        assert any(e.resynced for e in rec.events[mark:] if isinstance(e, BookUpdated))

        # BOOK_RESET: a u=1 snapshot mid-stream simply resets the book; no gap declared
        mark = len(rec.events)
        faults.inject_stream(StreamFault.BOOK_RESET, venue, symbol=SYMBOL)
        await churn_and_match(adapter, sim, venue, rng)
        assert FeedState.RESYNCING not in rec.feed_states(StreamKind.MARKET, SYMBOL, mark)
        assert any(e.resynced and e.update_id == 1 for e in rec.events[mark:] if isinstance(e, BookUpdated))

        # DROP: TCP abort -> RECONNECTING, reconnect, resubscribe, snapshot -> LIVE and exact again
        mark = len(rec.events)
        connects = adapter._public.connects  # type: ignore[union-attr]
        faults.inject_stream(StreamFault.DROP, venue)
        await wait_for(lambda: adapter._public.connects > connects, what="reconnect")  # type: ignore[union-attr]
        await churn_and_match(adapter, sim, venue, rng)
        states = rec.feed_states(StreamKind.MARKET, start=mark)
        assert FeedState.RECONNECTING in states and states[-1] is FeedState.LIVE, states
        book_states = [
            e.status.state
            for e in rec.events[mark:]
            if isinstance(e, FeedEvent) and e.status.stream_id.endswith(f":book:{SYMBOL}")
        ]
        assert book_states == [FeedState.RESYNCING, FeedState.LIVE], book_states


@pytest.mark.parametrize("venue", BOTH)
async def test_trades_tickers_and_candles(venue: Venue) -> None:
    rec = Recorder()
    async with running_sim() as sim, adapter_for(sim, venue, rec) as adapter:
        await adapter.watch_market(SYMBOL, book=False, candles=("1m",))
        m = market(sim, venue)
        m.mm_take(SYMBOL, Side.BUY, 3)
        trade = (await wait_for(lambda: rec.of(PublicTradeEvent), what="trade"))[0].trade
        assert trade.symbol == SYMBOL and trade.taker_side is Side.BUY and trade.qty > 0
        ticker = (await wait_for(lambda: rec.of(TickerEvent), what="ticker"))[-1].ticker
        assert ticker.symbol == SYMBOL and ticker.last > 0
        candle = (await wait_for(lambda: rec.of(CandleEvent), what="candle"))[-1].candle
        assert candle.interval == "1m" and not candle.closed  # forming bar: confirm=false

        candles = await adapter.fetch_candles(SYMBOL, "1m", limit=50)
        assert len(candles) == 50
        assert all(a.open_time < b.open_time for a, b in itertools.pairwise(candles))
        assert all(c.closed for c in candles[:-1]) and not candles[-1].closed  # forming bar last
        hours = await adapter.fetch_candles(SYMBOL, "1h", limit=3)
        assert [c.interval for c in hours] == ["1h"] * 3
        assert hours[1].open_time - hours[0].open_time == 3_600_000

        await adapter.unwatch_market(SYMBOL)
        await asyncio.sleep(0.2)  # let the unsubscribe ack land
        seen = len(rec.of(PublicTradeEvent))
        m.mm_take(SYMBOL, Side.SELL, 2)
        await asyncio.sleep(0.3)
        assert len(rec.of(PublicTradeEvent)) == seen and adapter.book(SYMBOL) is None


async def test_candle_closes_exactly_on_confirm() -> None:
    """A bar is reported closed only by the confirm=true message (forced here by making the
    simulator's kline topic believe the minute rolled, which sends the real closing frame)."""
    from terminal.sim.bybit_ws import WS_KEY

    rec = Recorder()
    async with running_sim() as sim, adapter_for(sim, Venue.BYBIT_LINEAR, rec) as adapter:
        if time.time() % 60 > 57:  # keep a natural bar close out of the first assertion
            await asyncio.sleep(61 - time.time() % 60)
        await adapter.watch_market(SYMBOL, book=False, trades=False, tickers=False, candles=("1m",))
        await wait_for(lambda: rec.of(CandleEvent), what="first candle")
        assert not any(e.candle.closed for e in rec.of(CandleEvent))
        topic = sim.runner.app[WS_KEY].public["linear"].topics[f"kline.1.{SYMBOL}"]
        forming = rec.of(CandleEvent)[-1].candle
        topic.open_ms = forming.open_time - 60_000  # type: ignore[attr-defined]
        # (a real minute boundary during the test adds its own confirm=true bar: also closed)
        forced = await wait_for(
            lambda: [
                e.candle
                for e in rec.of(CandleEvent)
                if e.candle.closed and e.candle.open_time == forming.open_time - 60_000
            ],
            what="the confirm=true bar",
        )
        assert len(forced) == 1 and forced[0].close_time == forming.open_time - 1
        closed = [e.candle for e in rec.of(CandleEvent) if e.candle.closed]
        assert all(c.open_time < e.candle.open_time for c in closed for e in rec.of(CandleEvent)[-1:])


# ---------------------------------------------------------------- orders and the private stream
def resting_buy(adapter: BybitAdapter, sim: RunningSim, venue: Venue, client_id: str, **kw: object) -> Order:
    """A limit buy well below the touch, sized to twice the minimum notional."""
    inst = adapter.instrument(SYMBOL)
    m = market(sim, venue)
    sim_inst = m.instruments[SYMBOL]
    price = Decimal(sim_inst.fmt_price(m.books[SYMBOL].best_bid() - 200))
    from terminal.model import RoundingMode

    qty = max(inst.min_qty, inst.round_qty(inst.min_notional * 2 / price, RoundingMode.UP))
    return Order.new(client_id, venue, SYMBOL, Side.BUY, OrderType.LIMIT, qty, price, **kw)


def market_order(adapter: BybitAdapter, sim: RunningSim, venue: Venue, client_id: str, side: Side) -> Order:
    inst = adapter.instrument(SYMBOL)
    m = market(sim, venue)
    price = Decimal(m.instruments[SYMBOL].fmt_price(m.books[SYMBOL].best_ask()))
    from terminal.model import RoundingMode

    qty = max(inst.min_qty, inst.round_qty(inst.min_notional * 2 / price, RoundingMode.UP))
    return Order.new(client_id, venue, SYMBOL, side, OrderType.MARKET, qty)


def stream_reports(rec: Recorder, client_id: str) -> list[OrderReport]:
    return [e for e in rec.of(OrderReport) if e.order.client_id == client_id]


@pytest.mark.parametrize("venue", BOTH)
async def test_limit_order_new_then_cancel(venue: Venue) -> None:
    rec = Recorder()
    async with running_sim() as sim, adapter_for(sim, venue, rec) as adapter:
        await adapter.watch_user()
        order = resting_buy(adapter, sim, venue, cid("lim"))
        report = await adapter.place_order(order)
        assert report.source is ReportSource.REST
        assert report.order.status is OrderStatus.NEW and report.order.venue_order_id
        assert (report.order.price, report.order.qty) == (order.price, order.qty)
        await wait_for(lambda: stream_reports(rec, order.client_id), what="stream NEW")
        assert stream_reports(rec, order.client_id)[0].order.status is OrderStatus.NEW
        assert stream_reports(rec, order.client_id)[0].source is ReportSource.STREAM
        assert [r.order.client_id for r in await adapter.fetch_open_orders(SYMBOL)] == [order.client_id]
        assert [r.order.client_id for r in await adapter.fetch_open_orders()] == [order.client_id]

        canceled = await adapter.cancel_order(SYMBOL, order.client_id)
        assert canceled.order.status is OrderStatus.CANCELED
        await wait_for(
            lambda: any(r.order.status is OrderStatus.CANCELED for r in stream_reports(rec, order.client_id)),
            what="stream CANCELED",
        )
        fetched = await adapter.fetch_order(SYMBOL, order.client_id)
        assert fetched is not None and fetched.order.status is OrderStatus.CANCELED
        assert await adapter.fetch_open_orders(SYMBOL) == []
        with pytest.raises(OrderNotFound):
            await adapter.cancel_order(SYMBOL, order.client_id)
        assert await adapter.fetch_order(SYMBOL, "never-sent") is None

        # post-only that would cross is refused by the venue: OrderRejected with its code
        m = market(sim, venue)
        ask = Decimal(m.instruments[SYMBOL].fmt_price(m.books[SYMBOL].best_ask()))
        cross = resting_buy(adapter, sim, venue, cid("po"), tif=TimeInForce.POST_ONLY, post_only=True)
        cross = Order.new(
            cross.client_id, venue, SYMBOL, Side.BUY, OrderType.LIMIT, cross.qty, ask, post_only=True
        )
        report = await adapter.place_order(cross)
        assert report.order.post_only and report.order.status in (OrderStatus.CANCELED, OrderStatus.REJECTED)


@pytest.mark.parametrize("venue", BOTH)
async def test_market_order_fills_with_fee_and_position(venue: Venue) -> None:
    rec = Recorder()
    async with running_sim() as sim, adapter_for(sim, venue, rec) as adapter:
        await adapter.watch_user()
        before = {b.asset: b for b in await adapter.fetch_balances()}
        order = market_order(adapter, sim, venue, cid("mkt"), Side.BUY)
        report = await adapter.place_order(order)
        assert report.order.status is OrderStatus.FILLED and report.order.filled_qty == order.qty
        fills = await wait_for(
            lambda: [f.fill for f in rec.of(FillEvent) if f.fill.client_id == order.client_id]
        )
        fill = fills[0]
        assert fill.side is Side.BUY and fill.fee > 0 and not fill.is_maker and fill.trade_id
        assert fill.fee_asset == ("BTC" if venue is Venue.BYBIT_SPOT else "USDT")
        assert sum(f.qty for f in fills) == order.qty
        await wait_for(
            lambda: any(r.order.status is OrderStatus.FILLED for r in stream_reports(rec, order.client_id)),
            what="stream FILLED",
        )
        rest_fills = await adapter.fetch_fills(SYMBOL)
        assert {f.trade_id for f in fills} <= {f.trade_id for f in rest_fills}
        assert all(f.fee_asset == fill.fee_asset for f in rest_fills)
        after = {b.asset: b for b in await adapter.fetch_balances()}
        assert after["USDT"].total < before["USDT"].total or after["USDT"].locked > before["USDT"].locked
        if venue is Venue.BYBIT_LINEAR:
            pos = await wait_for(
                lambda: [p for e in rec.of(PositionsEvent) for p in e.positions], what="position"
            )
            assert pos[-1].qty == order.qty and pos[-1].entry_price > 0
            [rest_pos] = await adapter.fetch_positions()
            assert (rest_pos.qty == order.qty and rest_pos.liquidation_price is None) or rest_pos.qty > 0
            assert rest_pos.leverage > 0 and rest_pos.mark_price is not None
            await adapter.set_leverage(SYMBOL, Decimal(5))
            await adapter.set_leverage(SYMBOL, Decimal(5))  # unchanged: not an error
            [lev] = await adapter.fetch_positions()
            assert lev.leverage == 5
        else:
            assert await adapter.fetch_positions() == []


@pytest.mark.parametrize("venue", BOTH)
async def test_filter_rejections_never_reach_the_venue(venue: Venue) -> None:
    async with running_sim() as sim, adapter_for(sim, venue) as adapter:
        inst = adapter.instrument(SYMBOL)
        good = resting_buy(adapter, sim, venue, cid("f"))
        bad_tick = Order.new(
            cid("tick"), venue, SYMBOL, Side.BUY, OrderType.LIMIT, good.qty, good.price + inst.tick_size / 3
        )  # type: ignore[operator]
        bad_step = Order.new(
            cid("step"), venue, SYMBOL, Side.BUY, OrderType.LIMIT, good.qty + inst.step_size / 3, good.price
        )
        tiny = max(inst.min_qty, inst.step_size)
        low_notional = Order.new(
            cid("notional"), venue, SYMBOL, Side.BUY, OrderType.LIMIT, tiny, inst.tick_size * 10
        )
        # A tripwire: any order/create request that reached the simulator would consume this fault.
        faults = sim.exchange.faults
        faults.inject_http(HttpFault.RATE_LIMIT, venue, paths={"POST /v5/order/create"})
        for order, filt in (
            (bad_tick, "PRICE_FILTER"),
            (bad_step, "LOT_SIZE"),
            (low_notional, "MIN_NOTIONAL"),
        ):
            with pytest.raises(FilterRejected) as info:
                await adapter.place_order(order)
            assert filt in {v.filter for v in info.value.violations}, info.value
            assert await adapter.fetch_order(SYMBOL, order.client_id) is None
        assert "rate_limit" not in faults.injected  # the tripwire never struck: nothing was sent
        assert await adapter.fetch_open_orders() == []


async def test_timestamp_resync_retry_then_clock_skew() -> None:
    venue = Venue.BYBIT_LINEAR
    async with running_sim() as sim, adapter_for(sim, venue) as adapter:
        faults = sim.exchange.faults
        faults.inject_http(HttpFault.TIMESTAMP, venue, count=1)
        report = await adapter.place_order(resting_buy(adapter, sim, venue, cid("ts")))
        assert report.order.status is OrderStatus.NEW
        assert adapter.rest.time_syncs == 2  # start + one resync

        faults.inject_http(HttpFault.TIMESTAMP, venue, count=2)
        order = resting_buy(adapter, sim, venue, cid("skew"))
        with pytest.raises(ClockSkew) as info:
            await adapter.place_order(order)
        assert info.value.code == 10002 and adapter.rest.time_syncs == 3
        assert await adapter.fetch_order(SYMBOL, order.client_id) is None


async def test_rate_limit_and_ip_ban_raise_rate_limited() -> None:
    venue = Venue.BYBIT_SPOT
    async with running_sim() as sim, adapter_for(sim, venue) as adapter:
        faults = sim.exchange.faults
        faults.inject_http(HttpFault.RATE_LIMIT, venue, retry_after_s=1)
        with pytest.raises(RateLimited) as info:
            await adapter.place_order(resting_buy(adapter, sim, venue, cid("rl")))
        assert info.value.code == 10006 and 0.3 < info.value.retry_after_s <= 1.5
        assert adapter.gate.wait_s() > 0
        assert await adapter.fetch_balances()  # waits out the reset, then goes through

        faults.inject_http(HttpFault.IP_BAN, venue)
        with pytest.raises(RateLimited) as info:
            await adapter.fetch_balances()
        assert info.value.retry_after_s >= 60
        with pytest.raises(RateLimited):  # the gate refuses at once instead of hammering
            await adapter.fetch_balances()


async def test_transport_failures_on_orders_are_outcome_unknown() -> None:
    venue = Venue.BYBIT_LINEAR
    async with running_sim() as sim, adapter_for(sim, venue) as adapter:
        faults = sim.exchange.faults
        faults.inject_http(HttpFault.DROP_RESPONSE, venue, paths={"POST /v5/order/create"})
        order = resting_buy(adapter, sim, venue, cid("lost"))
        with pytest.raises(OutcomeUnknown) as info:
            await adapter.place_order(order)
        assert not isinstance(info.value, OrderRejected)
        found = await adapter.fetch_order(SYMBOL, order.client_id)  # it was executed after all
        assert found is not None and found.order.status is OrderStatus.NEW

        faults.inject_http(HttpFault.SERVER_ERROR, venue, paths={"POST /v5/order/create"})
        with pytest.raises(OutcomeUnknown):
            await adapter.place_order(resting_buy(adapter, sim, venue, cid("5xx")))
        # reads retry a bounded number of times
        faults.inject_http(HttpFault.SERVER_ERROR, venue, count=2, paths={"GET /v5/account/wallet-balance"})
        assert await adapter.fetch_balances()


async def test_private_stream_survives_drop() -> None:
    venue = Venue.BYBIT_LINEAR
    rec = Recorder()
    async with running_sim() as sim, adapter_for(sim, venue, rec) as adapter:
        await adapter.watch_user()
        assert rec.feed_states(StreamKind.USER) == [FeedState.CONNECTING, FeedState.LIVE]
        mark = len(rec.events)
        sim.exchange.faults.inject_stream(StreamFault.DROP, venue)
        await wait_for(lambda: adapter.user_subscriptions == 2, what="re-auth + resubscribe")
        states = rec.feed_states(StreamKind.USER, start=mark)
        assert FeedState.RECONNECTING in states and states[-1] is FeedState.LIVE, states
        order = resting_buy(adapter, sim, venue, cid("after-drop"))
        await adapter.place_order(order)
        await wait_for(lambda: stream_reports(rec, order.client_id), what="order event after the drop")


async def test_private_drop_right_after_a_resubscribe_still_leaves_live() -> None:
    """Two drops in a row, the second before the re-subscribed socket carried a frame: the
    user FeedStatus must leave LIVE for each (it went LIVE "resubscribed" with no outage in
    between when the socket layer swallowed the second loss - the flaky soak DROP)."""
    venue = Venue.BYBIT_SPOT
    rec = Recorder()
    async with running_sim() as sim:
        adapter = BybitAdapter(
            config_for(sim, venue, stale_after_s=5.0),
            rec,
            backoff=Backoff(base_s=0.0, cap_s=0.0),  # identical "retry in 0.00s" details
            ping_interval_s=1.0,  # the first pong comes 1 s after a subscribe: time for a drop
            heartbeat_s=2.0,
        )
        await adapter.start()
        try:
            await adapter.watch_user()
            for n in (2, 3):
                mark = len(rec.events)
                sim.exchange.faults.inject_stream(StreamFault.DROP, venue)
                await wait_for(lambda n=n: adapter.user_subscriptions == n, what=f"subscription {n}")
                states = rec.feed_states(StreamKind.USER, start=mark)
                assert states[0] is FeedState.RECONNECTING and states[-1] is FeedState.LIVE, (n, states)
        finally:
            await adapter.close()


async def test_conditional_order_is_untriggered_then_canceled() -> None:
    venue = Venue.BYBIT_LINEAR
    rec = Recorder()
    async with running_sim() as sim, adapter_for(sim, venue, rec) as adapter:
        await adapter.watch_user()
        m = market(sim, venue)
        inst = m.instruments[SYMBOL]
        trigger = Decimal(inst.fmt_price(m.books[SYMBOL].best_ask() + 500))  # buy stop above the market
        base = market_order(adapter, sim, venue, cid("stop"), Side.BUY)
        stop = Order.new(
            base.client_id, venue, SYMBOL, Side.BUY, OrderType.STOP_MARKET, base.qty, stop_price=trigger
        )
        report = await adapter.place_order(stop)
        assert report.order.status is OrderStatus.UNTRIGGERED, report
        assert (report.order.type, report.order.stop_price) == (OrderType.STOP_MARKET, trigger)
        canceled = await adapter.cancel_order(SYMBOL, stop.client_id)
        assert canceled.order.status is OrderStatus.CANCELED


async def test_foreign_ack_and_bad_credentials() -> None:
    """An ack with a req_id we never sent is tolerated (pybit's thread dies on it); a bad key is
    AuthFailed on REST and on the private stream, and the secret never shows in text."""
    from terminal.venues.base import ApiCredentials, Network, VenueConfig
    from terminal.venues.errors import AuthFailed

    venue = Venue.BYBIT_LINEAR
    rec = Recorder()
    async with running_sim() as sim, adapter_for(sim, venue, rec) as adapter:
        await adapter.watch_market(SYMBOL, book=False, trades=True, candles=(), tickers=False)
        ws = adapter._public_ws
        assert ws is not None
        await ws.send_str('{"op":"subscribe","req_id":"not-ours","args":["tickers.ETHUSDT"]}')
        connects = adapter._public.connects  # type: ignore[union-attr]
        market(sim, venue).mm_take(SYMBOL, Side.SELL, 2)
        await wait_for(lambda: rec.of(PublicTradeEvent), what="trade after a foreign ack")
        assert adapter._public.connects == connects  # type: ignore[union-attr]

        secret = "s3cr3t-value-never-shown"
        bad = VenueConfig(
            venue=venue,
            network=Network.CUSTOM,
            base_url=sim.url,
            credentials=ApiCredentials("bad-key", secret),
            request_timeout_s=3.0,
        )
        intruder = BybitAdapter(bad, Recorder())
        await intruder.start()
        try:
            with pytest.raises(AuthFailed) as info:
                await intruder.fetch_balances()
            assert info.value.code == 10003 and secret not in str(info.value)
            with pytest.raises(AuthFailed):
                await intruder.watch_user()
            assert secret not in repr(intruder.rest) and secret not in repr(bad)
        finally:
            await intruder.close()
