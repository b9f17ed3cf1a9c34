"""Brackets and OCO against the simulator with the real Binance adapters, over real sockets.

The simulator runs without its generator (static books): prices move only when a test trades
through the book with ``mm_take``, which also fires stop orders (triggers use the last trade).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from terminal.model import OrderStatus, OrderType, Side, TradingState, Venue
from terminal.trading.brackets import (
    BracketKind,
    BracketManager,
    BracketPhase,
    EntrySpec,
    ExitSpec,
)
from terminal.trading.oms import OrderManager
from tests.trading.sim_support import SYM, sim_orders, start_harness
from tests.venues.binance_support import sim, venue_config, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(90)

FUT = Venue.BINANCE_USDM
SPOT = Venue.BINANCE_SPOT
QTY = Decimal("0.003")


def account(running) -> str:
    return running.exchange.default_credentials.account_id


def position_qty(running) -> Decimal:
    ps = [p for p in running.exchange.markets[FUT].positions(account(running)) if p.symbol == SYM]
    return sum((p.qty for p in ps), Decimal(0))


def remote(running, cid: str, venue: Venue = FUT):
    (o,) = [o for o in sim_orders(running, venue) if o.client_id == cid]
    return o


def take(running, side: Side, qty: str, venue: Venue = FUT) -> None:
    market = running.exchange.markets[venue]
    market.mm_take(SYM, side, market.instruments[SYM].lots(Decimal(qty)))


def long_bracket(tp: str = "65050", sl: str = "64900") -> tuple[Side, ExitSpec, EntrySpec]:
    exits = ExitSpec(FUT, SYM, Side.SELL, QTY, take_profit=Decimal(tp), stop_loss=Decimal(sl))
    return Side.BUY, exits, EntrySpec(OrderType.MARKET)


async def open_long_bracket(h, bm: BracketManager, running):
    b = await bm.place_bracket(*long_bracket())
    await wait_for(
        lambda: b.tp_id is not None and b.sl_id is not None, what="exits placed after the entry's fill"
    )
    await bm.settle()
    assert position_qty(running) == QTY
    tp, sl = remote(running, b.tp_id), remote(running, b.sl_id)
    assert (tp.type, tp.side, tp.reduce_only, tp.qty) == (OrderType.LIMIT, Side.SELL, True, QTY)
    assert (sl.type, sl.side, sl.reduce_only, sl.qty) == (OrderType.STOP_MARKET, Side.SELL, True, QTY)
    assert tp.status is OrderStatus.NEW and sl.status is OrderStatus.UNTRIGGERED
    return b


@pytest.fixture
async def fut_harness(sim, tmp_path):  # noqa: F811
    h = await start_harness(venue_config(sim, FUT), tmp_path / "j.sqlite3")
    bm = BracketManager(h.oms, h.bus)
    try:
        yield h, bm
    finally:
        bm.close()
        await h.close()


async def test_take_profit_fill_cancels_the_stop(sim, fut_harness):  # noqa: F811
    h, bm = fut_harness
    b = await open_long_bracket(h, bm, sim)
    take(sim, Side.BUY, "40")  # lifts every ask up through the take-profit
    await wait_for(lambda: b.phase is BracketPhase.DONE, what="bracket done")
    await bm.settle()
    assert remote(sim, b.tp_id).status is OrderStatus.FILLED
    assert remote(sim, b.sl_id).status is OrderStatus.CANCELED
    assert position_qty(sim) == 0
    assert b.done_reason == "tp filled"
    assert not [o for o in sim_orders(sim, FUT) if o.status.is_open or o.status is OrderStatus.UNTRIGGERED]


async def test_stop_fill_cancels_the_take_profit(sim, fut_harness):  # noqa: F811
    h, bm = fut_harness
    b = await open_long_bracket(h, bm, sim)
    take(sim, Side.SELL, "40")  # the price falls through the stop: it triggers and sells
    await wait_for(lambda: b.phase is BracketPhase.DONE, what="bracket done")
    await bm.settle()
    assert remote(sim, b.sl_id).status is OrderStatus.FILLED
    assert remote(sim, b.tp_id).status is OrderStatus.CANCELED
    assert position_qty(sim) == 0
    assert b.done_reason == "sl filled"


async def test_kill_switch_cancels_both_exits(sim, fut_harness):  # noqa: F811
    h, bm = fut_harness
    b = await open_long_bracket(h, bm, sim)
    report = await h.oms.kill_switch(reason="test")
    await wait_for(lambda: b.phase is BracketPhase.DONE, what="bracket done")
    await bm.settle()
    assert h.risk.state is TradingState.HALTED
    assert {b.tp_id, b.sl_id} <= set(report.canceled)
    assert remote(sim, b.tp_id).status is OrderStatus.CANCELED
    assert remote(sim, b.sl_id).status is OrderStatus.CANCELED
    assert position_qty(sim) == 0  # flattened by the kill switch, not by a bracket leg
    assert b.done_reason is not None and "without a fill" in b.done_reason
    # nothing new from the bracket after the kill switch: entry, tp, sl, the flatten order
    assert len(sim_orders(sim, FUT)) == 4


async def test_partial_take_profit_resizes_the_stop(sim, fut_harness):  # noqa: F811
    h, bm = fut_harness
    b = await open_long_bracket(h, bm, sim)
    market = sim.exchange.markets[FUT]
    inst = market.instruments[SYM]
    tp_ticks = inst.ticks(Decimal("65050"))
    _, _, asks = market.depth(SYM, 5000)
    ahead = sum(lots for price, lots in asks if price <= tp_ticks) - inst.lots(QTY)
    market.mm_take(SYM, Side.BUY, ahead + inst.lots(Decimal("0.001")))  # 0.001 of our 0.003
    old_sl = b.sl_id
    await wait_for(lambda: b.sl_id != old_sl, what="the stop replaced by a smaller one")
    await bm.settle()
    assert remote(sim, b.tp_id).filled_qty == Decimal("0.001")
    assert remote(sim, old_sl).status is OrderStatus.CANCELED
    new_sl = remote(sim, b.sl_id)
    assert (new_sl.qty, new_sl.type, new_sl.reduce_only) == (Decimal("0.002"), OrderType.STOP_MARKET, True)
    assert h.journal.order_record(b.sl_id).reason == f"amend of {old_sl}"
    assert b.phase is BracketPhase.EXITS
    # the rest of the take-profit fills: the resized stop goes
    take(sim, Side.BUY, "40")
    await wait_for(lambda: b.phase is BracketPhase.DONE, what="bracket done")
    await bm.settle()
    assert remote(sim, b.sl_id).status is OrderStatus.CANCELED and position_qty(sim) == 0


async def test_bracket_survives_a_restart(sim, fut_harness):  # noqa: F811
    h, bm = fut_harness
    b = await open_long_bracket(h, bm, sim)
    # "restart": a new OMS and bracket manager that know only the journal
    bm.close()
    h.oms.close()
    h.oms = OrderManager(h.journal, {FUT: h.adapter}, h.risk, h.bus)
    bm2 = BracketManager(h.oms, h.bus)
    try:
        (restored,) = bm2.restore()
        assert (restored.id, restored.tp_id, restored.sl_id) == (b.id, b.tp_id, b.sl_id)
        assert restored.phase is BracketPhase.EXITS and restored.exit_qty == QTY
        take(sim, Side.SELL, "40")
        await wait_for(lambda: restored.phase is BracketPhase.DONE, what="restored bracket done")
        await bm2.settle()
        assert remote(sim, b.tp_id).status is OrderStatus.CANCELED
        assert remote(sim, b.sl_id).status is OrderStatus.FILLED
        bm3 = BracketManager(h.oms, h.bus)
        assert bm3.restore() == []  # finished ones stay finished
        bm3.close()
    finally:
        bm2.close()


async def test_spot_oco_take_profit_cancels_the_stop(sim, tmp_path):  # noqa: F811
    h = await start_harness(venue_config(sim, SPOT), tmp_path / "j.sqlite3")
    bm = BracketManager(h.oms, h.bus)
    try:
        exits = ExitSpec(SPOT, SYM, Side.SELL, Decimal("0.001"), Decimal("65050"), Decimal("64900"))
        b = await bm.place_oco(exits)
        assert b.kind is BracketKind.OCO and b.entry_id is None
        assert remote(sim, b.tp_id, SPOT).status is OrderStatus.NEW
        assert remote(sim, b.sl_id, SPOT).status is OrderStatus.UNTRIGGERED
        take(sim, Side.BUY, "40", SPOT)
        await wait_for(lambda: b.phase is BracketPhase.DONE, what="oco done")
        await bm.settle()
        assert remote(sim, b.tp_id, SPOT).status is OrderStatus.FILLED
        assert remote(sim, b.sl_id, SPOT).status is OrderStatus.CANCELED
        with pytest.raises(ValueError, match="above the stop-loss"):
            await bm.place_oco(
                ExitSpec(SPOT, SYM, Side.SELL, Decimal("0.001"), Decimal("64000"), Decimal("64900"))
            )
    finally:
        bm.close()
        await h.close()


async def test_limit_entry_partly_filled_then_canceled_protects_what_was_filled(sim, fut_harness):  # noqa: F811
    h, bm = fut_harness
    market = sim.exchange.markets[FUT]
    inst = market.instruments[SYM]
    _, bids, _ = market.depth(SYM, 5000)
    entry_ticks = bids[0][0] - 30  # rests below the best bid, on a level of its own
    entry_price = Decimal(entry_ticks) * inst.tick
    exits = ExitSpec(FUT, SYM, Side.SELL, QTY, take_profit=Decimal("65500"), stop_loss=Decimal("64000"))
    b = await bm.place_bracket(Side.BUY, exits, EntrySpec(OrderType.LIMIT, entry_price))
    assert remote(sim, b.entry_id).status is OrderStatus.NEW and b.phase is BracketPhase.ENTRY
    ahead = sum(lots for price, lots in market.depth(SYM, 5000)[1] if price >= entry_ticks) - inst.lots(QTY)
    market.mm_take(SYM, Side.SELL, ahead + inst.lots(Decimal("0.001")))
    await wait_for(
        lambda: h.oms.order(b.entry_id).filled_qty == Decimal("0.001"), what="a partial entry fill"
    )
    assert b.tp_id is None  # exits wait for the entry to end
    await h.oms.cancel(b.entry_id)
    await wait_for(lambda: b.tp_id is not None and b.sl_id is not None, what="exits for the filled part")
    await bm.settle()
    assert remote(sim, b.tp_id).qty == remote(sim, b.sl_id).qty == Decimal("0.001")
    assert b.exit_qty == Decimal("0.001") and position_qty(sim) == Decimal("0.001")


async def test_entry_canceled_unfilled_ends_the_bracket_without_exits(sim, fut_harness):  # noqa: F811
    h, bm = fut_harness
    exits = ExitSpec(FUT, SYM, Side.SELL, QTY, take_profit=Decimal("65500"), stop_loss=Decimal("64000"))
    b = await bm.place_bracket(Side.BUY, exits, EntrySpec(OrderType.LIMIT, Decimal("60000")))
    await h.oms.cancel(b.entry_id)
    await wait_for(lambda: b.phase is BracketPhase.DONE, what="bracket done")
    assert b.tp_id is None and b.sl_id is None and "without a fill" in (b.done_reason or "")
    assert len(sim_orders(sim, FUT)) == 1


async def test_spot_bracket_exits_sell_what_was_received(sim, tmp_path):  # noqa: F811
    """Spot buys pay their fee in the base asset: the exits sell the filled quantity minus that
    fee (rounded down to the step), never older holdings."""
    h = await start_harness(venue_config(sim, SPOT), tmp_path / "j.sqlite3")
    bm = BracketManager(h.oms, h.bus)
    try:
        exits = ExitSpec(SPOT, SYM, Side.SELL, Decimal("0.001"), Decimal("65050"), Decimal("64900"))
        b = await bm.place_bracket(Side.BUY, exits, EntrySpec(OrderType.MARKET))
        await wait_for(lambda: b.tp_id is not None and b.sl_id is not None, what="spot exits")
        await bm.settle()
        fee = sum(f.fee for f in h.journal.fills() if f.client_id == b.entry_id)
        assert fee > 0
        want = Decimal("0.001") - Decimal("0.00001")  # 0.001 - 0.1 % fee, down to the 0.00001 step
        assert remote(sim, b.tp_id, SPOT).qty == remote(sim, b.sl_id, SPOT).qty == want
        assert (remote(sim, b.tp_id, SPOT).reduce_only, remote(sim, b.sl_id, SPOT).reduce_only) == (
            False,
            False,
        )
    finally:
        bm.close()
        await h.close()


async def test_a_leg_amended_elsewhere_stays_linked(sim, fut_harness):  # noqa: F811
    """The orders table amends a take-profit (cancel-replace): the replacement is the leg now,
    so its fill still cancels the stop."""
    h, bm = fut_harness
    b = await open_long_bracket(h, bm, sim)
    old_tp = b.tp_id
    new_tp = await h.oms.amend(old_tp, price=Decimal("65060"))
    await bm.settle()
    assert b.tp_id == new_tp.client_id and b.phase is BracketPhase.EXITS
    assert remote(sim, old_tp).status is OrderStatus.CANCELED
    take(sim, Side.BUY, "40")
    await wait_for(lambda: b.phase is BracketPhase.DONE, what="bracket done")
    await bm.settle()
    assert remote(sim, new_tp.client_id).status is OrderStatus.FILLED
    assert remote(sim, b.sl_id).status is OrderStatus.CANCELED and position_qty(sim) == 0
