"""Strategies dock: every strategy armed in this session, its state, intents and own position.

Rows come from the automation host (``host.armed``: warming / armed) and from its
``StrategyStateChanged`` events for the ones no longer armed (disarmed by the user, or
disarmed because they raised - those rows turn red and the window is asked to notify). The
position is the strategy's own, from the ledger (``strategy:<name>``), not the account's.

Events only mark the table dirty; a ``Throttle`` redraws it a few times a second at most, so
a burst of intents costs one redraw. Arm… / Edit… open the non-modal ``StrategyDialog``;
Disarm runs on the loop. Without automation in the session the dock says so and arms nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import shiboken6
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import QPushButton, QTableView, QWidget

from terminal.app import Mode
from terminal.automation.arming import ArmKey
from terminal.automation.events import ArmState, IntentResult, StrategyStateChanged
from terminal.engine.engine import Versions
from terminal.model import Venue
from terminal.strategies import registry
from terminal.ui.context import UiContext
from terminal.ui.fmt import format_qty, instrument_for, venue_label
from terminal.ui.refresh import Throttle
from terminal.ui.strategy_dialog import StrategyDialog
from terminal.ui.tables.common import TablePanel
from terminal.ui.tables.model import Row, RowModel
from terminal.ui.theme import BUY_COLOR, MUTED, SELL_COLOR, WARN_COLOR

__all__ = ["AlignedRowModel", "StrategiesPanel", "automation_absent_text", "fit_all_but_last"]

HEADERS = ("Strategy", "Venue", "Symbol", "State", "Intents", "Position", "Message")
STATE_COL = HEADERS.index("State")
MIN_INTERVAL_S = 0.25
NO_ROWS_TEXT = "No strategy armed. Arm… runs one on a market; it trades by itself until disarmed."
STATE_COLORS: dict[ArmState, str] = {
    ArmState.WARMING: WARN_COLOR,
    ArmState.ARMED: BUY_COLOR,
    ArmState.ERROR: SELL_COLOR,
    ArmState.DISARMED: MUTED,
}
_ACTIVE = frozenset({ArmState.WARMING, ArmState.ARMED})

_Index = QModelIndex | QPersistentModelIndex


def automation_absent_text(app: Any) -> str | None:
    """What a dock says when the session has no automation; None when it has."""
    if app.automation is not None:
        return None
    if app.config.automation is None:
        return "Automation is off in this session: no strategies, no webhook listener."
    return "Automation starts with the session…"


class AlignedRowModel(RowModel):
    """A ``RowModel`` with text columns left-aligned (the base right-aligns every column
    after the first, which suits numbers, not messages) and the last column's full text as
    its tooltip (it takes the width left over, so a long message may be elided)."""

    def __init__(self, headers: Iterable[str], parent: Any = None, *, right: Iterable[int] = ()) -> None:
        super().__init__(list(headers), parent)
        self._right = frozenset(right)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.TextAlignmentRole and index.isValid():
            right = index.column() in self._right
            side = Qt.AlignmentFlag.AlignRight if right else Qt.AlignmentFlag.AlignLeft
            return int(side | Qt.AlignmentFlag.AlignVCenter)
        if (
            role == Qt.ItemDataRole.ToolTipRole
            and index.isValid()
            and index.column() == len(self.headers) - 1
        ):
            return super().data(index, Qt.ItemDataRole.DisplayRole) or None
        return super().data(index, role)


def fit_all_but_last(view: QTableView, slack_px: int = 14) -> None:
    """Fit every column to its text except the last, which stretches over the rest: fitting
    a stretched last column too only ever widens it, until the table scrolls sideways."""
    for col in range(view.model().columnCount() - 1):
        view.resizeColumnToContents(col)
        view.setColumnWidth(col, view.columnWidth(col) + slack_px)


@dataclass(slots=True)
class Known:
    """The last word on one key: kept after the host forgets it (disarmed, errored)."""

    state: ArmState
    message: str = ""
    intents: int = 0
    params: Mapping[str, str] = field(default_factory=dict)


class StrategiesPanel(TablePanel):
    notify_requested = Signal(str, str)  # (title, message): the window's tray/status notification

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, "strategies", HEADERS, NO_ROWS_TEXT, parent)
        old = self.model
        self.model = AlignedRowModel(
            HEADERS, self, right=(HEADERS.index("Intents"), HEADERS.index("Position"))
        )
        self.view.setModel(self.model)
        old.deleteLater()
        self.known: dict[ArmKey, Known] = {}
        self.dialog: StrategyDialog | None = None
        self._titles = {i.name: i.title for i in registry.list_strategies()}
        self._automation: Any = None
        self._account_seen: tuple[int, int] | None = None
        self.throttle = Throttle(MIN_INTERVAL_S, self._redraw, self)

        self.arm_button = QPushButton("Arm…", self)
        self.arm_button.setObjectName("armStrategy")
        self.edit_button = QPushButton("Edit…", self)
        self.edit_button.setObjectName("editStrategy")
        self.disarm_button = QPushButton("Disarm", self)
        self.disarm_button.setObjectName("disarmStrategy")
        for button in (self.arm_button, self.edit_button, self.disarm_button):
            self.toolbar.addWidget(button)
        self.toolbar.addStretch(1)
        self.arm_button.clicked.connect(lambda: self.open_arm_dialog())
        self.edit_button.clicked.connect(lambda: self.open_edit_dialog())
        self.disarm_button.clicked.connect(lambda: self.disarm_selected())
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.view.doubleClicked.connect(lambda index: self.open_edit_dialog(self._key_at(index.row())))

        bus = ctx.app.bus
        unsubscribe = [
            bus.subscribe(StrategyStateChanged, self._on_state),
            bus.subscribe(IntentResult, lambda _ev: self.throttle.request()),
        ]
        # Not a bound method: the panel's Python side may be gone when Qt destroys it.
        self.destroyed.connect(lambda *_: [u() for u in unsubscribe])
        self._sync()
        self._redraw()

    # ------------------------------------------------------------------ automation
    @property
    def host(self) -> Any:
        auto = self._automation
        return auto.host if auto is not None else None

    def _sync(self) -> bool:
        """Follow the session's automation (the App builds it during start, drops it at stop);
        True when it changed. Re-arm failures at start arrive as ERROR events like any other."""
        auto = self.ctx.app.automation
        if auto is self._automation:
            return False
        self._automation = auto
        return True

    def refresh(self, versions: Versions) -> None:
        if self._sync():
            self.throttle.request()
        account = (versions.orders, versions.positions)  # fills move the strategies' ledger
        if account != self._account_seen:
            self._account_seen = account
            self.throttle.request()

    def _on_state(self, ev: StrategyStateChanged) -> None:
        self._sync()  # re-arming at start publishes before the first refresh
        host = self.host
        armed = host.armed.get(ev.key) if host is not None else None
        entry = self.known.get(ev.key)
        if entry is None:
            entry = self.known[ev.key] = Known(ev.state)
        entry.state, entry.message = ev.state, ev.message
        if armed is not None:
            entry.params, entry.intents = dict(armed.arming.params), armed.intents
        if ev.state is ArmState.ERROR:
            text = f"{ev.key}: {ev.message}"
            self.say_error(f"strategy error — {text}")
            self.notify_requested.emit("Strategy error", text)
        self.throttle.request()

    # ------------------------------------------------------------------ drawing
    def _redraw(self) -> None:
        if not shiboken6.isValid(self):
            return
        absent = automation_absent_text(self.ctx.app)
        host = self.host
        if absent is not None or host is None:
            self.empty.setText(absent or "Automation starts with the session…")
            self.show_rows([])
            self._update_buttons()
            return
        self.empty.setText(NO_ROWS_TEXT)
        for key, armed in host.armed.items():  # refresh what the host knows now
            entry = self.known.setdefault(key, Known(armed.state))
            entry.state, entry.message = armed.state, armed.message
            entry.intents, entry.params = armed.intents, dict(armed.arming.params)
        for key, entry in self.known.items():
            if key not in host.armed and entry.state in _ACTIVE:
                entry.state = ArmState.DISARMED  # gone without an event (a session restart)
        self.show_rows([self._row(k, e) for k, e in sorted(self.known.items())])
        self._update_buttons()

    def _fit_columns(self) -> None:
        fit_all_but_last(self.view)

    def _row(self, key: ArmKey, entry: Known) -> Row:
        pos = self._position(key)
        inst = instrument_for(self.ctx.app.adapters, key.venue, key.symbol)
        pos_text = "0" if pos == 0 else ("+" if pos > 0 else "-") + format_qty(abs(pos), inst)
        cells = (
            self._titles.get(key.strategy, key.strategy),
            venue_label(key.venue),
            key.symbol,
            entry.state.value,
            str(entry.intents),
            pos_text,
            entry.message,
        )
        if entry.state in (ArmState.ERROR, ArmState.DISARMED):
            colors: tuple[str | None, ...] = (STATE_COLORS[entry.state],) * len(cells)
        else:
            pos_color = BUY_COLOR if pos > 0 else SELL_COLOR if pos < 0 else None
            colors = (None, None, None, STATE_COLORS[entry.state], None, pos_color, None)
        return Row(key, cells, colors, entry)

    def _position(self, key: ArmKey) -> Decimal:
        auto = self._automation
        if auto is None:
            return Decimal(0)
        return auto.ledger.position(f"strategy:{key.strategy}", key.venue, key.symbol)

    # ------------------------------------------------------------------ selection, buttons
    def _key_at(self, row: int) -> ArmKey | None:
        return self.model.rows[row].key if 0 <= row < len(self.model.rows) else None

    @property
    def selected(self) -> ArmKey | None:
        rows = self.view.selectionModel().selectedRows()
        return self._key_at(rows[0].row()) if rows else None

    def select(self, key: ArmKey) -> None:
        row = self.model.row_of(key)
        if row >= 0:
            self.view.selectRow(row)

    def _update_buttons(self) -> None:
        present = self.host is not None
        key = self.selected
        self.arm_button.setEnabled(present)
        self.edit_button.setEnabled(present and key is not None)
        active = key is not None and key in self.known and self.known[key].state in _ACTIVE
        self.disarm_button.setEnabled(present and active)

    # ------------------------------------------------------------------ actions
    def open_arm_dialog(self) -> StrategyDialog | None:
        sel = self.ctx.selection
        return self._open_dialog(sel.venue, sel.symbol, None)

    def open_edit_dialog(self, key: ArmKey | None = None) -> StrategyDialog | None:
        key = key or self.selected
        if key is None:
            self.say("select a strategy to edit")
            return None
        entry = self.known.get(key)
        return self._open_dialog(key.venue, key.symbol, (key, entry.params if entry else {}))

    def _open_dialog(
        self, venue: Venue, symbol: str, edit: tuple[ArmKey, Mapping[str, str]] | None
    ) -> StrategyDialog | None:
        host = self.host
        if host is None:
            self.say_error(automation_absent_text(self.ctx.app) or "automation is not running")
            return None
        old = self.dialog
        if old is not None and shiboken6.isValid(old):
            if old.pending is not None and old.isVisible():  # arming in flight: that one first
                old.raise_()
                return old
            if old.pending is None:  # closed, or only being filled in: the new request replaces it
                old.close()
                old.deleteLater()
        venues = list(self.ctx.app.adapters) or list(self.ctx.app.config.venues)
        dialog = StrategyDialog(
            arm=_arm_call(host),
            venues=venues,
            instruments=self._instruments,
            venue=venue if venue in venues else venues[0],
            symbol=symbol,
            live=bool(host.live) or self.ctx.mode is Mode.LIVE,
            edit=edit,
            parent=self,
        )
        dialog.armed.connect(self._armed)
        dialog.failed.connect(lambda msg: self.say_error(f"arming failed: {msg}"))
        self.dialog = dialog
        dialog.show()
        dialog.raise_()
        return dialog

    def _instruments(self, venue: Venue) -> list[str]:
        adapter = self.ctx.app.adapters.get(venue)
        if adapter is not None and adapter.instruments:
            return sorted(adapter.instruments)
        return list(self.ctx.app.config.symbols)

    def _armed(self, armed: Any) -> None:
        self.say(f"armed {armed.key}")
        self.throttle.now()
        self.select(armed.key)

    def disarm_selected(self) -> Any:
        key, host = self.selected, self.host
        if key is None or host is None:
            self.say("select an armed strategy to disarm")
            return None

        def done(_: object) -> str:
            self.throttle.now()
            return f"disarmed {key}; its position, if any, stays open"

        return self.act(host.disarm(key, "by the user"), f"disarm {key}", done)


def _arm_call(host: Any) -> Callable[[ArmKey, Mapping[str, str], bool], Any]:
    def arm(key: ArmKey, params: Mapping[str, str], confirmed: bool) -> Any:
        return host.arm(key, params, confirmed=confirmed)

    return arm
