"""Open positions with live PnL; Close / Reverse per row as reduce-only market orders."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from terminal.engine.engine import Versions
from terminal.model import Order, OrderStatus, OrderType, Position, Side
from terminal.ui.context import UiContext
from terminal.ui.fmt import format_plain, format_price, format_qty, instrument_for, venue_label
from terminal.ui.tables.common import TablePanel
from terminal.ui.tables.model import Row
from terminal.ui.theme import BUY_COLOR, SELL_COLOR

__all__ = ["PositionsPanel"]

HEADERS = ("Venue", "Symbol", "Side", "Qty", "Entry", "Mark", "PnL", "Liq. price", "Lev.", "")
ACTIONS_COL = len(HEADERS) - 1
_FILL_WAIT_S = 10.0  # a reverse opens the new side only once the close is filled


class PositionsPanel(TablePanel):
    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, "positions", HEADERS, "No open positions", parent)
        self.actions_width = 160
        self.view.horizontalHeader().setStretchLastSection(False)
        self._seen = -1

    def refresh(self, versions: Versions) -> None:
        if versions.positions == self._seen:
            return
        self._seen = versions.positions
        self.show_rows([self._row(p) for p in sorted(self.ctx.engine.positions(), key=_sort_key)])
        self._attach_buttons()

    def _row(self, p: Position) -> Row:
        inst = instrument_for(self.ctx.app.adapters, p.venue, p.symbol)
        long = p.signed_qty > 0
        pnl = p.unrealized_pnl.quantize(Decimal("0.01"))  # colour what is shown: -0.001 reads 0.00
        side_color = BUY_COLOR if long else SELL_COLOR
        pnl_color = BUY_COLOR if pnl > 0 else SELL_COLOR if pnl < 0 else None
        cells = (
            venue_label(p.venue),
            p.symbol,
            "LONG" if long else "SHORT",
            format_qty(abs(p.qty), inst),
            format_price(p.entry_price, inst),
            format_price(p.mark_price, inst),
            f"{pnl:+.2f}" if pnl != 0 else "0.00",
            format_price(p.liquidation_price, inst) if p.liquidation_price else "—",
            f"{format_plain(p.leverage)}x",
            "",
        )
        colors = (None, None, side_color, None, None, None, pnl_color)
        return Row((p.venue, p.symbol, p.side), cells, colors, p)

    def _attach_buttons(self) -> None:
        for i, row in enumerate(self.model.rows):
            index = self.model.index(i, ACTIONS_COL)
            if self.view.indexWidget(index) is not None:
                continue
            box = QWidget()
            lay = QHBoxLayout(box)
            lay.setContentsMargins(2, 0, 2, 0)
            lay.setSpacing(4)
            for label, handler in (("Close", self.close_position), ("Reverse", self.reverse_position)):
                button = QPushButton(label, box)
                button.setObjectName(f"{label.lower()}:{row.key[0]}:{row.key[1]}:{row.key[2]}")
                button.setEnabled(self.ctx.oms is not None)
                button.clicked.connect(lambda _=False, k=row.key, h=handler: h(k))
                lay.addWidget(button)
            self.view.setIndexWidget(index, box)

    def _position(self, key: tuple[object, ...]) -> Position | None:
        i = self.model.row_of(key)
        return None if i < 0 else self.model.rows[i].data

    # ------------------------------------------------------------------ actions
    def close_position(self, key: tuple[object, ...]) -> asyncio.Future[object] | None:
        p = self._position(key)
        oms = self.ctx.oms
        if p is None or oms is None:
            self.say_error("close: no such position or no order manager")
            return None
        return self.act(oms.submit(_close_intent(p)), f"close {p.symbol}", lambda o: _said(o, "close"))

    def reverse_position(self, key: tuple[object, ...]) -> asyncio.Future[object] | None:
        p = self._position(key)
        if p is None or self.ctx.oms is None:
            self.say_error("reverse: no such position or no order manager")
            return None
        return self.act(self._reverse(p), f"reverse {p.symbol}", lambda o: _said(o, "reverse: opened"))

    async def _reverse(self, p: Position) -> Order:
        """Close with a reduce-only market order; once it is filled open the same size the other way."""
        from terminal.trading.oms import OrderIntent

        oms = self.ctx.oms
        assert oms is not None
        closed = await oms.submit(_close_intent(p))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _FILL_WAIT_S
        while (o := oms.order(closed.client_id)) is not None and o.status is not OrderStatus.FILLED:
            if o.is_terminal or loop.time() > deadline:
                raise RuntimeError(f"close order {closed.client_id} is {o.status}: not reversing")
            await asyncio.sleep(0.05)
        side = Side.SELL if p.signed_qty > 0 else Side.BUY
        return await oms.submit(
            OrderIntent(
                p.venue,
                p.symbol,
                side,
                OrderType.MARKET,
                abs(p.qty),
                reason=f"reverse {p.symbol}",
                allow_duplicate=True,  # same terms as the close just sent, on purpose
            )
        )


def _close_intent(p: Position):  # -> OrderIntent (imported lazily: the UI module loads without the OMS)
    from terminal.trading.oms import OrderIntent

    side = Side.SELL if p.signed_qty > 0 else Side.BUY
    return OrderIntent(
        p.venue,
        p.symbol,
        side,
        OrderType.MARKET,
        abs(p.qty),
        reduce_only=True,
        position_side=p.side,  # hedge mode closes its own leg
        reason=f"close {p.symbol} position",
        allow_duplicate=True,  # closing twice in a row is deliberate; reduce-only caps it anyway
    )


def _said(o: Order, what: str) -> str:
    return f"{what}: {o.side} {o.qty} {o.symbol} {o.status}"


def _sort_key(p: Position) -> tuple[str, str, str]:
    return (p.venue.value, p.symbol, p.side.value)
