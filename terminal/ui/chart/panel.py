"""The chart panel: follows the selection, syncs the canvas from engine snapshots, draws own
orders/fills, offers buy/sell-limit-here, and loads older history when scrolled past the start.

Reads only ``Engine`` snapshots (``candle_bars``, ``orders``, ``fills``); the two actions leave
as signals (``amend_requested``, ``order_here_requested``) that the window sends to the OMS.
An interval the engine does not track yet is asked for with ``Engine.track_candles``; only the
base interval (1m) streams live, so other intervals get their forming bar from it (``fold_live``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from decimal import Decimal

from PySide6.QtCore import QPoint, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from terminal.engine.candles import CandleKey, interval_ms
from terminal.engine.engine import Versions
from terminal.engine.history import fetch_older
from terminal.model import Instrument, Side, Venue
from terminal.ui.chart.canvas import ChartCanvas
from terminal.ui.chart.data import fold_live
from terminal.ui.chart.orders import OrderOverlay, TradeMark, round_to_tick
from terminal.ui.chart.overlays import Overlay
from terminal.ui.context import UiContext
from terminal.ui.fmt import format_price, instrument_for
from terminal.ui.theme import ACCENT, MUTED, SELL_COLOR

__all__ = ["INTERVALS", "ChartPanel"]

log = logging.getLogger(__name__)

INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "4h", "1d")
BASE_INTERVAL = "1m"  # the interval the app streams live
_HISTORY = 1000  # bars asked for when the chart starts tracking an interval
_OLDER_PAGE = 1000  # bars per "scrolled past the start" request
ACCENT_BG = "#2b4a75"  # the theme's selection colour

Market = tuple[Venue, str, str]


class ChartPanel(QWidget):
    amend_requested = Signal(str, object)  # client id, new Decimal price (tick-rounded)
    order_here_requested = Signal(object, object)  # Side, Decimal price (tick-rounded)

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chart")
        self.ctx = ctx
        self.canvas = ChartCanvas(self)
        self.store = self.canvas.store
        self.orders = OrderOverlay(self.canvas.price_plot, self.store, self.instrument, self._amend)
        self.last_menu: QMenu | None = None
        self._market: Market | None = None
        self._seen_candles = -1
        self._seen_orders = -1
        self._tracking: dict[CandleKey, asyncio.Future[object]] = {}
        self._older: asyncio.Future[None] | None = None
        self._older_exhausted = False
        self.older_loads = 0  # completed "load older" requests (tests)

        self.interval_box = QComboBox()
        self.interval_box.setObjectName("chartInterval")
        self.interval_box.addItems(INTERVALS)
        self.interval_box.activated.connect(lambda i: ctx.selection.set_interval(INTERVALS[i]))
        self.toggles: dict[Overlay, QToolButton] = {}
        # an overlay that is on must read as on in the dark palette too
        self.setStyleSheet(f"QToolButton:checked {{ background: {ACCENT_BG}; border: 1px solid {ACCENT}; }}")
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(self.interval_box)
        for ov in Overlay:
            b = QToolButton()
            b.setText(ov.value)
            b.setCheckable(True)
            b.setObjectName(f"chartToggle{ov.name}")
            b.toggled.connect(lambda on, ov=ov: self.canvas.set_overlay(ov, on))
            self.toggles[ov] = b
            bar.addWidget(b)
        self.status = QLabel("")
        self.status.setObjectName("chartLoading")
        self.status.setStyleSheet(f"color: {MUTED};")
        self.readout = QLabel("")
        self.readout.setObjectName("chartReadout")
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        bar.addWidget(self.status)
        bar.addWidget(self.readout, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.canvas, 1)

        self.canvas.readout_changed.connect(self.readout.setText)
        self.canvas.menu_requested.connect(self._menu)
        self.canvas.view_left_of_data.connect(self.load_older)
        ctx.selection.changed.connect(lambda *_: self._load_market())
        ctx.selection.interval_changed.connect(lambda *_: self._load_market())
        self._load_market()

    # ------------------------------------------------------------------ selection
    @property
    def market(self) -> Market:
        sel = self.ctx.selection
        return sel.venue, sel.symbol, sel.interval

    def instrument(self) -> Instrument | None:
        venue, symbol, _ = self.market
        return instrument_for(getattr(self.ctx.app, "adapters", {}) or {}, venue, symbol)

    def _load_market(self) -> None:
        market = self.market
        if market == self._market:
            return
        self._market = market
        if self._older is not None:
            self._older.cancel()
            self._older = None
        self._older_exhausted = False
        venue, symbol, interval = market
        idx = INTERVALS.index(interval) if interval in INTERVALS else -1
        if idx >= 0:
            self.interval_box.setCurrentIndex(idx)
        inst = self.instrument()
        self.canvas.format_price = lambda v: format_price(float(v), inst)
        self.canvas.set_step(interval_ms(interval))
        self.store.clear()
        self.orders.clear()
        self.canvas.y_levels = []
        self.canvas.data_reset()
        self.readout.setText("")
        self._set_status("")  # a message about the previous market does not apply
        self._seen_candles = self._seen_orders = -1
        self._ensure_tracked(venue, symbol, interval)
        self.refresh(self.ctx.engine.versions())

    def _ensure_tracked(self, venue: Venue, symbol: str, interval: str) -> None:
        key = CandleKey(venue, symbol, interval)
        engine = self.ctx.engine
        if engine.is_tracked(venue, symbol, interval) or key in self._tracking:
            return
        loading = f"loading {interval} candles…"
        self._set_status(loading)
        fut = asyncio.ensure_future(engine.track_candles(venue, symbol, interval, _HISTORY))
        self._tracking[key] = fut

        def done(f: asyncio.Future[object]) -> None:
            if f.cancelled() or f.exception() is not None:
                self._tracking.pop(key, None)  # let a later visit try again
                log.warning("tracking %s failed: %r", key, None if f.cancelled() else f.exception())
            if self._market == (venue, symbol, interval):
                if self.status.text() == loading:  # not another message that came meanwhile
                    self._set_status("")
                self._seen_candles = -1

        fut.add_done_callback(done)

    # ------------------------------------------------------------------ refresh
    def refresh(self, versions: Versions) -> None:
        if versions.candles != self._seen_candles:
            self._seen_candles = versions.candles
            self._sync_candles()
        if versions.orders != self._seen_orders:
            self._seen_orders = versions.orders
            self._sync_orders()

    def _sync_candles(self) -> None:
        venue, symbol, interval = self.market
        engine = self.ctx.engine
        bars = engine.candle_bars(venue, symbol, interval)
        step = interval_ms(interval)
        if interval != BASE_INTERVAL and step is not None and step <= 86_400_000:
            bars = fold_live(bars, engine.candle_bars(venue, symbol, BASE_INTERVAL), step)
        follow = self.canvas.at_live_edge()
        n_before = len(self.store)
        res = self.store.sync(bars)
        self.canvas.data_updated(res, n_before, follow)
        if res.changed_from is not None and not res.live_only:
            self.orders.place_fills()
        if res.changed_from is not None and len(self.store) and not self.canvas.vline.isVisible():
            self.readout.setText(self.canvas.readout(len(self.store) - 1))  # no cursor: the last bar
        if not len(self.store) and not self.status.text():
            self._set_status("no candles yet")
        elif len(self.store) and self.status.text() == "no candles yet":
            self._set_status("")

    def _sync_orders(self) -> None:
        venue, symbol, _ = self.market
        engine = self.ctx.engine
        self.orders.set_orders([o for o in engine.orders(venue, open_only=True) if o.symbol == symbol])
        levels = [line.value() for line in self.orders.lines.values()]
        if levels != self.canvas.y_levels:
            self.canvas.y_levels = levels
            self.canvas.autoscale_y()
        self.orders.set_fills([f for f in engine.fills() if f.venue is venue and f.symbol == symbol])

    # ------------------------------------------------------------------ older history
    def load_older(self) -> None:
        """Fetch one page of bars before the first one (no-op while loading or at the start)."""
        if self._older is not None or self._older_exhausted or not len(self.store):
            return
        venue, symbol, interval = market = self.market
        before = int(self.store.t[0])
        self._set_status("loading history…")

        async def load() -> None:
            try:
                bars = await fetch_older(self.ctx.engine, venue, symbol, interval, before, _OLDER_PAGE)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("older %s %s %s history failed: %s", venue, symbol, interval, exc)
                if self._market == market:
                    self._set_status(f"history failed: {exc}", error=True)
                return
            finally:
                if self._market == market:
                    self._older = None
            if self._market != market:
                return
            added = self.store.prepend(bars)
            self.older_loads += 1
            self._older_exhausted = added == 0
            self._set_status("start of history" if added == 0 else "")
            if added:
                self.canvas.data_reset()
                self.orders.place_fills()

        self._older = asyncio.ensure_future(load())

    def show_trade_marks(self, venue: Venue, symbol: str, marks: Sequence[TradeMark]) -> None:
        """Mark a backtest's entries/exits: switches to ``venue``/``symbol`` first (any later
        market change clears them, as they belong to that market)."""
        self.ctx.selection.set_market(venue, symbol)
        self.orders.set_marks(marks)

    # ------------------------------------------------------------------ actions
    def _amend(self, client_id: str, price: Decimal) -> None:
        self.amend_requested.emit(client_id, price)

    def _menu(self, price: float, screen_pos: QPoint) -> None:
        menu = self.context_menu(price)
        menu.popup(screen_pos)

    def context_menu(self, price: float) -> QMenu:
        """The right-click menu for ``price`` (kept in ``last_menu``)."""
        rounded = round_to_tick(price, self.instrument())
        if self.last_menu is not None:
            self.last_menu.deleteLater()
        menu = self.last_menu = QMenu(self)
        text = format_price(rounded, self.instrument())
        for side, label in ((Side.BUY, "Buy limit here"), (Side.SELL, "Sell limit here")):
            act = menu.addAction(f"{label} @ {text}")
            act.triggered.connect(lambda _=False, side=side: self.order_here_requested.emit(side, rounded))
            act.setEnabled(rounded > 0)
        menu.addSeparator()
        menu.addAction("Reset view").triggered.connect(lambda: self.canvas.default_view())
        return menu

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {SELL_COLOR if error else MUTED};")

    def closeEvent(self, event: object) -> None:
        for fut in [self._older, *self._tracking.values()]:
            if fut is not None:
                with contextlib.suppress(Exception):
                    fut.cancel()
        super().closeEvent(event)  # type: ignore[arg-type]
