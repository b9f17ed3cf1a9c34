"""The OMS against the simulator with the real Binance spot adapter, over real sockets.

* acceptance: with N % of order requests losing their answer (dropped connection or held past
  the client's timeout, after the venue executed them), every submission yields exactly one
  order on the venue, none duplicated, and the journal agrees with the venue;
* a local filter rejection never reaches the venue;
* the kill switch cancels every open order and flattens what was bought.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from decimal import Decimal

import pytest

from terminal.model import FeedState, OrderStatus, OrderType, Side, TradingState, Venue
from terminal.sim.faults import ORDER_PLACEMENT_PATHS, HttpFault, StreamFault
from terminal.trading.oms import OrderIntent, RiskRejected
from terminal.venues.errors import FilterRejected, RateLimited
from terminal.venues.events import FeedEvent, StreamKind
from tests.trading.sim_support import (
    SYM,
    VENUE,
    futures_adapter_class,
    journal_vs_venue,
    sim_fills,
    sim_orders,
    spot_adapter_class,
    start_harness,
)
from tests.venues.binance_support import sim, venue_config, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(120)

SOAK = os.environ.get("TERMINAL_SOAK") == "1"
N_ORDERS = 1000 if SOAK else 150


def limit_buy(i: int, venue: Venue = VENUE, qty: str = "0.001") -> OrderIntent:
    # Far enough below the market to rest; distinct prices keep each order recognisable.
    return OrderIntent(venue, SYM, Side.BUY, OrderType.LIMIT, Decimal(qty), Decimal(50000 + i))


def adapter_or_skip(venue: Venue):
    try:
        return spot_adapter_class() if venue is Venue.BINANCE_SPOT else futures_adapter_class()
    except ImportError:
        pytest.skip(f"{venue} adapter not written yet")


# (venue, order qty): futures need a larger order for their minimum notional.
VENUES = [(Venue.BINANCE_SPOT, "0.001"), (Venue.BINANCE_USDM, "0.003")]


async def submit_all(oms, intents, concurrency: int = 8):
    gate = asyncio.Semaphore(concurrency)

    async def one(intent):
        async with gate:
            return await oms.submit(intent)

    return await asyncio.gather(*(one(i) for i in intents))


@pytest.mark.timeout(300 if SOAK else 120)
@pytest.mark.parametrize(("venue", "qty"), VENUES, ids=[v.value for v, _ in VENUES])
async def test_lost_answers_never_duplicate_or_lose_orders(sim, tmp_path, venue, qty):  # noqa: F811
    h = await start_harness(
        venue_config(sim, venue, request_timeout_s=0.5),
        tmp_path / "j.sqlite3",
        adapter_cls=adapter_or_skip(venue),
        retry_backoff_s=0.05,
    )
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
        orders = await submit_all(h.oms, [limit_buy(i, venue, qty) for i in range(N_ORDERS)])
        faults.clear()
        struck = faults.injected.get("drop_response", 0) + faults.injected.get("timeout_response", 0)
        assert struck >= N_ORDERS * 0.05  # the faults really struck (~10 %)
        assert len({o.client_id for o in orders}) == N_ORDERS
        # Anything still unknown is settled by reconcile (the venue answers queries normally).
        if h.oms.outcome_unknown:
            await h.oms.reconcile(venue)
        venue_ids = [o.client_id for o in sim_orders(sim, venue)]
        assert len(venue_ids) == N_ORDERS == len(set(venue_ids))
        assert set(venue_ids) == {o.client_id for o in orders}
        assert all(h.journal.order(o.client_id).status is OrderStatus.NEW for o in orders)
        assert journal_vs_venue(h.journal, sim, venue) == []
        print(f"orders={N_ORDERS} faults_struck={struck} unknown_left={len(h.oms.outcome_unknown)}")
    finally:
        await h.close()


async def test_local_filter_rejection_never_reaches_the_venue(sim, tmp_path):  # noqa: F811
    h = await start_harness(
        venue_config(sim, VENUE), tmp_path / "j.sqlite3", adapter_cls=adapter_or_skip(VENUE)
    )
    try:
        with pytest.raises(FilterRejected) as err:
            # 0.00001 BTC at 50000 = 0.5 USDT: below the minimum notional.
            await h.oms.submit(
                OrderIntent(VENUE, SYM, Side.BUY, OrderType.LIMIT, Decimal("0.00001"), Decimal("50000"))
            )
        assert "NOTIONAL" in str(err.value)
        with pytest.raises(FilterRejected):
            await h.oms.submit(
                OrderIntent(VENUE, SYM, Side.BUY, OrderType.LIMIT, Decimal("0.0000001"), Decimal("50000"))
            )
        assert sim_orders(sim) == []
        rows = h.journal._read("SELECT client_order_id, status, status_reason FROM orders")
        assert len(rows) == 2 and all(
            r["status"] == "REJECTED" and "local filter" in r["status_reason"] for r in rows
        )
        # Rounding: price to tick (nearest), quantity down to step, before anything is sent.
        o = await h.oms.submit(
            OrderIntent(VENUE, SYM, Side.BUY, OrderType.LIMIT, Decimal("0.0012345"), Decimal("50000.006"))
        )
        assert (o.price, o.qty) == (Decimal("50000.01"), Decimal("0.00123"))
        (remote,) = sim_orders(sim)
        assert remote.client_id == o.client_id and remote.qty == Decimal("0.00123")
    finally:
        await h.close()


async def test_kill_switch_cancels_everything_and_flattens_spot(sim, tmp_path):  # noqa: F811
    h = await start_harness(
        venue_config(sim, VENUE), tmp_path / "j.sqlite3", adapter_cls=adapter_or_skip(VENUE)
    )
    try:
        bought = await h.oms.submit(OrderIntent(VENUE, SYM, Side.BUY, OrderType.MARKET, Decimal("0.02")))
        assert bought.status is OrderStatus.FILLED
        for i in range(3):
            await h.oms.submit(limit_buy(i))
        await wait_for(
            lambda: h.oms.position(VENUE, SYM) > 0, what="the market buy's fills on the user stream"
        )
        position = h.oms.position(VENUE, SYM)
        assert Decimal("0.019") < position <= Decimal("0.02")  # bought minus the BTC fee

        report = await h.oms.kill_switch(reason="test")

        assert h.risk.state is TradingState.HALTED
        assert report.cancel_failures == () and len(report.canceled) == 3
        assert not [o for o in sim_orders(sim) if o.status.is_open]
        (flat,) = report.flatten_orders
        assert flat.side is Side.SELL and flat.status is OrderStatus.FILLED
        sold = sum((f.qty for f in sim_fills(sim) if f.side is Side.SELL), Decimal(0))
        assert sold == flat.qty
        assert abs(h.oms.position(VENUE, SYM)) < Decimal("0.00001")  # less than one step
        with pytest.raises(RiskRejected):
            await h.oms.submit(limit_buy(99))
        actions = [a.action for a in h.journal.audit_log()]
        assert {"trading_state", "kill_switch", "kill_switch_done", "risk_reject"} <= set(actions)
        assert journal_vs_venue(h.journal, sim) == []
    finally:
        await h.close()


async def test_kill_switch_futures_reduce_only_flatten(sim, tmp_path):  # noqa: F811
    fut = Venue.BINANCE_USDM
    h = await start_harness(venue_config(sim, fut), tmp_path / "j.sqlite3", adapter_cls=adapter_or_skip(fut))
    try:
        await h.oms.submit(OrderIntent(fut, SYM, Side.SELL, OrderType.MARKET, Decimal("0.02")))
        await h.oms.submit(OrderIntent(fut, "ETHUSDT", Side.BUY, OrderType.MARKET, Decimal("0.5")))
        for i in range(2):
            await h.oms.submit(limit_buy(i, fut, "0.003"))
        account = sim.exchange.default_credentials.account_id
        market = sim.exchange.markets[fut]
        assert {p.symbol for p in market.positions(account) if p.qty != 0} == {SYM, "ETHUSDT"}

        report = await h.oms.kill_switch(reason="test")

        assert report.cancel_failures == () and len(report.canceled) == 2
        assert not [o for o in sim_orders(sim, fut) if o.status.is_open]
        assert sorted((o.symbol, o.side, o.reduce_only) for o in report.flatten_orders) == [
            ("BTCUSDT", Side.BUY, True),
            ("ETHUSDT", Side.SELL, True),
        ]
        assert all(p.qty == 0 for p in market.positions(account))
        assert await h.adapter.fetch_positions() == []
        assert journal_vs_venue(h.journal, sim, fut) == []
    finally:
        await h.close()


async def test_user_stream_outage_triggers_reconcile(sim, tmp_path):  # noqa: F811
    """Fills made while the user stream is down are recovered when it comes back LIVE."""
    h = await start_harness(
        venue_config(sim, VENUE), tmp_path / "j.sqlite3", adapter_cls=adapter_or_skip(VENUE)
    )
    try:
        sell = await h.oms.submit(
            OrderIntent(VENUE, SYM, Side.SELL, OrderType.LIMIT, Decimal("0.001"), Decimal("65050"))
        )
        assert sell.status is OrderStatus.NEW
        user_states: list[FeedState] = []
        h.bus.subscribe(
            FeedEvent, lambda e: user_states.append(e.status.state) if e.kind is StreamKind.USER else None
        )
        sim.exchange.faults.inject_stream(StreamFault.DROP, VENUE)  # cuts the user stream
        await wait_for(lambda: any(s is not FeedState.LIVE for s in user_states), what="the user stream down")
        market = sim.exchange.markets[VENUE]
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
        assert journal_vs_venue(h.journal, sim) == []
    finally:
        await h.close()


async def test_rate_limit_waits_and_5xx_resends_same_id(sim, tmp_path):  # noqa: F811
    h = await start_harness(
        venue_config(sim, VENUE),
        tmp_path / "j.sqlite3",
        adapter_cls=adapter_or_skip(VENUE),
        retry_backoff_s=0.05,
    )
    try:
        faults = sim.exchange.faults
        # 503 before processing: the venue never saw it; the OMS finds nothing and resends.
        faults.inject_http(HttpFault.SERVER_ERROR, VENUE, count=2, status=503, paths=ORDER_PLACEMENT_PATHS)
        o = await h.oms.submit(limit_buy(1))
        assert o.status is OrderStatus.NEW and faults.injected["server_error"] == 2
        # 429 with Retry-After: waited out, then the same id goes again.
        faults.inject_http(HttpFault.RATE_LIMIT, VENUE, count=1, retry_after_s=1, paths=ORDER_PLACEMENT_PATHS)
        t0 = asyncio.get_running_loop().time()
        o2 = await h.oms.submit(limit_buy(2))
        assert o2.status is OrderStatus.NEW and faults.injected["rate_limit"] == 1
        assert asyncio.get_running_loop().time() - t0 >= 0.9
        ids = [x.client_id for x in sim_orders(sim)]
        assert sorted(ids) == sorted([o.client_id, o2.client_id])
        assert journal_vs_venue(h.journal, sim) == []
    finally:
        await h.close()


async def test_a_long_ban_rejects_the_order_at_once_instead_of_holding_it(sim, tmp_path):  # noqa: F811
    """An IP ban's Retry-After (Binance 418, Bybit 403: minutes) is not waited out by an order:
    it is REJECTED with the reason at once (a throttled request never executed) and nothing
    reaches the venue."""
    h = await start_harness(
        venue_config(sim, VENUE),
        tmp_path / "j.sqlite3",
        adapter_cls=adapter_or_skip(VENUE),
        max_rate_limit_wait_s=5,
    )
    try:
        faults = sim.exchange.faults
        faults.inject_http(HttpFault.IP_BAN, VENUE, count=1, retry_after_s=600, paths=ORDER_PLACEMENT_PATHS)
        t0 = asyncio.get_running_loop().time()
        with pytest.raises(RateLimited):
            await h.oms.submit(limit_buy(1))
        assert asyncio.get_running_loop().time() - t0 < 3
        assert faults.injected["ip_ban"] == 1 and sim_orders(sim) == []
        [order] = h.journal.orders(VENUE)
        assert order.status is OrderStatus.REJECTED and "retry after 600s" in order.reason
        assert h.oms.outcome_unknown == set()
    finally:
        await h.close()


async def test_reconcile_never_rejects_an_order_still_waiting_to_be_sent(sim, tmp_path):  # noqa: F811
    """An order held before its request (the adapter's rate gate sleeping off a used weight
    budget) is not on the venue yet; a reconcile meanwhile (a user stream came back) must not
    settle it "never placed": once sent and executed the journal would say REJECTED while the
    venue filled it."""
    h = await start_harness(
        venue_config(sim, VENUE, recv_window_ms=0),  # grace = the 2 s late-request margin only
        tmp_path / "j.sqlite3",
        adapter_cls=adapter_or_skip(VENUE),
        unknown_grace_ms=0,
    )
    try:
        gate = asyncio.Event()
        place = h.adapter.place_order

        async def gated_place(order):  # the gate's sleep, made controllable
            await gate.wait()
            return await place(order)

        h.adapter.place_order = gated_place
        intent = OrderIntent(VENUE, SYM, Side.BUY, OrderType.MARKET, Decimal("0.001"))
        submitting = asyncio.ensure_future(h.oms.submit(intent))
        await asyncio.sleep(2.3)  # past the grace
        [waiting] = h.oms.open_orders(VENUE)
        await h.oms.reconcile(VENUE)  # the venue has never heard of it: it was not sent yet
        assert h.oms.order(waiting.client_id).status is OrderStatus.PENDING_NEW
        gate.set()
        order = await asyncio.wait_for(submitting, 10)
        assert order.status is OrderStatus.FILLED
        assert journal_vs_venue(h.journal, sim) == []
        assert not [a for a in h.journal.audit_log() if a.action == "reconcile_settle"]
    finally:
        await h.close()


async def test_a_venue_report_overrides_an_inferred_never_placed(sim, tmp_path):  # noqa: F811
    """If reconcile did settle an order "never placed" and the venue then shows it (a request
    that arrived late), the venue's state wins in the journal and the reversal is audited."""
    from terminal.model import OrderUpdate
    from terminal.trading.oms import NEVER_PLACED_REASON

    h = await start_harness(
        venue_config(sim, VENUE), tmp_path / "j.sqlite3", adapter_cls=adapter_or_skip(VENUE)
    )
    try:
        order = await h.oms.submit(limit_buy(7))
        assert order.status is OrderStatus.NEW
        # what reconcile's settle stores after "not found" (forced: the inference, not an event)
        update = OrderUpdate(
            order.client_id, OrderStatus.REJECTED, order.created_at, reason=NEVER_PLACED_REASON
        )
        forced = dataclasses.replace(order, status=OrderStatus.REJECTED, reason=NEVER_PLACED_REASON)
        h.oms._store(order.client_id, update, forced)
        assert h.journal.order(order.client_id).status is OrderStatus.REJECTED
        report = await h.adapter.fetch_order(SYM, order.client_id)
        h.oms.on_report(report)
        assert h.journal.order(order.client_id).status is OrderStatus.NEW
        assert any(a.action == "reconcile_reversed" for a in h.journal.audit_log())
        assert journal_vs_venue(h.journal, sim) == []
    finally:
        await h.close()


