"""The backtest dock against the real demo App: ema_cross over the engine's loaded candles (in
a real worker process) with metrics, trades, plots and chart marks; a venue fetch; CSV/JSON
export read back; cancelling a long run terminates its worker; bad input refused by name."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QSpinBox

from terminal.app import App
from terminal.backtest import Bars, run_backtest
from terminal.model import Venue
from terminal.ui.backtest_panel import BacktestPanel, DataSource, Phase, trade_marks
from terminal.ui.chart import ChartPanel
from terminal.ui.chart.orders import TradeMark
from terminal.ui.context import Selection, UiContext
from terminal.ui.theme import apply_dark
from tests.ui.conftest import UI_SYMBOL, run, wait_until

pytestmark = pytest.mark.timeout(120)

FUT = Venue.BINANCE_USDM
FAST = {"fast": 5, "slow": 20}  # warm within the demo's 300 loaded 1m bars


def make_panel(app: App, qtbot, selection: Selection | None = None) -> BacktestPanel:
    apply_dark(QApplication.instance())  # type: ignore[arg-type]  # as the app runs (screenshot)
    panel = BacktestPanel(UiContext(app, selection or Selection(FUT, UI_SYMBOL)))
    qtbot.addWidget(panel)
    panel.resize(1500, 440)
    panel.show()
    return panel


def set_params(panel: BacktestPanel, values: dict[str, int]) -> None:
    assert panel.form is not None
    for name, value in values.items():
        editor = panel.form.editors[name]
        assert isinstance(editor, QSpinBox)
        editor.setValue(value)


def run_to_end(qloop, panel: BacktestPanel, timeout: float = 60) -> None:
    wait_until(qloop, lambda: panel.phase in (Phase.DONE, Phase.FAILED), timeout, "the run to end")
    assert panel.phase is Phase.DONE, panel.error


def loaded_bars(app: App) -> Bars:
    candles = [c for c in app.engine.candle_bars(FUT, UI_SYMBOL, "1m") if c.closed]
    return Bars.from_arrays(
        UI_SYMBOL,
        "1m",
        np.array([c.open_time for c in candles]),
        np.array([c.open for c in candles]),
        np.array([c.high for c in candles]),
        np.array([c.low for c in candles]),
        np.array([c.close for c in candles]),
        np.array([c.volume for c in candles]),
    )


@pytest.fixture
def finished(qloop, demo_app: App, qtbot) -> BacktestPanel:
    """ema_cross 5/20 over the loaded 1m candles, run from the Run button."""
    panel = make_panel(demo_app, qtbot)
    panel.select_strategy("ema_cross")
    set_params(panel, FAST)
    panel.set_source(DataSource.LOADED)
    assert panel.form is not None and panel.form.text_of("timeframe") == "1m"  # follows the data
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert panel.busy and panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
    assert panel.progress.maximum() == 0  # indeterminate while busy
    run_to_end(qloop, panel)
    return panel


def test_ema_cross_on_loaded_candles_shows_metrics_trades_and_curves(qloop, demo_app: App, finished) -> None:
    panel = finished
    res = panel.result
    assert res is not None
    # the bars the run saw: a minute may have closed another one since
    ran = loaded_bars(demo_app).between(int(res.time[0]), int(res.time[-1]) + 1)
    assert len(ran) == len(res.time)
    expected = run_backtest("ema_cross", {"timeframe": "1m", "fast": "5", "slow": "20"}, ran)
    # the worker's answer is the in-process answer over the same candles
    assert res.metrics == expected.metrics and len(res.trades) == len(expected.trades) > 0
    cells = {
        panel.metrics_table.item(i, 0).text(): panel.metrics_table.item(i, 1).text()
        for i in range(panel.metrics_table.rowCount())
    }
    assert cells["Trades"] == str(res.metrics.trades)
    assert cells["Total return"] == f"{res.metrics.total_return:+.2%}"
    assert cells["Bars"].startswith(f"{res.metrics.bars} ")
    assert panel.trades_model.rowCount() == len(res.trades)
    first = res.trades.records()[0]
    assert panel.trades_model.text(0, 1) == ("long" if first.side.sign > 0 else "short")
    assert panel.trades_model.text(0, 8) == f"{first.pnl:+.4f}"
    x, y = panel.equity_curve.getData()
    assert len(y) == res.metrics.bars and y[-1] == pytest.approx(res.metrics.final_equity)
    assert x[0] == res.time[0] / 1000
    _, dd = panel.dd_curve.getData()
    assert dd.min() == pytest.approx(-100 * res.metrics.max_drawdown)
    assert panel.progress.maximum() == 1 and panel.progress.value() == 1
    assert panel.csv_button.isEnabled() and panel.json_button.isEnabled()
    assert panel.phase_label.text().startswith("done in")


def test_trades_are_marked_on_the_chart(qloop, demo_app: App, qtbot) -> None:
    sel = Selection(FUT, UI_SYMBOL)
    chart = ChartPanel(UiContext(demo_app, sel))
    qtbot.addWidget(chart)
    chart.resize(900, 500)
    chart.show()
    panel = make_panel(demo_app, qtbot, sel)
    panel.marks_ready.connect(chart.show_trade_marks)  # what the main window wires
    wait_until(qloop, lambda: len(chart.store) > 100, 20, "chart candles")
    panel.select_strategy("ema_cross")
    set_params(panel, FAST)
    assert panel.start()
    run_to_end(qloop, panel)
    assert panel.result is not None
    marks = trade_marks(panel.result.trades)
    points = chart.orders.marks.points()
    shown = [m for m in marks if m.time >= chart.store.t[0]]
    assert len(points) == len(shown) > 0
    first = points[0].data()
    assert isinstance(first, TradeMark) and first.entry
    row = int(np.searchsorted(chart.store.t, first.time, side="right")) - 1
    assert points[0].pos().x() == row + chart.store.x0 and points[0].pos().y() == first.price
    out = os.environ.get("TERMINAL_SHOTS_DIR")
    if out:
        os.makedirs(out, exist_ok=True)
        assert chart.grab().save(os.path.join(out, "backtest_chart_marks.png"))
    sel.set_market(Venue.BINANCE_SPOT, UI_SYMBOL)  # another market: that run's marks go
    assert len(chart.orders.marks.points()) == 0


def test_export_csv_and_json(finished, tmp_path: Path) -> None:
    panel = finished
    res = panel.result
    assert res is not None
    trades = res.trades.records()
    path = tmp_path / "trades.csv"
    assert panel.export_csv(path)
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(trades)
    assert rows[0]["side"] == trades[0].side.value and int(rows[0]["entry_time"]) == trades[0].entry_time
    assert sum(float(r["pnl"]) for r in rows) == pytest.approx(float(res.trades.pnl.sum()))

    jpath = tmp_path / "result.json"
    assert panel.export_json(jpath)
    doc = json.loads(jpath.read_text())
    assert doc["strategy"] == "ema_cross" and doc["params"]["fast"] == 5 and doc["venue"] == FUT.value
    assert doc["metrics"]["trades"] == res.metrics.trades
    assert doc["metrics"]["final_equity"] == pytest.approx(res.metrics.final_equity)
    assert len(doc["trades"]) == len(trades) and doc["trades"][-1]["pnl"] == pytest.approx(trades[-1].pnl)
    assert not list(tmp_path.glob("*.part"))

    out = os.environ.get("TERMINAL_SHOTS_DIR")
    image = panel.grab()
    assert not image.isNull() and image.width() >= 1400
    if out:
        os.makedirs(out, exist_ok=True)
        assert image.save(os.path.join(out, "backtest.png"))

    bad = tmp_path / "no-such-dir" / "t.csv"
    assert not panel.export_csv(bad)
    assert str(bad) in panel.error and not bad.exists()


def test_fetch_from_the_venue(qloop, demo_app: App, qtbot) -> None:
    panel = make_panel(demo_app, qtbot)
    panel.select_strategy("ema_cross")
    set_params(panel, FAST)
    panel.set_source(DataSource.VENUE)
    panel.days_spin.setValue(0)
    assert not panel.start()  # a fetch needs a range
    assert "number of days" in panel.error and panel.phase is Phase.IDLE
    panel.days_spin.setValue(1)
    assert panel.start()
    assert panel.phase is Phase.FETCHING
    run_to_end(qloop, panel)
    assert panel.result is not None
    assert panel.result.metrics.bars > 1000  # a day of 1m bars: more than the 300 loaded, over pages


def test_cancel_terminates_a_long_run(qloop, demo_app: App, qtbot) -> None:
    panel = make_panel(demo_app, qtbot)
    panel.select_strategy("ema_cross")
    set_params(panel, FAST)
    panel.form.set_value("stop_pct", "1")  # type: ignore[union-attr]  # stops: the event-loop path
    job = panel.build_job()
    assert job is not None
    n = 1_000_000  # ~10 s on the event-loop path
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    bars = Bars.from_arrays(
        UI_SYMBOL,
        "1m",
        np.arange(n) * 60_000,
        open_,
        np.maximum(open_, close),
        np.minimum(open_, close),
        close,
    )
    assert panel.run_job(job, bars)
    wait_until(qloop, lambda: panel.phase is Phase.RUNNING, 10, "running")
    run(qloop, asyncio.sleep(1.0))  # the worker is busy now
    assert panel.phase is Phase.RUNNING
    t0 = time.perf_counter()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert time.perf_counter() - t0 < 0.5
    assert panel.phase is Phase.CANCELLED and panel.result is None
    assert panel.phase_label.text() == "cancelled" and panel.run_button.isEnabled()
    assert panel.killed_pids

    def gone(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        return state in ("Z", "X")  # terminated, not yet reaped

    wait_until(qloop, lambda: all(gone(p) for p in panel.killed_pids), 10, "the worker to die")
    wait_until(qloop, lambda: panel.task is not None and panel.task.done(), 5, "the task to end")
    assert panel.phase is Phase.CANCELLED

    panel.form.set_value("stop_pct", "0")  # type: ignore[union-attr]
    assert panel.start()  # a fresh worker runs the next one
    run_to_end(qloop, panel)
    assert panel.result is not None and panel.result.fast_path


def test_bad_input_is_refused_by_name(qloop, demo_app: App, qtbot) -> None:
    panel = make_panel(demo_app, qtbot)
    panel.select_strategy("ema_cross")
    set_params(panel, {"fast": 30, "slow": 20})
    assert not panel.start()
    assert "fast must be below slow" in panel.error and panel.phase is Phase.IDLE and panel.task is None
    assert panel.form is not None and panel.form.editors["fast"].styleSheet()  # the editor outlined

    set_params(panel, FAST)
    panel.symbol_combo.setCurrentText(" ")
    assert not panel.start() and panel.error.startswith("symbol:")

    panel.symbol_combo.setCurrentText(UI_SYMBOL)
    panel.interval_combo.setCurrentText("4h")  # the demo loads 1m only
    assert panel.start()
    wait_until(qloop, lambda: panel.phase is Phase.FAILED, 10, "the refusal")
    assert "no 4h candles of BTCUSDT" in panel.error and panel.result is None
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()

    panel.interval_combo.setCurrentText("1m")
    panel.days_spin.setValue(0)
    panel.range_combo.setCurrentIndex(1)  # dates, in the future: nothing loaded there
    panel.start_edit.setDateTime(panel.end_edit.dateTime().addDays(1))
    assert not panel.start() and "'To' must be after 'From'" in panel.error
    panel.end_edit.setDateTime(panel.start_edit.dateTime().addDays(1))
    assert panel.start()
    wait_until(qloop, lambda: panel.phase is Phase.FAILED, 10, "the empty range")
    assert "no BTCUSDT 1m bars in the chosen range" in panel.error
