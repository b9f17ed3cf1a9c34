"""The panel registry: every dock of the main window, by key.

Panels are imported lazily by dotted path, so the window builds whichever panels exist; a
panel whose module is not there yet (ImportError) becomes a labelled placeholder instead of
taking the whole window down. Any other error while building a panel is a bug and propagates.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from enum import StrEnum

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from terminal.engine.engine import Versions
from terminal.ui.context import UiContext

__all__ = ["PANELS", "DockArea", "PanelSpec", "PlaceholderPanel", "create_panel"]

log = logging.getLogger(__name__)


class DockArea(StrEnum):
    CENTER = "center"  # the chart: the big middle of the window
    LEFT = "left"
    RIGHT = "right"
    BOTTOM = "bottom"


@dataclass(frozen=True, slots=True)
class PanelSpec:
    key: str
    title: str
    class_path: str  # "package.module.ClassName"
    area: DockArea


_SPECS = (
    PanelSpec("chart", "Chart", "terminal.ui.chart.ChartPanel", DockArea.CENTER),
    PanelSpec("watchlist", "Watchlist", "terminal.ui.watchlist.WatchlistPanel", DockArea.LEFT),
    PanelSpec("trades", "Trades", "terminal.ui.tape.TradesPanel", DockArea.LEFT),
    PanelSpec("book", "Order book", "terminal.ui.book.OrderBookPanel", DockArea.RIGHT),
    PanelSpec("depth", "Depth", "terminal.ui.depth.DepthChartPanel", DockArea.RIGHT),
    PanelSpec("ticket", "Order ticket", "terminal.ui.ticket.OrderTicketPanel", DockArea.RIGHT),
    PanelSpec("positions", "Positions", "terminal.ui.tables.PositionsPanel", DockArea.BOTTOM),
    PanelSpec("orders", "Open orders", "terminal.ui.tables.OpenOrdersPanel", DockArea.BOTTOM),
    PanelSpec("history", "History", "terminal.ui.tables.HistoryPanel", DockArea.BOTTOM),
    PanelSpec("balances", "Balances", "terminal.ui.tables.BalancesPanel", DockArea.BOTTOM),
    PanelSpec("strategies", "Strategies", "terminal.ui.strategies_panel.StrategiesPanel", DockArea.BOTTOM),
    PanelSpec("signals", "Signals", "terminal.ui.signals_panel.SignalsPanel", DockArea.BOTTOM),
    PanelSpec("backtest", "Backtest", "terminal.ui.backtest_panel.BacktestPanel", DockArea.BOTTOM),
    PanelSpec("log", "Log", "terminal.ui.logpanel.LogPanel", DockArea.BOTTOM),
)

PANELS: dict[str, PanelSpec] = {s.key: s for s in _SPECS}


class PlaceholderPanel(QWidget):
    """Stands in for a panel whose module is not available; says which and why."""

    def __init__(self, spec: PanelSpec, reason: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(spec.key)
        self.reason = reason
        label = QLabel(f"{spec.title}\n\nnot available in this build\n({reason})", self)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        label.setEnabled(False)  # the palette's muted text colour
        layout = QVBoxLayout(self)
        layout.addWidget(label)

    def refresh(self, versions: Versions) -> None:
        pass


def create_panel(key: str, ctx: UiContext, parent: QWidget | None = None) -> QWidget:
    """Build the panel ``key``; a placeholder when its module cannot be imported."""
    spec = PANELS[key]
    module_name, _, cls_name = spec.class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except ImportError as exc:
        log.warning("panel %s: %s unavailable (%s); showing a placeholder", key, spec.class_path, exc)
        return PlaceholderPanel(spec, str(exc), parent)
    except AttributeError:
        log.warning("panel %s: %s has no %s yet; showing a placeholder", key, module_name, cls_name)
        return PlaceholderPanel(spec, f"{module_name} has no {cls_name}", parent)
    panel = cls(ctx, parent)
    if not panel.objectName():
        panel.setObjectName(key)
    return panel
