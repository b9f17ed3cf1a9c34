"""The order ticket: every order type the terminal places, previewed before it is sent.

The preview runs the same local checks the OMS runs before a request leaves the terminal
(price to the nearest tick, quantity down to the step, ``Instrument.validate`` against the
book's mid as reference), so the ticket names the filter that *would* reject an order and
keeps Buy/Sell disabled until it passes. ``plan_ticket`` is the pure part (no Qt): inputs ->
the orders it would send, notional, estimated fee, the first violation.

Orders go through ``ctx.oms.submit`` (origin "manual"); OCO pairs and TP/SL brackets through
``terminal.trading.brackets.BracketManager``. Nothing here awaits in a slot: requests are
scheduled on the loop and their outcome (or the risk/filter/venue refusal) lands in the
status line. In live mode a non-modal confirmation comes first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from terminal.engine.engine import Versions
from terminal.model import (
    Balance,
    FilterViolation,
    Instrument,
    MarginMode,
    Order,
    OrderType,
    RoundingMode,
    Side,
    TimeInForce,
    Venue,
)
from terminal.ui.context import UiContext
from terminal.ui.fmt import format_plain, format_price, format_qty, instrument_for, venue_label
from terminal.ui.tables.common import run_action
from terminal.ui.theme import BUY_COLOR, MUTED, SELL_COLOR

__all__ = [
    "FEE_RATES",
    "OrderTicketPanel",
    "SizeMode",
    "TicketInput",
    "TicketPlan",
    "TicketType",
    "plan_ticket",
]

log = logging.getLogger(__name__)

_PREVIEW_MIN_S = 0.2  # market-driven preview updates at most 5 per second


class TicketType(StrEnum):
    MARKET = "Market"
    LIMIT = "Limit"
    STOP_MARKET = "Stop-market"
    STOP_LIMIT = "Stop-limit"
    OCO = "OCO"
    BRACKET = "TP/SL bracket"


class SizeMode(StrEnum):
    QTY = "Quantity"
    QUOTE = "Quote amount"
    PERCENT = "% of available"


_SIMPLE_TYPES: Mapping[TicketType, OrderType] = {
    TicketType.MARKET: OrderType.MARKET,
    TicketType.LIMIT: OrderType.LIMIT,
    TicketType.STOP_MARKET: OrderType.STOP_MARKET,
    TicketType.STOP_LIMIT: OrderType.STOP_LIMIT,
}

# Default (lowest tier) maker/taker fees: an estimate for the preview, not a quote.
FEE_RATES: Mapping[Venue, tuple[Decimal, Decimal]] = {
    Venue.BINANCE_SPOT: (Decimal("0.001"), Decimal("0.001")),
    Venue.BINANCE_USDM: (Decimal("0.0002"), Decimal("0.0005")),
    Venue.BYBIT_SPOT: (Decimal("0.001"), Decimal("0.001")),
    Venue.BYBIT_LINEAR: (Decimal("0.0002"), Decimal("0.00055")),
}


# ---------------------------------------------------------------------- the pure part


@dataclass(frozen=True, slots=True)
class TicketInput:
    type: TicketType
    side: Side
    size: Decimal | None
    size_mode: SizeMode = SizeMode.QTY
    price: Decimal | None = None
    stop: Decimal | None = None
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    bracket_entry: OrderType = OrderType.MARKET
    tif: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    leverage: Decimal = Decimal(1)


@dataclass(frozen=True, slots=True)
class PlannedOrder:
    role: str  # "order", "entry", "take-profit", "stop-loss"
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None
    stop_price: Decimal | None


@dataclass(frozen=True, slots=True)
class TicketPlan:
    orders: tuple[PlannedOrder, ...] = ()
    qty: Decimal = Decimal(0)
    notional: Decimal | None = None
    fee: Decimal | None = None
    fee_rate: Decimal | None = None
    problem: str | None = None  # the first thing that would reject it ("MIN_NOTIONAL: ...")
    violations: tuple[FilterViolation, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return self.problem is None and bool(self.orders)


def plan_ticket(
    t: TicketInput,
    inst: Instrument | None,
    reference: Decimal | None,
    balances: Mapping[str, Balance],
    *,
    fee_rates: tuple[Decimal, Decimal] | None = None,
    order_types: frozenset[OrderType] | None = None,
) -> TicketPlan:
    """The orders the ticket would send, rounded like the OMS rounds, and what would refuse them."""
    if inst is None:
        return TicketPlan(problem="instrument not loaded")
    if t.size is None or t.size <= 0:
        return TicketPlan(problem="enter a size")
    entry_type = _entry_type(t)
    price = inst.round_price(t.price, RoundingMode.NEAREST) if t.price is not None else None
    stop = inst.round_price(t.stop, RoundingMode.NEAREST) if t.stop is not None else None
    tp = inst.round_price(t.take_profit, RoundingMode.NEAREST) if t.take_profit is not None else None
    sl = inst.round_price(t.stop_loss, RoundingMode.NEAREST) if t.stop_loss is not None else None

    # The price a size in quote / % is converted at, and the notional is valued at.
    if t.type is TicketType.OCO:
        value_px = tp or reference
    elif entry_type.has_limit_price and price is not None:
        value_px = price
    elif entry_type.is_conditional and stop is not None:
        value_px = stop
    else:
        value_px = reference
    raw_qty = _qty_from_size(t, inst, value_px, balances)
    if raw_qty is None:
        return TicketPlan(problem="no price to convert the size at (no market data yet)")
    qty = inst.round_qty(raw_qty)
    check_qty = qty if qty > 0 else raw_qty  # below one step: let LOT_SIZE name it

    orders: list[PlannedOrder] = []
    if t.type in _SIMPLE_TYPES:
        p = price if entry_type.has_limit_price else None
        s = stop if entry_type.is_conditional else None
        orders.append(PlannedOrder("order", t.side, entry_type, check_qty, p, s))
    else:
        if tp is None or sl is None:
            return TicketPlan(qty=qty, problem="enter both a take-profit and a stop-loss price")
        exit_side = t.side if t.type is TicketType.OCO else t.side.opposite
        if (exit_side is Side.SELL and tp <= sl) or (exit_side is Side.BUY and tp >= sl):
            where = "above" if exit_side is Side.SELL else "below"
            return TicketPlan(
                qty=qty, problem=f"{exit_side} exits need the take-profit {where} the stop-loss"
            )
        if t.type is TicketType.BRACKET:
            p = price if entry_type is OrderType.LIMIT else None
            orders.append(PlannedOrder("entry", t.side, entry_type, check_qty, p, None))
        orders.append(PlannedOrder("take-profit", exit_side, OrderType.LIMIT, check_qty, tp, None))
        orders.append(PlannedOrder("stop-loss", exit_side, OrderType.STOP_MARKET, check_qty, None, sl))

    problem: str | None = None
    violations: list[FilterViolation] = []
    if order_types is not None:
        missing = [o.type for o in orders if o.type not in order_types]
        if missing:
            problem = f"{missing[0]} orders are not supported on {inst.venue}"
    if problem is None and t.post_only and not any(o.type is OrderType.LIMIT for o in orders[:1]):
        problem = "post-only needs a limit order"
    if problem is None:
        for o in orders:
            found = inst.validate(
                o.side, o.type, o.price, o.qty, stop_price=o.stop_price, reference_price=reference
            )
            if found:
                violations.extend(found)
                prefix = "" if o.role == "order" else f"{o.role}: "
                problem = prefix + str(found[0])
                break

    notional = qty * value_px if value_px is not None and qty > 0 else None
    fee = rate = None
    if notional is not None and fee_rates is not None:
        maker = t.post_only or (entry_type is OrderType.LIMIT and t.type is not TicketType.OCO)
        rate = fee_rates[0] if maker else fee_rates[1]
        fee = notional * rate
    return TicketPlan(tuple(orders), qty, notional, fee, rate, problem, tuple(violations))


def _entry_type(t: TicketInput) -> OrderType:
    if t.type in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[t.type]
    if t.type is TicketType.BRACKET:
        return t.bracket_entry
    return OrderType.LIMIT  # OCO: valued at its take-profit


def _qty_from_size(
    t: TicketInput, inst: Instrument, px: Decimal | None, balances: Mapping[str, Balance]
) -> Decimal | None:
    assert t.size is not None
    if t.size_mode is SizeMode.QTY:
        return t.size
    if px is None or px <= 0:
        return None
    if t.size_mode is SizeMode.QUOTE:
        return t.size / px
    pct = t.size / Decimal(100)
    if inst.is_derivative:  # margin: the available quote times the leverage buys this much
        return _free(balances, inst.quote) * pct * t.leverage / px
    if t.side is Side.BUY:
        return _free(balances, inst.quote) * pct / px
    return _free(balances, inst.base) * pct


def _free(balances: Mapping[str, Balance], asset: str) -> Decimal:
    b = balances.get(asset)
    return b.free if b is not None else Decimal(0)


def parse_decimal(text: str) -> Decimal | None:
    """A user's number: None when empty; ValueError with a readable message when not a number."""
    text = text.strip().replace(",", "")
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{text!r} must be a positive number")
    return value


