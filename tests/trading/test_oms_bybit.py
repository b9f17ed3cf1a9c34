"""The OMS against the simulator with the real Bybit v5 adapter (spot and linear), over real
sockets: the same acceptance as the Binance tests in test_oms_sim.py.

Bybit's create answers with ids only (the adapter queries the state, the user stream confirms
it), and a resend of an order whose first request did reach the venue is refused with a
duplicate-orderLinkId code (110072 linear, 170141 spot): the OMS must look it up, never
journal it REJECTED.
"""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

from terminal.model import FeedState, OrderStatus, OrderType, Side, TradingState, Venue
from terminal.sim.faults import ORDER_PLACEMENT_PATHS, HttpFault, StreamFault
from terminal.trading.oms import OrderIntent, OrderManager, RiskRejected
from terminal.venues.events import FeedEvent, StreamKind
from tests.trading.sim_support import (
    ORDER_QTY,
    bybit_adapter_class,
    journal_vs_venue,
    sim_fills,
    sim_orders,
    start_harness,
)
from tests.trading.test_oms_sim import submit_all
from tests.venues.binance_support import sim, venue_config, wait_for  # noqa: F401 - fixture

pytest.importorskip("terminal.venues.bybit", reason="Bybit adapter not written yet")

pytestmark = pytest.mark.timeout(120)

SOAK = os.environ.get("TERMINAL_SOAK") == "1"
N_ORDERS = 1000 if SOAK else 150
SYM = "BTCUSDT"
BYBIT = [Venue.BYBIT_SPOT, Venue.BYBIT_LINEAR]
IDS = [v.value for v in BYBIT]


def limit_buy(i: int, venue: Venue) -> OrderIntent:
    # Far below the market so it rests; distinct prices keep each order recognisable.
    return OrderIntent(venue, SYM, Side.BUY, OrderType.LIMIT, ORDER_QTY[venue], Decimal(50000 + i))


async def harness(sim, tmp_path, venue: Venue, **kw):  # noqa: F811
    timeout = kw.pop("request_timeout_s", 3.0)
    return await start_harness(
        venue_config(sim, venue, request_timeout_s=timeout),
        tmp_path / "j.sqlite3",
        adapter_cls=bybit_adapter_class(),
        **kw,
    )


def all_new(h, orders) -> bool:
    return all(h.journal.order(o.client_id).status is OrderStatus.NEW for o in orders)


@pytest.mark.timeout(300 if SOAK else 120)
@pytest.mark.parametrize("venue", BYBIT, ids=IDS)
async def test_lost_answers_never_duplicate_or_lose_orders(sim, tmp_path, venue):  # noqa: F811
    h = await harness(sim, tmp_path, venue, request_timeout_s=0.5, retry_backoff_s=0.05)
    try:
        faults = sim.exchange.faults
        faults.inject_http(
            HttpFault.DROP_RESPONSE, venue, count=10**6, probability=0.05, paths=ORDER_PLACEMENT_PATHS, seed=1
        )
        faults.inject_http(
            HttpFault.TIMEOUT_RESPONSE,
            venue,
            count=10**6,
            delay_s=0.8,
            probability=0.05,
            paths=ORDER_PLACEMENT_PATHS,
            seed=2,
        )
        orders = await submit_all(h.oms, [limit_buy(i, venue) for i in range(N_ORDERS)])
        faults.clear()
        struck = faults.injected.get("drop_response", 0) + faults.injected.get("timeout_response", 0)
        assert struck >= N_ORDERS * 0.05  # the faults really struck (~10 %)
        assert len({o.client_id for o in orders}) == N_ORDERS
        if h.oms.outcome_unknown:
            await h.oms.reconcile(venue)
        venue_ids = [o.client_id for o in sim_orders(sim, venue)]
        assert len(venue_ids) == N_ORDERS == len(set(venue_ids))
        assert set(venue_ids) == {o.client_id for o in orders}
        # Bybit's create returns ids only: a state the query missed arrives on the stream.
        await wait_for(lambda: all_new(h, orders), what="every order NEW in the journal")
        assert journal_vs_venue(h.journal, sim, venue) == []
        print(f"{venue} orders={N_ORDERS} faults_struck={struck} unknown_left={len(h.oms.outcome_unknown)}")
    finally:
        await h.close()


