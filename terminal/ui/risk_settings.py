"""Settings → Risk limits: see and set the pre-trade limits of the running session.

The form becomes a ``[risk]`` table and goes through the ``--config`` file's own parser
(``terminal.settings_file``), so the window accepts exactly what a file accepts and the
dataclasses' checks are the ones the user reads. Nothing is saved unless the whole form is
valid; then the limits are written (``RiskSettingsStore``) and applied to the running risk
manager at once (``apply``: ``App.apply_risk_limits``). The trading state and today's PnL at the
top are read from the running ``RiskManager``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from terminal.model import TradingState
from terminal.trading.risk import RiskLimits, RiskManager, StrategyLimits
from terminal.trading.risk_store import RiskSettingsStore, RiskSource, StartLimits
from terminal.ui.settings import _set_status, button_row, scrolled_page
from terminal.ui.theme import BUY_COLOR, MUTED, SELL_COLOR, WARN_COLOR

__all__ = ["APPLIED", "FieldKind", "RiskSettingsTab"]

log = logging.getLogger(__name__)

APPLIED = "Saved and applied ✓"
NO_LIMIT = "no limit"
_STATE_COLORS = {
    TradingState.ACTIVE: BUY_COLOR,
    TradingState.REDUCING: WARN_COLOR,
    TradingState.HALTED: SELL_COLOR,
}
_STATE_TEXT = {
    TradingState.ACTIVE: "orders are accepted",
    TradingState.REDUCING: "only orders that reduce a position pass",
    TradingState.HALTED: "no orders pass until you resume",
}
_REFRESH_MS = 1000  # the state line: a person reads it, once a second is plenty


class FieldKind(StrEnum):
    DECIMAL = "decimal"  # an amount in the quote currency (exact)
    INT = "int"
    FLOAT = "float"  # seconds
    PERCENT = "percent"  # shown in %, stored as a fraction


@dataclass(frozen=True, slots=True)
class _Field:
    key: str  # the [risk] key path, e.g. "risk.loss.daily_loss_halt"
    label: str
    kind: FieldKind
    placeholder: str = NO_LIMIT


_ORDER_FIELDS = (
    _Field("risk.max_order_notional", "Max order notional", FieldKind.DECIMAL, "no limit, e.g. 1000"),
    _Field("risk.max_position_notional", "Max position notional", FieldKind.DECIMAL, "no limit, per symbol"),
    _Field("risk.max_open_orders", "Max open orders", FieldKind.INT),
    _Field("risk.max_orders_per_second", "Orders per second", FieldKind.INT),
    _Field("risk.max_orders_per_minute", "Orders per minute", FieldKind.INT),
    _Field("risk.duplicate_window_s", "Duplicate window (s)", FieldKind.FLOAT, "2 (default); 0: off"),
)
_LOSS_FIELDS = (
    _Field("risk.loss.daily_loss_reduce", "Daily loss → reduce-only", FieldKind.DECIMAL, NO_LIMIT),
    _Field("risk.loss.daily_loss_halt", "Daily loss → halt", FieldKind.DECIMAL, NO_LIMIT),
    _Field(
        "risk.loss.drawdown_reduce", "Drawdown → reduce-only (%)", FieldKind.PERCENT, "no limit, % of peak"
    ),
    _Field("risk.loss.drawdown_halt", "Drawdown → halt (%)", FieldKind.PERCENT, "no limit, % of peak"),
)
_STRATEGY_FIELDS = (
    _Field("max_open_positions", "Max open positions", FieldKind.INT),
    _Field("max_notional", "Max notional", FieldKind.DECIMAL, NO_LIMIT),
    _Field("daily_loss", "Daily loss", FieldKind.DECIMAL, NO_LIMIT),
)
_DEFAULT_KEY = "risk.strategy_default"
_SYMBOL_COLUMNS = ("Symbol", "Max position qty (base)")
_STRATEGY_COLUMNS = ("Strategy", "Max open positions", "Max notional", "Daily loss", "One per symbol")


class _FormError(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key = key
        self.problem = problem


def _plain(value: Decimal) -> str:
    """1E+3 -> "1000", 0.0500 -> "0.05": how a person writes an amount."""
    return format(value.normalize(), "f")


def _shown(value: object, kind: FieldKind) -> str:
    if value is None:
        return ""
    if kind is FieldKind.PERCENT:
        assert isinstance(value, Decimal)
        return _plain(value * 100)
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _raw(text: str, kind: FieldKind, key: str) -> object:
    """A field's text as the TOML value the parser reads (None: empty, no limit)."""
    text = text.strip()
    if not text:
        return None
    try:
        if kind is FieldKind.INT:
            return int(text)
        if kind is FieldKind.FLOAT:
            return float(text)
        if kind is FieldKind.PERCENT:
            pct = Decimal(text)
    except (ValueError, InvalidOperation):
        what = "a whole number" if kind is FieldKind.INT else "a number"
        raise _FormError(key, f"must be {what}, got {text!r}") from None
    if kind is FieldKind.PERCENT:
        if not pct.is_finite() or not 0 < pct < 100:
            raise _FormError(key, f"a percentage above 0 and below 100, got {text}")
        return str(pct / 100)
    return text  # DECIMAL: the parser reads the quoted decimal exactly


