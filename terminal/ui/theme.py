"""The dark theme: Fusion style, one dark palette, a small stylesheet, pyqtgraph to match.

Panels take their colours from the application palette (``palette().color(...)``) and the
constants below, so a widget never hardcodes a light colour. Buy/sell colours are shared by
the book, tape, ticket, tables and chart so a side reads the same everywhere.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

__all__ = [
    "ACCENT",
    "BACKGROUND",
    "BASE",
    "BUY_COLOR",
    "FOREGROUND",
    "GRID_COLOR",
    "MUTED",
    "SELL_COLOR",
    "STATE_COLORS",
    "WARN_COLOR",
    "apply_dark",
]

BACKGROUND = "#14171c"  # window background
BASE = "#0f1216"  # tables, editors, plots
ALT_BASE = "#171b21"
PANEL = "#1c2128"  # buttons, headers
FOREGROUND = "#d5dae1"
MUTED = "#7d8794"
GRID_COLOR = "#2a3039"
ACCENT = "#3d8bfd"
BUY_COLOR = "#26a69a"
SELL_COLOR = "#ef5350"
WARN_COLOR = "#f0b429"

# Feed / connection state -> indicator colour (keys are FeedState values).
STATE_COLORS: dict[str, str] = {
    "live": BUY_COLOR,
    "connecting": WARN_COLOR,
    "resyncing": WARN_COLOR,
    "stale": "#ff8c42",
    "reconnecting": SELL_COLOR,
    "stopped": MUTED,
}

_STYLESHEET = f"""
QToolTip {{ color: {FOREGROUND}; background: {PANEL}; border: 1px solid {GRID_COLOR}; }}
QDockWidget::title {{ background: {PANEL}; padding: 3px 6px; border-bottom: 1px solid {GRID_COLOR}; }}
QMainWindow::separator {{ background: {GRID_COLOR}; width: 3px; height: 3px; }}
QHeaderView::section {{ background: {PANEL}; color: {MUTED}; border: none;
    border-right: 1px solid {GRID_COLOR}; padding: 2px 4px; }}
QTableView {{ gridline-color: {GRID_COLOR}; }}
QToolBar {{ border: none; spacing: 6px; padding: 2px; }}
QStatusBar {{ border-top: 1px solid {GRID_COLOR}; }}
QStatusBar::item {{ border: none; }}
QTabBar::tab {{ background: {PANEL}; color: {MUTED}; padding: 3px 10px; border: 1px solid {GRID_COLOR}; }}
QTabBar::tab:selected {{ color: {FOREGROUND}; background: {BASE}; }}
QLineEdit, QComboBox, QSpinBox, QDoubleSpinBox {{ padding: 2px 4px; }}
QPushButton#killSwitch {{ background: #b71c1c; color: white; font-weight: bold;
    border: 1px solid #e53935; border-radius: 3px; padding: 2px 10px; }}
QPushButton#killSwitch:hover {{ background: #d32f2f; }}
QLineEdit[invalid="true"] {{ border: 1px solid {SELL_COLOR}; }}
"""


def _palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: BACKGROUND,
        QPalette.ColorRole.WindowText: FOREGROUND,
        QPalette.ColorRole.Base: BASE,
        QPalette.ColorRole.AlternateBase: ALT_BASE,
        QPalette.ColorRole.ToolTipBase: PANEL,
        QPalette.ColorRole.ToolTipText: FOREGROUND,
        QPalette.ColorRole.PlaceholderText: MUTED,
        QPalette.ColorRole.Text: FOREGROUND,
        QPalette.ColorRole.Button: PANEL,
        QPalette.ColorRole.ButtonText: FOREGROUND,
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Link: ACCENT,
        QPalette.ColorRole.Highlight: "#2b4a75",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Light: "#2c333d",
        QPalette.ColorRole.Midlight: "#242a32",
        QPalette.ColorRole.Mid: GRID_COLOR,
        QPalette.ColorRole.Dark: "#0b0d10",
        QPalette.ColorRole.Shadow: "#000000",
    }
    for role, color in roles.items():
        p.setColor(role, QColor(color))
    disabled = QPalette.ColorGroup.Disabled
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(disabled, role, QColor(MUTED))
    return p


def apply_dark(app: QApplication) -> None:
    """Dark Fusion theme for the whole application (call once, before building widgets)."""
    import pyqtgraph as pg

    app.setStyle("Fusion")
    app.setPalette(_palette())
    app.setStyleSheet(_STYLESHEET)
    # pyqtgraph reads these when a plot is created: set them before any panel exists.
    pg.setConfigOptions(background=BASE, foreground=FOREGROUND, antialias=False)