@pytest.mark.parametrize("venue", BYBIT, ids=IDS)
async def test_duplicate_link_id_after_unknown_outcome_is_looked_up_not_rejected(
    sim,  # noqa: F811
    tmp_path,
    venue,
):
    """The first create executes but its answer is lost; the queries fail too (503), so the
    OMS resends the same orderLinkId and the venue refuses it as a duplicate. That refusal
    means the order exists: it stays PENDING_NEW/unknown (never REJECTED) until a query works,
    and reconcile then finds it NEW. One order on the venue throughout."""
    h = await harness(sim, tmp_path, venue, request_timeout_s=0.5, retry_backoff_s=0.01, watch_user=False)
    h.adapter.rest.retry_delay_s = 0.01  # failed reads are retried quickly
    try:
        faults = sim.exchange.faults
        faults.inject_http(
            HttpFault.TIMEOUT_RESPONSE, venue, count=1, delay_s=0.8, paths=ORDER_PLACEMENT_PATHS
        )
        faults.inject_http(HttpFault.SERVER_ERROR, venue, count=10**6, paths={"GET /v5/order/realtime"})
        order = await h.oms.submit(limit_buy(1, venue))
        assert order.status is OrderStatus.PENDING_NEW and order.client_id in h.oms.outcome_unknown
        (audit,) = [a.detail for a in h.journal.audit_log() if a.action == "outcome_unknown"]
        assert "duplicate" in audit["reason"].lower()
        assert str(110072 if venue is Venue.BYBIT_LINEAR else 170141) in audit["reason"]
        assert [o.client_id for o in sim_orders(sim, venue)] == [order.client_id]
        faults.clear()
        await h.oms.reconcile(venue)
        assert h.journal.order(order.client_id).status is OrderStatus.NEW
        assert not h.oms.outcome_unknown
        events = [e.status for e in h.journal.order_events(order.client_id)]
        assert OrderStatus.REJECTED not in events
        assert journal_vs_venue(h.journal, sim, venue) == []
    finally:
        await h.close()


@pytest.mark.parametrize("venue", BYBIT, ids=IDS)
async def test_duplicate_link_id_then_lookup_finds_it(sim, tmp_path, venue):  # noqa: F811
    """As above, but the query works again by the time the duplicate refusal comes back: the
    OMS finds the order at once (NEW, not unknown), still one order on the venue."""
    h = await harness(sim, tmp_path, venue, request_timeout_s=0.5, retry_backoff_s=0.01, watch_user=False)
    h.adapter.rest.retry_delay_s = 0.01
    try:
        faults = sim.exchange.faults
        faults.inject_http(
            HttpFault.TIMEOUT_RESPONSE, venue, count=1, delay_s=0.8, paths=ORDER_PLACEMENT_PATHS
        )
        # Two lookups of 1 + read_retries(2) requests each fail; the one after the refusal works.
        faults.inject_http(HttpFault.SERVER_ERROR, venue, count=6, paths={"GET /v5/order/realtime"})
        order = await h.oms.submit(limit_buy(1, venue))
        assert faults.injected["server_error"] == 6
        assert order.status is OrderStatus.NEW and not h.oms.outcome_unknown
        assert [o.client_id for o in sim_orders(sim, venue)] == [order.client_id]
        assert journal_vs_venue(h.journal, sim, venue) == []
    finally:
        await h.close()


