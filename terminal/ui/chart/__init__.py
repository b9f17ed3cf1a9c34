"""The chart panel (pyqtgraph): level-of-detail candles, overlays, sub-panes, own orders."""

from terminal.ui.chart.panel import INTERVALS, ChartPanel

__all__ = ["INTERVALS", "ChartPanel"]
