"""The market generator on the real matching core, driven with a virtual clock."""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal

import numpy as np
import pytest

from terminal.model.enums import OrderStatus, OrderType, Side, TimeInForce, Venue
from terminal.sim.build import build_exchange
from terminal.sim.exchange import SimConfig, SimExchange
from terminal.sim.generator import LEVELS_TARGET, FairValue, MarketGenerator
from terminal.sim.orders import OrderRequest

DT = 0.015
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def _exchange(seed: int = 1, symbols: tuple[str, ...] = SYMBOLS, rate: float = 400.0) -> SimExchange:
    # generator=False: build seeds the books but starts no task; the tests step by hand.
    return build_exchange(
        SimConfig(seed=seed, symbols=symbols, depth_rate=rate, history_days=0, generator=False)
    )


def _gen(exchange: SimExchange) -> MarketGenerator:
    gen = exchange.generator
    assert isinstance(gen, MarketGenerator)
    return gen


def _run(gen: MarketGenerator, seconds: float, dt: float = DT) -> None:
    for _ in range(round(seconds / dt)):
        gen.step(dt)


def _books(exchange: SimExchange) -> dict:
    return {
        (venue, symbol): market.depth(symbol, 5000)
        for venue, market in exchange.markets.items()
        for symbol in market.instruments
    }


@pytest.mark.timeout(30)
def test_same_seed_same_books_different_seed_different() -> None:
    a, b, c = _exchange(seed=7), _exchange(seed=7), _exchange(seed=8)
    assert _books(a) == _books(b)
    for ex in (a, b, c):
        _run(_gen(ex), 4.0)
    books_a, books_b, books_c = _books(a), _books(b), _books(c)
    assert books_a == books_b
    assert {s: f.price for s, f in _gen(a).fair.items()} == {s: f.price for s, f in _gen(b).fair.items()}
    for key in books_a:
        assert books_a[key][1:] != books_c[key][1:], key
    # Trades happened and are the same trades.
    for venue in Venue:
        ta = [(t.price_ticks, t.qty_lots, t.taker_side) for t in a.markets[venue].recent_trades("BTCUSDT")]
        tb = [(t.price_ticks, t.qty_lots, t.taker_side) for t in b.markets[venue].recent_trades("BTCUSDT")]
        assert ta and ta == tb


@pytest.mark.timeout(30)
def test_seeded_books_deep_tight_and_at_the_start_price() -> None:
    exchange = _exchange()
    for venue, market in exchange.markets.items():
        for symbol, inst in market.instruments.items():
            book = market.books[symbol]
            assert len(book.bids) >= LEVELS_TARGET and len(book.asks) >= LEVELS_TARGET, (venue, symbol)
            _, bids, asks = market.depth(symbol, 5000)
            assert len(bids) >= 200 and len(asks) >= 200
            assert asks[0][0] - bids[0][0] == 1  # one-tick spread
            mid = (bids[0][0] + asks[0][0]) / 2 * float(inst.tick)
            assert abs(mid / float(inst.start_price) - 1) < 5e-4, (venue, symbol, mid)
            assert all(lots > 0 for _, lots in bids + asks)
            # Sorted best first with distinct prices.
            assert [p for p, _ in bids] == sorted({p for p, _ in bids}, reverse=True)
            assert [p for p, _ in asks] == sorted({p for p, _ in asks})


@pytest.mark.timeout(30)
def test_books_stay_two_sided_uncrossed_deep_and_tight() -> None:
    exchange = _exchange(seed=3)
    gen = _gen(exchange)
    gen.set_regime("BTCUSDT", "busy")  # the hardest case for the book
    accounts_before = {v: m.accounts.get("demo").balance("USDT").free for v, m in exchange.markets.items()}
    spreads: dict[tuple[Venue, str], list[int]] = {}
    for i in range(round(30.0 / DT)):
        gen.step(DT)
        for flow in gen.flows:
            book = flow.book
            bid, ask = book.best_bid(), book.best_ask()
            assert bid is not None and ask is not None, (flow.venue, flow.symbol, i)
            assert bid < ask, (flow.venue, flow.symbol, i, bid, ask)
            spreads.setdefault((flow.venue, flow.symbol), []).append(ask - bid)
            if i % 20 == 0:
                assert len(book.bids) >= 200 and len(book.asks) >= 200, (flow.venue, flow.symbol, i)
    for key, values in spreads.items():
        assert np.median(values) <= 2, key  # 1-2 ticks most of the time
        assert np.percentile(values, 95) <= 10, key
    # Markets track the shared fair value (each with its own small basis).
    for flow in gen.flows:
        bid, ask = flow.book.best_bid(), flow.book.best_ask()
        mid_price = (bid + ask) / 2 * flow._tick
        assert abs(mid_price / gen.fair_price(flow.symbol) - 1) < 10e-4, (flow.venue, flow.symbol)
    # The generator never touches accounts.
    for venue, market in exchange.markets.items():
        assert market.accounts.get("demo").balance("USDT").free == accounts_before[venue]


