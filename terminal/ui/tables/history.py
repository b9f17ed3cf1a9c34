"""Order history (terminal orders) and fills, newest first, in two tabs."""

from __future__ import annotations

from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from terminal.engine.engine import Versions
from terminal.model import Fill, Order, OrderStatus, Side
from terminal.ui.context import UiContext
from terminal.ui.fmt import (
    format_plain,
    format_price,
    format_qty,
    format_time_ms,
    instrument_for,
    venue_label,
)
from terminal.ui.tables.common import TablePanel
from terminal.ui.tables.model import Row
from terminal.ui.theme import BUY_COLOR, MUTED, SELL_COLOR

__all__ = ["HistoryPanel"]

ORDER_HEADERS = (
    "Time",
    "Venue",
    "Symbol",
    "Side",
    "Type",
    "Price",
    "Qty",
    "Filled",
    "Avg",
    "Status",
    "Reason",
)
FILL_HEADERS = ("Time", "Venue", "Symbol", "Side", "Price", "Qty", "Fee", "Role", "Order")
MAX_ROWS = 500  # the journal keeps everything; the panel shows the recent part


class HistoryPanel(QWidget):
    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("history")
        self.orders = TablePanel(ctx, "history_orders", ORDER_HEADERS, "No finished orders yet", self)
        self.fills = TablePanel(ctx, "history_fills", FILL_HEADERS, "No fills yet", self)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.orders, "Orders")
        self.tabs.addTab(self.fills, "Fills")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self._seen = -1

    def refresh(self, versions: Versions) -> None:
        if versions.orders == self._seen:  # fills bump the orders version too
            return
        self._seen = versions.orders
        done = [o for o in self.ctx.engine.orders() if o.is_terminal]
        done.sort(key=lambda o: (o.updated_at, o.client_id), reverse=True)
        self.orders.show_rows([self._order_row(o) for o in done[:MAX_ROWS]])
        fills = sorted(self.ctx.engine.fills(), key=lambda f: (f.ts, f.trade_id), reverse=True)
        self.fills.show_rows([self._fill_row(f) for f in fills[:MAX_ROWS]])

    def _order_row(self, o: Order) -> Row:
        inst = instrument_for(self.ctx.app.adapters, o.venue, o.symbol)
        price = o.price if o.price is not None else o.stop_price
        status_color = BUY_COLOR if o.status is OrderStatus.FILLED else MUTED
        cells = (
            format_time_ms(o.updated_at) if o.updated_at else "—",
            venue_label(o.venue),
            o.symbol,
            o.side.value,
            o.type.value,
            format_price(price, inst) if price is not None else "MKT",
            format_qty(o.qty, inst),
            format_qty(o.filled_qty, inst),
            format_price(o.avg_price, inst) if o.avg_price else "—",
            o.status.value,
            o.reason or "",
        )
        colors = (None, None, None, _side_color(o.side), None, None, None, None, None, status_color)
        return Row((o.venue, o.client_id), cells, colors, o)

    def _fill_row(self, f: Fill) -> Row:
        inst = instrument_for(self.ctx.app.adapters, f.venue, f.symbol)
        cells = (
            format_time_ms(f.ts),
            venue_label(f.venue),
            f.symbol,
            f.side.value,
            format_price(f.price, inst),
            format_qty(f.qty, inst),
            f"{format_plain(f.fee)} {f.fee_asset}".strip(),
            "maker" if f.is_maker else "taker",
            f.client_id,
        )
        return Row((f.venue, f.symbol, f.trade_id), cells, (None, None, None, _side_color(f.side)), f)


def _side_color(side: Side) -> str:
    return BUY_COLOR if side is Side.BUY else SELL_COLOR