@pytest.mark.parametrize("venue", BYBIT, ids=IDS)
async def test_lost_answer_settled_by_the_user_stream(sim, tmp_path, venue):  # noqa: F811
    """Create's answer is lost and every query fails, but the private stream reports the order:
    the OMS takes the stream's word and does not resend."""
    h = await harness(sim, tmp_path, venue, request_timeout_s=0.5, retry_backoff_s=0.2)
    h.adapter.rest.retry_delay_s = 0.01
    try:
        faults = sim.exchange.faults
        faults.inject_http(
            HttpFault.TIMEOUT_RESPONSE, venue, count=1, delay_s=0.8, paths=ORDER_PLACEMENT_PATHS
        )
        faults.inject_http(HttpFault.SERVER_ERROR, venue, count=10**6, paths={"GET /v5/order/realtime"})
        order = await h.oms.submit(limit_buy(1, venue))
        faults.clear()
        assert faults.injected["timeout_response"] == 1
        assert order.status is OrderStatus.NEW and not h.oms.outcome_unknown
        assert [o.client_id for o in sim_orders(sim, venue)] == [order.client_id]
        assert not [a for a in h.journal.audit_log() if a.action == "outcome_unknown"]
        assert journal_vs_venue(h.journal, sim, venue) == []
    finally:
        await h.close()


async def test_kill_switch_cancels_everything_and_flattens_spot(sim, tmp_path):  # noqa: F811
    venue = Venue.BYBIT_SPOT
    h = await harness(sim, tmp_path, venue)
    try:
        bought = await h.oms.submit(OrderIntent(venue, SYM, Side.BUY, OrderType.MARKET, Decimal("0.02")))
        await wait_for(lambda: h.oms.order(bought.client_id).status is OrderStatus.FILLED, what="buy filled")
        for i in range(3):
            await h.oms.submit(limit_buy(i, venue))
        await wait_for(lambda: h.oms.position(venue, SYM) > 0, what="the market buy's fills on the stream")
        position = h.oms.position(venue, SYM)
        assert Decimal("0.019") < position <= Decimal("0.02")  # bought minus a base-asset fee

        report = await h.oms.kill_switch(actor="webhook:panic", reason="test")

        assert h.risk.state is TradingState.HALTED
        assert report.cancel_failures == () and len(report.canceled) == 3
        assert not [o for o in sim_orders(sim, venue) if o.status.is_open]
        (flat,) = report.flatten_orders
        assert flat.side is Side.SELL
        await wait_for(
            lambda: h.oms.order(flat.client_id).status is OrderStatus.FILLED, what="flatten filled"
        )
        assert h.journal.order_record(flat.client_id).origin == "kill_switch:webhook:panic"
        sold = sum((f.qty for f in sim_fills(sim, venue) if f.side is Side.SELL), Decimal(0))
        assert sold == flat.qty
        await wait_for(lambda: abs(h.oms.position(venue, SYM)) < Decimal("0.00001"), what="flat")
        with pytest.raises(RiskRejected):
            await h.oms.submit(limit_buy(99, venue))
        actions = [a.action for a in h.journal.audit_log()]
        assert {"trading_state", "kill_switch", "kill_switch_done", "risk_reject"} <= set(actions)
        assert journal_vs_venue(h.journal, sim, venue) == []
    finally:
        await h.close()


async def test_kill_switch_linear_reduce_only_flatten(sim, tmp_path):  # noqa: F811
    venue = Venue.BYBIT_LINEAR
    h = await harness(sim, tmp_path, venue)
    try:
        await h.oms.submit(OrderIntent(venue, SYM, Side.SELL, OrderType.MARKET, Decimal("0.02")))
        await h.oms.submit(OrderIntent(venue, "ETHUSDT", Side.BUY, OrderType.MARKET, Decimal("0.5")))
        for i in range(2):
            await h.oms.submit(limit_buy(i, venue))
        account = sim.exchange.default_credentials.account_id
        market = sim.exchange.markets[venue]
        assert {p.symbol for p in market.positions(account) if p.qty != 0} == {SYM, "ETHUSDT"}

        report = await h.oms.kill_switch(reason="test")

        assert report.cancel_failures == () and len(report.canceled) == 2
        assert report.flatten_failures == ()
        assert not [o for o in sim_orders(sim, venue) if o.status.is_open]
        assert sorted((o.symbol, o.side, o.reduce_only) for o in report.flatten_orders) == [
            ("BTCUSDT", Side.BUY, True),
            ("ETHUSDT", Side.SELL, True),
        ]
        assert all(
            h.journal.order_record(o.client_id).origin == "kill_switch:manual" for o in report.flatten_orders
        )
        assert all(p.qty == 0 for p in market.positions(account))
        assert await h.adapter.fetch_positions() == []
        await wait_for(
            lambda: all(h.oms.order(o.client_id).status is OrderStatus.FILLED for o in report.flatten_orders),
            what="flatten orders FILLED in the journal",
        )
        assert journal_vs_venue(h.journal, sim, venue) == []
    finally:
        await h.close()


