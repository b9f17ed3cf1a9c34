"""The backtest dock: pick a strategy, its parameters, a market, a range and a data source; run
it off the UI loop; read metrics, trades, equity and drawdown; mark the trades on the chart;
export the trades (CSV) or the whole result (JSON).

The run itself is ``terminal.backtest.run_backtest`` in a worker process (a spawned
``ProcessPoolExecutor`` of one, reused between runs), awaited with ``loop.run_in_executor`` so
the qasync loop never blocks: a million-bar event-loop run takes seconds. Cancelling cancels
the task and terminates the worker (a running process cannot be interrupted any other way);
the next run starts a fresh one. Data comes from the engine's loaded candles (quick), is
fetched from the venue with ``fetch_bars`` (paged REST, on the loop), or is read from the local
candle store (``Engine.history_store``, filled by ``terminal history download`` and the chart's
scroll-back): a range the store has not got is refused with the missing span and the command
that downloads it; holes inside the range (a venue outage, too) are run over and named.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import math
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import (
    QAbstractTableModel,
    QDateTime,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimeZone,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateTimeEdit,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from terminal.backtest import BacktestConfig, BacktestResult, Bars, TradeTable, fetch_bars, run_backtest
from terminal.backtest.result import ExitReason
from terminal.backtest.stored import StoredBars, stored_bars
from terminal.engine.engine import Versions
from terminal.model import InstrumentKind, Venue
from terminal.storage.history import HistoryStore
from terminal.strategies import registry
from terminal.strategies._common import timeframe_ms
from terminal.strategies.base import ParamError
from terminal.ui.chart.orders import TradeMark
from terminal.ui.chart.panel import INTERVALS
from terminal.ui.context import UiContext
from terminal.ui.fmt import venue_label
from terminal.ui.strategy_dialog import MarketFields, ParamForm
from terminal.ui.theme import ACCENT, BUY_COLOR, MUTED, SELL_COLOR

__all__ = [
    "BacktestJob",
    "BacktestPanel",
    "DataSource",
    "Phase",
    "StoredBars",
    "TradesModel",
    "stored_bars",
    "trade_marks",
]

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
_SPOT = frozenset({Venue.BINANCE_SPOT, Venue.BYBIT_SPOT})
_CSV_FIELDS = (
    "symbol",
    "side",
    "qty",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "fees",
    "funding",
    "pnl",
    "exit_reason",
)


class DataSource(StrEnum):
    LOADED = "loaded candles"  # what the engine already holds: instant, as deep as the chart's history
    VENUE = "fetch from venue"  # REST klines over the range, paged
    STORE = "local store"  # the downloaded history (terminal history download): offline, deep


class RangeMode(StrEnum):
    DAYS = "last N days"
    DATES = "dates (UTC)"


class Phase(StrEnum):
    IDLE = "idle"
    LOADING = "loading candles"
    FETCHING = "fetching candles from the venue"
    RUNNING = "running the backtest"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


_BUSY = frozenset({Phase.LOADING, Phase.FETCHING, Phase.RUNNING})


@dataclass(frozen=True, slots=True)
class BacktestJob:
    """Everything one run needs; built (and checked) from the form before anything starts."""

    strategy: str
    params: dict[str, str]  # as typed; parsed again in the worker by ``run_backtest``
    venue: Venue
    symbol: str
    interval: str  # of the data
    source: DataSource
    start_ms: int | None  # None: from the first loaded bar
    end_ms: int  # bars opening before this
    config: BacktestConfig


def trade_marks(trades: TradeTable) -> list[TradeMark]:
    """Entry and exit marks of every trade (an open trade has no exit mark)."""
    marks: list[TradeMark] = []
    for t in trades.records():
        marks.append(TradeMark(t.entry_time, t.entry_price, t.side, entry=True))
        if t.exit_reason is not ExitReason.OPEN:
            marks.append(TradeMark(t.exit_time, t.exit_price, t.side.opposite, entry=False))
    return marks


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _bars_from_engine(candles: Sequence[Any], venue: Venue, symbol: str, interval: str) -> Bars:
    closed = [c for c in candles if c.closed]
    cols = np.array([(c.open, c.high, c.low, c.close, c.volume) for c in closed], dtype=np.float64)
    times = np.array([c.open_time for c in closed], dtype=np.int64)
    return Bars.from_arrays(symbol, interval, times, *cols.reshape(-1, 5).T)


def _spawn_pool() -> ProcessPoolExecutor:
    # spawn, not fork: forking a process that runs Qt and asyncio threads can deadlock the child
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


def _kill_pool(pool: ProcessPoolExecutor) -> list[int]:
    """Terminate the pool's workers now (a running task cannot be cancelled); their pids."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    procs = list((getattr(pool, "_processes", None) or {}).values())
    if terminate is not None:
        terminate()
    else:
        for p in procs:
            if p.is_alive():
                p.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    return [p.pid for p in procs if p.pid is not None]