async def test_cancel_and_cancel_of_an_order_filled_unseen(sim, tmp_path):  # noqa: F811
    # No user stream: the OMS learns only from its own requests, like during an outage.
    h = await start_harness(
        venue_config(sim, VENUE), tmp_path / "j.sqlite3", adapter_cls=adapter_or_skip(VENUE), watch_user=False
    )
    try:
        resting = await h.oms.submit(limit_buy(1))
        canceled = await h.oms.cancel(resting.client_id)
        assert canceled.status is OrderStatus.CANCELED
        sell = await h.oms.submit(
            OrderIntent(VENUE, SYM, Side.SELL, OrderType.LIMIT, Decimal("0.001"), Decimal("65050"))
        )
        market = sim.exchange.markets[VENUE]
        market.mm_take(SYM, Side.BUY, market.instruments[SYM].lots(Decimal("40")))  # fills it, unseen
        assert h.oms.order(sell.client_id).status is OrderStatus.NEW
        settled = await h.oms.cancel(sell.client_id)  # the venue refuses: it is filled
        assert settled.status is OrderStatus.FILLED and settled.filled_qty == Decimal("0.001")
        events = [e.status for e in h.journal.order_events(sell.client_id)]
        assert OrderStatus.PENDING_CANCEL in events and events[-1] is OrderStatus.FILLED
    finally:
        await h.close()
