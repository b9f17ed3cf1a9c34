"""Arm (or re-arm with new parameters) a strategy on one venue x symbol.

A non-modal window (``show()``; never ``exec()`` inside a coroutine, see ``live_optin.py``):
pick a strategy from the registry (its doc text below the list), the venue and symbol (the
window's selection by default) and its parameters in a form generated from
``registry.describe`` - one editor per parameter kind, its help as tooltip, its bounds on the
spin boxes. The values are checked with ``registry.parse_params`` before anything is armed, so
a bad value is shown beside the form (the offending editor outlined) and nothing is armed;
``StrategyHost.arm`` then runs on the loop and an ``ArmError`` lands in the same place.

Live mode adds a second, explicit step that names the strategy, venue and symbol before
``arm(..., confirmed=True)``: keys being stored and the window being in live mode must never be
enough for a strategy to start trading real money.
"""

from __future__ import annotations

import asyncio
import html
import logging
import math
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from terminal.automation.arming import ArmKey
from terminal.automation.host import ArmNeedsConfirmation
from terminal.model import Venue
from terminal.strategies import registry
from terminal.strategies.base import ParamError
from terminal.strategies.registry import ParamInfo, ParamKind, StrategyInfo
from terminal.ui.fmt import venue_label
from terminal.ui.theme import MUTED, SELL_COLOR, WARN_COLOR

__all__ = ["ArmCall", "ParamForm", "StrategyDialog"]

log = logging.getLogger(__name__)

# host.arm as the dialog calls it: (key, params, confirmed) -> the armed strategy
ArmCall = Callable[[ArmKey, Mapping[str, str], bool], Coroutine[Any, Any, Any]]

_INT_RANGE = (-(2**31), 2**31 - 1)
_FLOAT_RANGE = (-1e12, 1e12)
_MAX_DECIMALS = 6
_TRUE = frozenset({"true", "yes", "on", "1"})
_INVALID_QSS = f"border: 1px solid {SELL_COLOR};"


def _decimals_of(value: float | None) -> int:
    if value is None or not math.isfinite(value):
        return 0
    text = repr(float(value))
    if "e" in text:
        return _MAX_DECIMALS
    return len(text.partition(".")[2].rstrip("0"))


