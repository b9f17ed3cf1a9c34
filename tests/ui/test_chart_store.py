"""The chart's scroll-back goes through the engine's candle store: a page fetched from the venue
is stored, and a later chart gets it from the store even with the venue gone."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from terminal.app import App
from terminal.engine.history import open_chart_store
from terminal.model import Venue
from terminal.ui.chart import ChartPanel
from terminal.ui.context import Selection, UiContext
from tests.ui.conftest import UI_SYMBOL, wait_until

VENUE = Venue.BINANCE_SPOT


def chart(qloop, qtbot, app: App) -> ChartPanel:
    panel = ChartPanel(UiContext(app, Selection(VENUE, UI_SYMBOL)))
    qtbot.addWidget(panel)

    def loaded() -> bool:
        panel.refresh(app.engine.versions())
        return len(panel.store) >= 100

    wait_until(qloop, loaded, 15, "candles on the chart")
    return panel


def older_page(qloop, panel: ChartPanel) -> int:
    n0, loads = len(panel.store), panel.older_loads
    panel.load_older()
    wait_until(qloop, lambda: panel.older_loads > loads or "failed" in panel.status.text(), 15, "older page")
    assert panel.older_loads > loads, panel.status.text()
    return len(panel.store) - n0


def test_the_chart_pages_through_the_store(qloop, demo_app: App, qtbot, tmp_path: Path) -> None:
    store = open_chart_store(tmp_path)
    assert store is not None
    demo_app.engine.history_store = store  # what the App does outside demo mode
    first = chart(qloop, qtbot, demo_app)
    added = older_page(qloop, first)
    assert added > 0
    stored = store.read(VENUE, UI_SYMBOL, "1m")
    assert stored.time.tolist() == first.store.t[:added].tolist()  # written through, exactly the page
    np.testing.assert_array_equal(stored.close, first.store.c[:added])

    adapter = demo_app.engine.adapters.pop(VENUE)  # the venue is gone (an offline session)
    try:
        second = chart(qloop, qtbot, demo_app)
        assert older_page(qloop, second) == added  # served from the store
    finally:
        demo_app.engine.adapters[VENUE] = adapter
    assert second.store.t[:added].tolist() == first.store.t[:added].tolist()
    assert np.all(np.diff(second.store.t) == 60_000)  # joined without a hole or a duplicate
