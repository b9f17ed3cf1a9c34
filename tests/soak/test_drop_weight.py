"""Request weight a connection drop costs on Binance, measured by the simulator's own weight
accounting, and the reconcile policy behind it (per-symbol open-order reads between
all-symbols sweeps, coalesced reconcile requests).

Back-to-back drops used to cost ~140 weight each on USD-M (openOrders + openAlgoOrders without a
symbol 80, depth limit=1000 20, klines pages 16, positions/balance/fills 20) against 2400 a
minute, so the RateGate held resyncs for the next minute (7 of 200 heals took over 45 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from terminal.model import Order, OrderType, Side, Venue
from terminal.sim.faults import HttpFault, StreamFault
from terminal.sim.server import RunningSim
from terminal.storage.journal import Journal
from terminal.trading.oms import OrderIntent, OrderManager
from terminal.trading.risk import RiskLimits, RiskManager
from terminal.venues.binance.futures import BinanceFuturesAdapter
from tests.soak.harness import Soak, WeightTally, weight_limiter
from tests.venues.binance_support import start_test_sim, venue_config, wait_for

pytestmark = pytest.mark.timeout(60)

USDM = Venue.BINANCE_USDM
SYM = "BTCUSDT"

# Recovery weight of one drop, with the OMS knowing one symbol and (USD-M) holding a position.
# USD-M measured ~37: depth limit=500 10, userTrades 5, positionRisk 5, symbolConfig 5, balance
# 5, klines ~4 (limit <= 4: 1 each), openOrders + openAlgoOrders per symbol 2, listenKey 1. Spot measured ~81: depth limit=500 25,
# myTrades 20 (allOrders only for order ids it has not seen), account 20, the WebSocket API
# re-subscription ~6, openOrders per symbol 6, klines 2 each.
DROP_WEIGHT_MAX = {Venue.BINANCE_USDM: 45, Venue.BINANCE_SPOT: 95}
# On a loaded machine a diff can arrive before the snapshot it needs: the book sync then takes
# one more snapshot (correct, and rare). One such retry per drop is allowed; the typical drop
# must stay within the bound (the ~140 of before would fail both).
SNAPSHOT_RETRY = {Venue.BINANCE_USDM: 10, Venue.BINANCE_SPOT: 25}


def _reconciles(journal: Journal) -> int:
    return sum(1 for a in journal.audit_log() if a.action == "reconcile")


async def _drop_and_recover(s: Soak, tally: WeightTally) -> int:
    """One DROP of every socket of the venue; the weight until the book, the streams, the
    candle backfill and the OMS's reconcile are all done."""
    await wait_for(s._healed, 10, "healed before the drop")
    runs = _reconciles(s.journal)
    before = tally.total
    mark = len(s.events)
    s.faults.inject_stream(StreamFault.DROP, s.venue)
    await wait_for(lambda: s._observable(StreamFault.DROP, mark), 10, "outage seen")
    await wait_for(s._healed, 20, "LIVE again")
    await wait_for(lambda: _reconciles(s.journal) > runs, 20, "reconcile after the drop")
    await s.engine.wait_backfills()
    await asyncio.sleep(0.3)  # anything late (a second reconcile, a backfill rerun) counts too
    assert _reconciles(s.journal) == runs + 1, "one drop, one reconcile"
    return tally.total - before