def _line_edit(parent: QWidget, field: _Field, object_name: str) -> QLineEdit:
    edit = QLineEdit(parent)
    edit.setObjectName(object_name)
    edit.setPlaceholderText(field.placeholder)
    edit.setClearButtonEnabled(True)
    return edit


class RiskSettingsTab(QWidget):
    """The "Risk limits" tab of the settings dialog."""

    saved = Signal(object)  # RiskLimits, after they were written (and applied when possible)

    def __init__(
        self,
        store: RiskSettingsStore,
        parent: QWidget | None = None,
        *,
        risk: Callable[[], RiskManager | None] | None = None,
        apply: Callable[[RiskLimits], RiskLimits] | None = None,
        session: StartLimits | None = None,
        strategies: list[str] | None = None,
    ) -> None:
        """``risk``: the running risk manager (None before the session started); ``apply``
        makes saved limits live and returns the limits in force (``App.apply_risk_limits``);
        ``session``: where the session's limits came from (``AppConfig.risk_source``)."""
        super().__init__(parent)
        self.store = store
        self._risk = risk or (lambda: None)
        self._apply = apply
        self.session = session
        if strategies is None:
            from terminal.strategies import registry

            strategies = registry.names()
        self._strategy_names = strategies
        self.setObjectName("risk-settings")
        self.saved_limits: RiskLimits | None = store.load()
        self.edits: dict[str, QLineEdit] = {}
        self._labels: dict[str, str] = {}  # key path -> what the user calls the field
        self._rows: dict[str, tuple[QTableWidget, int]] = {}  # table key path -> its row

        body = QWidget(self)
        column = QVBoxLayout(body)
        self.state_label = QLabel(body)
        self.state_label.setObjectName("risk-state")
        self.state_label.setTextFormat(Qt.TextFormat.RichText)
        self.source_label = QLabel(body)
        self.source_label.setWordWrap(True)
        self.source_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        column.addWidget(self.state_label)
        column.addWidget(self.source_label)
        column.addWidget(self._build_orders(body))
        column.addWidget(self._build_loss(body))
        column.addWidget(self._build_strategies(body))
        column.addStretch(1)
        self.save_button, self.save_label = scrolled_page(self, body, "Save and apply", "risk-save")
        self.save_button.clicked.connect(self.save)

        self.fill(self.in_force())
        self.refresh_state()
        self._show_source()
        self._timer = QTimer(self)
        self._timer.setInterval(_REFRESH_MS)
        self._timer.timeout.connect(self.refresh_state)
        self._timer.start()

    # ------------------------------------------------------------------ layout
    def _grid_of(
        self,
        box: QWidget,
        specs: tuple[_Field, ...],
        *,
        prefix: str = "",
        called: Callable[[str], str] = str,
    ) -> QGridLayout:
        """Label + field pairs, two pairs a row; ``prefix`` + key names each field, ``called``
        is how an error message names it."""
        grid = QGridLayout(box)
        for i, spec in enumerate(specs):
            key = prefix + spec.key
            edit = _line_edit(box, spec, key)
            self.edits[key] = edit
            self._labels[key] = called(spec.label)
            row, col = divmod(i, 2)
            grid.addWidget(QLabel(spec.label, box), row, col * 2)
            grid.addWidget(edit, row, col * 2 + 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        return grid

    def _build_orders(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox("Orders and positions (amounts in the quote currency, e.g. USDT)", parent)
        grid = self._grid_of(box, _ORDER_FIELDS)
        self.symbol_table = QTableWidget(0, len(_SYMBOL_COLUMNS), box)
        self.symbol_table.setObjectName("risk-symbol-qty")
        self._setup_table(self.symbol_table, _SYMBOL_COLUMNS, rows=3)
        add, remove = QPushButton("Add symbol", box), QPushButton("Remove", box)
        add.clicked.connect(lambda: self.add_symbol_row())
        remove.clicked.connect(lambda: self._remove_selected(self.symbol_table))
        row = grid.rowCount()
        grid.addWidget(
            QLabel("Max position per symbol\n(base quantity;\nnot listed: no limit)", box),
            row,
            0,
            Qt.AlignmentFlag.AlignTop,
        )
        grid.addWidget(self.symbol_table, row, 1, 1, 3)
        grid.addLayout(button_row(add, remove), row + 1, 1, 1, 3)
        return box

    def _build_loss(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox("Loss limits (today's loss and the drawdown from the peak equity)", parent)
        grid = self._grid_of(box, _LOSS_FIELDS)
        self._labels["risk.loss.day_start_hour_utc"] = "Trading day starts"
        self.day_start_spin = QSpinBox(box)
        self.day_start_spin.setObjectName("risk.loss.day_start_hour_utc")
        self.day_start_spin.setRange(0, 23)
        self.day_start_spin.setSuffix(":00 UTC")
        self.resume_check = QCheckBox("Resume at the next trading day after a daily-loss stop", box)
        self.resume_check.setObjectName("risk.loss.resume_next_day")
        row = grid.rowCount()
        grid.addWidget(QLabel("Trading day starts", box), row, 0)
        grid.addWidget(self.day_start_spin, row, 1)
        grid.addWidget(self.resume_check, row + 1, 0, 1, 4)
        note = QLabel(
            "Limits only tighten the state by themselves: a halt or reduce-only state is lifted by "
            "you (or by the next trading day when ticked above), never by loosening a limit.",
            box,
        )
        note.setWordWrap(True)
        _set_status(note, note.text(), MUTED)
        grid.addWidget(note, row + 2, 0, 1, 4)
        return box

    def _build_strategies(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox("Strategies (orders of strategies and webhooks)", parent)
        column = QVBoxLayout(box)
        column.addWidget(QLabel("<b>Every strategy</b> unless it has its own row below", box))
        default = QWidget(box)
        grid = self._grid_of(
            default,
            _STRATEGY_FIELDS,
            prefix=f"{_DEFAULT_KEY}.",
            called=lambda label: f"Every strategy: {label.lower()}",
        )
        grid.setContentsMargins(0, 0, 0, 0)
        self.default_one_check = QCheckBox("One position per symbol", default)
        self.default_one_check.setObjectName(f"{_DEFAULT_KEY}.one_position_per_symbol")
        grid.addWidget(self.default_one_check, 1, 2, 1, 2)
        column.addWidget(default)
        column.addWidget(QLabel("<b>Own limits per strategy</b> (webhooks: webhook:&lt;hook&gt;)", box))
        self.strategy_table = QTableWidget(0, len(_STRATEGY_COLUMNS), box)
        self.strategy_table.setObjectName("risk-strategies")
        self._setup_table(self.strategy_table, _STRATEGY_COLUMNS, rows=3)
        column.addWidget(self.strategy_table)
        add, remove = QPushButton("Add strategy", box), QPushButton("Remove", box)
        add.clicked.connect(lambda: self.add_strategy_row())
        remove.clicked.connect(lambda: self._remove_selected(self.strategy_table))
        column.addLayout(button_row(add, remove))
        return box

    @staticmethod
    def _setup_table(table: QTableWidget, columns: tuple[str, ...], rows: int) -> None:
        table.setHorizontalHeaderLabels(list(columns))
        table.verticalHeader().setVisible(False)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        # Room for a few rows; more scroll inside the table (a growing table would push the
        # rest of the form off the page).
        table.setFixedHeight(
            header.sizeHint().height()
            + rows * table.verticalHeader().defaultSectionSize()
            + 2 * table.frameWidth()
        )

    @staticmethod
    def _remove_selected(table: QTableWidget) -> None:
        for row in sorted({i.row() for i in table.selectedIndexes()}, reverse=True):
            table.removeRow(row)

    def add_symbol_row(self, symbol: str = "", qty: Decimal | None = None) -> int:
        table = self.symbol_table
        row = table.rowCount()
        table.insertRow(row)
        table.setItem(row, 0, QTableWidgetItem(symbol))
        table.setItem(row, 1, QTableWidgetItem("" if qty is None else _plain(qty)))
        return row

    def add_strategy_row(self, name: str = "", limits: StrategyLimits | None = None) -> int:
        limits = limits or StrategyLimits()
        table = self.strategy_table
        row = table.rowCount()
        table.insertRow(row)
        combo = QComboBox(table)
        combo.setEditable(True)  # webhook:<hook> is typed
        combo.addItems(self._strategy_names)
        combo.setCurrentText(name or (self._strategy_names[0] if self._strategy_names else ""))
        table.setCellWidget(row, 0, combo)
        for col, spec in enumerate(_STRATEGY_FIELDS, start=1):
            item = QTableWidgetItem(_shown(getattr(limits, spec.key), spec.kind))
            item.setToolTip(f"{spec.label}: empty for no limit")
            table.setItem(row, col, item)
        # A real check box (a checkable item's empty box is invisible in the dark theme).
        holder = QWidget(table)
        check = QCheckBox(holder)
        check.setChecked(limits.one_position_per_symbol)
        check.setToolTip("no adding to a position and no second entry on the same symbol")
        box = QHBoxLayout(holder)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(check, 0, Qt.AlignmentFlag.AlignCenter)
        table.setCellWidget(row, len(_STRATEGY_FIELDS) + 1, holder)
        return row

    def strategy_check(self, row: int) -> QCheckBox:
        """The "one position per symbol" box of a strategy row."""
        holder = self.strategy_table.cellWidget(row, len(_STRATEGY_FIELDS) + 1)
        check = holder.findChild(QCheckBox) if holder is not None else None
        assert check is not None
        return check

    # ------------------------------------------------------------------ limits <-> form
    def in_force(self) -> RiskLimits:
        """What the form starts with: the running session's limits, else the saved ones."""
        risk = self._risk()
        if risk is not None:
            return risk.limits
        return self.saved_limits or RiskLimits()

    def fill(self, limits: RiskLimits) -> None:
        for spec in _ORDER_FIELDS:
            self.edits[spec.key].setText(_shown(getattr(limits, spec.key.rsplit(".", 1)[1]), spec.kind))
        for spec in _LOSS_FIELDS:
            self.edits[spec.key].setText(_shown(getattr(limits.loss, spec.key.rsplit(".", 1)[1]), spec.kind))
        self.day_start_spin.setValue(limits.loss.day_start_hour_utc)
        self.resume_check.setChecked(limits.loss.resume_next_day)
        for spec in _STRATEGY_FIELDS:
            self.edits[f"{_DEFAULT_KEY}.{spec.key}"].setText(
                _shown(getattr(limits.strategy_default, spec.key), spec.kind)
            )
        self.default_one_check.setChecked(limits.strategy_default.one_position_per_symbol)
        self.symbol_table.setRowCount(0)
        for symbol, qty in limits.max_position_qty.items():
            self.add_symbol_row(symbol, qty)
        self.strategy_table.setRowCount(0)
        for name, sub in limits.strategies.items():
            self.add_strategy_row(name, sub)

    def _table(self) -> dict[str, Any]:
        """The form as a ``[risk]`` table (the --config format); _FormError names a bad field."""
        risk: dict[str, Any] = {}
        for spec in _ORDER_FIELDS:
            _put(risk, spec.key.rsplit(".", 1)[1], _raw(self.edits[spec.key].text(), spec.kind, spec.key))
        loss: dict[str, Any] = {
            "day_start_hour_utc": self.day_start_spin.value(),
            "resume_next_day": self.resume_check.isChecked(),
        }
        for spec in _LOSS_FIELDS:
            _put(loss, spec.key.rsplit(".", 1)[1], _raw(self.edits[spec.key].text(), spec.kind, spec.key))
        risk["loss"] = loss
        default: dict[str, Any] = {"one_position_per_symbol": self.default_one_check.isChecked()}
        for spec in _STRATEGY_FIELDS:
            key = f"{_DEFAULT_KEY}.{spec.key}"
            _put(default, spec.key, _raw(self.edits[key].text(), spec.kind, key))
        risk["strategy_default"] = default
        qty = self._symbol_rows()
        if qty:
            risk["max_position_qty"] = qty
        strategies = self._strategy_rows()
        if strategies:
            risk["strategies"] = strategies
        return risk

    def _symbol_rows(self) -> dict[str, str]:
        out: dict[str, str] = {}
        table = self.symbol_table
        for row in range(table.rowCount()):
            symbol = _cell(table, row, 0).upper()
            qty = _cell(table, row, 1)
            if not symbol and not qty:
                continue  # an empty row added and not used
            key = f"risk.max_position_qty.{symbol or f'row {row + 1}'}"
            self._labels[key] = f"Max position of {symbol or f'row {row + 1}'}"
            self._rows[key] = (table, row)
            if not symbol:
                raise _FormError(key, "enter the symbol (e.g. BTCUSDT)")
            if not qty:
                raise _FormError(key, "enter the maximum quantity, or remove the row")
            if symbol in out:
                raise _FormError(key, f"{symbol} is listed twice")
            out[symbol] = qty
        return out

    def _strategy_rows(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        table = self.strategy_table
        for row in range(table.rowCount()):
            combo = table.cellWidget(row, 0)
            name = combo.currentText().strip() if isinstance(combo, QComboBox) else ""
            where = f"risk.strategies.{name or f'row {row + 1}'}"
            self._labels[where] = f"Strategy {name or f'row {row + 1}'}"
            self._rows[where] = (table, row)
            if not name:
                raise _FormError(where, "choose a strategy (or type webhook:<hook>)")
            if name in out:
                raise _FormError(where, f"{name} has two rows")
            sub: dict[str, Any] = {}
            for col, spec in enumerate(_STRATEGY_FIELDS, start=1):
                key = f"{where}.{spec.key}"
                self._labels[key] = f"Strategy {name}: {spec.label.lower()}"
                _put(sub, spec.key, _raw(_cell(table, row, col), spec.kind, key))
            sub["one_position_per_symbol"] = self.strategy_check(row).isChecked()
            out[name] = sub
        return out

    def build_limits(self) -> RiskLimits:
        """The form as ``RiskLimits``, checked by the settings file's parser; raises
        ``_FormError`` naming the field (its label) and what is wrong."""
        from terminal.settings_file import SettingsError, parse_settings

        table = self._table()
        try:
            limits = parse_settings({"risk": table}, self.store.path).risk
        except SettingsError as exc:
            raise _FormError(exc.key or "risk", exc.problem) from None
        assert limits is not None
        return limits

    # ------------------------------------------------------------------ status
    def refresh_state(self) -> None:
        """The running session's trading state and today's PnL (the first line of the tab)."""
        risk = self._risk()
        if risk is None:
            _set_status(self.state_label, "Trading state: — (the trading core is not running)", MUTED)
            return
        state = risk.state
        snap = risk.pnl.snapshot()
        day = snap.day_pnl
        pnl_color = BUY_COLOR if day > 0 else SELL_COLOR if day < 0 else MUTED
        self.state_label.setText(
            f'Trading state: <b style="color:{_STATE_COLORS[state]}">{state.value.upper()}</b> '
            f"— {_STATE_TEXT[state]}. &nbsp; Today's PnL: "
            f'<b style="color:{pnl_color}">{day:+,.2f}</b> &nbsp; '
            f"equity {snap.equity:,.2f}, drawdown {snap.drawdown:.2%}"
        )
        self.state_label.setStyleSheet("")

    def stop_refresh(self) -> None:
        """The dialog closed: stop reading the risk manager (it may be stopped with its App)."""
        self._timer.stop()

    def showEvent(self, event: QShowEvent) -> None:
        self._timer.start()
        self.refresh_state()
        super().showEvent(event)

    def _show_source(self) -> None:
        session = self.session
        if session is not None and session.source is RiskSource.CONFIG_FILE:
            _set_status(
                self.source_label,
                f"The limits in force come from the [risk] section of {session.path} (--config). "
                f"Save applies your changes to this session and to your saved limits ({self.store.path}), "
                f"but at the next start with that file its [risk] section wins again: edit the file "
                f"to change them for good.",
                WARN_COLOR,
            )
        elif self.store.warning:
            _set_status(self.source_label, self.store.warning, WARN_COLOR)
        elif self.saved_limits is None:
            unlimited = self.in_force() == RiskLimits()
            _set_status(
                self.source_label,
                "No risk limits saved yet"
                + (": every order passes the limit checks until you save some." if unlimited else ".")
                + " Empty fields mean no limit.",
                WARN_COLOR if unlimited else MUTED,
            )
        else:
            _set_status(
                self.source_label,
                f"Saved in {self.store.path}; used at every start (a --config file with a [risk] "
                "section takes precedence). Empty fields mean no limit.",
                MUTED,
            )

    # ------------------------------------------------------------------ save
    def save(self) -> RiskLimits | None:
        """Validate the whole form, write it, apply it to the running session; None (and the
        reason shown) when the form is wrong or the file cannot be written: then nothing changed."""
        self._clear_marks()
        self._rows.clear()
        try:
            limits = self.build_limits()
        except _FormError as exc:
            self._mark(exc.key)
            return self._failed(f"{self._label(exc.key)}: {_for_the_form(exc.problem)}")
        try:
            self.store.save(limits)
        except OSError as exc:
            return self._failed(f"not saved: {exc}")
        self.saved_limits = limits
        message, color = f"{APPLIED} — saved to {self.store.path}.", BUY_COLOR
        if self._apply is not None:
            try:
                in_force = self._apply(limits)
            except ValueError as exc:  # saved, but the session refused it: say so, plainly
                log.warning("risk limits saved but not applied: %s", exc)
                in_force, message, color = (
                    None,
                    f"Saved to {self.store.path} but not applied: {exc}",
                    WARN_COLOR,
                )
            if in_force is not None and in_force.loss.day_start_hour_utc != limits.loss.day_start_hour_utc:
                message += (
                    f" The trading day keeps starting at {in_force.loss.day_start_hour_utc}:00 UTC in this "
                    f"session; {limits.loss.day_start_hour_utc}:00 UTC applies from the next start."
                )
        else:
            message = f"Saved to {self.store.path} ✓ — used from the next start."
        session = self.session
        if session is not None and session.source is RiskSource.CONFIG_FILE:
            message += f" At the next start, {session.path}'s [risk] wins again."
        _set_status(self.save_label, message, color)
        self.refresh_state()
        self._show_source()
        self.saved.emit(limits)
        return limits

    def _label(self, key: str) -> str:
        return self._labels.get(key) or self._labels.get(key.rsplit(".", 1)[0], key)

    def _mark(self, key: str) -> None:
        """Point at the field the error is about (a red frame, and the focus)."""
        widget = self.edits.get(key)
        if widget is not None:
            widget.setStyleSheet(f"border: 1px solid {SELL_COLOR};")
            widget.setFocus()
            return
        for prefix in (key, key.rsplit(".", 1)[0]):  # a table cell: select its row
            if prefix in self._rows:
                table, row = self._rows[prefix]
                table.selectRow(row)
                table.setFocus()
                return

    def _clear_marks(self) -> None:
        for edit in self.edits.values():
            edit.setStyleSheet("")

    def _failed(self, message: str) -> None:
        log.warning("risk limits not saved: %s", message)
        _set_status(self.save_label, f"✗ {message} — nothing was saved.", SELL_COLOR)
        return None


def _for_the_form(problem: str) -> str:
    # The parser speaks of file keys; here a limit is disabled by leaving its field empty.
    return problem.replace("leave the key out to disable a limit", "leave the field empty for no limit")


def _put(table: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        table[key] = value


def _cell(table: QTableWidget, row: int, col: int) -> str:
    item = table.item(row, col)
    return item.text().strip() if item is not None else ""