def _float_text(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class ParamForm(QWidget):
    """Editors for one strategy's parameters, built from its ``StrategyInfo``.

    ``values()`` returns the text of every parameter that differs from its default - what the
    user chose, which is what the armed-set store keeps (a default that changes in a later
    version then applies to strategies that never overrode it).
    """

    def __init__(
        self, info: StrategyInfo, values: Mapping[str, str] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.info = info
        self.editors: dict[str, QWidget] = {}
        self.problems: list[str] = []  # stored values that could not be shown (edit mode)
        self._decimals: dict[str, int] = {}
        layout = QFormLayout(self)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        layout.setContentsMargins(0, 0, 0, 0)
        for p in info.params:
            editor = self._editor(p)
            editor.setObjectName(f"param:{p.name}")
            tip = p.help
            if p.minimum is not None or p.maximum is not None:
                lo = "" if p.minimum is None else f"{p.minimum:g}"
                hi = "" if p.maximum is None else f"{p.maximum:g}"
                tip += f" [{lo} … {hi}]"
            editor.setToolTip(f"{tip}\ndefault: {self.default_text(p)}")
            label = QLabel(p.name, self)
            label.setToolTip(p.help)
            layout.addRow(label, editor)
            self.editors[p.name] = editor
        for name, text in (values or {}).items():
            self.set_value(name, text)

    # ------------------------------------------------------------------ building
    def _editor(self, p: ParamInfo) -> QWidget:
        if p.kind is ParamKind.INT:
            spin = QSpinBox(self)
            lo = _INT_RANGE[0] if p.minimum is None else math.ceil(p.minimum)
            hi = _INT_RANGE[1] if p.maximum is None else math.floor(p.maximum)
            spin.setRange(int(lo), int(hi))
            spin.setValue(int(p.default))
            return spin
        if p.kind is ParamKind.FLOAT:
            dspin = QDoubleSpinBox(self)
            dec = min(_MAX_DECIMALS, max(2, *(_decimals_of(v) for v in (p.default, p.minimum, p.maximum))))
            self._decimals[p.name] = dec
            dspin.setDecimals(dec)
            dspin.setRange(
                _FLOAT_RANGE[0] if p.minimum is None else p.minimum,
                _FLOAT_RANGE[1] if p.maximum is None else p.maximum,
            )
            dspin.setSingleStep(10.0 ** -(dec - 1))
            dspin.setValue(float(p.default))
            return dspin
        if p.kind is ParamKind.BOOL:
            box = QCheckBox(self)
            box.setChecked(bool(p.default))
            return box
        if p.kind is ParamKind.CHOICE:
            combo = QComboBox(self)
            combo.addItems(list(p.choices or ()))
            combo.setCurrentText(str(p.default))
            return combo
        edit = QLineEdit(self)  # TEXT, LIST (comma separated)
        edit.setText(self.default_text(p))
        if p.kind is ParamKind.LIST:
            edit.setPlaceholderText("comma separated")
        return edit

    # ------------------------------------------------------------------ values
    def default_text(self, p: ParamInfo) -> str:
        return self._text(p, p.default)

    def _text(self, p: ParamInfo, value: Any) -> str:
        if p.kind is ParamKind.BOOL:
            return "true" if value else "false"
        if p.kind is ParamKind.FLOAT:
            return _float_text(float(value), self._decimals.get(p.name, _MAX_DECIMALS))
        if p.kind is ParamKind.LIST:
            items = value if isinstance(value, (list, tuple)) else str(value).split(",")
            return ", ".join(s for s in (str(i).strip() for i in items) if s)
        return str(value).strip()

    def text_of(self, name: str) -> str:
        """The editor's value as the text ``parse_params`` takes."""
        p = self._param(name)
        editor = self.editors[name]
        if isinstance(editor, QSpinBox):
            return str(editor.value())
        if isinstance(editor, QDoubleSpinBox):
            return self._text(p, editor.value())
        if isinstance(editor, QCheckBox):
            return self._text(p, editor.isChecked())
        if isinstance(editor, QComboBox):
            return editor.currentText()
        assert isinstance(editor, QLineEdit)
        return self._text(p, editor.text())

    def values(self) -> dict[str, str]:
        """Parameters that differ from their defaults, as text."""
        out = {}
        for p in self.info.params:
            text = self.text_of(p.name)
            if text != self.default_text(p):
                out[p.name] = text
        return out

    def set_value(self, name: str, text: str) -> None:
        """Show a stored value; one the editor cannot hold is listed in ``problems``."""
        if name not in self.editors:
            self.problems.append(f"{name}: not a parameter of {self.info.name} (dropped)")
            return
        editor = self.editors[name]
        try:
            if isinstance(editor, QSpinBox):
                editor.setValue(int(float(text)))
            elif isinstance(editor, QDoubleSpinBox):
                editor.setValue(float(text))
            elif isinstance(editor, QCheckBox):
                editor.setChecked(str(text).strip().lower() in _TRUE)
            elif isinstance(editor, QComboBox):
                if editor.findText(str(text)) < 0:
                    raise ValueError(text)
                editor.setCurrentText(str(text))
            elif isinstance(editor, QLineEdit):
                editor.setText(str(text))
        except (TypeError, ValueError):
            self.problems.append(f"{name}: the stored value {text!r} could not be shown; the default is used")

    def _param(self, name: str) -> ParamInfo:
        return next(p for p in self.info.params if p.name == name)

    def mark_invalid(self, name: str | None) -> None:
        """Outline the editor of ``name`` (None: clear every outline)."""
        for key, editor in self.editors.items():
            editor.setStyleSheet(_INVALID_QSS if key == name else "")

    def param_named_in(self, message: str) -> str | None:
        """The parameter a ``ParamError`` message starts with ("slow must be ...", "fast: ...")."""
        hits = [n for n in self.editors if message.startswith((f"{n}:", f"{n} "))]
        return max(hits, key=len) if hits else None


class MarketFields:
    """The strategy / venue / symbol pickers' values, shared by the arm dialog and the backtest
    dock (a mixin: the widget class defines the three combos)."""

    strategy_combo: QComboBox
    venue_combo: QComboBox
    symbol_combo: QComboBox

    @property
    def strategy(self) -> str:
        return str(self.strategy_combo.currentData())

    @property
    def venue(self) -> Venue:
        return Venue(self.venue_combo.currentData())

    @property
    def symbol(self) -> str:
        return self.symbol_combo.currentText().strip().upper()

    def select_strategy(self, name: str) -> None:
        self.strategy_combo.setCurrentIndex(self.strategy_combo.findData(name))


class StrategyDialog(MarketFields, QWidget):
    """Arms ``key`` with the form's values through ``arm``; ``edit`` fixes the strategy, venue
    and symbol and pre-fills the parameters (re-arming replaces the running instance)."""

    armed = Signal(object)  # the ArmedStrategy
    failed = Signal(str)  # why arming failed (also shown in the dialog)

    def __init__(
        self,
        *,
        arm: ArmCall,
        venues: list[Venue],
        instruments: Callable[[Venue], list[str]],
        venue: Venue,
        symbol: str,
        live: bool,
        edit: tuple[ArmKey, Mapping[str, str]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Dialog)
        self.setObjectName("strategy-dialog")
        self.setWindowModality(Qt.WindowModality.NonModal)
        self._arm = arm
        self._instruments = instruments
        self.live = live
        self.editing = edit is not None
        self.pending: asyncio.Future[Any] | None = None
        self.form: ParamForm | None = None
        self._infos = {i.name: i for i in registry.list_strategies()}
        edit_key, edit_params = edit if edit is not None else (None, {})
        self.setWindowTitle(f"Edit {edit_key}" if edit_key else "Arm a strategy")

        # -- page 1: what, where, with which parameters
        form_page = QWidget(self)
        self.strategy_combo = QComboBox(form_page)
        self.strategy_combo.setObjectName("strategyCombo")
        for info in self._infos.values():
            self.strategy_combo.addItem(info.title, info.name)
        self.doc_label = QLabel(form_page)
        self.doc_label.setWordWrap(True)
        self.doc_label.setStyleSheet(f"color: {MUTED};")
        self.venue_combo = QComboBox(form_page)
        self.venue_combo.setObjectName("venueCombo")
        for v in venues:
            self.venue_combo.addItem(venue_label(v), v.value)
        self.symbol_combo = QComboBox(form_page)
        self.symbol_combo.setObjectName("symbolCombo")
        self.symbol_combo.setEditable(True)
        self.symbol_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        where = QFormLayout()
        where.addRow("Strategy", self.strategy_combo)
        where.addRow("", self.doc_label)
        where.addRow("Venue", self.venue_combo)
        where.addRow("Symbol", self.symbol_combo)

        self.params_area = QScrollArea(form_page)
        self.params_area.setWidgetResizable(True)
        self.params_area.setFrameShape(QFrame.Shape.NoFrame)
        self.error_label = QLabel(form_page)
        self.error_label.setObjectName("armError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {SELL_COLOR};")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        self.cancel_button = QPushButton("Cancel", form_page)
        self.arm_button = QPushButton("Re-arm" if self.editing else "Arm", form_page)
        self.arm_button.setObjectName("armButton")
        self.arm_button.setDefault(True)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.arm_button)
        page1 = QVBoxLayout(form_page)
        page1.addLayout(where)
        params_title = QLabel("<b>Parameters</b> (hover for help)", form_page)
        page1.addWidget(params_title)
        page1.addWidget(self.params_area, 1)
        page1.addWidget(self.error_label)
        page1.addLayout(buttons)

        # -- page 2 (live only): the explicit confirmation
        confirm_page = QWidget(self)
        self.confirm_label = QLabel(confirm_page)
        self.confirm_label.setObjectName("confirmText")
        self.confirm_label.setWordWrap(True)
        self.confirm_error = QLabel(confirm_page)
        self.confirm_error.setWordWrap(True)
        self.confirm_error.setStyleSheet(f"color: {SELL_COLOR};")
        self.back_button = QPushButton("Back", confirm_page)
        self.confirm_button = QPushButton("Arm with real money", confirm_page)
        self.confirm_button.setObjectName("confirmArm")
        self.confirm_button.setStyleSheet(
            f"QPushButton:enabled {{ color: {WARN_COLOR}; font-weight: bold; }}"
        )
        self.back_button.setDefault(True)  # Enter must not be the way into live trading
        cbuttons = QHBoxLayout()
        cbuttons.addStretch(1)
        cbuttons.addWidget(self.back_button)
        cbuttons.addWidget(self.confirm_button)
        page2 = QVBoxLayout(confirm_page)
        page2.addStretch(1)
        page2.addWidget(self.confirm_label)
        page2.addStretch(1)
        page2.addWidget(self.confirm_error)
        page2.addLayout(cbuttons)

        self.pages = QStackedWidget(self)
        self.pages.addWidget(form_page)
        self.pages.addWidget(confirm_page)
        outer = QVBoxLayout(self)
        outer.addWidget(self.pages)

        self.strategy_combo.currentIndexChanged.connect(self._on_strategy)
        self.venue_combo.currentIndexChanged.connect(self._on_venue)
        self.arm_button.clicked.connect(self.submit)
        self.cancel_button.clicked.connect(self.close)
        self.back_button.clicked.connect(self._back)
        self.confirm_button.clicked.connect(self.confirm)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, activated=self.close)

        if edit_key is not None:
            venue, symbol = edit_key.venue, edit_key.symbol
        self.venue_combo.setCurrentIndex(max(0, self.venue_combo.findData(venue.value)))
        self._on_venue()
        self.symbol_combo.setCurrentText(symbol)
        if edit_key is not None:
            self.strategy_combo.setCurrentIndex(max(0, self.strategy_combo.findData(edit_key.strategy)))
            for combo in (self.strategy_combo, self.venue_combo, self.symbol_combo):
                combo.setEnabled(False)
        self._on_strategy(params=edit_params)
        self.resize(560, 640)

    # ------------------------------------------------------------------ selection
    @property
    def key(self) -> ArmKey:
        return ArmKey(self.strategy, self.venue, self.symbol)

    def _on_strategy(self, _index: int = 0, params: Mapping[str, str] | None = None) -> None:
        info = self._infos[self.strategy]
        reads = ", ".join(sorted(k.value for k in info.inputs))
        self.doc_label.setText(f"{info.doc}\nReads: {reads}.")
        self.form = ParamForm(info, params)
        self.form.setObjectName("paramForm")
        self.params_area.setWidget(self.form)  # the old form is deleted by the scroll area
        self._show_error("; ".join(self.form.problems))

    def _on_venue(self, _index: int = 0) -> None:
        typed = self.symbol_combo.currentText()
        self.symbol_combo.blockSignals(True)
        self.symbol_combo.clear()
        self.symbol_combo.addItems(self._instruments(self.venue))
        self.symbol_combo.setCurrentText(typed)
        self.symbol_combo.blockSignals(False)

    # ------------------------------------------------------------------ arming
    def validate(self) -> dict[str, str] | None:
        """The parameters to arm with, or None with the problem shown."""
        assert self.form is not None
        self.form.mark_invalid(None)
        symbol = self.symbol
        if not symbol:
            self._show_error("symbol: type a symbol, e.g. BTCUSDT")
            return None
        listed = self._instruments(self.venue)
        if listed and symbol not in listed:
            self._show_error(f"symbol: {symbol} is not listed on {venue_label(self.venue)}")
            return None
        params = self.form.values()
        try:
            registry.parse_params(self.strategy, params)
        except ParamError as exc:
            self.form.mark_invalid(self.form.param_named_in(str(exc)))
            self._show_error(str(exc))
            return None
        self._show_error("")
        return params

    def submit(self) -> None:
        """Arm (or, in live mode, go to the confirmation step)."""
        if self.pending is not None:
            return
        params = self.validate()
        if params is None:
            return
        if self.live:
            self._ask_confirmation(params)
            return
        self._start(params, confirmed=False)

    def confirm(self) -> None:
        """Live mode's second step: arm with the user's explicit confirmation."""
        if self.pending is not None or self.pages.currentIndex() != 1:
            return
        params = self.validate()
        if params is None:
            self._back()
            return
        self._start(params, confirmed=True)

    def _ask_confirmation(self, params: Mapping[str, str]) -> None:
        info = self._infos[self.strategy]
        shown = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
        rows = (
            ("Strategy", info.title),
            ("Venue", venue_label(self.venue)),
            ("Symbol", self.symbol),
            ("Parameters", shown),
        )
        table = "".join(
            f"<tr><td style='color:{MUTED}; padding-right:12px'>{k}</td><td><b>{html.escape(v)}</b></td></tr>"
            for k, v in rows
        )
        self.confirm_label.setText(
            f"<h3 style='color:{WARN_COLOR}'>Live trading: real money</h3>"
            f"<p>Arm <b>{html.escape(info.title)}</b> on <b>{venue_label(self.venue)}</b> "
            f"<b>{html.escape(self.symbol)}</b>?</p><table>{table}</table>"
            "<p>It will place real orders on its own, sized by the risk manager, until you disarm it. "
            "Risk limits and the kill switch still apply.</p>"
        )
        self.confirm_error.setText("")
        self.pages.setCurrentIndex(1)

    def _back(self) -> None:
        self.pages.setCurrentIndex(0)

    def _start(self, params: dict[str, str], *, confirmed: bool) -> None:
        key = self.key
        self._set_busy(True, f"arming {key}… (loading history)")
        future = asyncio.ensure_future(self._arm(key, params, confirmed))
        self.pending = future
        future.add_done_callback(lambda f: self._done(f, key, params))

    def _done(self, future: asyncio.Future[Any], key: ArmKey, params: dict[str, str]) -> None:
        if not shiboken6.isValid(self):
            return
        self.pending = None
        self._set_busy(False)
        if future.cancelled():
            self._show_error(f"arming {key} was cancelled")
            return
        exc = future.exception()
        if isinstance(exc, ArmNeedsConfirmation):
            self.live = True  # the host says it trades real money: ask, even if the UI thought not
            self._ask_confirmation(params)
            return
        if exc is not None:
            msg = str(exc) or type(exc).__name__
            log.warning("arming %s failed: %s", key, msg)
            self._show_error(msg)
            self.confirm_error.setText(msg)
            self.failed.emit(msg)
            return
        log.info("armed %s with %s", key, dict(params) or "defaults")
        self.armed.emit(future.result())
        self.close()

    def _set_busy(self, busy: bool, text: str = "") -> None:
        for w in (self.arm_button, self.confirm_button, self.back_button):
            w.setEnabled(not busy)
        if busy:
            self.error_label.setStyleSheet(f"color: {MUTED};")
            self.error_label.setText(text)
            self.error_label.show()

    def _show_error(self, text: str) -> None:
        self.error_label.setStyleSheet(f"color: {SELL_COLOR};")
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    @property
    def error(self) -> str:
        return "" if self.error_label.isHidden() else self.error_label.text()
