"""Own open orders as horizontal lines and own fills as markers on the price pane.

Limit prices are solid lines; stop/target trigger prices are dashed. A line whose price can be
amended (the limit price, or the trigger of an order without one) is draggable; on release the
new price is rounded to the instrument tick and reported through ``on_amend`` (the window sends
it to the OMS). The lines are re-read from the engine whenever the orders version changes, so
a rejected amend snaps back to the order's real price.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor

from terminal.model import Fill, Instrument, Order, Side
from terminal.ui.chart.data import CandleStore
from terminal.ui.theme import ACCENT, BUY_COLOR, FOREGROUND, SELL_COLOR

__all__ = ["PENDING_S", "OrderLine", "OrderOverlay", "TradeMark", "round_to_tick"]

PENDING_S = 3.0  # how long a dragged line waits for the amend before it snaps back


def round_to_tick(price: float, inst: Instrument | None) -> Decimal:
    """A chart coordinate as an order price: the instrument's tick, else 8 decimals."""
    if inst is not None:
        return inst.round_price(Decimal(repr(float(price))))
    return Decimal(repr(round(float(price), 8)))


@dataclass(frozen=True, slots=True)
class TradeMark:
    """A backtest fill to show on the price pane (not an own order: drawn hollow)."""

    time: int  # ms; placed on the bar that contains it
    price: float
    side: Side  # the fill's side: BUY marks point up
    entry: bool  # entries are arrows, exits are crosses


@dataclass(frozen=True, slots=True)
class LineKey:
    client_id: str
    field: str  # "price" (limit) or "stop" (trigger)


class OrderLine(pg.InfiniteLine):
    def __init__(self, key: LineKey, order: Order, price: float, movable: bool) -> None:
        color = QColor(BUY_COLOR if order.side is Side.BUY else SELL_COLOR)
        style = Qt.PenStyle.SolidLine if key.field == "price" else Qt.PenStyle.DashLine
        pen = pg.mkPen(color, width=1, style=style)
        hover = pg.mkPen(color, width=2, style=style)
        super().__init__(pos=price, angle=0, movable=movable, pen=pen, hoverPen=hover)
        self.key = key
        self.order = order
        self.pending: tuple[float, float] | None = None  # (price before the drag, deadline)
        self.label = pg.InfLineLabel(self, text="", position=0.04, anchors=[(0, 1), (0, 1)], color=color)
        self.set_order(order, price)

    def set_order(self, order: Order, price: float) -> None:
        self.order = order
        kind = "" if self.key.field == "price" else " stop"
        self.label.setFormat(f"{order.side.value} {order.remaining_qty.normalize():f}{kind} @ {price:g}")
        if self.pending is not None:
            before, deadline = self.pending
            if price == before and time.monotonic() < deadline:
                return  # the amend is on its way: keep the dragged position
            self.pending = None
        if not self.moving:
            self.setValue(price)

    def order_price(self) -> float:
        p = self.order.price if self.key.field == "price" else self.order.stop_price
        return float(p) if p is not None else self.value()

    def expire_pending(self) -> None:
        if self.pending is None:
            return
        left = self.pending[1] - time.monotonic()
        if left > 0:  # a timer may fire a little early
            QTimer.singleShot(round(left * 1000) + 20, self.expire_pending)
            return
        self.pending = None
        if not self.moving:
            self.setValue(self.order_price())


