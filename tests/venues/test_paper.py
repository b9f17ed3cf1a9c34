"""PaperBroker over real sockets: the simulator's public streams through the real venue adapters
(BinanceSpotAdapter; BybitAdapter for linear), built without credentials, with simulated fills,
balances and positions on top.

The simulator runs without its generator, so the book only moves when a test moves it (via the
simulator's own market-maker calls, which publish depth diffs and trade prints like any flow).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

from terminal.model import FeedState, Order, OrderStatus, OrderType, Side, Venue
from terminal.sim.server import RunningSim, SimConfig, start_sim
from terminal.venues.base import Network, VenueAdapter, VenueConfig
from terminal.venues.errors import FilterRejected, OrderNotFound
from terminal.venues.events import (
    BalancesEvent,
    BookUpdated,
    EventSink,
    FeedEvent,
    FillEvent,
    OrderReport,
    ReportSource,
    StreamKind,
    VenueEvent,
)
from terminal.venues.paper import PaperAccountConfig, PaperBroker

pytestmark = pytest.mark.timeout(30)

D = Decimal
SYM = "BTCUSDT"
FEE = D("0.001")


async def wait_for(pred: Callable[[], bool], timeout: float = 8.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    running = await start_sim(SimConfig(history_days=1, generator=False))
    try:
        yield running
    finally:
        await running.stop()


def data_factory(venue: Venue, sim: RunningSim) -> Callable[[EventSink], VenueAdapter]:
    """The real adapter for ``venue``, market data only; skips while it does not exist yet."""
    config = VenueConfig(venue, Network.CUSTOM, base_url=sim.url, stale_after_s=5.0)
    if venue is Venue.BINANCE_SPOT:
        mod = pytest.importorskip("terminal.venues.binance.spot", reason="BinanceSpotAdapter not available")
        return lambda sink: mod.BinanceSpotAdapter(config, sink)
    mod = pytest.importorskip("terminal.venues.bybit.adapter", reason="BybitAdapter not available")
    return lambda sink: mod.BybitAdapter(config, sink)


class Rig:
    def __init__(self, sim: RunningSim, venue: Venue = Venue.BINANCE_SPOT, leverage: str = "1") -> None:
        self.sim = sim
        self.venue = venue
        self.events: list[VenueEvent] = []
        self.market = sim.exchange.markets[venue]
        account = PaperAccountConfig(
            {"USDT": D("10000"), "BTC": D("0")}, maker_fee=FEE, taker_fee=FEE, leverage=D(leverage)
        )
        self.broker = PaperBroker(data_factory(venue, sim), account, self.events.append)
        self.n = 0

    async def start(self) -> None:
        await self.broker.start()
        await self.broker.watch_market(SYM)
        await wait_for(lambda: (b := self.broker.book(SYM)) is not None and b.is_live, what="live book")

    def order(self, side: Side, type_: OrderType, qty: str, price: str | None = None, **kw: object) -> Order:
        self.n += 1
        return Order.new(f"paper{self.n}", self.venue, SYM, side, type_, qty, price, **kw)

    def of(self, cls: type) -> list:
        return [e for e in self.events if isinstance(e, cls)]

    def sim_order_count(self) -> int:
        return len(self.market.orders)

    def sim_book(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        inst = self.market.instruments[SYM]
        _, bids, asks = self.market.depth(SYM, 50)
        conv = (
            [(inst.price(t), inst.qty(lots)) for t, lots in bids],
            [(inst.price(t), inst.qty(lots)) for t, lots in asks],
        )
        return conv

    async def synced(self) -> None:
        """The local book equals the simulator's again (the move's depth diff arrived)."""

        def same() -> bool:
            b = self.broker.book(SYM)
            if b is None or not b.is_live:
                return False
            snap = b.snapshot(50)
            sb, sa = self.sim_book()
            return [(lv.price, lv.qty) for lv in snap.bids] == sb and [
                (lv.price, lv.qty) for lv in snap.asks
            ] == sa

        await wait_for(same, what="local book == sim book")


@pytest.fixture
async def rig(sim: RunningSim) -> AsyncIterator[Rig]:
    r = Rig(sim)
    try:
        await r.start()
        yield r
    finally:
        await r.broker.close()


async def test_market_buy_fills_at_live_book_prices_and_never_reaches_the_venue(rig: Rig) -> None:
    await rig.broker.watch_user()
    user = [e for e in rig.of(FeedEvent) if e.kind is StreamKind.USER]
    assert user and user[-1].status.state is FeedState.LIVE
    assert any(s.state is FeedState.LIVE for s in rig.broker.feeds().values())
    await rig.synced()
    book = rig.broker.book(SYM)
    assert book is not None
    asks_now = {lv.price: lv.qty for lv in book.snapshot(50).asks}  # the book at this moment
    best = min(asks_now)
    inst = rig.broker.instrument(SYM)
    # Enough to walk past the best level (slippage), small enough for the account.
    qty = inst.round_qty(asks_now[best] + inst.step_size * 3)
    before = {b.asset: b for b in await rig.broker.fetch_balances()}

    rep = await rig.broker.place_order(rig.order(Side.BUY, OrderType.MARKET, str(qty)))

    assert rep.source is ReportSource.REST and rep.order.status is OrderStatus.FILLED
    fills = [e.fill for e in rig.of(FillEvent)]
    assert len(fills) >= 2 and sum(f.qty for f in fills) == qty
    for f in fills:
        assert f.price in asks_now and f.qty <= asks_now[f.price]  # only prices that were in the book
        assert not f.is_maker and f.fee == (f.price * f.qty * FEE).quantize(D("1e-8"))
    assert fills[0].price == best and fills[-1].price > best  # the slippage is visible
    cost = sum(f.price * f.qty for f in fills)
    fee = sum(f.fee for f in fills)
    after = {b.asset: b for b in await rig.broker.fetch_balances()}
    assert after["USDT"].free == before["USDT"].free - cost - fee
    assert after["BTC"].free == before["BTC"].free + qty
    assert rep.order.avg_price == cost / qty
    assert rig.of(BalancesEvent)[-1].balances
    # Nothing was sent: the simulator holds no order, and its own book is untouched.
    assert rig.sim_order_count() == 0
    assert list(rig.market.accounts) == []  # no account was ever touched (no signed request)
    assert (await rig.broker.fetch_order(SYM, rep.order.client_id)) is not None
    assert [f.trade_id for f in await rig.broker.fetch_fills(SYM)] == [f.trade_id for f in fills]


async def test_limit_rests_then_fills_when_the_live_book_crosses_it(rig: Rig) -> None:
    await rig.synced()
    book = rig.broker.book(SYM)
    assert book is not None
    inst = rig.broker.instrument(SYM)
    bid = book.best_bid()
    assert bid is not None
    price = bid.price - inst.tick_size * 5  # below the touch: rests
    rep = await rig.broker.place_order(rig.order(Side.BUY, OrderType.LIMIT, "0.01", str(price)))
    assert rep.order.status is OrderStatus.NEW
    assert [r.order.client_id for r in await rig.broker.fetch_open_orders(SYM)] == [rep.order.client_id]
    usdt = (await rig.broker.fetch_balances())[-1]
    assert usdt.asset == "USDT" and usdt.locked == price * D("0.01") * (1 + FEE)
    # Another participant sells down to our price; whatever rests there crosses our bid.
    sim_inst = rig.market.instruments[SYM]
    rig.market.mm_add(SYM, Side.SELL, sim_inst.ticks(price), sim_inst.lots(D("1")))
    await wait_for(lambda: rig.broker.engine.order(rep.order.client_id).status is OrderStatus.FILLED)  # type: ignore[union-attr]
    fill = rig.of(FillEvent)[-1].fill
    assert fill.price == price and fill.is_maker and fill.qty == D("0.01")
    assert fill.fee == (price * D("0.01") * FEE).quantize(D("1e-8"))
    btc = {b.asset: b for b in await rig.broker.fetch_balances()}
    assert btc["BTC"].free == D("0.01") and btc["USDT"].locked == 0
    assert btc["USDT"].free == D("10000") - price * D("0.01") - fill.fee
    assert rig.sim_order_count() == 0


async def test_resting_sell_fills_on_a_print_through_it_and_cancel_works(rig: Rig) -> None:
    # Buy some BTC first (a market order against the live book).
    await rig.broker.place_order(rig.order(Side.BUY, OrderType.MARKET, "0.02"))
    book = rig.broker.book(SYM)
    assert book is not None
    inst = rig.broker.instrument(SYM)
    ask = book.best_ask()
    assert ask is not None
    far = await rig.broker.place_order(rig.order(Side.SELL, OrderType.LIMIT, "0.01", str(ask.price * 2)))
    near_price = ask.price + inst.tick_size
    near = await rig.broker.place_order(rig.order(Side.SELL, OrderType.LIMIT, "0.01", str(near_price)))
    # A buyer sweeps the asks: the prints go through our price.
    sim_inst = rig.market.instruments[SYM]
    lots = sum(q for _, q in rig.market.depth(SYM, 5)[2])
    rig.market.mm_take(SYM, Side.BUY, lots)
    await wait_for(lambda: rig.broker.engine.order(near.order.client_id).status is OrderStatus.FILLED)  # type: ignore[union-attr]
    assert rig.of(FillEvent)[-1].fill.price == near_price
    assert sim_inst is not None
    rep = await rig.broker.cancel_order(SYM, far.order.client_id)
    assert rep.order.status is OrderStatus.CANCELED
    assert [r.order.status for r in rig.of(OrderReport) if r.order.client_id == far.order.client_id][-1] is (
        OrderStatus.CANCELED
    )
    with pytest.raises(OrderNotFound):
        await rig.broker.cancel_order(SYM, far.order.client_id)
    balances = {b.asset: b for b in await rig.broker.fetch_balances()}
    assert balances["BTC"].locked == 0 and balances["BTC"].free == D("0.01")
    assert rig.sim_order_count() == 0


async def test_filter_rejected_before_anything_happens(rig: Rig) -> None:
    inst = rig.broker.instrument(SYM)
    bad_qty = str(inst.step_size / 2)
    n_events = len(rig.of(OrderReport))
    with pytest.raises(FilterRejected):
        await rig.broker.place_order(rig.order(Side.BUY, OrderType.MARKET, bad_qty))
    assert len(rig.of(OrderReport)) == n_events
    assert await rig.broker.fetch_open_orders() == []
    candles = await rig.broker.fetch_candles(SYM, "1m", limit=5)
    assert 0 < len(candles) <= 5
    assert rig.of(BookUpdated)  # market data is forwarded to the outer sink unchanged


async def test_linear_position_pnl_and_margin_on_bybit_data(sim: RunningSim) -> None:
    rig = Rig(sim, Venue.BYBIT_LINEAR, leverage="10")
    try:
        await rig.start()
        await rig.synced()
        book = rig.broker.book(SYM)
        assert book is not None and rig.broker.capabilities.positions
        asks_now = {lv.price: lv.qty for lv in book.snapshot(50).asks}
        inst = rig.broker.instrument(SYM)
        qty = asks_now[min(asks_now)] + inst.step_size  # two levels: some slippage
        await rig.broker.place_order(rig.order(Side.BUY, OrderType.MARKET, str(qty)))
        opened = [e.fill for e in rig.of(FillEvent)]
        assert all(f.price in asks_now and f.qty <= asks_now[f.price] for f in opened)
        (pos,) = await rig.broker.fetch_positions()
        cost = sum(f.price * f.qty for f in opened)
        assert pos.qty == qty and pos.entry_price == cost / qty
        usdt = (await rig.broker.fetch_balances())[-1]
        fee_open = sum(f.fee for f in opened)
        assert usdt.locked == cost / 10 and usdt.total == D("10000") - fee_open
        # Buyers lift the offers: the bid side moves up, and we sell into it.
        sim_inst = rig.market.instruments[SYM]
        top = sim_inst.ticks(max(asks_now)) + 10
        swept = sum(lots for t, lots in rig.market.depth(SYM, 5000)[2] if t <= top)
        rig.market.mm_add(SYM, Side.BUY, top, swept + sim_inst.lots(qty))  # leaves a bid for all of us at top
        await rig.synced()
        bids_now = {lv.price: lv.qty for lv in book.snapshot(50).bids}
        rep = await rig.broker.place_order(rig.order(Side.SELL, OrderType.MARKET, str(qty), reduce_only=True))
        assert rep.order.status is OrderStatus.FILLED
        closed = [e.fill for e in rig.of(FillEvent)][len(opened) :]
        assert all(f.price in bids_now for f in closed)
        realized = sum(f.realized_pnl or 0 for f in closed)
        assert realized == (sum(f.price * f.qty for f in closed) - cost).quantize(D("1e-8")) and realized > 0
        assert await rig.broker.fetch_positions() == []
        usdt = (await rig.broker.fetch_balances())[-1]
        fees = fee_open + sum(f.fee for f in closed)
        assert usdt.locked == 0 and usdt.free == D("10000") + realized - fees
        assert rig.sim_order_count() == 0
    finally:
        await rig.broker.close()


async def test_stop_market_triggers_on_a_live_print_and_sells_into_the_book(rig: Rig) -> None:
    await rig.broker.place_order(rig.order(Side.BUY, OrderType.MARKET, "0.01"))
    book = rig.broker.book(SYM)
    assert book is not None
    inst = rig.broker.instrument(SYM)
    bid = book.best_bid()
    assert bid is not None
    stop = bid.price - inst.tick_size * 3
    rep = await rig.broker.place_order(
        rig.order(Side.SELL, OrderType.STOP_MARKET, "0.01", stop_price=str(stop))
    )
    assert rep.order.status is OrderStatus.UNTRIGGERED
    # A seller hits the bids down through the stop: public prints at and below it.
    sim_inst = rig.market.instruments[SYM]
    bids = rig.market.depth(SYM, 1000)[1]
    above = [q for t, q in bids if t >= sim_inst.ticks(stop)]
    lots = sum(above) + bids[len(above)][1]  # through the stop, into the first level below it
    rig.market.mm_take(SYM, Side.SELL, lots)
    cid = rep.order.client_id
    await wait_for(lambda: rig.broker.engine.order(cid).status is OrderStatus.FILLED)  # type: ignore[union-attr]
    statuses = [r.order.status for r in rig.of(OrderReport) if r.order.client_id == cid]
    assert statuses == [OrderStatus.UNTRIGGERED, OrderStatus.NEW, OrderStatus.FILLED]
    fill = rig.of(FillEvent)[-1].fill
    assert fill.client_id == cid and not fill.is_maker and fill.side is Side.SELL
    assert rig.sim_order_count() == 0


def test_a_data_adapter_with_keys_is_refused() -> None:
    mod = pytest.importorskip("terminal.venues.binance.spot", reason="BinanceSpotAdapter not available")
    from terminal.venues.base import ApiCredentials

    keyed = VenueConfig(
        Venue.BINANCE_SPOT,
        Network.CUSTOM,
        base_url="http://127.0.0.1:9",
        credentials=ApiCredentials("k", "s"),
    )
    account = PaperAccountConfig({"USDT": D("1")})
    with pytest.raises(ValueError, match="without credentials"):
        PaperBroker(lambda sink: mod.BinanceSpotAdapter(keyed, sink), account, lambda ev: None)