class _PoolHolder(QObject):
    """The worker pool, outside the panel so a ``destroyed`` slot can still reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.pool: ProcessPoolExecutor | None = None

    def kill(self, *_: object) -> list[int]:
        pool, self.pool = self.pool, None
        return _kill_pool(pool) if pool is not None else []


class TradesModel(QAbstractTableModel):
    """The trade list straight from the result's columns (a long run has tens of thousands)."""

    headers = ("#", "Side", "Entry time", "Entry", "Exit time", "Exit", "Qty", "Fees", "P&L", "Exit reason")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.trades: TradeTable | None = None

    def set_trades(self, trades: TradeTable | None) -> None:
        self.beginResetModel()
        self.trades = trades
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or self.trades is None else len(self.trades)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.headers)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation is Qt.Orientation.Horizontal:
            return self.headers[section]
        return None

    def text(self, row: int, col: int) -> str:
        t = self.trades
        assert t is not None
        long = bool(t.sign[row] > 0)
        reason = tuple(ExitReason)[int(t.reason[row])]
        match col:
            case 0:
                return str(row + 1)
            case 1:
                return "long" if long else "short"
            case 2:
                return _utc(int(t.entry_time[row]))
            case 3:
                return f"{t.entry_price[row]:.8g}"
            case 4:
                return "open" if reason is ExitReason.OPEN else _utc(int(t.exit_time[row]))
            case 5:
                return f"{t.exit_price[row]:.8g}"
            case 6:
                return f"{t.qty[row]:g}"
            case 7:
                return f"{t.fees[row]:.4f}"
            case 8:
                return f"{t.pnl[row]:+.4f}"
            case _:
                return reason.value

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or self.trades is None:
            return None
        row, col = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, col)
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == 1:
                return QColor(BUY_COLOR if self.trades.sign[row] > 0 else SELL_COLOR)
            if col == 8 and self.trades.pnl[row] != 0:
                return QColor(BUY_COLOR if self.trades.pnl[row] > 0 else SELL_COLOR)
        if role == Qt.ItemDataRole.TextAlignmentRole and col not in (1, 9):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def metric_rows(result: BacktestResult) -> list[tuple[str, str]]:
    """The metrics table, as the user reads it."""
    m = result.metrics

    def num(v: float, spec: str) -> str:
        return format(v, spec) if math.isfinite(v) else ("∞" if v > 0 else "-∞")

    return [
        ("Strategy", f"{result.strategy} ({', '.join(f'{k}={v}' for k, v in result.params.items())})"),
        ("Bars", f"{m.bars} × {result.interval}"),
        ("Path", "fast (target positions)" if result.fast_path else "event loop"),
        ("Final equity", f"{m.final_equity:,.2f} (from {m.initial_equity:,.2f})"),
        ("Total return", f"{m.total_return:+.2%}"),
        ("CAGR", f"{m.cagr:+.2%}"),
        ("Sharpe", num(m.sharpe, ".3f")),
        ("Sortino", num(m.sortino, ".3f")),
        ("Calmar", num(m.calmar, ".3f")),
        ("Max drawdown", f"{m.max_drawdown:.2%} over {m.max_drawdown_bars} bars"),
        ("Trades", str(m.trades)),
        ("Win rate", f"{m.win_rate:.2%}"),
        ("Profit factor", num(m.profit_factor, ".3f")),
        ("Expectancy", f"{m.expectancy:+.4f}"),
        ("Exposure", f"{m.exposure:.2%}"),
        ("Fills", str(result.fills)),
        ("Fees / funding", f"{result.fees:,.2f} / {result.funding:,.2f}"),
        ("Rejected intents", str(result.rejected)),
    ]


