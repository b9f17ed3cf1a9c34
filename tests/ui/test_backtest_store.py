"""The backtest dock's "local store" source against the real demo App: bars downloaded from the
simulator into a real SQLite store are backtested in the worker process; a range the store lacks
is refused with the missing span and the download command; holes inside are run over and named."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import QDateTime, QTimeZone
from PySide6.QtWidgets import QSpinBox

from terminal.app import App
from terminal.backtest import run_backtest
from terminal.engine.history import open_chart_store
from terminal.model import Venue
from terminal.storage.history import HistoryStore, download
from terminal.ui.backtest_panel import BacktestPanel, DataSource, Phase
from terminal.ui.context import Selection, UiContext
from tests.ui.conftest import UI_SYMBOL, run, wait_until

pytestmark = pytest.mark.timeout(120)

FUT = Venue.BINANCE_USDM
MIN = 60_000


def make_panel(app: App, qtbot) -> BacktestPanel:
    panel = BacktestPanel(UiContext(app, Selection(FUT, UI_SYMBOL)))
    qtbot.addWidget(panel)
    panel.select_strategy("ema_cross")
    assert panel.form is not None
    for name, value in {"fast": 5, "slow": 20}.items():
        editor = panel.form.editors[name]
        assert isinstance(editor, QSpinBox)
        editor.setValue(value)
    panel.set_source(DataSource.STORE)
    return panel


def set_dates(panel: BacktestPanel, start_ms: int, end_ms: int) -> None:
    panel.range_combo.setCurrentIndex(1)  # dates (UTC)
    panel.start_edit.setDateTime(QDateTime.fromMSecsSinceEpoch(start_ms, QTimeZone.utc()))
    panel.end_edit.setDateTime(QDateTime.fromMSecsSinceEpoch(end_ms, QTimeZone.utc()))


def run_to_end(qloop, panel: BacktestPanel) -> Phase:
    wait_until(qloop, lambda: panel.phase in (Phase.DONE, Phase.FAILED), 60, "the run to end")
    return panel.phase


def utc(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000))


def test_store_source_runs_from_stored_bars_and_names_what_is_missing(
    qloop, demo_app: App, qtbot, tmp_path: Path
) -> None:
    panel = make_panel(demo_app, qtbot)
    assert demo_app.engine.history_store is None  # demo: no store (its candles differ every run)
    assert panel.start()
    assert run_to_end(qloop, panel) is Phase.FAILED and "no local candle store" in panel.error

    store = open_chart_store(tmp_path / "store")
    assert store is not None
    demo_app.engine.history_store = store  # closed by the App's engine on stop
    end = int(time.time() * 1000) // MIN * MIN - 10 * MIN
    start = end - 600 * MIN
    report = run(qloop, download(demo_app.adapters[FUT], store, UI_SYMBOL, "1m", start, end))
    assert report.bars == 600 and report.gaps == ()

    set_dates(panel, start, end)
    assert panel.start()
    assert run_to_end(qloop, panel) is Phase.DONE, panel.error
    res = panel.result
    assert res is not None
    want = run_backtest(
        "ema_cross",
        {"timeframe": "1m", "fast": "5", "slow": "20"},
        store.read(FUT, UI_SYMBOL, "1m", start, end),
    )
    assert res.metrics == want.metrics and res.metrics.bars == 600 and res.metrics.trades > 0
    assert panel.phase_label.text().startswith("done in") and "missing" not in panel.phase_label.text()

    # 100 minutes before the stored bars: refused, naming that span and the command for it
    set_dates(panel, start - 100 * MIN, end)
    assert panel.start()
    assert run_to_end(qloop, panel) is Phase.FAILED and panel.result is None
    err = panel.error
    assert f"lacks {UI_SYMBOL} 1m bars" in err and f"{utc(start - 100 * MIN)} → {utc(start)}" in err
    assert f"terminal history download --venue {FUT.value} --symbol {UI_SYMBOL} --interval 1m" in err
    assert f"--data-dir {store.path.parent}" in err

    # a hole inside the range (as a venue outage leaves): run over, and said
    store._db.execute(
        "DELETE FROM candles WHERE open_time>=? AND open_time<?", (start + 200 * MIN, start + 207 * MIN)
    )
    set_dates(panel, start, end)
    assert panel.start()
    assert run_to_end(qloop, panel) is Phase.DONE, panel.error
    assert panel.result is not None and panel.result.metrics.bars == 593
    assert "7 bars missing in the store (1 holes" in panel.phase_label.text()
    assert f"{utc(start + 200 * MIN)} → {utc(start + 207 * MIN)}" in panel.phase_label.text()


def test_an_empty_store_says_what_to_download(qloop, demo_app: App, qtbot, tmp_path: Path) -> None:
    panel = make_panel(demo_app, qtbot)
    demo_app.engine.history_store = HistoryStore.open_in(tmp_path)
    panel.days_spin.setValue(2)
    assert panel.start()
    assert run_to_end(qloop, panel) is Phase.FAILED
    assert "the local store has no BTCUSDT 1m bars" in panel.error and "--start " in panel.error
