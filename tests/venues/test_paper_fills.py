"""Paper matching and account core against real LocalBook instances (loaded via their own
on_snapshot/on_diff API): taker walks, resting fills, fees, locks and positions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from terminal.market.orderbook import BinanceFuturesBookSync, BinanceSpotBookSync, LocalBook
from terminal.model import (
    Instrument,
    InstrumentKind,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    Trade,
    Venue,
)
from terminal.venues.errors import OrderNotFound, OrderRejected
from terminal.venues.events import (
    BalancesEvent,
    FillEvent,
    OrderReport,
    PositionsEvent,
    ReportSource,
    VenueEvent,
)
from terminal.venues.paper_fills import PaperAccountConfig, PaperEngine

pytestmark = pytest.mark.timeout(10)

D = Decimal
SPOT = Instrument(
    Venue.BINANCE_SPOT, "BTCUSDT", "BTC", "USDT", InstrumentKind.SPOT, tick_size="0.1", step_size="0.001"
)
PERP = Instrument(
    Venue.BINANCE_USDM,
    "BTCUSDT",
    "BTC",
    "USDT",
    InstrumentKind.LINEAR_PERPETUAL,
    tick_size="0.1",
    step_size="0.001",
)
FEES = {"maker_fee": D("0.0002"), "taker_fee": D("0.0005")}


class Harness:
    def __init__(self, inst: Instrument, balances: dict[str, str], leverage: str = "1") -> None:
        self.inst = inst
        self.events: list[VenueEvent] = []
        self.now = 1_700_000_000_000
        if inst.is_derivative:
            self.book: LocalBook = BinanceFuturesBookSync(inst.symbol, inst.tick_size)
        else:
            self.book = BinanceSpotBookSync(inst.symbol, inst.tick_size)
        self.engine = PaperEngine(
            inst.venue,
            PaperAccountConfig({k: D(v) for k, v in balances.items()}, leverage=D(leverage), **FEES),
            self.events.append,
            clock_ms=lambda: self.now,
            book_of=lambda s: self.book if s == inst.symbol else None,
        )
        self.n = 0
        self.uid = 100

    def snapshot(self, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
        self.uid += 10
        assert (
            self.book.on_snapshot({"lastUpdateId": self.uid, "bids": bids, "asks": asks}).value == "APPLIED"
        )

    def diff(self, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
        msg = {"U": self.uid, "u": self.uid + 1, "pu": self.uid, "b": bids, "a": asks, "E": self.now}
        self.uid += 1
        assert self.book.on_diff(msg).value == "APPLIED"
        self.engine.on_book(self.inst.symbol)

    def trade(self, price: str, qty: str, taker: Side = Side.SELL) -> None:
        self.engine.on_trade(
            Trade(self.inst.venue, self.inst.symbol, self.n, D(price), D(qty), taker, self.now)
        )

    def order(self, side: Side, type_: OrderType, qty: str, price: str | None = None, **kw: object) -> Order:
        self.n += 1
        return Order.new(f"c{self.n}", self.inst.venue, self.inst.symbol, side, type_, qty, price, **kw)

    def place(self, *a: object, **kw: object) -> OrderReport:
        return self.engine.place(self.order(*a, **kw), self.inst)  # type: ignore[arg-type]

    def fills(self) -> list[tuple[Decimal, Decimal, bool]]:
        return [(e.fill.price, e.fill.qty, e.fill.is_maker) for e in self.events if isinstance(e, FillEvent)]

    def stream_statuses(self, client_id: str) -> list[OrderStatus]:
        return [
            e.order.status
            for e in self.events
            if isinstance(e, OrderReport)
            and e.order.client_id == client_id
            and e.source is ReportSource.STREAM
        ]

    def bal(self, asset: str) -> tuple[Decimal, Decimal]:
        b = self.engine.balance(asset)
        return b.free, b.locked


ASKS = [("100.0", "0.5"), ("100.1", "0.5"), ("100.5", "1")]
BIDS = [("99.9", "1"), ("99.5", "2")]


def spot(usdt: str = "10000", btc: str = "1") -> Harness:
    h = Harness(SPOT, {"USDT": usdt, "BTC": btc})
    h.snapshot(BIDS, ASKS)
    return h


def test_market_buy_walks_the_book_vwap_with_slippage_and_exact_balances() -> None:
    h = spot()
    rep = h.place(Side.BUY, OrderType.MARKET, "1.5")
    assert rep.source is ReportSource.REST and rep.order.status is OrderStatus.FILLED
    assert h.fills() == [
        (D("100.0"), D("0.5"), False),
        (D("100.1"), D("0.5"), False),
        (D("100.5"), D("0.5"), False),
    ]
    notional = D("100.0") * D("0.5") + D("100.1") * D("0.5") + D("100.5") * D("0.5")
    assert rep.order.avg_price == notional / D("1.5")
    fee = sum(e.fill.fee for e in h.events if isinstance(e, FillEvent))
    assert fee == (D("100.0") * D("0.5") * D("0.0005")) + D("0.025025") + D("0.025125")
    assert h.bal("USDT") == (D("10000") - notional - fee, D(0))
    assert h.bal("BTC") == (D("2.5"), D(0))
    assert h.stream_statuses("c1") == [
        OrderStatus.NEW,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
    ]
    vid = rep.order.venue_order_id
    assert vid is not None and vid.startswith("P")
    assert all(f.fee_asset == "USDT" and f.venue_order_id == vid for f in h.engine.fills("BTCUSDT"))
    assert len({f.trade_id for f in h.engine.fills("BTCUSDT")}) == 3
    # Balances are reported after the fills, as deltas of the touched assets.
    bal_events = [e for e in h.events if isinstance(e, BalancesEvent)]
    assert bal_events[-1].balances[1].free == h.bal("USDT")[0] and not bal_events[-1].snapshot


def test_market_sell_walks_bids() -> None:
    h = spot()
    rep = h.place(Side.SELL, OrderType.MARKET, "1")
    assert h.fills() == [(D("99.9"), D("1"), False)]
    assert rep.order.status is OrderStatus.FILLED
    assert h.bal("USDT")[0] == D("10000") + D("99.9") - D("0.04995")
    assert h.bal("BTC") == (D(0), D(0))


def test_thin_book_fills_what_is_there_and_expires_the_rest() -> None:
    h = spot(usdt="100000")
    rep = h.place(Side.BUY, OrderType.MARKET, "5")
    assert rep.order.status is OrderStatus.EXPIRED
    assert rep.order.filled_qty == D("2")
    book_prices = {D(p) for p, _ in ASKS}
    assert {p for p, _, _ in h.fills()} <= book_prices  # never a price that was not in the book
    assert "thin" in (rep.order.reason or "")
    assert h.engine.open_orders() == []


def test_taken_liquidity_is_not_taken_twice_until_the_level_changes() -> None:
    h = spot()
    h.place(Side.BUY, OrderType.MARKET, "0.4")
    h.place(Side.BUY, OrderType.MARKET, "0.4")
    assert h.fills() == [
        (D("100.0"), D("0.4"), False),
        (D("100.0"), D("0.1"), False),
        (D("100.1"), D("0.3"), False),
    ]
    h.diff([], [("100.0", "0.7")])  # the venue republishes the level: all of it is available again
    h.place(Side.BUY, OrderType.MARKET, "0.7")
    assert h.fills()[-1] == (D("100.0"), D("0.7"), False)


def test_market_order_without_a_book_or_funds_is_rejected() -> None:
    h = Harness(SPOT, {"USDT": "10"})
    with pytest.raises(OrderRejected, match="no live book"):
        h.place(Side.BUY, OrderType.MARKET, "0.01")
    h.snapshot(BIDS, ASKS)
    with pytest.raises(OrderRejected, match="insufficient balance"):
        h.place(Side.BUY, OrderType.MARKET, "1")
    with pytest.raises(OrderRejected, match="insufficient balance"):
        h.place(Side.SELL, OrderType.MARKET, "0.1")  # no BTC
    assert h.events == [] and h.bal("USDT") == (D("10"), D(0))


def test_post_only_rejects_if_it_would_take_and_rests_otherwise() -> None:
    h = spot()
    with pytest.raises(OrderRejected, match="post-only"):
        h.place(Side.BUY, OrderType.LIMIT, "0.1", "100.0", tif=TimeInForce.POST_ONLY)
    with pytest.raises(OrderRejected, match="post-only"):
        h.place(Side.SELL, OrderType.LIMIT, "0.1", "99.9", post_only=True)
    rep = h.place(Side.BUY, OrderType.LIMIT, "0.1", "99.9", tif=TimeInForce.POST_ONLY)
    assert rep.order.status is OrderStatus.NEW and h.fills() == []
    assert h.engine.order("c1") is None  # a rejected order leaves nothing behind


def test_limit_rests_with_locked_funds_then_fills_as_maker_when_the_book_crosses() -> None:
    h = spot()
    rep = h.place(Side.BUY, OrderType.LIMIT, "1", "99.0")
    assert rep.order.status is OrderStatus.NEW
    lock = D("99.0") + D("99.0") * D("0.0005")  # notional + the worst (taker) fee
    assert h.bal("USDT") == (D("10000") - lock, lock)
    # The market drops: a new ask below our price, a partial cross.
    h.diff([("99.9", "0"), ("99.5", "0"), ("98.5", "1")], [("98.9", "0.4"), ("100.0", "0")])
    assert h.fills() == [(D("99.0"), D("0.4"), True)]
    assert h.engine.order("c1").status is OrderStatus.PARTIALLY_FILLED  # type: ignore[union-attr]
    h.diff([], [("98.9", "0.4")])  # same level republished unchanged: nothing new to take
    assert len(h.fills()) == 1
    h.diff([], [("98.8", "2")])
    assert h.fills()[-1] == (D("99.0"), D("0.6"), True)
    assert h.engine.order("c1").status is OrderStatus.FILLED  # type: ignore[union-attr]
    fee = D("99.0") * D("0.4") * D("0.0002") + D("99.0") * D("0.6") * D("0.0002")
    assert h.bal("USDT") == (D("10000") - D("99.0") - fee, D(0))
    assert h.bal("BTC") == (D("2"), D(0))


def test_limit_rests_then_fills_on_a_trade_printing_through_it() -> None:
    h = spot()
    h.place(Side.SELL, OrderType.LIMIT, "0.5", "101.0")
    assert h.bal("BTC") == (D("0.5"), D("0.5"))
    h.trade("101.0", "5", Side.BUY)  # at our price: queue ahead of us may have taken it
    assert h.fills() == []
    h.trade("101.1", "0.2", Side.BUY)
    h.trade("101.2", "1", Side.BUY)
    assert h.fills() == [(D("101.0"), D("0.2"), True), (D("101.0"), D("0.3"), True)]
    assert h.bal("BTC") == (D("0.5"), D(0))
    fee = (D("101.0") * D("0.5") * D("0.0002")).quantize(D("1e-8"))
    assert h.bal("USDT") == (D("10000") + D("50.5") - fee, D(0))


def test_marketable_limit_takes_within_its_price_and_rests_the_rest() -> None:
    h = spot()
    rep = h.place(Side.BUY, OrderType.LIMIT, "2", "100.1")
    assert h.fills() == [(D("100.0"), D("0.5"), False), (D("100.1"), D("0.5"), False)]
    assert rep.order.status is OrderStatus.PARTIALLY_FILLED and rep.order.remaining_qty == D("1")
    # Price improvement is refunded: the lock now covers only the resting 1 @ 100.1 (+ worst fee).
    assert h.bal("USDT")[1] == D("100.1") + D("100.1") * D("0.0005")
    assert [o.client_id for o in h.engine.open_orders("BTCUSDT")] == ["c1"]
    h.engine.cancel("BTCUSDT", "c1")
    assert h.bal("USDT")[1] == 0
    assert h.stream_statuses("c1")[-1] is OrderStatus.CANCELED
    with pytest.raises(OrderNotFound):
        h.engine.cancel("BTCUSDT", "c1")


def test_ioc_and_fok() -> None:
    h = spot()
    ioc = h.place(Side.BUY, OrderType.LIMIT, "2", "100.0", tif=TimeInForce.IOC)
    assert ioc.order.status is OrderStatus.EXPIRED and ioc.order.filled_qty == D("0.5")
    fok = h.place(Side.BUY, OrderType.LIMIT, "2", "100.5", tif=TimeInForce.FOK)
    assert fok.order.status is OrderStatus.EXPIRED and fok.order.filled_qty == 0
    assert len(h.fills()) == 1 and h.bal("USDT")[1] == 0
    fok2 = h.place(Side.BUY, OrderType.LIMIT, "1.5", "100.5", tif=TimeInForce.FOK)
    assert fok2.order.status is OrderStatus.FILLED  # 0.5 @100.1 + 1 @100.5 (100.0 was taken)


def test_stop_market_triggers_on_the_last_trade_then_executes_as_market() -> None:
    h = spot()
    h.trade("100.0", "0.1")
    with pytest.raises(OrderRejected, match="trigger immediately"):
        h.place(Side.SELL, OrderType.STOP_MARKET, "0.5", stop_price="100.5")
    rep = h.place(Side.SELL, OrderType.STOP_MARKET, "0.5", stop_price="99.5")
    assert rep.order.status is OrderStatus.UNTRIGGERED
    h.trade("99.6", "1")
    assert h.fills() == []
    h.trade("99.5", "1")
    assert h.fills() == [(D("99.9"), D("0.5"), False)]  # the book's best bid, not the stop price
    assert h.stream_statuses("c2") == [OrderStatus.UNTRIGGERED, OrderStatus.NEW, OrderStatus.FILLED]


def test_take_profit_limit_locks_on_placement_and_rests_after_trigger() -> None:
    h = spot()
    h.trade("100.0", "0.1")
    h.place(Side.SELL, OrderType.TAKE_PROFIT_LIMIT, "0.5", "102.0", stop_price="101.0")
    assert h.bal("BTC") == (D("0.5"), D("0.5"))
    h.trade("101.0", "1", Side.BUY)
    assert h.engine.order("c1").status is OrderStatus.NEW  # type: ignore[union-attr]
    assert h.fills() == []
    h.trade("102.5", "1", Side.BUY)
    assert h.fills() == [(D("102.0"), D("0.5"), True)]


def test_duplicate_client_id_is_rejected() -> None:
    h = spot()
    o = h.order(Side.BUY, OrderType.LIMIT, "0.1", "90.0")
    h.engine.place(o, SPOT)
    with pytest.raises(OrderRejected, match="duplicate"):
        h.engine.place(o, SPOT)


# ---------------------------------------------------------------------- linear derivatives


def perp(leverage: str = "10") -> Harness:
    h = Harness(PERP, {"USDT": "1000"}, leverage=leverage)
    h.snapshot(BIDS, ASKS)
    return h


def test_linear_position_margin_and_realized_pnl() -> None:
    h = perp()
    h.place(Side.BUY, OrderType.MARKET, "1")  # 0.5 @100.0 + 0.5 @100.1
    pos = h.engine.position("BTCUSDT")
    assert pos is not None and pos.qty == D("1") and pos.entry_price == D("100.05")
    fee1 = D("0.025") + D("0.02502500")
    margin = D("100.05") / 10
    assert h.bal("USDT") == (D("1000") - margin - fee1, margin)
    assert isinstance(h.events[-1], PositionsEvent) and h.events[-1].positions[0].qty == D("1")
    # Price moves up; the bid side now pays 101.
    h.diff([("101.0", "3")], [("100.0", "0"), ("100.1", "0"), ("100.5", "0"), ("101.5", "1")])
    h.engine.on_mark("BTCUSDT", D("101.0"))
    assert h.engine.position("BTCUSDT").unrealized_pnl == D("0.95")  # type: ignore[union-attr]
    h.place(Side.SELL, OrderType.MARKET, "1", reduce_only=True)
    pos = h.engine.position("BTCUSDT")
    assert pos is not None and pos.is_flat and pos.realized_pnl == D("0.95")
    fee2 = D("101.0") * D("0.0005")
    assert h.bal("USDT") == (D("1000") + D("0.95") - fee1 - fee2, D(0))
    assert h.engine.positions() == []
    assert h.engine.fills("BTCUSDT")[-1].realized_pnl == D("0.95")


def test_linear_short_then_flip_long() -> None:
    h = perp()
    h.place(Side.SELL, OrderType.MARKET, "1")  # 1 @ 99.9
    assert h.engine.position("BTCUSDT").qty == D("-1")  # type: ignore[union-attr]
    h.place(Side.BUY, OrderType.MARKET, "1.5")  # closes at 100.0/100.1, opens 0.5 @100.5
    pos = h.engine.position("BTCUSDT")
    assert pos is not None and pos.qty == D("0.5") and pos.entry_price == D("100.5")
    assert pos.realized_pnl == D("-0.5") * D("0.1") - D("0.5") * D("0.2")
    assert h.bal("USDT")[1] == D("100.5") * D("0.5") / 10


def test_linear_margin_check_and_reduce_only() -> None:
    h = perp(leverage="1")
    with pytest.raises(OrderRejected, match="insufficient"):
        h.place(Side.BUY, OrderType.LIMIT, "20", "99.0")  # 1980 > 1000 at 1x
    with pytest.raises(OrderRejected, match="reduce-only"):
        h.place(Side.SELL, OrderType.MARKET, "0.1", reduce_only=True)  # flat
    h.place(Side.BUY, OrderType.MARKET, "0.3")
    with pytest.raises(OrderRejected, match="reduce-only"):
        h.place(Side.BUY, OrderType.MARKET, "0.1", reduce_only=True)  # would increase
    rep = h.place(Side.SELL, OrderType.MARKET, "1", reduce_only=True)  # capped at the position
    assert rep.order.filled_qty == D("0.3") and rep.order.status is OrderStatus.EXPIRED
    assert h.engine.position("BTCUSDT").is_flat  # type: ignore[union-attr]
    assert h.bal("USDT")[1] == 0


def test_deep_walk_beyond_the_first_levels_read() -> None:
    h = Harness(SPOT, {"USDT": "100000"})
    asks = [(f"{100 + i * 0.1:.1f}", "0.01") for i in range(100)]
    h.snapshot(BIDS, asks)
    rep = h.place(Side.BUY, OrderType.MARKET, "0.9")
    prices = [p for p, _, _ in h.fills()]
    assert len(prices) == 90 and prices == sorted(prices) and prices[-1] == D("108.9")
    assert rep.order.status is OrderStatus.FILLED
    h.engine.on_resync("BTCUSDT")  # a fresh snapshot: what we took from the old book is forgotten
    h.place(Side.BUY, OrderType.MARKET, "0.01")
    assert h.fills()[-1] == (D("100.0"), D("0.01"), False)


def test_linear_resting_limit_locks_margin_and_fills_as_maker() -> None:
    h = perp(leverage="5")
    h.place(Side.SELL, OrderType.LIMIT, "2", "101.0")  # opens a short when filled
    lock = D("202.0") / 5 + D("202.0") * D("0.0005")
    assert h.bal("USDT") == (D("1000") - lock, lock)
    h.trade("101.5", "0.5", Side.BUY)
    pos = h.engine.position("BTCUSDT")
    assert pos is not None and pos.qty == D("-0.5") and pos.entry_price == D("101.0")
    fee = D("50.5") * D("0.0002")
    # The filled quarter's order lock became position margin; the fee left the wallet.
    assert h.bal("USDT")[1] == lock * 3 / 4 + D("50.5") / 5
    assert sum(h.bal("USDT")) == D("1000") - fee
    h.engine.cancel("BTCUSDT", "c1")
    assert h.bal("USDT") == (D("1000") - fee - D("50.5") / 5, D("50.5") / 5)
