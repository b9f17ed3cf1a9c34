"""The dark theme: Fusion style, one dark palette, a small stylesheet, pyqtgraph to match.

Panels take their colours from the application palette (``palette().color(...)``) and the
constants below, so a widget never hardcodes a light colour. Buy/sell colours are shared by
the book, tape, ticket, tables and chart so a side reads the same everywhere.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPen
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
    "check_mark_path",
]

BACKGROUND = "#14171c"  # window background
BASE = "#0f1216"  # tables, editors, plots
ALT_BASE = "#171b21"
PANEL = "#1c2128"  # buttons, headers
FOREGROUND = "#d5dae1"
MUTED = "#7d8794"
GRID_COLOR = "#2a3039"
DISABLED_EDGE = "#4a525e"  # a disabled control's frame: dimmer than MUTED, still visible
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

# Fusion draws a check box's frame in the window colour darkened: invisible on this theme.
# A visible frame, and an accent fill with a white check mark when checked ({check}: a PNG,
# as a stylesheet can only take an image from a file or a compiled resource).
_CHECKBOX_QSS = f"""
QCheckBox::indicator {{ width: 13px; height: 13px; border: 1px solid {MUTED}; border-radius: 2px;
    background: {BASE}; }}
QCheckBox::indicator:hover {{ border-color: {ACCENT}; }}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; image: url({{check}}); }}
QCheckBox::indicator:disabled {{ border-color: {DISABLED_EDGE}; background: {BACKGROUND}; }}
QCheckBox::indicator:checked:disabled {{ background: {DISABLED_EDGE}; border-color: {DISABLED_EDGE}; }}
"""
_check_dir: Path | None = None


def check_mark_path() -> Path:
    """The check mark image the stylesheet uses, drawn once per process into a private temp dir."""
    global _check_dir
    if _check_dir is None or not (_check_dir / "check.png").exists():
        _check_dir = Path(tempfile.mkdtemp(prefix="terminal-theme-"))
        atexit.register(shutil.rmtree, _check_dir, True)
        for name, scale in (("check.png", 1), ("check@2x.png", 2)):  # @2x: Qt picks it on HiDPI
            _draw_check(scale).save(str(_check_dir / name))
    return _check_dir / "check.png"


def _draw_check(scale: int) -> QImage:
    size = 13 * scale
    img = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    img.fill(Qt.GlobalColor.transparent)
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(QColor("#ffffff"), 2.0 * scale)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    u = size / 13
    p.drawPolyline([QPointF(3 * u, 6.8 * u), QPointF(5.6 * u, 9.4 * u), QPointF(10.2 * u, 3.8 * u)])
    p.end()
    return img


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
    check = check_mark_path().as_posix()
    app.setStyleSheet(_STYLESHEET + _CHECKBOX_QSS.replace("{check}", check))
    # pyqtgraph reads these when a plot is created: set them before any panel exists.
    pg.setConfigOptions(background=BASE, foreground=FOREGROUND, antialias=False)