class BacktestPanel(MarketFields, QWidget):
    marks_ready = Signal(object, str, object)  # Venue, symbol, list[TradeMark]: for the chart
    finished = Signal(object)  # the BacktestResult

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("backtest")
        self.ctx = ctx
        self.form: ParamForm | None = None
        self.result: BacktestResult | None = None
        self.job: BacktestJob | None = None
        self.phase = Phase.IDLE
        self.elapsed_s = 0.0  # of the last finished run, worker included
        self.task: asyncio.Future[None] | None = None
        self.killed_pids: list[int] = []  # workers terminated by the last cancel (tests)
        self.data_note = ""  # about the last run's data (holes in stored bars), shown when done
        self._holder = _PoolHolder()
        self._infos = {i.name: i for i in registry.list_strategies()}
        self._build()
        sel = ctx.selection
        self._follow_selection(sel.venue, sel.symbol)
        sel.changed.connect(self._follow_selection)
        # the window calls shutdown() when it closes (not aboutToQuit: qasync emits it at every
        # loop stop); a panel dropped without it still kills its worker
        self.destroyed.connect(self._holder.kill)

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        settings = QWidget(self)
        self.strategy_combo = QComboBox(settings)
        self.strategy_combo.setObjectName("btStrategy")
        for info in self._infos.values():
            self.strategy_combo.addItem(info.title, info.name)
        self.strategy_combo.setCurrentIndex(max(0, self.strategy_combo.findData("ema_cross")))
        self.venue_combo = QComboBox(settings)
        self.venue_combo.setObjectName("btVenue")
        for v in self._venues():
            self.venue_combo.addItem(venue_label(v), v.value)
        self.symbol_combo = QComboBox(settings)
        self.symbol_combo.setObjectName("btSymbol")
        self.symbol_combo.setEditable(True)
        self.symbol_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.interval_combo = QComboBox(settings)
        self.interval_combo.setObjectName("btInterval")
        self.interval_combo.addItems(INTERVALS)
        self.interval_combo.setCurrentText(self.ctx.selection.interval)
        self.source_combo = QComboBox(settings)
        self.source_combo.setObjectName("btSource")
        for s in DataSource:
            self.source_combo.addItem(s.value, s.value)
        self.range_combo = QComboBox(settings)
        for r in RangeMode:
            self.range_combo.addItem(r.value, r.value)
        self.days_spin = QSpinBox(settings)
        self.days_spin.setRange(0, 3650)
        self.days_spin.setSpecialValueText("all loaded")  # 0: loaded candles only
        self.days_spin.setSuffix(" d")
        now = QDateTime.currentDateTimeUtc()
        self.start_edit = QDateTimeEdit(now.addDays(-7), settings)
        self.end_edit = QDateTimeEdit(now, settings)
        for e in (self.start_edit, self.end_edit):
            e.setTimeZone(QTimeZone.utc())
            e.setDisplayFormat("yyyy-MM-dd HH:mm")
            e.setCalendarPopup(True)
        self.cash_spin = self._money(settings, 10_000.0, 1.0, 1e12, 2)
        self.qty_spin = self._money(settings, 1.0, 1e-6, 1e9, 6)
        self.fee_spin = self._money(settings, 10.0, 0.0, 1000.0, 2)
        self.slip_spin = self._money(settings, 0.0, 0.0, 1000.0, 2)

        # two columns: what and over which data | costs and the strategy's parameters
        where = QFormLayout()
        where.addRow("Strategy", self.strategy_combo)
        where.addRow("Venue", self.venue_combo)
        where.addRow("Symbol", self.symbol_combo)
        where.addRow("Data interval", self.interval_combo)
        where.addRow("Source", self.source_combo)
        where.addRow("Range", self.range_combo)
        where.addRow("Last", self.days_spin)
        where.addRow("From", self.start_edit)
        where.addRow("To", self.end_edit)
        costs = QFormLayout()
        costs.addRow("Capital", self.cash_spin)
        costs.addRow("Qty / trade", self.qty_spin)
        costs.addRow("Fee (bps)", self.fee_spin)
        costs.addRow("Slippage (bps)", self.slip_spin)

        self.params_area = QScrollArea(settings)
        self.params_area.setWidgetResizable(True)
        self.params_area.setFrameShape(QFrame.Shape.NoFrame)
        self.run_button = QPushButton("Run", settings)
        self.run_button.setObjectName("btRun")
        self.cancel_button = QPushButton("Cancel", settings)
        self.cancel_button.setObjectName("btCancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar(settings)
        self.progress.setObjectName("btProgress")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.phase_label = QLabel(Phase.IDLE.value, settings)
        self.phase_label.setObjectName("btPhase")
        self.phase_label.setStyleSheet(f"color: {MUTED};")
        self.error_label = QLabel(settings)
        self.error_label.setObjectName("btError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {SELL_COLOR};")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        second = QVBoxLayout()
        second.addLayout(costs)
        second.addWidget(QLabel("<b>Parameters</b>", settings))
        second.addWidget(self.params_area, 1)
        columns = QHBoxLayout()
        columns.addLayout(where, 1)
        columns.addLayout(second, 1)
        col = QVBoxLayout(settings)
        col.setContentsMargins(4, 4, 4, 4)
        col.addLayout(columns, 1)
        col.addLayout(buttons)
        col.addWidget(self.progress)
        col.addWidget(self.phase_label)
        col.addWidget(self.error_label)
        left = QScrollArea(self)
        left.setWidgetResizable(True)
        left.setFrameShape(QFrame.Shape.NoFrame)
        left.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left.setWidget(settings)
        left.setMinimumWidth(480)

        # -- results
        self.metrics_table = QTableWidget(0, 2, self)
        self.metrics_table.setObjectName("btMetrics")
        self.metrics_table.setHorizontalHeaderLabels(["Metric", "Value"])
        self.metrics_table.verticalHeader().hide()
        self.metrics_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.metrics_table.horizontalHeader().setStretchLastSection(True)
        self.metrics_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.trades_model = TradesModel(self)
        self.trades_view = QTableView(self)
        self.trades_view.setObjectName("btTrades")
        self.trades_view.setModel(self.trades_model)
        self.trades_view.verticalHeader().hide()
        self.trades_view.verticalHeader().setDefaultSectionSize(20)
        self.trades_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.trades_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

        self.plots = pg.GraphicsLayoutWidget(self)
        self.plots.setObjectName("btPlots")
        self.equity_plot = self.plots.addPlot(
            row=0, col=0, axisItems={"bottom": pg.DateAxisItem(utcOffset=0)}
        )
        self.dd_plot = self.plots.addPlot(row=1, col=0, axisItems={"bottom": pg.DateAxisItem(utcOffset=0)})
        self.plots.ci.layout.setRowStretchFactor(0, 3)
        self.plots.ci.layout.setRowStretchFactor(1, 1)
        self.dd_plot.setXLink(self.equity_plot)
        self.equity_plot.setLabel("left", "equity")
        self.dd_plot.setLabel("left", "drawdown %")
        for p in (self.equity_plot, self.dd_plot):
            p.showGrid(x=True, y=True, alpha=0.2)
            p.setDownsampling(auto=True, mode="peak")  # a million points must not reach the painter
            p.setClipToView(True)
        self.equity_curve = self.equity_plot.plot(pen=pg.mkPen(ACCENT, width=1.5))
        self.dd_curve = self.dd_plot.plot(
            pen=pg.mkPen(SELL_COLOR, width=1), fillLevel=0, brush=(239, 83, 80, 70)
        )

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("btTabs")
        self.tabs.addTab(self.plots, "Equity")
        self.tabs.addTab(self.trades_view, "Trades")
        self.tabs.addTab(self.metrics_table, "Metrics")
        self.summary_label = QLabel("no run yet", self)
        self.summary_label.setObjectName("btSummary")
        self.summary_label.setStyleSheet(f"color: {MUTED};")
        self.csv_button = QPushButton("Export CSV…", self)
        self.json_button = QPushButton("Export JSON…", self)
        for b in (self.csv_button, self.json_button):
            b.setEnabled(False)
        top = QHBoxLayout()
        top.addWidget(self.summary_label, 1)
        top.addWidget(self.csv_button)
        top.addWidget(self.json_button)
        right = QWidget(self)
        rcol = QVBoxLayout(right)
        rcol.setContentsMargins(4, 4, 4, 4)
        rcol.addLayout(top)
        rcol.addWidget(self.tabs, 1)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([560, 900])
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(split)

        self.strategy_combo.currentIndexChanged.connect(self._on_strategy)
        self.venue_combo.currentIndexChanged.connect(self._on_venue)
        self.interval_combo.currentTextChanged.connect(self._sync_timeframe_param)
        self.range_combo.currentIndexChanged.connect(self._on_range)
        self.run_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.csv_button.clicked.connect(lambda: self._ask_path("CSV (*.csv)", ".csv", self.export_csv))
        self.json_button.clicked.connect(lambda: self._ask_path("JSON (*.json)", ".json", self.export_json))
        self._on_strategy()
        self._on_range()

    @staticmethod
    def _money(parent: QWidget, value: float, lo: float, hi: float, decimals: int) -> QDoubleSpinBox:
        spin = QDoubleSpinBox(parent)
        spin.setDecimals(decimals)
        spin.setRange(lo, hi)
        spin.setValue(value)
        return spin

    def _venues(self) -> list[Venue]:
        adapters = getattr(self.ctx.app, "adapters", None) or {}
        configured = getattr(getattr(self.ctx.app, "config", None), "venues", None)
        return list(adapters) or list(configured or ()) or list(Venue)

    # ------------------------------------------------------------------ form state
    @property
    def busy(self) -> bool:
        return self.phase in _BUSY

    def set_source(self, source: DataSource) -> None:
        self.source_combo.setCurrentIndex(self.source_combo.findData(source.value))

    def _follow_selection(self, venue: Venue, symbol: str) -> None:
        if self.busy:
            return
        i = self.venue_combo.findData(venue.value)
        if i >= 0:
            self.venue_combo.setCurrentIndex(i)
        self._on_venue()
        self.symbol_combo.setCurrentText(symbol)

    def _on_venue(self, _index: int = 0) -> None:
        typed = self.symbol_combo.currentText()
        adapter = (getattr(self.ctx.app, "adapters", None) or {}).get(self.venue)
        symbols = sorted(getattr(adapter, "instruments", None) or {}) if adapter is not None else []
        self.symbol_combo.blockSignals(True)
        self.symbol_combo.clear()
        self.symbol_combo.addItems(symbols)
        self.symbol_combo.setCurrentText(typed)
        self.symbol_combo.blockSignals(False)

    def _on_strategy(self, _index: int = 0) -> None:
        info = self._infos[self.strategy]
        self.strategy_combo.setToolTip(info.doc)
        self.form = ParamForm(info)
        self.form.setObjectName("btParams")
        self.params_area.setWidget(self.form)  # the scroll area deletes the old form
        self._sync_timeframe_param()

    def _sync_timeframe_param(self, *_: object) -> None:
        """A strategy's own timeframe starts as the data's: the run then trades every bar."""
        if self.form is not None and "timeframe" in self.form.editors:
            self.form.set_value("timeframe", self.interval_combo.currentText())

    def _on_range(self, _index: int = 0) -> None:
        dates = self.range_combo.currentData() == RangeMode.DATES.value
        self.days_spin.setEnabled(not dates)
        self.start_edit.setEnabled(dates)
        self.end_edit.setEnabled(dates)

    # ------------------------------------------------------------------ the job
    def build_job(self) -> BacktestJob | None:
        """The run the form describes, or None with the problem shown (and nothing started)."""
        assert self.form is not None
        self.form.mark_invalid(None)
        symbol = self.symbol
        if not symbol:
            return self._refuse("symbol: type a symbol, e.g. BTCUSDT")
        params = self.form.values()
        try:
            registry.parse_params(self.strategy, params)
        except ParamError as exc:
            self.form.mark_invalid(self.form.param_named_in(str(exc)))
            return self._refuse(str(exc))
        source = DataSource(self.source_combo.currentData())
        if self.range_combo.currentData() == RangeMode.DATES.value:
            start = self.start_edit.dateTime().toMSecsSinceEpoch()
            end = self.end_edit.dateTime().toMSecsSinceEpoch()
            if end <= start:
                return self._refuse("range: 'To' must be after 'From'")
        else:
            end = int(time.time() * 1000)
            days = self.days_spin.value()
            if days == 0 and source is DataSource.VENUE:
                return self._refuse("range: choose a number of days (or dates) to fetch from the venue")
            start = end - days * DAY_MS if days else None
        venue = self.venue
        spot = venue in _SPOT
        try:
            config = BacktestConfig(
                initial_cash=self.cash_spin.value(),
                kind=InstrumentKind.SPOT if spot else InstrumentKind.LINEAR_PERPETUAL,
                venue=venue,
                qty=self.qty_spin.value(),
                taker_fee_bps=self.fee_spin.value(),
                maker_fee_bps=self.fee_spin.value(),
                slippage_bps=self.slip_spin.value(),
            )
        except ValueError as exc:
            return self._refuse(str(exc))
        self._show_error("")
        return BacktestJob(
            self.strategy,
            params,
            venue,
            symbol,
            self.interval_combo.currentText(),
            source,
            start,
            end,
            config,
        )

    def _refuse(self, message: str) -> None:
        self._show_error(message)
        return None

    async def load_bars(self, job: BacktestJob) -> Bars:
        """The job's candles: the engine's closed bars in range, the local store's, or a paged
        venue fetch."""
        self.data_note = ""
        if job.source is DataSource.STORE:
            self._set_phase(Phase.LOADING)
            return await self._stored(job)
        if job.source is DataSource.LOADED:
            self._set_phase(Phase.LOADING)
            engine = self.ctx.engine
            if not engine.is_tracked(job.venue, job.symbol, job.interval):
                raise ValueError(
                    f"no {job.interval} candles of {job.symbol} on {venue_label(job.venue)} are loaded: "
                    "open them on the chart first, or fetch from the venue"
                )
            candles = engine.candle_bars(job.venue, job.symbol, job.interval)
            bars = _bars_from_engine(candles, job.venue, job.symbol, job.interval)
            return bars.between(job.start_ms, job.end_ms)
        self._set_phase(Phase.FETCHING)
        adapter = (getattr(self.ctx.app, "adapters", None) or {}).get(job.venue)
        if adapter is None:
            raise ValueError(f"{venue_label(job.venue)} is not connected: cannot fetch candles")
        assert job.start_ms is not None
        try:
            return await fetch_bars(adapter, job.symbol, job.interval, job.start_ms, job.end_ms)
        except ValueError:
            raise
        except Exception as exc:  # the venue's words (unknown symbol, network down)
            raise ValueError(
                f"{venue_label(job.venue)}: cannot fetch {job.symbol} {job.interval} klines: {exc}"
            ) from None

    async def _stored(self, job: BacktestJob) -> Bars:
        store: HistoryStore | None = getattr(self.ctx.engine, "history_store", None)
        if store is None:
            raise ValueError(
                "this session has no local candle store (demo mode: the simulator makes new "
                "candles on every start); choose 'fetch from venue' or 'loaded candles'"
            )
        path, now = store.path, int(time.time() * 1000)

        def read() -> StoredBars:
            # In a thread, on its own connection (a connection stays in its thread; WAL lets it
            # read beside the engine's): 100k bars take ~0.25 s, a year of 1m bars seconds.
            with HistoryStore(path) as own:
                return stored_bars(own, job.venue, job.symbol, job.interval, job.start_ms, job.end_ms, now)

        got = await asyncio.to_thread(read)
        if got.holes:
            step = timeframe_ms(job.interval)
            lost = sum(h.bars(step) for h in got.holes)
            first = got.holes[0]
            self.data_note = (
                f"{lost} bars missing in the store ({len(got.holes)} holes, first "
                f"{_utc(first.start_ms)} → {_utc(first.end_ms)} UTC)"
            )
        return got.bars

    # ------------------------------------------------------------------ running
    def start(self) -> bool:
        """Run the form's backtest; False (with the reason shown) if it cannot start."""
        if self.busy:
            return False
        job = self.build_job()
        if job is None:
            return False
        return self.run_job(job)

    def run_job(self, job: BacktestJob, bars: Bars | None = None) -> bool:
        """Run ``job`` (over ``bars`` if given, e.g. a file's, else its source's)."""
        if self.busy:
            return False
        self.job = job
        self.result = None
        # busy from this call on (not from the task's first step): a second click is a no-op
        self._set_phase(Phase.FETCHING if bars is None and job.source is DataSource.VENUE else Phase.LOADING)
        self.task = asyncio.ensure_future(self._run(job, bars))
        return True

    async def _run(self, job: BacktestJob, given: Bars | None) -> None:
        started = time.perf_counter()
        try:
            bars = given if given is not None else await self.load_bars(job)
            if len(bars) == 0:
                raise ValueError(f"no {job.symbol} {job.interval} bars in the chosen range")
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(
                self._worker(), run_backtest, job.strategy, job.params, bars, job.config
            )
            self._set_phase(Phase.RUNNING)
            result = await future
        except asyncio.CancelledError:
            if shiboken6.isValid(self):
                self._set_phase(Phase.CANCELLED)
            raise
        except BrokenProcessPool:
            self._holder.pool = None
            if shiboken6.isValid(self):
                self._fail("the backtest worker died (out of memory?); try a shorter range")
            return
        except ValueError as exc:  # ParamError, DataError, BacktestError: the user's to fix
            if shiboken6.isValid(self):
                self._fail(str(exc))
            return
        except Exception as exc:
            log.exception("backtest %s failed", job.strategy)
            if shiboken6.isValid(self):
                self._fail(f"backtest failed: {exc}")
            return
        if not shiboken6.isValid(self):
            return
        self.elapsed_s = time.perf_counter() - started
        self.show_result(result)
        self._set_phase(Phase.DONE)

    def _worker(self) -> ProcessPoolExecutor:
        if self._holder.pool is None:
            self._holder.pool = _spawn_pool()
        return self._holder.pool

    def cancel(self) -> None:
        """Stop the run: the task is cancelled and the worker process terminated."""
        if not self.busy:
            return
        if self.task is not None:
            self.task.cancel()
        self.killed_pids = self._holder.kill()  # the next run spawns a fresh worker
        self._set_phase(Phase.CANCELLED)

    def shutdown(self) -> None:
        """Stop any run and the worker (window closing)."""
        self.cancel()
        pool, self._holder.pool = self._holder.pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def closeEvent(self, event: Any) -> None:
        self.shutdown()
        super().closeEvent(event)

    def refresh(self, versions: Versions) -> None:
        """Nothing follows the engine's versions: a run is a snapshot."""

    # ------------------------------------------------------------------ results
    def show_result(self, result: BacktestResult) -> None:
        self.result = result
        rows = metric_rows(result)
        self.metrics_table.setRowCount(len(rows))
        for i, (name, value) in enumerate(rows):
            self.metrics_table.setItem(i, 0, QTableWidgetItem(name))
            self.metrics_table.setItem(i, 1, QTableWidgetItem(value))
        self.trades_model.set_trades(result.trades)
        x = result.time.astype(np.float64) / 1000.0
        self.equity_curve.setData(x, result.equity)
        self.dd_curve.setData(x, -100.0 * result.drawdown())
        m = result.metrics
        job = self.job
        where = f"{venue_label(job.venue)} {job.symbol} · " if job is not None else ""
        self.summary_label.setText(
            f"{where}{m.bars} bars · {m.trades} trades · return {m.total_return:+.2%} · "
            f"max DD {m.max_drawdown:.2%} · {self.elapsed_s:.2f} s"
        )
        for b in (self.csv_button, self.json_button):
            b.setEnabled(True)
        if job is not None:
            self.marks_ready.emit(job.venue, job.symbol, trade_marks(result.trades))
        self.finished.emit(result)

    def export_csv(self, path: Path) -> bool:
        """The trade list as CSV (times in ms since the epoch, UTC)."""
        if self.result is None:
            return bool(self._refuse("export: run a backtest first"))

        def write(fh: Any) -> None:
            out = csv.DictWriter(fh, fieldnames=_CSV_FIELDS)
            out.writeheader()
            out.writerows(t.to_json() for t in self.result.trades.records())  # type: ignore[union-attr]

        return self._write(path, write)

    def export_json(self, path: Path) -> bool:
        """Metrics, run settings and trades as one JSON document."""
        if self.result is None:
            return bool(self._refuse("export: run a backtest first"))
        doc = self.result.to_json(trades=True)
        if self.job is not None:
            doc["venue"] = self.job.venue.value
            doc["data_interval"] = self.job.interval
        if len(self.result.time):
            doc["start"] = datetime.fromtimestamp(int(self.result.time[0]) / 1000, UTC).isoformat()
            doc["end"] = datetime.fromtimestamp(int(self.result.time[-1]) / 1000, UTC).isoformat()
        try:
            text = json.dumps(doc, indent=2, allow_nan=False)
        except ValueError as exc:
            return bool(self._refuse(f"export: the result has a non-finite number ({exc})"))
        return self._write(path, lambda fh: fh.write(text))

    def _write(self, path: Path, write: Any) -> bool:
        # write beside the target, then rename: a failed export never leaves half a file behind
        tmp = path.with_name(path.name + ".part")
        try:
            with tmp.open("w", newline="", encoding="utf-8") as fh:
                write(fh)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            self._show_error(f"export: cannot write {path}: {exc.strerror or exc}")
            return False
        self._show_error("")
        self.phase_label.setText(f"exported {path.name}")
        return True

    def _ask_path(self, filt: str, suffix: str, export: Any) -> None:
        # non-modal: a nested exec() inside the qasync loop can stall running tasks
        dialog = QFileDialog(self, "Export backtest", "", filt)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix(suffix.lstrip("."))
        dialog.fileSelected.connect(lambda p: export(Path(p)))
        dialog.open()

    # ------------------------------------------------------------------ state
    def _set_phase(self, phase: Phase) -> None:
        self.phase = phase
        busy = phase in _BUSY
        self.run_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        if busy:
            self.progress.setRange(0, 0)  # indeterminate: neither fetch nor run reports a fraction
        else:
            self.progress.setRange(0, 1)
            self.progress.setValue(1 if phase is Phase.DONE else 0)
        text = phase.value
        if phase is Phase.DONE and self.result is not None:
            text = f"done in {self.elapsed_s:.2f} s"
            if self.data_note:
                text += f" · {self.data_note}"
        self.phase_label.setText(text)
        if busy:
            self._show_error("")

    def _fail(self, message: str) -> None:
        log.warning("backtest: %s", message)
        self._set_phase(Phase.FAILED)
        if self.form is not None:
            self.form.mark_invalid(self.form.param_named_in(message))
        self._show_error(message)

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    @property
    def error(self) -> str:
        return "" if self.error_label.isHidden() else self.error_label.text()
