"""Positions, open orders, history and balances panels against the real demo App: cancel from
the table, cancel all, amend by editing a cell, close/reverse a position, in-place updates."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QPushButton

from terminal.app import App
from terminal.model import OrderStatus, OrderType, Side, Venue
from terminal.trading.oms import OrderIntent
from terminal.ui.context import Selection, UiContext
from terminal.ui.tables import BalancesPanel, HistoryPanel, OpenOrdersPanel, PositionsPanel
from terminal.ui.tables.orders import PRICE_COL, QTY_COL
from terminal.ui.theme import apply_dark
from tests.ui.conftest import UI_SYMBOL, demo_config, run, wait_until

pytestmark = pytest.mark.timeout(150)

SPOT = Venue.BINANCE_SPOT
FUT = Venue.BINANCE_USDM
D = Decimal


def ctx_for(app, venue: Venue = SPOT) -> UiContext:
    return UiContext(app, Selection(venue, UI_SYMBOL))


def shown(panel, qtbot):
    qtbot.addWidget(panel)
    panel.resize(1100, 300)
    panel.show()
    return panel


def refreshed(app, panel, predicate):
    def check() -> bool:
        panel.refresh(app.engine.versions())
        return bool(predicate())

    return check


def keys(panel) -> set[str]:
    return {r.key[1] for r in panel.model.rows}


def sim_order(app, venue: Venue, cid: str):
    account = app.sim.exchange.default_credentials.account_id
    found = [o for o in app.sim.exchange.markets[venue].all_orders(account) if o.client_id == cid]
    return found[0] if found else None


def sim_position(app) -> Decimal:
    account = app.sim.exchange.default_credentials.account_id
    ps = app.sim.exchange.markets[FUT].positions(account)
    return sum((p.qty for p in ps if p.symbol == UI_SYMBOL), D(0))


def place_limits(qloop, app, n: int, venue: Venue = SPOT) -> list:
    def ready():
        t = app.engine.top_of_book(venue, UI_SYMBOL)
        return t is not None and t.bid is not None

    wait_until(qloop, ready, 15, "a live book")
    bid = app.engine.top_of_book(venue, UI_SYMBOL).bid
    qty = D("0.001") if venue is SPOT else D("0.003")
    out = []
    for i in range(n):
        price = (bid * D("0.97") - i * 10).quantize(D("0.1"))
        out.append(
            run(qloop, app.oms.submit(OrderIntent(venue, UI_SYMBOL, Side.BUY, OrderType.LIMIT, qty, price)))
        )
    return out


def row_button(panel, cid: str) -> QPushButton:
    i = panel.model.row_of((SPOT, cid))
    assert i >= 0, f"{cid} not in the table"
    widget = panel.view.indexWidget(panel.model.index(i, panel.model.columnCount() - 1))
    assert isinstance(widget, QPushButton)
    return widget


def test_cancel_from_the_table_and_cancel_all(qloop, demo_app, qtbot) -> None:
    panel = shown(OpenOrdersPanel(ctx_for(demo_app)), qtbot)
    resets: list[int] = []
    panel.model.modelReset.connect(lambda: resets.append(1))
    a, b, c = place_limits(qloop, demo_app, 3)
    wait_until(
        qloop, refreshed(demo_app, panel, lambda: {a.client_id, b.client_id, c.client_id} <= keys(panel))
    )
    button_c = row_button(panel, c.client_id)

    qtbot.mouseClick(row_button(panel, a.client_id), Qt.MouseButton.LeftButton)
    wait_until(qloop, refreshed(demo_app, panel, lambda: a.client_id not in keys(panel)), 10, "a's row gone")
    assert sim_order(demo_app, SPOT, a.client_id).status is OrderStatus.CANCELED
    assert row_button(panel, c.client_id) is button_c  # rows update in place: widgets stay
    assert "CANCELED" in panel.status.text()

    qtbot.mouseClick(panel.cancel_all_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, refreshed(demo_app, panel, lambda: not panel.model.rows), 10, "every row gone")
    for o in (b, c):
        assert sim_order(demo_app, SPOT, o.client_id).status is OrderStatus.CANCELED
    assert panel._stack.currentWidget() is panel.empty and "2 of 2 canceled" in panel.status.text()
    assert resets == []


def test_amend_price_and_qty_by_editing_the_cell(qloop, demo_app, qtbot) -> None:
    panel = shown(OpenOrdersPanel(ctx_for(demo_app)), qtbot)
    (order,) = place_limits(qloop, demo_app, 1)
    wait_until(qloop, refreshed(demo_app, panel, lambda: order.client_id in keys(panel)))
    new_price = (order.price - 25).quantize(D("0.01"))

    # the real editor: double-click the cell, type, Enter
    index = panel.model.index(panel.model.row_of((SPOT, order.client_id)), PRICE_COL)
    panel.view.edit(index)
    editor = panel.view.focusWidget()
    assert isinstance(editor, QLineEdit)
    editor.selectAll()
    qtbot.keyClicks(editor, str(new_price))
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    wait_until(qloop, refreshed(demo_app, panel, lambda: order.client_id not in keys(panel)), 10, "replaced")
    wait_until(qloop, refreshed(demo_app, panel, lambda: len(panel.model.rows) == 1), 10, "the replacement")
    new = panel.model.rows[0].data
    assert new.price == new_price and new.qty == order.qty
    assert sim_order(demo_app, SPOT, order.client_id).status is OrderStatus.CANCELED
    assert demo_app.journal.order_record(new.client_id).reason == f"amend of {order.client_id}"

    # qty through the model (what the delegate commits)
    assert panel.model.setData(panel.model.index(0, QTY_COL), "0.002")
    wait_until(
        qloop,
        refreshed(demo_app, panel, lambda: [r.data.qty for r in panel.model.rows] == [D("0.002")]),
        10,
        "qty amended",
    )
    # bad input: a clear error, nothing sent
    n_orders = len(demo_app.journal.orders())
    panel.model.setData(panel.model.index(0, PRICE_COL), "abc")
    assert "not a number" in panel.status.text()
    assert len(demo_app.journal.orders()) == n_orders


def test_close_and_reverse_a_position(qloop, demo_app, qtbot) -> None:
    ctx = ctx_for(demo_app, FUT)
    positions = shown(PositionsPanel(ctx), qtbot)
    history = shown(HistoryPanel(ctx), qtbot)
    run(qloop, demo_app.oms.submit(OrderIntent(FUT, UI_SYMBOL, Side.BUY, OrderType.MARKET, D("0.003"))))
    key = None

    def has_row() -> bool:
        nonlocal key
        rows = [r for r in positions.model.rows if r.key[0] is FUT]
        key = rows[0].key if rows else None
        return key is not None

    wait_until(qloop, refreshed(demo_app, positions, has_row), 10, "the position row")
    row = positions.model.rows[positions.model.row_of(key)]
    assert row.cells[2] == "LONG" and row.cells[3] == "0.003" and row.cells[5] != "—"  # mark known
    box = positions.view.indexWidget(positions.model.index(positions.model.row_of(key), 9))
    reverse = box.findChild(QPushButton, f"reverse:{key[0]}:{key[1]}:{key[2]}")
    close = box.findChild(QPushButton, f"close:{key[0]}:{key[1]}:{key[2]}")

    qtbot.mouseClick(reverse, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: sim_position(demo_app) == D("-0.003"), 15, "reversed to short")
    wait_until(
        qloop,
        refreshed(demo_app, positions, lambda: any(r.cells[2] == "SHORT" for r in positions.model.rows)),
        10,
        "SHORT row",
    )

    close = positions.view.indexWidget(positions.model.index(0, 9)).findChild(QPushButton, close.objectName())
    qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: sim_position(demo_app) == 0, 15, "flat")
    wait_until(qloop, refreshed(demo_app, positions, lambda: not positions.model.rows), 10, "no rows")
    closing = [o for o in demo_app.journal.orders(FUT) if o.reduce_only]
    assert len(closing) == 2 and all(o.type is OrderType.MARKET for o in closing)

    # history: newest first, the close on top
    wait_until(
        qloop,
        refreshed(
            demo_app, history, lambda: len(history.orders.model.rows) >= 3 and history.fills.model.rows
        ),
        10,
        "history rows",
    )
    times = [r.data.updated_at for r in history.orders.model.rows]
    assert times == sorted(times, reverse=True)
    fill_times = [r.data.ts for r in history.fills.model.rows]
    assert fill_times == sorted(fill_times, reverse=True)
    assert history.orders.model.rows[0].data.client_id == closing[-1].client_id


def test_balances_per_venue(qloop, demo_app, qtbot) -> None:
    panel = shown(BalancesPanel(ctx_for(demo_app)), qtbot)
    want = {(SPOT, "USDT"), (SPOT, "BTC"), (FUT, "USDT")}
    wait_until(qloop, refreshed(demo_app, panel, lambda: want <= {r.key for r in panel.model.rows}), 15)
    spot_usdt = next(r for r in panel.model.rows if r.key == (SPOT, "USDT"))
    assert spot_usdt.cells[0] == "Binance Spot" and D(spot_usdt.cells[4]) == spot_usdt.data.total > 0


def test_panels_without_an_order_manager_or_data(qloop, qtbot, tmp_path: Path) -> None:
    app = App(demo_config(tmp_path))  # not started: no OMS, empty engine
    ctx = ctx_for(app)
    for cls in (PositionsPanel, OpenOrdersPanel, HistoryPanel, BalancesPanel):
        panel = shown(cls(ctx), qtbot)
        panel.refresh(app.engine.versions())
    orders = OpenOrdersPanel(ctx)
    qtbot.addWidget(orders)
    assert not orders.cancel_all_button.isEnabled()
    assert orders.cancel_all() is None and "no order manager" in orders.status.text()


def test_screenshots_positions_and_orders(qloop, demo_app, qtbot) -> None:
    apply_dark(QApplication.instance())
    ctx = ctx_for(demo_app, FUT)
    positions = shown(PositionsPanel(ctx), qtbot)
    orders = shown(OpenOrdersPanel(ctx), qtbot)
    run(qloop, demo_app.oms.submit(OrderIntent(FUT, UI_SYMBOL, Side.SELL, OrderType.MARKET, D("0.005"))))
    run(qloop, demo_app.oms.submit(OrderIntent(FUT, "ETHUSDT", Side.BUY, OrderType.MARKET, D("0.1"))))
    place_limits(qloop, demo_app, 2)
    place_limits(qloop, demo_app, 1, FUT)
    wait_until(
        qloop, refreshed(demo_app, positions, lambda: len(positions.model.rows) == 2), 10, "2 positions"
    )
    wait_until(qloop, refreshed(demo_app, orders, lambda: len(orders.model.rows) == 3), 10, "3 orders")
    Path("/tmp/shots").mkdir(parents=True, exist_ok=True)
    assert positions.grab().save("/tmp/shots/positions.png")
    assert orders.grab().save("/tmp/shots/orders.png")