@pytest.mark.slow
@pytest.mark.parametrize("venue", [Venue.BINANCE_USDM, Venue.BINANCE_SPOT])
async def test_weight_per_drop_has_an_upper_bound(venue: Venue, tmp_path: Path) -> None:
    async with Soak(venue, tmp_path) as s:
        tally = s.weight
        assert tally is not None
        await s.user_activity()  # the journal knows SYM; USD-M now holds a position
        # (the OMS's first reconcile, when the user stream came up, swept every symbol; the
        # drops within the next minute read per symbol)
        weights = [await _drop_and_recover(s, tally) for _ in range(4)]
        assert sorted(weights)[len(weights) // 2] <= DROP_WEIGHT_MAX[venue], weights
        assert max(weights) <= DROP_WEIGHT_MAX[venue] + SNAPSHOT_RETRY[venue], weights
        assert await s.compare_book()


# ------------------------------------------------------------------ the reconcile policy


@pytest.fixture
async def sim() -> AsyncIterator[RunningSim]:
    running = await start_test_sim()
    try:
        yield running
    finally:
        await running.stop()


async def test_reconcile_reads_known_symbols_and_sweeps_all_on_a_timer(
    sim: RunningSim, tmp_path: Path
) -> None:
    """Between sweeps reconcile reads open orders per known symbol (no 40-weight calls); an order
    placed elsewhere on another symbol while the terminal was not listening is still adopted, by
    the sweep the skipped one schedules (here 1 s later)."""
    limiter = weight_limiter(sim, USDM)
    assert limiter is not None
    tally = WeightTally(limiter)
    market = sim.exchange.markets[USDM]
    adapter = BinanceFuturesAdapter(venue_config(sim, USDM), lambda e: None)  # no user stream
    web_ui = BinanceFuturesAdapter(venue_config(sim, USDM), lambda e: None)  # "another program"
    journal = Journal.open(tmp_path / "j.sqlite")
    oms = OrderManager(
        journal,
        {USDM: adapter},
        RiskManager(RiskLimits(duplicate_window_s=0), journal),
        open_orders_sweep_s=1.0,
    )
    try:
        await adapter.start()
        await web_ui.start()
        inst = adapter.instrument(SYM)
        price = inst.ticks_to_price(market.books[SYM].best_bid() - 50)
        ours = await oms.submit(OrderIntent(USDM, SYM, Side.BUY, OrderType.LIMIT, Decimal("0.003"), price))

        before = tally.total
        await oms.reconcile(USDM)  # the first of the OMS's life: every symbol
        assert tally.total - before >= 80

        eth = web_ui.instrument("ETHUSDT")
        eth_price = eth.ticks_to_price(market.books["ETHUSDT"].best_bid() - 50)
        await web_ui.place_order(
            Order.new("web-1", USDM, "ETHUSDT", Side.BUY, OrderType.LIMIT, "0.05", str(eth_price))
        )
        before = tally.total
        await oms.reconcile(USDM)
        # GET order (ours) 1 + openOrders/openAlgoOrders for BTCUSDT 1 + 1 + userTrades 5 +
        # positionRisk 5 + balance 5: no all-symbols read
        assert tally.total - before <= 20
        assert oms.order("web-1") is None
        await wait_for(lambda: oms.order("web-1") is not None, 5, "the owed sweep adopts web-1")
        adopted = oms.order("web-1")
        assert adopted is not None and adopted.symbol == "ETHUSDT" and not adopted.is_terminal
        assert oms.order(ours.client_id) is not None and not oms.order(ours.client_id).is_terminal
    finally:
        oms.close()
        await web_ui.close()
        await adapter.close()
        journal.close()


async def test_reconcile_requests_coalesce(sim: RunningSim, tmp_path: Path) -> None:
    """Requests while a run waits join it; one made while a run is in progress queues exactly
    one more (that run may have read past what prompted it)."""
    adapter = BinanceFuturesAdapter(venue_config(sim, USDM), lambda e: None)
    journal = Journal.open(tmp_path / "j.sqlite")
    oms = OrderManager(journal, {USDM: adapter}, RiskManager(RiskLimits(duplicate_window_s=0), journal))
    try:
        await adapter.start()
        await asyncio.gather(*(oms.reconcile(USDM) for _ in range(5)))
        assert _reconciles(journal) == 1

        # a slow balance read keeps the next run in progress while more requests come
        sim.exchange.faults.inject_http(HttpFault.DELAY, USDM, delay_s=0.5, paths=["GET /fapi/v3/balance"])
        first = asyncio.ensure_future(oms.reconcile(USDM))
        await wait_for(lambda: sim.exchange.faults.injected.get(str(HttpFault.DELAY), 0) > 0, 5, "slow read")
        await asyncio.gather(first, *(oms.reconcile(USDM) for _ in range(4)))
        assert _reconciles(journal) == 1 + 2
    finally:
        oms.close()
        await adapter.close()
        journal.close()