@pytest.mark.timeout(30)
def test_achieved_level_change_rate_meets_config() -> None:
    rate, seconds = 600.0, 8.0
    exchange = _exchange(seed=4, rate=rate)
    gen = _gen(exchange)
    start = {(f.venue, f.symbol): f.book.update_id for f in gen.flows}
    _run(gen, seconds)
    for flow in gen.flows:
        changes = flow.book.update_id - start[(flow.venue, flow.symbol)]
        # At least the configured rate (less at most one step's rounding), not wildly more.
        assert changes >= rate * seconds - rate * DT - 1, (flow.venue, flow.symbol, changes)
        assert changes <= 2.0 * rate * seconds, (flow.venue, flow.symbol, changes)
    assert gen.stats.level_changes_per_s >= rate * len(gen.flows) * 0.99


@pytest.mark.timeout(30)
def test_ten_thousand_level_changes_per_second_keep_up() -> None:
    # 3 symbols x 4 markets x 1000/s = 12,000 level changes per second of market time.
    exchange = _exchange(seed=5, rate=1000.0)
    gen = _gen(exchange)
    _run(gen, 3.0)
    assert gen.stats.level_changes_per_s >= 12_000 * 0.99
    # Producing a second of market takes well under a second of CPU (the loop keeps up).
    assert gen.stats.busy_seconds < 0.8 * gen.stats.sim_seconds, gen.stats


@pytest.mark.timeout(30)
def test_regime_switching_changes_realised_volatility() -> None:
    # The bare process: over simulated hours regimes alternate and their volatility differs.
    fair = FairValue("BTCUSDT", 65000.0, seed=11)
    returns: dict[int, list[float]] = {0: [], 1: [], 2: []}
    visited = set()
    for _ in range(6 * 3600):
        regime = fair.regime
        visited.add(regime)
        fair.step(1.0)
        returns[regime].append(fair.last_return)
    assert visited == {0, 1, 2}
    sd = {r: float(np.std(v)) for r, v in returns.items()}
    assert sd[0] < sd[1] < sd[2], sd
    # BTC quiet: ~50-80 bp per hour (allow the slow activity factor some room).
    assert 0.003 < sd[0] * 60 < 0.015, sd

    # Through the books: a busy market's mid moves much more than a quiet one's.
    def mid_vol(regime: str) -> float:
        exchange = _exchange(seed=12, symbols=("BTCUSDT",), rate=200.0)
        gen = _gen(exchange)
        gen.fair["BTCUSDT"].activity = 0.0
        gen.set_regime("BTCUSDT", regime)
        book = exchange.markets[Venue.BINANCE_USDM].books["BTCUSDT"]
        mids = []
        for _ in range(120):
            _run(gen, 0.5, dt=0.025)
            mids.append(math.log((book.best_bid() + book.best_ask()) / 2))
        return float(np.std(np.diff(mids)))

    assert mid_vol("busy") > 1.6 * mid_vol("quiet")


@pytest.mark.timeout(30)
def test_price_discovery_trades_through_resting_user_orders() -> None:
    exchange = _exchange(seed=6)
    gen = _gen(exchange)
    market = exchange.markets[Venue.BINANCE_SPOT]
    inst = market.instruments["BTCUSDT"]
    book = market.books["BTCUSDT"]
    # A user bid 5 bp under the touch.
    price_ticks = book.best_bid() - round(5e-4 * book.best_bid())
    order = market.submit(
        "demo",
        OrderRequest(
            "BTCUSDT",
            Side.BUY,
            OrderType.LIMIT,
            qty=Decimal("0.01"),
            price=inst.price(price_ticks),
            tif=TimeInForce.GTC,
        ),
    )
    assert order.status is OrderStatus.NEW
    trades_before = len(market.recent_trades("BTCUSDT", 1000))
    # Fair value drops 20 bp: takers sell the book down through the user's bid.
    gen.set_regime("BTCUSDT", "quiet")
    gen.fair["BTCUSDT"].log_price += math.log(1 - 20e-4)
    _run(gen, 1.0)
    assert market.get_order("demo", "BTCUSDT", order.order_id).status is OrderStatus.FILLED
    assert len(market.recent_trades("BTCUSDT", 1000)) > trades_before
    # Every market moved with the shared fair value, through trades.
    for venue, m in exchange.markets.items():
        b = m.books["BTCUSDT"]
        mid = (b.best_bid() + b.best_ask()) / 2 * float(m.instruments["BTCUSDT"].tick)
        assert abs(mid / gen.fair_price("BTCUSDT") - 1) < 5e-4, venue
        assert m.last_price_ticks("BTCUSDT") * float(m.instruments["BTCUSDT"].tick) < 65000 * (1 - 10e-4)


@pytest.mark.timeout(30)
async def test_run_loop_pause_and_resume() -> None:
    exchange = _exchange(seed=9, symbols=("ETHUSDT",))
    gen = _gen(exchange)
    book = exchange.markets[Venue.BYBIT_LINEAR].books["ETHUSDT"]
    task = gen.start()
    try:
        await asyncio.sleep(0.3)
        assert book.update_id > 0 and gen.stats.steps >= 5
        gen.pause()
        assert gen.paused
        await asyncio.sleep(0.05)  # let an in-flight step finish
        frozen = book.update_id
        await asyncio.sleep(0.3)
        assert book.update_id == frozen
        gen.resume()
        await asyncio.sleep(0.3)
        assert book.update_id > frozen
        # Real elapsed time drives the rate: ~400/s per market over the run, give or take.
        assert gen.stats.level_changes_per_s >= 0.9 * 400 * len(gen.flows)
    finally:
        await gen.stop()
    assert task.done()