# ---------------------------------------------------------------------- brackets


def bracket_manager(ctx: UiContext) -> Any:
    """The app's BracketManager: ``App`` builds it with the OMS and restores the open brackets
    from the journal (one manager per OMS, so a restart picks up what the ticket placed); None
    while the app is not running."""
    return getattr(ctx.app, "brackets", None)


# ---------------------------------------------------------------------- the panel


class OrderTicketPanel(QWidget):
    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setObjectName("ticket")
        self.side = Side.BUY  # the side the preview describes (last pressed / prefilled)
        self.force_confirm = False  # tests: exercise the live-mode confirmation in demo
        self.plans: dict[Side, TicketPlan] = {}
        self.last_future: asyncio.Future[Any] | None = None
        self._confirm: QMessageBox | None = None
        self._books_seen = -1
        self._balances_seen = -1
        self._last_preview = 0.0
        self._had_oms = ctx.oms is not None
        self._positions_seen = -1
        self._leverage_edited = False
        self._setting_leverage = False
        self._build()
        ctx.selection.changed.connect(lambda _v, _s: self._market_changed())
        ctx.selection.price_picked.connect(self.pick_price)
        self._market_changed()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.market_label = QLabel(self)
        self.market_label.setObjectName("ticket_market")
        font = self.market_label.font()
        font.setBold(True)
        self.market_label.setFont(font)

        self.type_combo = _combo(self, "ticket_type", [t.value for t in TicketType])
        self.entry_combo = _combo(self, "ticket_entry", ["Market", "Limit"])
        self.price_edit = _edit(self, "ticket_price", "limit price")
        self.stop_edit = _edit(self, "ticket_stop", "trigger price")
        self.tp_edit = _edit(self, "ticket_tp", "take-profit (limit)")
        self.sl_edit = _edit(self, "ticket_sl", "stop-loss (trigger)")
        self.size_edit = _edit(self, "ticket_size", "size")
        self.size_mode = _combo(self, "ticket_size_mode", [m.value for m in SizeMode])
        self.tif_combo = _combo(
            self, "ticket_tif", [TimeInForce.GTC.value, TimeInForce.IOC.value, TimeInForce.FOK.value]
        )
        self.post_only = QCheckBox("Post-only", self)
        self.post_only.setObjectName("ticket_post_only")
        self.reduce_only = QCheckBox("Reduce-only", self)
        self.reduce_only.setObjectName("ticket_reduce_only")
        self.leverage = QSpinBox(self)
        self.leverage.setObjectName("ticket_leverage")
        self.leverage.setRange(1, 125)
        self.leverage.setSuffix("x")
        self.margin_combo = _combo(self, "ticket_margin", ["Cross", "Isolated"])
        self.set_leverage_button = QPushButton("Set", self)
        self.set_leverage_button.setObjectName("ticket_set_leverage")
        self.set_leverage_button.clicked.connect(self.apply_leverage)

        size_row = QHBoxLayout()
        size_row.addWidget(self.size_edit, 2)
        size_row.addWidget(self.size_mode, 1)
        flags_row = QHBoxLayout()
        flags_row.addWidget(self.tif_combo)
        flags_row.addWidget(self.post_only)
        flags_row.addWidget(self.reduce_only)
        flags_row.addStretch(1)
        lev_row = QHBoxLayout()
        lev_row.addWidget(self.leverage)
        lev_row.addWidget(self.margin_combo)
        lev_row.addWidget(self.set_leverage_button)
        lev_row.addStretch(1)

        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.form.addRow("Type", self.type_combo)
        self.form.addRow("Entry", self.entry_combo)
        self.form.addRow("Price", self.price_edit)
        self.form.addRow("Stop", self.stop_edit)
        self.form.addRow("Take-profit", self.tp_edit)
        self.form.addRow("Stop-loss", self.sl_edit)
        self.form.addRow("Size", size_row)
        self.form.addRow("Options", flags_row)
        self.form.addRow("Leverage", lev_row)
        self._leverage_row = self.form.rowCount() - 1
        self._margin_supported = False

        self.preview = QLabel(self)
        self.preview.setObjectName("ticket_preview")
        self.preview.setWordWrap(True)
        self.violation = QLabel(self)
        self.violation.setObjectName("ticket_violation")
        self.violation.setWordWrap(True)
        self.violation.setStyleSheet(f"color: {SELL_COLOR};")

        self.buy_button = QPushButton("Buy", self)
        self.buy_button.setObjectName("ticket_buy")
        self.sell_button = QPushButton("Sell", self)
        self.sell_button.setObjectName("ticket_sell")
        for button, color in ((self.buy_button, BUY_COLOR), (self.sell_button, SELL_COLOR)):
            button.setMinimumHeight(30)
            button.setStyleSheet(
                f"QPushButton {{ background: {color}; color: white; font-weight: bold; border-radius: 3px; }}"
                f"QPushButton:disabled {{ background: #2a3039; color: {MUTED}; }}"
            )
        self.buy_button.clicked.connect(lambda: self.place(Side.BUY))
        self.sell_button.clicked.connect(lambda: self.place(Side.SELL))
        buttons = QHBoxLayout()
        buttons.addWidget(self.buy_button)
        buttons.addWidget(self.sell_button)

        self.status = QLabel(self)
        self.status.setObjectName("ticket_status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addWidget(self.market_label)
        layout.addLayout(self.form)
        layout.addWidget(self.preview)
        layout.addWidget(self.violation)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addStretch(1)

        for edit in (self.price_edit, self.stop_edit, self.tp_edit, self.sl_edit, self.size_edit):
            edit.textChanged.connect(lambda _t: self.update_preview())
        for combo in (self.type_combo, self.entry_combo, self.size_mode, self.tif_combo):
            combo.currentIndexChanged.connect(lambda _i: self._inputs_changed())
        for box in (self.post_only, self.reduce_only):
            box.toggled.connect(lambda _on: self.update_preview())
        self.leverage.valueChanged.connect(self._leverage_changed)

    # ------------------------------------------------------------------ state
    @property
    def ticket_type(self) -> TicketType:
        return TicketType(self.type_combo.currentText())

    def set_type(self, t: TicketType) -> None:
        self.type_combo.setCurrentText(t.value)

    def _capabilities(self) -> Any:
        oms = self.ctx.oms
        adapter = None if oms is None else oms.adapters.get(self.ctx.selection.venue)
        return None if adapter is None else adapter.capabilities

    def _instrument(self) -> Instrument | None:
        return instrument_for(self.ctx.app.adapters, self.ctx.selection.venue, self.ctx.selection.symbol)

    def _market_changed(self) -> None:
        sel = self.ctx.selection
        self.market_label.setText(f"{venue_label(sel.venue)} · {sel.symbol}")
        self._leverage_edited = False
        self._show_position_leverage()
        self._inputs_changed()

    def _leverage_changed(self, _value: int) -> None:
        if not self._setting_leverage:
            self._leverage_edited = True  # the user's choice wins over the venue's
        self.update_preview()

    def _show_position_leverage(self) -> None:
        """Until the user picks one, show the leverage the venue reports for the position."""
        if self._leverage_edited:
            return
        sel = self.ctx.selection
        for p in self.ctx.engine.positions(sel.venue):
            if p.symbol == sel.symbol and p.leverage >= 1:
                self._setting_leverage = True
                try:
                    self.leverage.setValue(int(p.leverage))
                finally:
                    self._setting_leverage = False
                return

    def _inputs_changed(self) -> None:
        """Show only the fields the chosen type and venue use."""
        t = self.ticket_type
        caps = self._capabilities()
        limit_entry = t in (TicketType.LIMIT, TicketType.STOP_LIMIT) or (
            t is TicketType.BRACKET and self.entry_combo.currentText() == "Limit"
        )
        futures = caps is not None and caps.leverage
        self.form.setRowVisible(self.entry_combo, t is TicketType.BRACKET)
        self.form.setRowVisible(self.price_edit, limit_entry)
        self.form.setRowVisible(self.stop_edit, t in (TicketType.STOP_MARKET, TicketType.STOP_LIMIT))
        self.form.setRowVisible(self.tp_edit, t in (TicketType.OCO, TicketType.BRACKET))
        self.form.setRowVisible(self.sl_edit, t in (TicketType.OCO, TicketType.BRACKET))
        self.form.setRowVisible(self._leverage_row, bool(futures))
        self.tif_combo.setEnabled(limit_entry and not self.post_only.isChecked())
        self.post_only.setEnabled(limit_entry and (caps is None or caps.post_only))
        if not self.post_only.isEnabled():
            self.post_only.setChecked(False)
        # brackets/OCO make their exits reduce-only themselves; spot has no reduce-only
        self.reduce_only.setEnabled(bool(caps is not None and caps.reduce_only) and t in _SIMPLE_TYPES)
        if not self.reduce_only.isEnabled():
            self.reduce_only.setChecked(False)
        oms = self.ctx.oms
        adapter = None if oms is None else oms.adapters.get(self.ctx.selection.venue)
        # Capabilities has no margin-mode flag: offer it where the adapter can set it.
        self._margin_supported = adapter is not None and hasattr(adapter, "set_margin_mode")
        self.margin_combo.setVisible(self._margin_supported)
        self.update_preview()

    def read_input(self, side: Side) -> TicketInput:
        """The ticket's fields; ValueError naming the field when one is not a number."""
        values: dict[str, Decimal | None] = {}
        for name, edit in (
            ("size", self.size_edit),
            ("price", self.price_edit),
            ("stop", self.stop_edit),
            ("take-profit", self.tp_edit),
            ("stop-loss", self.sl_edit),
        ):
            visible = name == "size" or self.form.isRowVisible(edit)
            try:
                values[name] = parse_decimal(edit.text()) if visible else None
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return TicketInput(
            type=self.ticket_type,
            side=side,
            size=values["size"],
            size_mode=SizeMode(self.size_mode.currentText()),
            price=values["price"],
            stop=values["stop"],
            take_profit=values["take-profit"],
            stop_loss=values["stop-loss"],
            bracket_entry=OrderType.LIMIT if self.entry_combo.currentText() == "Limit" else OrderType.MARKET,
            tif=TimeInForce(self.tif_combo.currentText()),
            post_only=self.post_only.isChecked(),
            reduce_only=self.reduce_only.isChecked(),
            leverage=Decimal(self.leverage.value()),
        )

    def _reference(self) -> Decimal | None:
        sel = self.ctx.selection
        top = self.ctx.engine.top_of_book(sel.venue, sel.symbol)
        if top is None or top.bid is None or top.ask is None:
            return None
        return (top.bid + top.ask) / 2

    # ------------------------------------------------------------------ preview
    def refresh(self, versions: Versions) -> None:
        if versions.positions != self._positions_seen:
            self._positions_seen = versions.positions
            self._show_position_leverage()
        if (self.ctx.oms is not None) != self._had_oms:
            # built before the app started: the venue's capabilities are known only now
            self._had_oms = self.ctx.oms is not None
            self._inputs_changed()
            return
        if versions.books == self._books_seen and versions.balances == self._balances_seen:
            return
        now = time.monotonic()
        if versions.balances == self._balances_seen and now - self._last_preview < _PREVIEW_MIN_S:
            return  # the book moves constantly; the preview need not follow every tick
        self._books_seen, self._balances_seen = versions.books, versions.balances
        self.update_preview()

    def update_preview(self) -> None:
        self._last_preview = time.monotonic()
        inst = self._instrument()
        caps = self._capabilities()
        oms_ok = self.ctx.oms is not None
        try:
            inputs = {side: self.read_input(side) for side in Side}
        except ValueError as exc:
            self.plans = {}
            self._show(None, str(exc))
            return
        sel = self.ctx.selection
        balances = self.ctx.engine.balances(sel.venue)
        reference = self._reference()
        self.plans = {
            side: plan_ticket(
                inp,
                inst,
                reference,
                balances,
                fee_rates=FEE_RATES.get(sel.venue),
                order_types=None if caps is None else caps.order_types,
            )
            for side, inp in inputs.items()
        }
        plan = self.plans[self.side]
        problem = plan.problem if oms_ok else "no order manager: trading is not available"
        self._show(plan, problem)
        for side, button in ((Side.BUY, self.buy_button), (Side.SELL, self.sell_button)):
            side_plan = self.plans[side]
            button.setEnabled(oms_ok and side_plan.valid)
            button.setToolTip("" if button.isEnabled() else (side_plan.problem or problem or ""))

    def _show(self, plan: TicketPlan | None, problem: str | None) -> None:
        if plan is None:
            self.buy_button.setEnabled(False)
            self.sell_button.setEnabled(False)
        self.preview.setText(self._describe(plan) if plan is not None else "")
        self.violation.setText(problem or "")
        # "enter a size" is a hint, not a refusal
        hint = bool(problem) and problem.startswith("enter ")
        self.violation.setStyleSheet(f"color: {MUTED if hint else SELL_COLOR};")
        self.violation.setVisible(bool(problem))

    def _describe(self, plan: TicketPlan) -> str:
        inst = self._instrument()
        if inst is None or not plan.orders:
            return ""
        parts = []
        for o in plan.orders:
            where = ""
            if o.price is not None:
                where += f" @ {format_price(o.price, inst)}"
            if o.stop_price is not None:
                where += f" stop {format_price(o.stop_price, inst)}"
            if o.price is None and o.stop_price is None:
                where = " @ market"
            role = "" if o.role == "order" else f"{o.role}: "
            # a size below one step rounds to 0: show what was entered, LOT_SIZE says why
            qty = format_qty(plan.qty, inst) if plan.qty > 0 else format_plain(o.qty)
            parts.append(f"{role}{o.side} {o.type} {qty}{where}")
        text = "\n".join(parts)
        if plan.notional is not None:
            text += f"\nnotional {format_plain(plan.notional, 2)} {inst.quote}"
        if plan.fee is not None and plan.fee_rate is not None:
            text += (
                f" · fee ≈ {format_plain(plan.fee, 4)} {inst.quote} ({format_plain(plan.fee_rate * 100)}%)"
            )
        return text

    # ------------------------------------------------------------------ click-to-price, hotkeys
    def pick_price(self, price: Decimal) -> None:
        """A price clicked in the book/chart: becomes the limit price (a market ticket turns limit)."""
        if self.ticket_type in (TicketType.MARKET, TicketType.STOP_MARKET, TicketType.OCO):
            self.set_type(TicketType.LIMIT)
        elif self.ticket_type is TicketType.BRACKET:
            self.entry_combo.setCurrentText("Limit")
        inst = self._instrument()
        self.price_edit.setText(format_price(Decimal(price), inst) if inst else format_plain(Decimal(price)))

    def prefill(self, side: Side, order_type: OrderType, price: Decimal | None) -> None:
        reverse = {v: k for k, v in _SIMPLE_TYPES.items()}
        self.set_type(reverse.get(order_type, TicketType.LIMIT))
        self.set_side(side)
        if price is not None:
            inst = self._instrument()
            text = format_price(Decimal(price), inst) if inst else format_plain(Decimal(price))
            (self.stop_edit if order_type is OrderType.STOP_MARKET else self.price_edit).setText(text)
        self.size_edit.setFocus()

    def set_side(self, side: Side) -> None:
        self.side = side
        self.update_preview()
        (self.buy_button if side is Side.BUY else self.sell_button).setFocus()

    # ------------------------------------------------------------------ leverage
    def apply_leverage(self) -> asyncio.Future[Any] | None:
        oms = self.ctx.oms
        if oms is None:
            self._status_error("leverage: no order manager")
            return None
        sel = self.ctx.selection
        leverage = Decimal(self.leverage.value())
        mode = None
        if self._margin_supported:
            mode = MarginMode.ISOLATED if self.margin_combo.currentText() == "Isolated" else MarginMode.CROSS
        what = f"set leverage {sel.symbol} {leverage}x"
        self._status(f"{what}…")
        self.last_future = run_action(
            oms.set_leverage(sel.venue, sel.symbol, leverage, margin_mode=mode),
            what,
            lambda _r: self._status(
                f"{sel.symbol}: leverage {leverage}x" + (f", {mode.value.lower()}" if mode else "")
            ),
            self._status_error,
        )
        return self.last_future

    # ------------------------------------------------------------------ placing
    def place(self, side: Side) -> asyncio.Future[Any] | None:
        """Buy/Sell pressed: re-check, then send (after a confirmation in live mode)."""
        self.side = side
        self.update_preview()
        plan = self.plans.get(side)
        if self.ctx.oms is None or plan is None or not plan.valid:
            self._status_error(f"not sent: {plan.problem if plan else 'invalid input'}")
            return None
        inp = self.read_input(side)
        if self._needs_confirm():
            self._ask_confirm(side, inp, plan)
            return None
        return self._send(inp, plan)

    def _needs_confirm(self) -> bool:
        from terminal.app import Mode

        return self.force_confirm or self.ctx.mode is Mode.LIVE

    def _ask_confirm(self, side: Side, inp: TicketInput, plan: TicketPlan) -> None:
        """Non-modal: the loop keeps running; the answer arrives as a signal."""
        if self._confirm is not None:
            self._confirm.close()
        sel = self.ctx.selection
        box = QMessageBox(self)
        box.setObjectName("ticket_confirm")
        box.setWindowTitle("Confirm order")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setText(
            f"{self.ctx.mode.value.upper()} {venue_label(sel.venue)} {sel.symbol}\n{self._describe(plan)}"
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setModal(False)

        def answered(button: Any) -> None:
            self._confirm = None
            if box.standardButton(button) is QMessageBox.StandardButton.Yes:
                self._send(inp, plan)
            else:
                self._status("not sent: cancelled")

        box.buttonClicked.connect(answered)
        self._confirm = box
        box.show()

    def _send(self, inp: TicketInput, plan: TicketPlan) -> asyncio.Future[Any]:
        from terminal.trading.oms import OrderIntent

        sel = self.ctx.selection
        oms = self.ctx.oms
        assert oms is not None
        what = f"{inp.side} {inp.type.value} {plan.qty} {sel.symbol}"
        if inp.type in _SIMPLE_TYPES:
            o = plan.orders[0]
            intent = OrderIntent(
                venue=sel.venue,
                symbol=sel.symbol,
                side=inp.side,
                type=o.type,
                qty=plan.qty,
                price=o.price,
                stop_price=o.stop_price,
                tif=inp.tif,
                reduce_only=inp.reduce_only,
                post_only=inp.post_only,
                origin="manual",
            )
            coro: Any = oms.submit(intent)
            ok = _order_text
        else:
            coro = self._send_linked(inp, plan)
            ok = _bracket_text
        self._status(f"sending {what}…")
        self.last_future = run_action(coro, what, lambda r: self._status(ok(r)), self._status_error)
        return self.last_future

    async def _send_linked(self, inp: TicketInput, plan: TicketPlan) -> Any:
        from terminal.trading.brackets import EntrySpec, ExitSpec

        sel = self.ctx.selection
        manager = bracket_manager(self.ctx)
        if manager is None:
            raise RuntimeError("brackets need the trading core, which is not running")
        tp = next(o for o in plan.orders if o.role == "take-profit")
        sl = next(o for o in plan.orders if o.role == "stop-loss")
        assert tp.price is not None and sl.stop_price is not None
        exits = ExitSpec(sel.venue, sel.symbol, tp.side, plan.qty, tp.price, sl.stop_price)
        if inp.type is TicketType.OCO:
            return await manager.place_oco(exits)
        entry = plan.orders[0]
        spec = EntrySpec(entry.type, entry.price, tif=inp.tif, post_only=inp.post_only)
        return await manager.place_bracket(inp.side, exits, spec)

    # ------------------------------------------------------------------ status line
    def _status(self, text: str) -> None:
        self.status.setStyleSheet("")
        self.status.setText(text)

    def _status_error(self, text: str) -> None:
        self.status.setStyleSheet(f"color: {SELL_COLOR};")
        self.status.setText(text)
        log.warning("ticket: %s", text)


def _order_text(o: Order) -> str:
    where = f" @ {o.price}" if o.price is not None else ""
    if o.stop_price is not None:
        where += f" stop {o.stop_price}"
    reason = f" ({o.reason})" if o.reason else ""
    return f"{o.side} {o.type} {o.qty} {o.symbol}{where}: {o.status}{reason} [{o.client_id}]"


def _bracket_text(b: Any) -> str:
    legs = ", ".join(f"{role}={cid}" for role, cid in b.legs.items())
    return f"{b.kind} {b.id} placed ({b.phase}): {legs}"


def _combo(parent: QWidget, name: str, items: list[str]) -> QComboBox:
    combo = QComboBox(parent)
    combo.setObjectName(name)
    combo.addItems(items)
    return combo


def _edit(parent: QWidget, name: str, placeholder: str) -> QLineEdit:
    edit = QLineEdit(parent)
    edit.setObjectName(name)
    edit.setPlaceholderText(placeholder)
    return edit
