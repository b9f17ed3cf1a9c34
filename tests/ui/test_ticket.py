"""The order ticket against the real demo App (simulator over loopback sockets, real adapters,
real OMS and journal): every order type placed by setting the widgets and clicking Buy/Sell,
seen on the venue and in the open orders / positions / history panels."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from terminal.app import App
from terminal.model import OrderStatus, OrderType, Side, TimeInForce, Venue
from terminal.ui.context import Selection, UiContext
from terminal.ui.tables import HistoryPanel, OpenOrdersPanel, PositionsPanel
from terminal.ui.theme import apply_dark
from terminal.ui.ticket import OrderTicketPanel, TicketType, bracket_manager
from tests.ui.conftest import UI_SYMBOL, demo_config, wait_until

pytestmark = pytest.mark.timeout(150)

SPOT = Venue.BINANCE_SPOT
FUT = Venue.BINANCE_USDM
D = Decimal


def make_ticket(demo_app, qtbot, venue: Venue = SPOT) -> OrderTicketPanel:
    apply_dark(QApplication.instance())
    ctx = UiContext(demo_app, Selection(venue, UI_SYMBOL))
    ticket = OrderTicketPanel(ctx)
    qtbot.addWidget(ticket)
    ticket.resize(360, 560)
    ticket.show()
    return ticket


def mid(qloop, demo_app, venue: Venue) -> Decimal:
    def top():
        t = demo_app.engine.top_of_book(venue, UI_SYMBOL)
        return t is not None and t.bid is not None and t.ask is not None

    try:
        wait_until(qloop, top, 15, "a live book")
    except AssertionError as exc:  # say which feed is not live
        feeds = {k: (s.state.value, s.detail) for k, s in demo_app.engine.feed_statuses().items()}
        raise AssertionError(
            f"{exc}: top {demo_app.engine.top_of_book(venue, UI_SYMBOL)}, feeds {feeds}"
        ) from None
    t = demo_app.engine.top_of_book(venue, UI_SYMBOL)
    return (t.bid + t.ask) / 2


def px(value: Decimal) -> str:
    return str(value.quantize(D("0.1")))  # on both venues' tick (0.01 spot, 0.10 futures)


def fill(ticket: OrderTicketPanel, qtbot, type_: TicketType, size: str, **fields: str) -> None:
    ticket.set_type(type_)
    edits = {
        "price": ticket.price_edit,
        "stop": ticket.stop_edit,
        "tp": ticket.tp_edit,
        "sl": ticket.sl_edit,
    }
    for edit in (ticket.size_edit, *edits.values()):
        edit.clear()
    qtbot.keyClicks(ticket.size_edit, size)
    for name, text in fields.items():
        qtbot.keyClicks(edits[name], text)


def click(qloop, ticket: OrderTicketPanel, qtbot, side: Side):
    button = ticket.buy_button if side is Side.BUY else ticket.sell_button
    assert button.isEnabled(), f"{side} disabled: {ticket.violation.text()}"
    ticket.last_future = None
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert ticket.last_future is not None, ticket.status.text()
    wait_until(qloop, ticket.last_future.done, 15, "the order request")
    exc = ticket.last_future.exception()
    assert exc is None, f"{exc!r}; status: {ticket.status.text()}"
    return ticket.last_future.result()


def venue_order(demo_app, venue: Venue, cid: str):
    account = demo_app.sim.exchange.default_credentials.account_id
    found = [o for o in demo_app.sim.exchange.markets[venue].all_orders(account) if o.client_id == cid]
    return found[0] if found else None


def venue_order_count(demo_app, venue: Venue) -> int:
    account = demo_app.sim.exchange.default_credentials.account_id
    return len(demo_app.sim.exchange.markets[venue].all_orders(account))


def panels(demo_app, qtbot):
    ctx = UiContext(demo_app, Selection(SPOT, UI_SYMBOL))
    out = OpenOrdersPanel(ctx), PositionsPanel(ctx), HistoryPanel(ctx)
    for p in out:
        qtbot.addWidget(p)
    return out


def shows(demo_app, panel, predicate) -> bool:
    panel.refresh(demo_app.engine.versions())
    return predicate()


def keys_of(panel) -> set:
    return {r.key[1] for r in panel.model.rows}


def test_every_order_type_from_the_ticket_spot(qloop, demo_app, qtbot) -> None:
    ticket = make_ticket(demo_app, qtbot)
    orders_panel, _, history = panels(demo_app, qtbot)
    m = mid(qloop, demo_app, SPOT)

    # market: fills, shows in history (orders and fills)
    fill(ticket, qtbot, TicketType.MARKET, "0.001")
    assert "notional" in ticket.preview.text() and "fee ≈" in ticket.preview.text()
    market = click(qloop, ticket, qtbot, Side.BUY)
    assert market.type is OrderType.MARKET and market.qty == D("0.001")
    wait_until(
        qloop,
        lambda: shows(demo_app, history, lambda: market.client_id in keys_of(history.orders)),
        10,
        "the market order in history",
    )
    assert any(r.data.client_id == market.client_id for r in history.fills.model.rows)

    # limit (rounded to tick in the preview and on the venue)
    fill(ticket, qtbot, TicketType.LIMIT, "0.00123", price=px(m * D("0.97")) + "04")
    assert f"@ {(m * D('0.97')).quantize(D('0.1'))}" in ticket.preview.text()
    limit = click(qloop, ticket, qtbot, Side.BUY)
    assert limit.status is OrderStatus.NEW and limit.price == (m * D("0.97")).quantize(D("0.1"))
    assert venue_order(demo_app, SPOT, limit.client_id).qty == D("0.00123")

    # post-only limit
    ticket.post_only.setChecked(True)
    fill(ticket, qtbot, TicketType.LIMIT, "0.001", price=px(m * D("0.96")))
    ticket.post_only.setChecked(True)
    post = click(qloop, ticket, qtbot, Side.BUY)
    assert post.post_only and venue_order(demo_app, SPOT, post.client_id).tif is TimeInForce.POST_ONLY
    ticket.post_only.setChecked(False)

    # stop-market (a buy stop above the market waits for its trigger)
    fill(ticket, qtbot, TicketType.STOP_MARKET, "0.001", stop=px(m * D("1.03")))
    stop_mkt = click(qloop, ticket, qtbot, Side.BUY)
    remote = venue_order(demo_app, SPOT, stop_mkt.client_id)
    assert (remote.type, remote.status) == (OrderType.STOP_MARKET, OrderStatus.UNTRIGGERED)

    # stop-limit (a sell stop below the market)
    fill(ticket, qtbot, TicketType.STOP_LIMIT, "0.001", stop=px(m * D("0.97")), price=px(m * D("0.969")))
    stop_lmt = click(qloop, ticket, qtbot, Side.SELL)
    remote = venue_order(demo_app, SPOT, stop_lmt.client_id)
    assert (remote.type, remote.side, remote.stop_price) == (
        OrderType.STOP_LIMIT,
        Side.SELL,
        (m * D("0.97")).quantize(D("0.1")),
    )

    # OCO: two sell exits of the holding, linked
    fill(ticket, qtbot, TicketType.OCO, "0.001", tp=px(m * D("1.035")), sl=px(m * D("0.965")))
    oco = click(qloop, ticket, qtbot, Side.SELL)
    assert oco.tp_id and oco.sl_id
    assert venue_order(demo_app, SPOT, oco.tp_id).type is OrderType.LIMIT
    assert venue_order(demo_app, SPOT, oco.sl_id).type is OrderType.STOP_MARKET

    expected = {limit.client_id, post.client_id, stop_mkt.client_id, stop_lmt.client_id, oco.tp_id, oco.sl_id}
    wait_until(
        qloop,
        lambda: shows(demo_app, orders_panel, lambda: expected <= keys_of(orders_panel)),
        10,
        "every resting order in the open orders panel",
    )
    for cid in expected:
        assert demo_app.journal.order_record(cid).origin == "manual"
    demo_app.sim.exchange.markets  # noqa: B018 - the venue is still up
    bracket_manager(ticket.ctx).close()


def test_bracket_reduce_only_and_leverage_on_futures(qloop, demo_app, qtbot) -> None:
    ticket = make_ticket(demo_app, qtbot, FUT)
    orders_panel, positions, _ = panels(demo_app, qtbot)
    assert ticket.form.isRowVisible(ticket._leverage_row) and ticket.reduce_only.isEnabled()
    m = mid(qloop, demo_app, FUT)

    # leverage (and margin mode) through the OMS
    ticket.leverage.setValue(5)
    ticket.margin_combo.setCurrentText("Isolated")
    qtbot.mouseClick(ticket.set_leverage_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, ticket.last_future.done, 10, "set leverage")
    assert ticket.last_future.exception() is None, ticket.status.text()
    account = demo_app.sim.exchange.markets[FUT].accounts.get(
        demo_app.sim.exchange.default_credentials.account_id
    )
    assert account.leverage_of(UI_SYMBOL) == 5
    assert "leverage 5x" in ticket.status.text()

    # bracket: market entry, exits after the fill (reduce-only)
    fill(ticket, qtbot, TicketType.BRACKET, "0.003", tp=px(m * D("1.03")), sl=px(m * D("0.97")))
    assert "take-profit" in ticket.preview.text() and "stop-loss" in ticket.preview.text()
    bracket = click(qloop, ticket, qtbot, Side.BUY)
    wait_until(qloop, lambda: bracket.tp_id is not None and bracket.sl_id is not None, 10, "bracket exits")
    for cid, kind in ((bracket.tp_id, OrderType.LIMIT), (bracket.sl_id, OrderType.STOP_MARKET)):
        remote = venue_order(demo_app, FUT, cid)
        assert (remote.type, remote.side, remote.reduce_only, remote.qty) == (
            kind,
            Side.SELL,
            True,
            D("0.003"),
        )
    wait_until(
        qloop,
        lambda: shows(demo_app, positions, lambda: any(r.key[0] is FUT for r in positions.model.rows)),
        10,
        "the position in the positions panel",
    )
    row = next(r for r in positions.model.rows if r.key[0] is FUT)
    assert row.cells[2] == "LONG" and row.cells[3] == "0.003" and row.cells[8] == "5x"

    # reduce-only limit
    fill(ticket, qtbot, TicketType.LIMIT, "0.001", price=px(m * D("1.02")))
    ticket.reduce_only.setChecked(True)
    ro = click(qloop, ticket, qtbot, Side.SELL)
    assert ro.reduce_only and venue_order(demo_app, FUT, ro.client_id).reduce_only
    wait_until(
        qloop,
        lambda: shows(
            demo_app,
            orders_panel,
            lambda: {ro.client_id, bracket.tp_id, bracket.sl_id} <= keys_of(orders_panel),
        ),
        10,
        "exits and the reduce-only order in open orders",
    )
    bracket_manager(ticket.ctx).close()


def test_a_ticket_breaking_a_filter_names_it_and_sends_nothing(qloop, demo_app, qtbot) -> None:
    ticket = make_ticket(demo_app, qtbot)
    m = mid(qloop, demo_app, SPOT)
    before = venue_order_count(demo_app, SPOT)
    journal_before = len(demo_app.journal.orders())
    cases = [
        ("0.000001", px(m), "LOT_SIZE"),  # below the step (0.00001)
        ("0.0001", px(m * D("0.5")), "MIN_NOTIONAL"),  # ~3 USDT < 5
        ("0.001", "0.001", "PRICE_FILTER"),  # rounds to 0.00 on a 0.01 tick
    ]
    for size, price, name in cases:
        fill(ticket, qtbot, TicketType.LIMIT, size, price=price)
        assert name in ticket.violation.text(), (name, ticket.violation.text())
        assert not ticket.buy_button.isEnabled() and not ticket.sell_button.isEnabled()
        qtbot.mouseClick(ticket.buy_button, Qt.MouseButton.LeftButton)  # disabled: nothing happens
        assert ticket.place(Side.BUY) is None  # even when forced
        assert name in ticket.status.text()
    fill(ticket, qtbot, TicketType.LIMIT, "abc", price=px(m))
    assert "not a number" in ticket.violation.text() and not ticket.buy_button.isEnabled()
    assert venue_order_count(demo_app, SPOT) == before
    assert len(demo_app.journal.orders()) == journal_before


def test_risk_refusal_text_lands_in_the_status_line(qloop, demo_app, qtbot) -> None:
    ticket = make_ticket(demo_app, qtbot)
    m = mid(qloop, demo_app, SPOT)
    fill(ticket, qtbot, TicketType.LIMIT, "0.001", price=px(m * D("0.95")))
    click(qloop, ticket, qtbot, Side.BUY)
    qtbot.mouseClick(ticket.buy_button, Qt.MouseButton.LeftButton)  # the same again at once
    wait_until(qloop, ticket.last_future.done, 10, "the duplicate")
    assert "risk:" in ticket.status.text() and "duplicate" in ticket.status.text()


def test_price_picked_and_prefill(qloop, demo_app, qtbot) -> None:
    ticket = make_ticket(demo_app, qtbot)
    ticket.set_type(TicketType.MARKET)
    ticket.ctx.selection.pick_price(D("12345.678"))
    assert ticket.ticket_type is TicketType.LIMIT and ticket.price_edit.text() == "12345.68"
    ticket.prefill(Side.SELL, OrderType.STOP_MARKET, D("60000"))
    assert ticket.ticket_type is TicketType.STOP_MARKET and ticket.stop_edit.text() == "60000.00"
    assert ticket.side is Side.SELL


def test_live_confirmation_is_non_modal(qloop, demo_app, qtbot) -> None:
    ticket = make_ticket(demo_app, qtbot)
    m = mid(qloop, demo_app, SPOT)
    ticket.force_confirm = True
    fill(ticket, qtbot, TicketType.LIMIT, "0.001", price=px(m * D("0.93")))
    qtbot.mouseClick(ticket.buy_button, Qt.MouseButton.LeftButton)
    box = ticket.findChild(QMessageBox, "ticket_confirm")
    assert box is not None and box.isVisible() and not box.isModal()
    assert ticket.last_future is None  # nothing sent before the answer
    box.button(QMessageBox.StandardButton.Yes).click()
    assert ticket.last_future is not None
    wait_until(qloop, ticket.last_future.done, 10, "the confirmed order")
    order = ticket.last_future.result()
    assert venue_order(demo_app, SPOT, order.client_id) is not None


def test_ticket_without_an_order_manager(qloop, qtbot, tmp_path: Path) -> None:
    app = App(demo_config(tmp_path))  # not started: no OMS, no data
    ticket = OrderTicketPanel(UiContext(app, Selection(SPOT, UI_SYMBOL)))
    qtbot.addWidget(ticket)
    ticket.size_edit.setText("0.001")
    ticket.refresh(app.engine.versions())
    assert not ticket.buy_button.isEnabled() and "no order manager" in ticket.violation.text()
    assert ticket.place(Side.BUY) is None


def test_screenshot_ticket(qloop, demo_app, qtbot) -> None:
    ticket = make_ticket(demo_app, qtbot, FUT)
    m = mid(qloop, demo_app, FUT)
    fill(ticket, qtbot, TicketType.BRACKET, "0.003", tp=px(m * D("1.02")), sl=px(m * D("0.99")))
    ticket.entry_combo.setCurrentText("Limit")
    qtbot.keyClicks(ticket.price_edit, px(m * D("0.999")))
    ticket.update_preview()
    Path("/tmp/shots").mkdir(parents=True, exist_ok=True)
    assert ticket.grab().save("/tmp/shots/ticket.png")
    fill(ticket, qtbot, TicketType.LIMIT, "0.0001", price=px(m))
    assert ticket.grab().save("/tmp/shots/ticket_invalid.png")


def test_size_by_quote_amount_and_percent_and_ioc(qloop, demo_app, qtbot) -> None:
    ticket = make_ticket(demo_app, qtbot)
    m = mid(qloop, demo_app, SPOT)
    price = (m * D("0.97")).quantize(D("0.1"))
    inst = demo_app.adapters[SPOT].instrument(UI_SYMBOL)

    fill(ticket, qtbot, TicketType.LIMIT, "100", price=str(price))
    ticket.size_mode.setCurrentText("Quote amount")
    want = inst.round_qty(D(100) / price)
    assert (
        ticket.plans[Side.BUY].qty == want and f"BUY LIMIT {inst.format_qty(want)}" in ticket.preview.text()
    )
    by_quote = click(qloop, ticket, qtbot, Side.BUY)
    assert by_quote.qty == want

    free_usdt = demo_app.engine.balances(SPOT)["USDT"].free
    fill(ticket, qtbot, TicketType.LIMIT, "1", price=str(price - 5))
    ticket.size_mode.setCurrentText("% of available")
    assert ticket.plans[Side.BUY].qty == inst.round_qty(free_usdt / 100 / (price - 5))
    free_btc = demo_app.engine.balances(SPOT)["BTC"].free
    assert ticket.plans[Side.SELL].qty == inst.round_qty(free_btc / 100)  # selling: % of the base
    ticket.size_mode.setCurrentText("Quantity")

    # time in force: an IOC far below the market cannot fill and ends at once
    fill(ticket, qtbot, TicketType.LIMIT, "0.001", price=str(price - 20))
    ticket.tif_combo.setCurrentText("IOC")
    ioc = click(qloop, ticket, qtbot, Side.BUY)
    assert ioc.tif is TimeInForce.IOC
    remote = venue_order(demo_app, SPOT, ioc.client_id)
    assert remote.tif is TimeInForce.IOC and remote.status.is_terminal and remote.filled_qty == 0


def test_ticket_built_before_the_app_started_picks_up_the_venue(qloop, demo_app, qtbot) -> None:
    oms, demo_app.oms = demo_app.oms, None
    try:
        ticket = make_ticket(demo_app, qtbot, FUT)
        assert not ticket.form.isRowVisible(ticket._leverage_row)
    finally:
        demo_app.oms = oms
    ticket.refresh(demo_app.engine.versions())
    assert ticket.form.isRowVisible(ticket._leverage_row) and ticket.reduce_only.isEnabled()
