"""The App owns the bracket manager: a bracket placed through one App is rebuilt from the journal
by the next App on the same data dir and driven to its end — against one simulator that outlives
both Apps (``AppConfig.sim_url``), over real sockets, with the real adapters, OMS and journal.

The simulator is static (no generator): prices move only when the test trades through the book
with ``mm_take``, which also fires stop orders.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from terminal.app import App, AppConfig, AppError, Mode
from terminal.model import OrderStatus, OrderType, Side, Venue
from terminal.sim.server import RunningSim
from terminal.trading.brackets import BracketManager, BracketPhase, EntrySpec, ExitSpec
from tests.support import apps
from tests.venues.binance_support import sim, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(90)

FUT = Venue.BINANCE_USDM
SYM = "BTCUSDT"
QTY = Decimal("0.003")


def external_demo(running: RunningSim, data_dir: Path, **kw: object) -> AppConfig:
    return apps.external_demo(running, data_dir, (FUT,), (SYM,), **kw)


def remote_status(running: RunningSim, cid: str) -> OrderStatus:
    account = running.exchange.default_credentials.account_id
    market = running.exchange.markets[FUT]
    orders = [o for o in market.all_orders(account) if o.client_id == cid]
    assert len(orders) == 1, cid
    return orders[0].status


async def test_a_bracket_survives_an_app_restart_on_the_same_data_dir(sim, tmp_path: Path) -> None:  # noqa: F811
    config = external_demo(sim, tmp_path / "data")
    first = App(config)
    await first.start()
    try:
        assert first.sim is None  # the simulator is the test's, not the App's
        assert isinstance(first.brackets, BracketManager)
        exits = ExitSpec(FUT, SYM, Side.SELL, QTY, take_profit=Decimal("65050"), stop_loss=Decimal("64900"))
        b = await first.brackets.place_bracket(Side.BUY, exits, EntrySpec(OrderType.MARKET))
        await wait_for(
            lambda: b.tp_id is not None and b.sl_id is not None, 10, "exits after the entry's fill"
        )
        await first.brackets.settle()
        assert b.phase is BracketPhase.EXITS
    finally:
        await first.stop()
    assert first.brackets is None and first.oms is None  # closed with the App
    assert remote_status(sim, b.tp_id) is OrderStatus.NEW  # the exits keep working on the venue

    second = App(config)
    await second.start()
    try:
        (restored,) = second.brackets.active()
        assert (restored.id, restored.entry_id, restored.tp_id, restored.sl_id) == (
            b.id,
            b.entry_id,
            b.tp_id,
            b.sl_id,
        )
        assert restored.phase is BracketPhase.EXITS and restored.exit_qty == QTY
        # The price falls through the stop: the restored manager cancels the take-profit.
        market = sim.exchange.markets[FUT]
        market.mm_take(SYM, Side.SELL, market.instruments[SYM].lots(Decimal("40")))
        await wait_for(lambda: restored.phase is BracketPhase.DONE, 15, "the restored bracket done")
        await second.brackets.settle()
        assert remote_status(sim, b.sl_id) is OrderStatus.FILLED
        assert remote_status(sim, b.tp_id) is OrderStatus.CANCELED
    finally:
        await second.stop()

    third = App(config)  # a finished bracket stays finished
    await third.start()
    try:
        assert third.brackets.active() == []
    finally:
        await third.stop()


async def test_sim_url_needs_the_simulators_keys_and_demo_mode(sim, tmp_path: Path) -> None:  # noqa: F811
    no_keys = AppConfig(mode=Mode.DEMO, venues=(FUT,), data_dir=tmp_path, sim_url=sim.url)
    with pytest.raises(AppError, match="needs its API key"):
        await App(no_keys).start()
    wrong_mode = AppConfig(mode=Mode.PAPER, venues=(FUT,), data_dir=tmp_path, sim_url=sim.url)
    with pytest.raises(AppError, match="sim_url is for demo mode only"):
        await App(wrong_mode).start()
