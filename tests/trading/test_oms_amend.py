"""``OrderManager.amend`` (cancel-replace) and ``set_leverage`` against the simulator with the
real Binance adapters, over real sockets."""

from __future__ import annotations

from decimal import Decimal

import pytest

from terminal.model import MarginMode, OrderStatus, OrderType, Side, Venue
from terminal.trading.oms import AmendFailed, OrderIntent
from terminal.venues.errors import FilterRejected
from tests.trading.sim_support import SYM, VENUE, sim_orders, start_harness
from tests.venues.binance_support import sim, venue_config  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(60)

FUT = Venue.BINANCE_USDM


def limit_buy(price: str, qty: str = "0.001") -> OrderIntent:
    return OrderIntent(
        VENUE, SYM, Side.BUY, OrderType.LIMIT, Decimal(qty), Decimal(price), origin="strategy:grid"
    )


async def test_amend_replaces_with_a_new_id_same_origin(sim, tmp_path):  # noqa: F811
    h = await start_harness(venue_config(sim, VENUE), tmp_path / "j.sqlite3")
    try:
        old = await h.oms.submit(limit_buy("60000"))
        new = await h.oms.amend(old.client_id, price=Decimal("60100.004"), qty=Decimal("0.002"))
        assert new.client_id != old.client_id and new.status is OrderStatus.NEW
        assert (new.price, new.qty) == (Decimal("60100.00"), Decimal("0.002"))  # rounded like submit
        assert h.oms.order(old.client_id).status is OrderStatus.CANCELED
        rec = h.journal.order_record(new.client_id)
        assert (rec.origin, rec.reason) == ("strategy:grid", f"amend of {old.client_id}")
        remote = {o.client_id: o for o in sim_orders(sim)}
        assert remote[old.client_id].status is OrderStatus.CANCELED
        assert remote[new.client_id].price == Decimal("60100.00")
        actions = [(a.action, a.detail.get("new_client_id")) for a in h.journal.audit_log()]
        assert ("amend_request", None) in actions and ("amend", new.client_id) in actions
        # qty defaults to what remains; a price-only amend keeps it
        newer = await h.oms.amend(new.client_id, price=Decimal("60200"))
        assert newer.qty == Decimal("0.002") and newer.price == Decimal("60200")
    finally:
        await h.close()


async def test_amend_breaking_a_filter_leaves_the_original_working(sim, tmp_path):  # noqa: F811
    h = await start_harness(venue_config(sim, VENUE), tmp_path / "j.sqlite3")
    try:
        old = await h.oms.submit(limit_buy("60000"))
        with pytest.raises(FilterRejected, match="NOTIONAL"):
            await h.oms.amend(old.client_id, qty=Decimal("0.00001"))  # 0.6 USDT < min notional
        assert h.oms.order(old.client_id).status is OrderStatus.NEW
        assert [o.client_id for o in sim_orders(sim)] == [old.client_id]
        assert any(a.action == "amend_refused" for a in h.journal.audit_log())
    finally:
        await h.close()


async def test_amend_of_an_order_filled_unseen_places_nothing(sim, tmp_path):  # noqa: F811
    # No user stream: the fill is learnt only when the cancel is refused.
    h = await start_harness(venue_config(sim, VENUE), tmp_path / "j.sqlite3", watch_user=False)
    try:
        sell = await h.oms.submit(
            OrderIntent(VENUE, SYM, Side.SELL, OrderType.LIMIT, Decimal("0.001"), Decimal("65050"))
        )
        market = sim.exchange.markets[VENUE]
        market.mm_take(SYM, Side.BUY, market.instruments[SYM].lots(Decimal("40")))
        with pytest.raises(AmendFailed, match="filled") as err:
            await h.oms.amend(sell.client_id, price=Decimal("65100"))
        assert err.value.order is not None and err.value.order.status is OrderStatus.FILLED
        assert [o.client_id for o in sim_orders(sim)] == [sell.client_id]
        assert len(h.journal.orders()) == 1
        assert any(a.action == "amend_failed" for a in h.journal.audit_log())
        with pytest.raises(AmendFailed, match="already FILLED"):
            await h.oms.amend(sell.client_id, price=Decimal("65100"))
    finally:
        await h.close()


async def test_set_leverage_and_margin_mode_on_futures(sim, tmp_path):  # noqa: F811
    h = await start_harness(venue_config(sim, FUT), tmp_path / "j.sqlite3")
    try:
        await h.oms.set_leverage(FUT, SYM, Decimal(7), margin_mode=MarginMode.ISOLATED)
        acct = sim.exchange.markets[FUT].accounts.get(sim.exchange.default_credentials.account_id)
        assert acct.leverage_of(SYM) == 7
        configs = await h.adapter._load_symbol_config()
        assert configs[SYM].leverage == Decimal(7) and configs[SYM].margin_mode is MarginMode.ISOLATED
        audit = [a for a in h.journal.audit_log() if a.action == "set_leverage"]
        assert audit and audit[-1].detail["leverage"] == "7"
        with pytest.raises(ValueError, match="integer"):
            await h.oms.set_leverage(FUT, SYM, Decimal("2.5"))
        assert any(a.action == "set_leverage_failed" for a in h.journal.audit_log())
    finally:
        await h.close()


async def test_set_leverage_on_spot_is_refused(sim, tmp_path):  # noqa: F811
    h = await start_harness(venue_config(sim, VENUE), tmp_path / "j.sqlite3")
    try:
        with pytest.raises(ValueError, match="no leverage"):
            await h.oms.set_leverage(VENUE, SYM, Decimal(3))
    finally:
        await h.close()
