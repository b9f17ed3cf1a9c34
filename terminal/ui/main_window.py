"""The main window: every panel in a dock, a toolbar for the market, a status bar for health.

* Docks: one per ``PANELS`` key (movable, closable, floatable; re-open from View), the chart
  in the middle. The layout is saved per user in ``<data dir>/layout.ini`` (QSettings, INI)
  when the window closes and restored when it opens; View > Reset layout goes back to the
  default arrangement.
* Toolbar: venue, mode, symbol search (Ctrl+K), timeframe. They only change ``ctx.selection``
  — panels follow it themselves; a market the App does not stream yet is added with
  ``App.watch``. Switching mode hands the runner the next session's ``AppConfig`` (derived from
  the user's start config, ``AppConfig.for_mode``); live needs the ``LiveOptIn`` dialog first,
  and its config trades only the venue opted in for, with the opt-in set.
* One ``Refresher`` drives every panel at the display rate.
* Actions that talk to the OMS (kill switch, cancel all, amend from the chart) run as tasks
  on the loop; a failing task is shown in the status bar and logged, never swallowed.
* No modal ``exec()`` anywhere: confirmations are non-modal message boxes with callbacks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QStringListModel, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QDockWidget,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QSystemTrayIcon,
    QToolBar,
    QWidget,
)

from terminal.app import AppConfig, Mode
from terminal.engine.engine import Versions
from terminal.model import OrderType, Side, TradingState, Venue
from terminal.ui.context import UiContext
from terminal.ui.panels import PANELS, DockArea, PlaceholderPanel, create_panel
from terminal.ui.refresh import Refresher
from terminal.ui.statusbar import (
    FeedIndicators,
    KillSwitchButton,
    NoticeLabel,
    TradingStateLabel,
    venue_label,
)

__all__ = ["DEFAULT_SIZE", "TIMEFRAMES", "MainWindow"]

log = logging.getLogger(__name__)

TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")
DEFAULT_SIZE = (1600, 1000)
LAYOUT_VERSION = 1  # bump when dock object names change: an old saved state is then ignored
_OFFBEAT_PANELS = frozenset({"chart", "watchlist"})  # 30 Hz, off the main beat
_OVERVIEW_PANELS = frozenset({"depth"})  # 10 Hz
_OFFBEAT_MS = 16  # about half of the 30 Hz refresher's period
_STATUS_MS = 500  # feed lights / trading state poll (cheap: ~50 small records)
_ICON = Path(__file__).resolve().parents[2] / "resources" / "terminal.png"

_AREAS = {
    DockArea.CENTER: Qt.DockWidgetArea.TopDockWidgetArea,
    DockArea.LEFT: Qt.DockWidgetArea.LeftDockWidgetArea,
    DockArea.RIGHT: Qt.DockWidgetArea.RightDockWidgetArea,
    DockArea.BOTTOM: Qt.DockWidgetArea.BottomDockWidgetArea,
}

Restart = Callable[[AppConfig], None]  # the runner ends this session and starts one with that config


class MainWindow(QMainWindow):
    closed = Signal()  # the user closed the window: the runner stops the App and quits
    task_failed = Signal(str)  # a background action failed (message already shown and logged)

    def __init__(
        self,
        ctx: UiContext,
        *,
        layout_path: Path | None = None,
        on_restart: Restart | None = None,
        base_config: AppConfig | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.layout_path = layout_path or ctx.app.data_dir / "layout.ini"
        self.on_restart = on_restart
        # The user's start config: every mode's session config derives from it (not from this
        # session's, which for live holds only the one opted-in venue).
        self.base_config: AppConfig = base_config or ctx.app.config
        self.live_optin: QWidget | None = None  # the open LiveOptIn dialog
        self.panels: dict[str, QWidget] = {}
        self.docks: dict[str, QDockWidget] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.notifications: deque[tuple[str, str]] = deque(maxlen=100)
        self.kill_confirm: QMessageBox | None = None
        self.last_kill_report: Any = None
        self._fills_seen: int | None = None
        self._account_seen: tuple[int, int, int] | None = None
        self._started = False
        self._closing = False
        self._shown_once = False
        self._errors_seen = 0

        self.setObjectName("mainWindow")
        self.setWindowTitle(f"crypto-terminal — {ctx.mode.value}{ctx.replay_note}")
        if _ICON.exists():
            self.setWindowIcon(QIcon(str(_ICON)))
        self.resize(*DEFAULT_SIZE)
        self.setDockNestingEnabled(True)
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks
            | QMainWindow.DockOption.AllowNestedDocks
            | QMainWindow.DockOption.AllowTabbedDocks
        )

        # Refresh groups (bench/ui_latency.py: event-loop lag is the longest frame): the book,
        # tape, ticket and tables at 60 Hz (tick-to-paint); the pyqtgraph chart and the
        # watchlist at 30 Hz half a period later, so one frame never repaints everything at
        # once; the depth chart, an overview whose repaint is the dearest, at 10 Hz.
        versions = ctx.engine.versions
        self.refresher = Refresher(versions, hz=60, parent=self)
        self.graphics_refresher = Refresher(versions, hz=30, parent=self)
        self.overview_refresher = Refresher(versions, hz=10, parent=self)
        self._build_toolbar()
        self._build_docks()
        self._build_status_bar()
        self._build_menus()
        self._build_shortcuts()
        self._build_tray()
        self._wire_panels()
        ctx.selection.changed.connect(self._on_selection_changed)
        ctx.selection.interval_changed.connect(self._on_interval_changed)

        self._default_geometry = self.saveGeometry()
        self._default_state = self.saveState(LAYOUT_VERSION)
        self.restored_layout = self.restore_layout()

        self.refresher.add(self)  # status bar + notifications, after the panels
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(_STATUS_MS)
        self._status_timer.timeout.connect(self.update_status)
        self._status_timer.start()
        self.refresher.start()
        for delay, refresher in (
            (_OFFBEAT_MS, self.graphics_refresher),
            (_OFFBEAT_MS // 2, self.overview_refresher),
        ):
            QTimer.singleShot(delay, self, lambda r=refresher: None if self._closing else r.start())
        self.set_starting()

    # ------------------------------------------------------------------ building
    def _build_toolbar(self) -> None:
        bar = QToolBar("Market", self)
        bar.setObjectName("marketToolbar")
        bar.setMovable(False)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        sel = self.ctx.selection

        self.venue_combo = QComboBox(bar)
        self.venue_combo.setObjectName("venueCombo")
        for venue in self.ctx.app.config.venues:
            self.venue_combo.addItem(venue_label(venue), venue.value)
        self.venue_combo.setCurrentIndex(max(0, self.venue_combo.findData(sel.venue.value)))
        self.venue_combo.currentIndexChanged.connect(self._on_venue_combo)

        self.symbol_search = QLineEdit(bar)
        self.symbol_search.setObjectName("symbolSearch")
        self.symbol_search.setPlaceholderText("Symbol (Ctrl+K)")
        self.symbol_search.setText(sel.symbol)
        self.symbol_search.setFixedWidth(150)
        self._symbols_model = QStringListModel(self)
        self.completer = QCompleter(self._symbols_model, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.symbol_search.setCompleter(self.completer)
        self.symbol_search.returnPressed.connect(lambda: self.select_symbol(self.symbol_search.text()))
        self.completer.activated.connect(self.select_symbol)

        self.timeframe_combo = QComboBox(bar)
        self.timeframe_combo.setObjectName("timeframeCombo")
        self.timeframe_combo.addItems(list(TIMEFRAMES))
        self.timeframe_combo.setCurrentText(sel.interval)
        self.timeframe_combo.currentTextChanged.connect(sel.set_interval)

        self.mode_combo = QComboBox(bar)
        self.mode_combo.setObjectName("modeCombo")
        for mode in Mode:
            self.mode_combo.addItem(mode.value, mode.value)
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(self.ctx.mode.value))
        self.mode_combo.activated.connect(self._on_mode_combo)

        for label, widget in (
            ("Venue", self.venue_combo),
            ("Symbol", self.symbol_search),
            ("Timeframe", self.timeframe_combo),
            ("Mode", self.mode_combo),
        ):
            bar.addWidget(QLabel(f" {label} ", bar))
            bar.addWidget(widget)
        self.toolbar = bar
        self._refresh_symbols()

    def _build_docks(self) -> None:
        # Side columns take the full height; chart (top) and tables (bottom) share the middle.
        self.setCorner(Qt.Corner.TopLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.TopRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        # The chart dock (top area) and the tables (bottom area) make the middle column. Qt needs
        # a central widget (without one, relayouts let the side columns creep): an empty one,
        # zero high, that takes the middle column's width so extra width goes to the chart.
        center = QWidget(self)
        center.setObjectName("middleColumn")
        center.setMaximumHeight(0)
        self.setCentralWidget(center)
        bottom: list[QDockWidget] = []
        for key, spec in PANELS.items():
            panel = create_panel(key, self.ctx)
            dock = QDockWidget(spec.title, self)
            dock.setObjectName(f"dock_{key}")
            dock.setFeatures(
                QDockWidget.DockWidgetFeature.DockWidgetMovable
                | QDockWidget.DockWidgetFeature.DockWidgetClosable
                | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            )
            dock.setWidget(panel)
            self.addDockWidget(_AREAS[spec.area], dock)
            if spec.area is DockArea.BOTTOM:
                if bottom:
                    self.tabifyDockWidget(bottom[0], dock)
                bottom.append(dock)
            self.panels[key] = panel
            self.docks[key] = dock
            self._refresher_for(key).add(panel)  # type: ignore[arg-type]
        if bottom:
            bottom[0].raise_()

    @property
    def refreshers(self) -> tuple[Refresher, ...]:
        return (self.refresher, self.graphics_refresher, self.overview_refresher)

    def _refresher_for(self, key: str) -> Refresher:
        if key in _OVERVIEW_PANELS:
            return self.overview_refresher
        return self.graphics_refresher if key in _OFFBEAT_PANELS else self.refresher

    def _apply_default_sizes(self) -> None:
        """Default proportions; Qt only honours them once the window has its real size."""
        d = self.docks
        self.resizeDocks([d["watchlist"], d["chart"], d["book"]], [390, 800, 410], Qt.Orientation.Horizontal)
        self.resizeDocks([d["chart"], d["positions"]], [680, 210], Qt.Orientation.Vertical)
        self.resizeDocks([d["watchlist"], d["trades"]], [300, 600], Qt.Orientation.Vertical)
        self.resizeDocks([d["book"], d["depth"], d["ticket"]], [400, 160, 340], Qt.Orientation.Vertical)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.notice = NoticeLabel(bar)
        bar.addPermanentWidget(self.notice)
        self.feed_indicators = FeedIndicators(self.ctx.app.config.venues, bar)
        self.trading_state = TradingStateLabel(bar)
        self.kill_button = KillSwitchButton(bar)
        self.kill_button.clicked.connect(self.request_kill_switch)
        bar.addPermanentWidget(self.feed_indicators)
        bar.addPermanentWidget(self.trading_state)
        bar.addPermanentWidget(self.kill_button)

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        settings_action = QAction("&Settings (API keys, notifications, risk limits)…", self)
        settings_action.setShortcut(QKeySequence("Ctrl+,"))
        settings_action.triggered.connect(self.open_settings)
        file_menu.addAction(settings_action)
        file_menu.addSeparator()
        from terminal.ui.recording import RecordingMenu

        self.recording = RecordingMenu(self, file_menu)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        self.view_menu = menu.addMenu("&View")
        for dock in self.docks.values():
            self.view_menu.addAction(dock.toggleViewAction())
        self.view_menu.addSeparator()
        self.reset_layout_action = QAction("&Reset layout", self)
        self.reset_layout_action.triggered.connect(self.reset_layout)
        self.view_menu.addAction(self.reset_layout_action)

        trade_menu = menu.addMenu("&Trading")
        for text, keys, slot in (
            ("Buy (ticket)", "F1", lambda: self.focus_ticket(Side.BUY)),
            ("Sell (ticket)", "F2", lambda: self.focus_ticket(Side.SELL)),
            ("Cancel all orders", "Ctrl+Shift+X", self.cancel_all),
            ("Kill switch…", "Ctrl+Shift+K", self.request_kill_switch),
        ):
            action = QAction(f"{text}\t{keys}", self)
            action.triggered.connect(slot)
            trade_menu.addAction(action)

    def _build_shortcuts(self) -> None:
        self.shortcuts: dict[str, QShortcut] = {}
        for keys, slot in (
            ("F1", lambda: self.focus_ticket(Side.BUY)),
            ("F2", lambda: self.focus_ticket(Side.SELL)),
            ("Ctrl+Shift+X", self.cancel_all),
            ("Ctrl+Shift+K", self.request_kill_switch),
            ("Ctrl+K", self.focus_symbol_search),
        ):
            sc = QShortcut(QKeySequence(keys), self)
            sc.setContext(Qt.ShortcutContext.ApplicationShortcut)
            sc.activated.connect(slot)
            self.shortcuts[keys] = sc

    def _build_tray(self) -> None:
        self.tray: QSystemTrayIcon | None = None
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return  # e.g. offscreen/CI or a desktop without a tray: notifications go to the status bar
        self.tray = QSystemTrayIcon(self.windowIcon(), self)
        self.tray.setToolTip("crypto-terminal")
        self.tray.activated.connect(lambda _reason: (self.showNormal(), self.raise_(), self.activateWindow()))
        self.tray.show()

    def _wire_panels(self) -> None:
        """Cross-panel actions that need the OMS (each side may not exist yet: hasattr checks)."""
        chart, ticket = self.panels.get("chart"), self.panels.get("ticket")
        if chart is not None and hasattr(chart, "amend_requested"):
            chart.amend_requested.connect(self.amend_order)
        if chart is not None and hasattr(chart, "order_here_requested") and hasattr(ticket, "prefill"):
            chart.order_here_requested.connect(self._order_here)
        backtest = self.panels.get("backtest")  # a run's trades marked on the chart
        if backtest is not None and hasattr(backtest, "marks_ready") and hasattr(chart, "show_trade_marks"):
            backtest.marks_ready.connect(chart.show_trade_marks)
        strategies = self.panels.get("strategies")
        if strategies is not None and hasattr(strategies, "notify_requested"):  # a strategy that raised
            strategies.notify_requested.connect(
                lambda title, text: (
                    self.notify(title, text),
                    self.statusBar().showMessage(f"{title}: {text}", 15000),
                )
            )

    # ------------------------------------------------------------------ app lifecycle
    def set_starting(self) -> None:
        self.statusBar().showMessage(f"starting {self.ctx.mode.value} mode…")
        self.kill_button.setEnabled(False)

    def on_app_started(self) -> None:
        self._started = True
        self.kill_button.setEnabled(True)
        self._refresh_symbols()
        self.statusBar().showMessage(f"{self.ctx.mode.value} mode running{self.ctx.replay_note}", 5000)
        sel = self.ctx.selection
        self._ensure_watched(sel.venue, sel.symbol)
        for refresher in self.refreshers:
            refresher.tick(force=True)
        self.update_status()

    def on_app_failed(self, message: str) -> None:
        """The App could not start: keep the window so the user can read why and switch mode."""
        self.statusBar().showMessage(f"cannot start: {message}")
        log.error("cannot start %s mode: %s", self.ctx.mode.value, message)
        self._show_message(QMessageBox.Icon.Critical, "Cannot start", message)

    # ------------------------------------------------------------------ layout
    def _settings(self) -> QSettings:
        self.layout_path.parent.mkdir(parents=True, exist_ok=True)
        return QSettings(str(self.layout_path), QSettings.Format.IniFormat)

    def save_layout(self) -> None:
        settings = self._settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        settings.setValue("window/version", LAYOUT_VERSION)
        settings.sync()

    def restore_layout(self) -> bool:
        """Apply the saved layout, if any; False when there is none (or it is unusable)."""
        if not self.layout_path.exists():
            return False
        settings = self._settings()
        if int(settings.value("window/version", 0) or 0) != LAYOUT_VERSION:
            return False
        geometry, state = settings.value("window/geometry"), settings.value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        return state is not None and self.restoreState(state, LAYOUT_VERSION)

    def reset_layout(self) -> None:
        for dock in self.docks.values():
            dock.setFloating(False)
        self.restoreState(self._default_state, LAYOUT_VERSION)
        self.restoreGeometry(self._default_geometry)
        QTimer.singleShot(0, self._apply_default_sizes)  # after the geometry change is laid out
        self.statusBar().showMessage("layout reset", 3000)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            if not self.restored_layout:
                QTimer.singleShot(0, self._apply_default_sizes)

    # ------------------------------------------------------------------ toolbar
    def _instruments(self, venue: Venue) -> list[str]:
        adapter = self.ctx.app.adapters.get(venue)
        if adapter is not None and adapter.instruments:
            return sorted(adapter.instruments)
        return list(self.ctx.app.config.symbols)

    def _refresh_symbols(self) -> None:
        self._symbols_model.setStringList(self._instruments(self.ctx.selection.venue))

    def _on_venue_combo(self, index: int) -> None:
        venue = Venue(self.venue_combo.itemData(index))
        symbol = self.ctx.selection.symbol
        if symbol not in self._instruments(venue):
            symbol = self.ctx.app.config.symbols[0]
        self.ctx.selection.set_market(venue, symbol)

    def select_symbol(self, text: str) -> bool:
        """Switch to ``text`` on the current venue; a clear error when it cannot be shown."""
        symbol = text.strip().upper()
        venue = self.ctx.selection.venue
        error = None
        if not symbol:
            error = "type a symbol, e.g. BTCUSDT"
        elif symbol not in self._instruments(venue):
            error = f"{symbol} is not listed on {venue_label(venue)}"
        self.symbol_search.setProperty("invalid", error is not None)
        self.symbol_search.style().unpolish(self.symbol_search)
        self.symbol_search.style().polish(self.symbol_search)
        if error is not None:
            self.symbol_search.setToolTip(error)
            self.statusBar().showMessage(error, 8000)
            log.warning("symbol search: %s", error)
            return False
        self.symbol_search.setToolTip("")
        self.symbol_search.setText(symbol)
        self.ctx.selection.set_market(venue, symbol)  # -> _on_selection_changed: watched if new
        return True

    def _ensure_watched(self, venue: Venue, symbol: str) -> None:
        """Stream a market the session did not start with (symbol search, venue switch)."""
        app = self.ctx.app
        if not self._started or self._closing or symbol not in self._instruments(venue):
            return
        is_watched = getattr(app, "is_watched", None)
        if is_watched is None or is_watched(venue, symbol):
            return
        where = f"{symbol} on {venue_label(venue)}"
        self.statusBar().showMessage(f"subscribing to {where}…", 5000)
        log.info("symbol search: subscribing to %s", where)
        self.spawn(app.watch(venue, symbol), f"streaming {where}")

    def focus_symbol_search(self) -> None:
        self.symbol_search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.symbol_search.selectAll()

    def _on_selection_changed(self, venue: Venue, symbol: str) -> None:
        self.venue_combo.blockSignals(True)
        self.venue_combo.setCurrentIndex(max(0, self.venue_combo.findData(venue.value)))
        self.venue_combo.blockSignals(False)
        self.symbol_search.setText(symbol)
        self._refresh_symbols()
        self._ensure_watched(venue, symbol)

    def _on_interval_changed(self, interval: str) -> None:
        if self.timeframe_combo.currentText() != interval:
            self.timeframe_combo.setCurrentText(interval)

    def _on_mode_combo(self, index: int) -> None:
        mode = Mode(self.mode_combo.itemData(index))
        if mode is self.ctx.mode:
            return
        if self.on_restart is None:
            self._revert_mode_combo()
            self._show_message(QMessageBox.Icon.Information, "Mode", "Switching mode is not available here.")
            return
        if mode is Mode.LIVE:
            self.request_live()  # the combo shows "live" while the opt-in dialog asks
            return
        self._revert_mode_combo()  # shows the running mode until the switch really happens
        self._restart(self.base_config.for_mode(mode))

    def _revert_mode_combo(self) -> None:
        self.mode_combo.blockSignals(True)
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(self.ctx.mode.value))
        self.mode_combo.blockSignals(False)

    def _keystore(self) -> Any:
        """The process's one key store (an unlocked key file stays unlocked for the live App)."""
        keystore = self.ctx.app.config.keystore or self.base_config.keystore
        if keystore is None:
            from terminal.secrets import default_keystore

            keystore = default_keystore()
        return keystore

    def request_live(self, venue: Venue | None = None) -> QWidget | None:
        """Ask for the live opt-in (non-modal) for ``venue`` (default: the selected one); once
        accepted the runner restarts in live mode on that venue only. Declining keeps this mode."""
        venue = venue or self.ctx.selection.venue
        if self.on_restart is None:
            self._revert_mode_combo()
            self._show_message(QMessageBox.Icon.Information, "Mode", "Switching mode is not available here.")
            return None
        if self.live_optin is not None:
            self.live_optin.raise_()
            return self.live_optin
        try:
            from terminal.ui.live_optin import LiveOptIn
        except ImportError as exc:
            msg = f"Live mode needs the live opt-in dialog, which is not available in this build ({exc})."
            log.warning("mode switch refused: %s", msg)
            self._revert_mode_combo()
            self._show_message(QMessageBox.Icon.Warning, "Live mode", msg)
            return None
        keystore = self._keystore()
        self.mode_combo.blockSignals(True)
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(Mode.LIVE.value))
        self.mode_combo.blockSignals(False)
        dialog = LiveOptIn(keystore, venue, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda v: self._live_accepted(v, keystore))
        dialog.rejected.connect(self._live_declined)
        self.live_optin = dialog
        self.statusBar().showMessage(f"live mode on {venue_label(venue)}: waiting for the opt-in…")
        dialog.show()
        dialog.raise_()
        return dialog

    def _live_accepted(self, venue: Venue, keystore: Any) -> None:
        self.live_optin = None
        self._restart(self.base_config.for_mode(Mode.LIVE, live_venue=venue, keystore=keystore))

    def _live_declined(self) -> None:
        self.live_optin = None
        if self._closing:
            return
        self._revert_mode_combo()
        msg = f"live mode not started: staying in {self.ctx.mode.value} mode"
        log.info("%s", msg)
        self.statusBar().showMessage(msg, 8000)

    def _restart(self, config: AppConfig) -> None:
        log.info("switching to %s mode (restarting the app)", config.mode.value)
        self.statusBar().showMessage(f"switching to {config.mode.value} mode…")
        assert self.on_restart is not None
        self.on_restart(config)

    def show_warning(self, message: str, summary: str | None = None) -> None:
        """A problem the user should know about that does not stop anything (e.g. a broken
        preferences file): logged (the Log panel) and kept in the status bar (``summary``, the
        message in its tooltip) until clicked away."""
        log.warning("%s", message)
        self.notice.show_notice(message, summary)
        self.statusBar().showMessage(f"warning: {message}", 15000)

    def open_settings(self) -> QWidget | None:
        """The settings dialog (non-modal): API keys for the selected venue, notifications and
        risk limits; the last two apply to the running session as soon as they are saved."""
        try:
            from terminal.notify.store import NotifySettingsStore
            from terminal.trading.risk_store import RiskSettingsStore
            from terminal.ui.settings import open_settings
        except ImportError as exc:
            self.show_error(f"settings are not available in this build ({exc})")
            return None
        keystore = getattr(self.ctx.app.config, "keystore", None)
        return open_settings(
            self,
            keystore,
            venue=self.ctx.selection.venue,
            notify_store=NotifySettingsStore(),
            on_notify_saved=self._apply_notify,
            tray=getattr(self.ctx.app, "tray", None),
            risk_store=RiskSettingsStore(),
            risk=lambda: getattr(self.ctx.app.oms, "risk", None),  # None once the App stopped
            apply_risk=self._apply_risk_limits,
            risk_session=self.base_config.risk_source,
        )

    def _apply_notify(self, config: Any) -> None:
        """Saved notification settings: the running App switches now; a mode switch keeps them."""
        self.base_config.notify = config
        self.spawn(self.ctx.app.apply_notify(config), "applying the notification settings")

    def _apply_risk_limits(self, limits: Any) -> Any:
        """Saved risk limits: the running risk manager takes them now (returns those in force);
        a mode switch keeps them."""
        self.base_config.risk_limits = limits
        return self.ctx.app.apply_risk_limits(limits)

    # ------------------------------------------------------------------ trading actions
    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        """Run ``coro`` on the loop; its failure is shown and logged."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(t, what))
        return task

    def _task_done(self, task: asyncio.Task[Any], what: str) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.show_error(f"{what} failed: {exc}", exc)

    def show_error(self, message: str, exc: BaseException | None = None) -> None:
        log.error("%s", message, exc_info=exc)
        if not self._closing:
            self.statusBar().showMessage(message, 15000)
            self.task_failed.emit(message)

    def request_kill_switch(self) -> None:
        """Ask first (non-modal); on Yes, pull the kill switch."""
        if self.kill_confirm is not None and self.kill_confirm.isVisible():
            self.kill_confirm.raise_()
            return
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Kill switch",
            "Halt trading, cancel every open order and flatten every position on all venues?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.button(QMessageBox.StandardButton.Yes).setText("KILL")
        box.finished.connect(lambda result: self._kill_confirmed(result == QMessageBox.StandardButton.Yes))
        self.kill_confirm = box
        box.show()

    def _kill_confirmed(self, yes: bool) -> None:
        self.kill_confirm = None
        if yes:
            self.kill_switch()

    def kill_switch(self) -> asyncio.Task[Any] | None:
        oms = self.ctx.oms
        if oms is None:
            self.show_error("kill switch: the trading core is not running")
            return None
        self.statusBar().showMessage("KILL SWITCH: halting, canceling, flattening…")
        log.warning("kill switch pulled (button)")
        return self.spawn(self._kill(oms), "kill switch")

    async def _kill(self, oms: Any) -> None:
        report = await oms.kill_switch(actor="manual", reason="kill switch button")
        self.last_kill_report = report
        msg = (
            f"KILL SWITCH done: trading HALTED, {len(report.canceled)} orders canceled, "
            f"{len(report.flatten_orders)} flatten orders sent"
        )
        problems = [*report.cancel_failures, *report.flatten_failures]
        if problems:
            msg += f"; PROBLEMS: {'; '.join(problems)}"
            log.error("%s", msg)
        else:
            log.warning("%s", msg)
        self.statusBar().showMessage(msg, 0)
        self.update_status()

    def cancel_all(self) -> asyncio.Task[Any] | None:
        oms = self.ctx.oms
        if oms is None:
            self.show_error("cancel all: the trading core is not running")
            return None
        return self.spawn(self._cancel_all(oms), "cancel all")

    async def _cancel_all(self, oms: Any) -> None:
        results = await oms.cancel_all()
        left = [o.client_id for o in results if not o.is_terminal]
        msg = f"cancel all: {len(results) - len(left)} canceled"
        if left:
            msg += f", still open: {', '.join(left)}"
        log.info("%s", msg)
        self.statusBar().showMessage(msg, 8000)

    def amend_order(self, client_id: str, price: Decimal) -> None:
        oms = self.ctx.oms
        if oms is None or not hasattr(oms, "amend"):
            self.show_error("amend: not available (no trading core or no amend support)")
            return
        self.spawn(oms.amend(client_id, price=Decimal(price)), f"amend {client_id}")

    def _order_here(self, side: Side, price: Decimal) -> None:
        ticket = self.panels["ticket"]
        self.docks["ticket"].show()
        self.docks["ticket"].raise_()
        ticket.prefill(side, OrderType.LIMIT, price)  # type: ignore[attr-defined]

    def focus_ticket(self, side: Side) -> None:
        ticket = self.panels["ticket"]
        self.docks["ticket"].show()
        self.docks["ticket"].raise_()
        for name in ("focus_side", "set_side"):
            method = getattr(ticket, name, None)
            if method is not None:
                method(side)
                break
        ticket.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # ------------------------------------------------------------------ status, notifications
    def refresh(self, versions: Versions) -> None:
        """Refresher hook: new fills -> notifications (status lights run on their own timer)."""
        account = (versions.orders, versions.balances, versions.positions)
        if not self._started or account == self._account_seen:
            return  # fills only arrive with account changes: skip the copy on market-only frames
        self._account_seen = account
        fills = self.ctx.engine.fills()
        if self._fills_seen is None:
            self._fills_seen = len(fills)  # history loaded at start is not news
            return
        for fill in fills[self._fills_seen :]:
            self.notify(
                "Fill",
                f"{fill.side.value} {fill.qty} {fill.symbol} @ {fill.price} ({venue_label(fill.venue)})",
            )
        self._fills_seen = len(fills)

    def update_status(self) -> None:
        self._show_new_log_error()
        for venue in self.feed_indicators.update_from(self.ctx.engine.feed_statuses()):
            self.notify("Feed outage", f"{venue_label(venue)}: {self.feed_indicators.state(venue)}")
        oms = self.ctx.oms
        state: TradingState | None = oms.risk.state if oms is not None else None
        self.trading_state.set_state(state)

    def _show_new_log_error(self) -> None:
        """Errors logged anywhere (OMS tasks, adapters, panels) reach the status bar too."""
        handler = getattr(self.panels.get("log"), "handler", None)
        errors = getattr(handler, "errors", 0)
        if errors > self._errors_seen:
            self._errors_seen = errors
            if not self._closing:
                self.statusBar().showMessage(f"error: {handler.last_error} (see Log)", 15000)  # type: ignore[union-attr]

    def notify(self, title: str, message: str) -> None:
        self.notifications.append((title, message))
        log.info("notification: %s: %s", title, message)
        if self.tray is not None:
            self.tray.showMessage(title, message, QSystemTrayIcon.MessageIcon.Information, 4000)

    def _show_message(self, icon: QMessageBox.Icon, title: str, text: str) -> QMessageBox:
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()
        self.statusBar().showMessage(text, 10000)
        return box

    def placeholders(self) -> list[str]:
        return [k for k, p in self.panels.items() if isinstance(p, PlaceholderPanel)]

    # ------------------------------------------------------------------ close
    def shutdown(self) -> None:
        """Stop timers and background actions (the runner then stops the App)."""
        self._closing = True
        for refresher in self.refreshers:
            refresher.stop()
        self._status_timer.stop()
        if self.live_optin is not None:
            self.live_optin.close()  # a "no": nothing may restart a closing window's session
        for task in list(self.tasks):
            task.cancel()
        log_panel = self.panels.get("log")
        if log_panel is not None and hasattr(log_panel, "close_handler"):
            log_panel.close_handler()
        backtest = self.panels.get("backtest")  # a running backtest worker must not outlive the window
        if backtest is not None and hasattr(backtest, "shutdown"):
            backtest.shutdown()
        if self.tray is not None:
            self.tray.hide()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing:
            self.save_layout()
            self.shutdown()
        event.accept()
        self.closed.emit()
