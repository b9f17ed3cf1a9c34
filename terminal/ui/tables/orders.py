"""Open orders: cancel per row, cancel all, amend price/qty by editing the cell (-> oms.amend)."""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation

from PySide6.QtWidgets import QCheckBox, QPushButton, QWidget

from terminal.engine.engine import Versions
from terminal.model import Order, Side, Venue
from terminal.ui.context import UiContext
from terminal.ui.fmt import format_price, format_qty, format_time_ms, instrument_for, venue_label
from terminal.ui.tables.common import TablePanel
from terminal.ui.tables.model import Row
from terminal.ui.theme import BUY_COLOR, SELL_COLOR

__all__ = ["OpenOrdersPanel"]

HEADERS = ("Venue", "Symbol", "Side", "Type", "Price", "Stop", "Qty", "Filled", "Status", "Flags", "Time", "")
PRICE_COL, STOP_COL, QTY_COL = 4, 5, 6
ACTIONS_COL = len(HEADERS) - 1


class OpenOrdersPanel(TablePanel):
    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(
            ctx, "orders", HEADERS, "No open orders", parent, editable=(PRICE_COL, STOP_COL, QTY_COL)
        )
        self.model.on_edit = self._edited
        self.actions_width = 80
        self.view.horizontalHeader().setStretchLastSection(False)
        self.only_market = QCheckBox("Current market only", self)
        self.only_market.toggled.connect(lambda _on: self._redraw())
        self.cancel_all_button = QPushButton("Cancel all", self)
        self.cancel_all_button.setObjectName("cancel_all")
        self.cancel_all_button.clicked.connect(self.cancel_all)
        self.cancel_all_button.setEnabled(ctx.oms is not None)
        self.toolbar.addWidget(self.only_market)
        self.toolbar.addStretch(1)
        self.toolbar.addWidget(self.cancel_all_button)
        self.view.setToolTip("Double-click a price, stop or quantity to amend (cancel-replace)")
        ctx.selection.changed.connect(lambda _v, _s: self._redraw())
        self._seen = -1

    def refresh(self, versions: Versions) -> None:
        self.cancel_all_button.setEnabled(self.ctx.oms is not None)  # the app may start after us
        if versions.orders == self._seen:
            return
        self._seen = versions.orders
        self._redraw()

    def _redraw(self) -> None:
        sel = self.ctx.selection
        orders = [
            o
            for o in self.ctx.engine.orders(open_only=True)
            if not self.only_market.isChecked() or (o.venue is sel.venue and o.symbol == sel.symbol)
        ]
        orders.sort(key=lambda o: (o.created_at, o.client_id), reverse=True)
        self.show_rows([self._row(o) for o in orders])
        self._attach_buttons()

    def _row(self, o: Order) -> Row:
        inst = instrument_for(self.ctx.app.adapters, o.venue, o.symbol)
        flags = " ".join(f for f, on in (("RO", o.reduce_only), ("PO", o.post_only)) if on) or o.tif.value
        cells = (
            venue_label(o.venue),
            o.symbol,
            o.side.value,
            o.type.value,
            format_price(o.price, inst) if o.price is not None else "—",
            format_price(o.stop_price, inst) if o.stop_price is not None else "—",
            format_qty(o.qty, inst),
            format_qty(o.filled_qty, inst),
            o.status.value,
            flags,
            format_time_ms(o.created_at) if o.created_at else "—",
            "",
        )
        colors = (None, None, BUY_COLOR if o.side is Side.BUY else SELL_COLOR)
        return Row((o.venue, o.client_id), cells, colors, o)

    def _attach_buttons(self) -> None:
        for i, row in enumerate(self.model.rows):
            index = self.model.index(i, ACTIONS_COL)
            if self.view.indexWidget(index) is not None:
                continue
            button = QPushButton("Cancel")
            button.setObjectName(f"cancel:{row.key[1]}")
            button.setEnabled(self.ctx.oms is not None)
            button.clicked.connect(lambda _=False, k=row.key: self.cancel(k[1]))
            self.view.setIndexWidget(index, button)

    # ------------------------------------------------------------------ actions
    def cancel(self, client_id: str) -> asyncio.Future[object] | None:
        oms = self.ctx.oms
        if oms is None:
            self.say_error("cancel: no order manager")
            return None
        return self.act(oms.cancel(client_id), f"cancel {client_id}", lambda o: f"{o.client_id}: {o.status}")

    def cancel_all(self) -> asyncio.Future[object] | None:
        oms = self.ctx.oms
        if oms is None:
            self.say_error("cancel all: no order manager")
            return None
        venue: Venue | None = None
        symbol: str | None = None
        if self.only_market.isChecked():
            venue, symbol = self.ctx.selection.venue, self.ctx.selection.symbol
        return self.act(
            oms.cancel_all(venue, symbol),
            "cancel all",
            lambda res: f"cancel all: {sum(o.is_terminal for o in res)} of {len(res)} canceled",
        )

    def amend(
        self,
        client_id: str,
        *,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
        qty: Decimal | None = None,
    ) -> asyncio.Future[object] | None:
        oms = self.ctx.oms
        if oms is None:
            self.say_error("amend: no order manager")
            return None
        return self.act(
            oms.amend(client_id, price=price, stop_price=stop_price, qty=qty),
            f"amend {client_id}",
            lambda o: f"amended: now {o.client_id} {o.side} {o.qty} @ {o.price or o.stop_price} {o.status}",
        )

    def _edited(self, row: Row, column: int, text: str) -> None:
        try:
            value = Decimal(text.replace(",", ""))
        except InvalidOperation:
            self.say_error(f"amend: {text!r} is not a number")
            return
        if not value.is_finite() or value <= 0:
            self.say_error(f"amend: {text!r} must be a positive number")
            return
        order: Order = row.data
        if column == PRICE_COL and order.price is None:
            self.say_error("amend: this order has no limit price")
            return
        if column == STOP_COL and order.stop_price is None:
            self.say_error("amend: this order has no stop price")
            return
        field = {PRICE_COL: "price", STOP_COL: "stop_price", QTY_COL: "qty"}[column]
        self.amend(order.client_id, **{field: value})