@pytest.mark.parametrize("venue", BYBIT, ids=IDS)
async def test_user_stream_outage_triggers_reconcile(sim, tmp_path, venue):  # noqa: F811
    """Fills made while the private stream is down are recovered when it comes back LIVE."""
    h = await harness(sim, tmp_path, venue)
    try:
        sell = await h.oms.submit(
            OrderIntent(venue, SYM, Side.SELL, OrderType.LIMIT, ORDER_QTY[venue], Decimal("65050"))
        )
        assert sell.status is OrderStatus.NEW
        user_states: list[FeedState] = []
        h.bus.subscribe(
            FeedEvent, lambda e: user_states.append(e.status.state) if e.kind is StreamKind.USER else None
        )
        sim.exchange.faults.inject_stream(StreamFault.DROP, venue)  # cuts the private stream
        await wait_for(lambda: any(s is not FeedState.LIVE for s in user_states), what="the user stream down")
        market = sim.exchange.markets[venue]
        market.mm_take(SYM, Side.BUY, market.instruments[SYM].lots(Decimal("40")))  # fills it meanwhile
        await wait_for(
            lambda: (
                h.journal.order(sell.client_id).status is OrderStatus.FILLED
                and any(f.client_id == sell.client_id for f in h.journal.fills())
                and any(a.action == "reconcile" for a in h.journal.audit_log())
            ),
            timeout=15,
            what="the fill made during the outage, and a reconcile",
        )
        assert journal_vs_venue(h.journal, sim, venue) == []
    finally:
        await h.close()


async def test_kill_switch_on_spot_and_linear_sharing_one_account(sim, tmp_path):  # noqa: F811
    """Both Bybit categories in one OMS (one unified account, two adapters): the kill switch
    cancels on both, sells back the spot coin and closes the linear position reduce-only."""
    spot, linear = Venue.BYBIT_SPOT, Venue.BYBIT_LINEAR
    h = await harness(sim, tmp_path, spot)
    lin = bybit_adapter_class()(venue_config(sim, linear, request_timeout_s=3.0), h.bus.publish)
    await lin.start()
    await lin.watch_user()
    oms = OrderManager(h.journal, {spot: h.adapter, linear: lin}, h.risk, h.bus)
    h.oms.close()
    try:
        bought = await oms.submit(OrderIntent(spot, SYM, Side.BUY, OrderType.MARKET, Decimal("0.01")))
        await oms.submit(OrderIntent(linear, SYM, Side.BUY, OrderType.MARKET, Decimal("0.01")))
        await oms.submit(limit_buy(1, spot))
        await oms.submit(limit_buy(2, linear))
        await wait_for(lambda: oms.position(spot, SYM) > 0, what="spot fills on the stream")
        assert oms.order(bought.client_id).status is OrderStatus.FILLED

        report = await oms.kill_switch(actor="strategy:grid", reason="test")

        assert report.cancel_failures == () and len(report.canceled) == 2
        assert report.flatten_failures == ()
        assert sorted((o.venue, o.side, o.reduce_only) for o in report.flatten_orders) == [
            (linear, Side.SELL, True),  # enum values sort: bybit_linear < bybit_spot
            (spot, Side.SELL, False),
        ]
        account = sim.exchange.default_credentials.account_id
        assert all(p.qty == 0 for p in sim.exchange.markets[linear].positions(account))
        for venue in (spot, linear):
            assert not [o for o in sim_orders(sim, venue) if o.status.is_open]
        await wait_for(
            lambda: all(oms.order(o.client_id).status is OrderStatus.FILLED for o in report.flatten_orders),
            what="flatten orders FILLED",
        )
        for venue in (spot, linear):
            assert journal_vs_venue(h.journal, sim, venue) == []
    finally:
        oms.close()
        await lin.close()
        await h.close()