class OrderOverlay:
    def __init__(
        self,
        plot: pg.PlotItem,
        store: CandleStore,
        instrument: Callable[[], Instrument | None],
        on_amend: Callable[[str, Decimal], None],
    ) -> None:
        self.plot = plot
        self.store = store
        self.instrument = instrument
        self.on_amend = on_amend
        self.lines: dict[LineKey, OrderLine] = {}
        self.fills = pg.ScatterPlotItem(size=11, pxMode=True)
        self.fills.setZValue(20)
        plot.addItem(self.fills)
        self._fills: list[Fill] = []
        self.marks = pg.ScatterPlotItem(size=10, pxMode=True)
        self.marks.setZValue(19)
        plot.addItem(self.marks)
        self._marks: list[TradeMark] = []

    # ------------------------------------------------------------------ orders
    def set_orders(self, orders: Sequence[Order]) -> None:
        wanted: dict[LineKey, tuple[Order, float, bool]] = {}
        for o in orders:
            if not o.is_open:
                continue
            if o.price is not None:
                wanted[LineKey(o.client_id, "price")] = (o, float(o.price), True)
            if o.stop_price is not None:
                # a stop-limit's trigger is shown but its limit line is the one that amends
                wanted[LineKey(o.client_id, "stop")] = (o, float(o.stop_price), o.price is None)
        for key in [k for k in self.lines if k not in wanted]:
            self.plot.removeItem(self.lines.pop(key))
        for key, (order, price, movable) in wanted.items():
            line = self.lines.get(key)
            if line is None:
                line = self.lines[key] = OrderLine(key, order, price, movable)
                line.setZValue(30)
                line.sigPositionChangeFinished.connect(self._released)
                self.plot.addItem(line, ignoreBounds=True)
            else:
                line.set_order(order, price)

    def _released(self, line: OrderLine) -> None:
        price = round_to_tick(line.value(), self.instrument())
        before = line.order_price()
        if price <= 0 or float(price) == before:
            line.setValue(before)
            return
        line.setValue(float(price))
        line.pending = (before, time.monotonic() + PENDING_S)
        QTimer.singleShot(round(PENDING_S * 1000) + 50, line.expire_pending)
        self.on_amend(line.key.client_id, price)

    # ------------------------------------------------------------------ fills
    def set_fills(self, fills: Sequence[Fill]) -> None:
        self._fills = list(fills)
        self.place_fills()

    def place_fills(self) -> None:
        """Markers at the bar of each fill (call again when the bars move: older history, new bars)."""
        s = self.store
        self._place_marks()
        fills = [f for f in self._fills if len(s) and f.ts >= s.t[0]]
        if not fills:
            self.fills.setData([], [])
            return
        ts = np.array([f.ts for f in fills], dtype=np.int64)
        rows = np.searchsorted(s.t, ts, side="right") - 1
        spots = [
            {
                "pos": (float(r + s.x0), float(f.price)),
                "symbol": "t1" if f.side is Side.BUY else "t",
                "brush": pg.mkBrush(BUY_COLOR if f.side is Side.BUY else SELL_COLOR),
                "pen": pg.mkPen("#000000"),
            }
            for r, f in zip(rows.tolist(), fills, strict=True)
        ]
        self.fills.setData(spots)

    # ------------------------------------------------------------------ backtest marks
    def set_marks(self, marks: Sequence[TradeMark]) -> None:
        """Show a backtest's fills (replacing the previous run's); ``clear`` drops them."""
        self._marks = list(marks)
        self._place_marks()

    def _place_marks(self) -> None:
        s = self.store
        if not len(s) or not self._marks:
            self.marks.setData([], [])
            return
        # only marks within the loaded bars: a long run can have far more trades than the chart shows
        step = int(s.t[-1] - s.t[-2]) if len(s) > 1 else 0
        shown = [m for m in self._marks if s.t[0] <= m.time <= s.t[-1] + step]
        rows = np.searchsorted(s.t, np.array([m.time for m in shown], dtype=np.int64), side="right") - 1
        self.marks.setData(
            x=rows.astype(np.float64) + s.x0,
            y=np.array([m.price for m in shown], dtype=np.float64),
            symbol=[("t1" if m.side is Side.BUY else "t") if m.entry else "x" for m in shown],
            size=[13 if m.entry else 8 for m in shown],  # a reversal's exit stays visible on its entry
            brush=[pg.mkBrush(BUY_COLOR if m.side is Side.BUY else SELL_COLOR) for m in shown],
            pen=[pg.mkPen(FOREGROUND if m.entry else ACCENT, width=1) for m in shown],
            data=shown,
        )

    def clear(self) -> None:
        for line in self.lines.values():
            self.plot.removeItem(line)
        self.lines.clear()
        self._fills = []
        self.fills.setData([], [])
        self._marks = []
        self.marks.setData([], [])
