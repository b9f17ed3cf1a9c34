"""`terminal --self-test` as a user (and CI) runs it: a real process, offscreen, a real PNG."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from terminal.app import Mode
from terminal.cli import main
from terminal.ui.main_window import MainWindow
from terminal.ui.run import _run_sessions
from terminal.venues.base import Network
from tests.ui.conftest import demo_config, wait_until

pytestmark = pytest.mark.timeout(120)


def _terminal(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "terminal", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_self_test_opens_the_window_and_saves_a_screenshot(tmp_path: Path) -> None:
    shot = tmp_path / "shots" / "main.png"
    out = _terminal("--self-test", "--screenshot", str(shot), "--data-dir", str(tmp_path / "data"))
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert "self-test ok" in out.stdout and "candles" in out.stdout, log[-3000:]
    assert re.search(r"webhook ok at http://127\.0\.0\.1:\d+", out.stdout), out.stdout  # it answered /healthz
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert "Traceback" not in log and "app stopped" in log
    assert (tmp_path / "data" / "journal.sqlite3").exists()  # the journal was opened and closed


def test_self_test_fails_with_a_reason_on_timeout(tmp_path: Path) -> None:
    out = _terminal("--self-test", "--self-test-timeout", "0.2", "--data-dir", str(tmp_path))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "self-test FAILED:" in out.stderr
    assert "Traceback" not in out.stdout + out.stderr


def test_screenshot_needs_self_test(capsys) -> None:
    assert main(["--screenshot", "x.png"]) == 2
    assert "--screenshot goes with --self-test" in capsys.readouterr().err


def test_headless_live_flags_are_refused_for_the_window(capsys) -> None:
    assert (
        main(["--mode", "live", "--live-venue", "binance_spot", "--i-understand-this-trades-real-money"]) == 2
    )
    assert "the window asks in its live opt-in dialog" in capsys.readouterr().err


def _live_window(mode: Mode) -> MainWindow | None:
    for w in QApplication.topLevelWidgets():
        if isinstance(w, MainWindow) and w.isVisible() and w.ctx.mode is mode and w.ctx.oms is not None:
            return w
    return None


def test_mode_switch_restarts_the_app_in_the_new_mode_and_close_ends_it(qloop, tmp_path: Path) -> None:
    config = dataclasses.replace(demo_config(tmp_path), paper_data=Network.CUSTOM)  # paper, offline
    runner = qloop.create_task(_run_sessions(config))
    wait_until(qloop, lambda: _live_window(Mode.DEMO), 60, "the demo window with a running app")
    demo = _live_window(Mode.DEMO)
    assert demo is not None
    demo_app = demo.ctx.app
    demo.on_restart(demo.base_config.for_mode(Mode.PAPER))  # what the mode combo calls
    wait_until(qloop, lambda: _live_window(Mode.PAPER), 60, "the paper window with a running app")
    paper = _live_window(Mode.PAPER)
    assert paper is not None and paper is not demo
    assert demo_app.journal is None and demo_app.sim is None  # the demo App was stopped
    assert paper.ctx.app.data_dir == tmp_path / "paper"  # its own journal
    assert (tmp_path / "layout.ini").exists()  # the demo window saved its layout on the way out
    paper.close()
    wait_until(qloop, runner.done, 30, "the runner to return")
    assert runner.result() == 0
    assert paper.ctx.app.journal is None  # stopped cleanly


def test_gui_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    import signal
    import time

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "terminal", "--mode", "demo", "--data-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if "app started" in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest[-3000:]
    assert "app stopped" in rest and "Traceback" not in rest
    assert (tmp_path / "layout.ini").exists()  # the window saved its layout on the way out


def test_sessions_start_on_the_remembered_market_and_save_the_last_one(qloop, tmp_path: Path) -> None:
    from terminal.model import Venue
    from terminal.prefs import Prefs, PrefsStore
    from terminal.ui.run import _Remembered

    store = PrefsStore(tmp_path / "prefs.json")
    store.save(Prefs(last_venue=Venue.BINANCE_USDM, last_symbol="ETHUSDT", last_interval="5m"))
    remembered = _Remembered(store, store.load(), Mode.DEMO)
    runner = qloop.create_task(_run_sessions(demo_config(tmp_path / "data"), remembered))
    wait_until(qloop, lambda: _live_window(Mode.DEMO), 60, "the demo window with a running app")
    window = _live_window(Mode.DEMO)
    assert window is not None
    sel = window.ctx.selection
    assert (sel.venue, sel.symbol, sel.interval) == (Venue.BINANCE_USDM, "ETHUSDT", "5m")
    sel.set_market(Venue.BINANCE_SPOT, "BTCUSDT")
    window.timeframe_combo.setCurrentText("15m")
    window.close()
    wait_until(qloop, runner.done, 30, "the runner to return")
    assert runner.result() == 0
    assert store.load() == Prefs(Mode.DEMO, Venue.BINANCE_SPOT, "BTCUSDT", "15m")


def test_a_broken_prefs_file_is_shown_in_the_status_bar_and_the_log(qloop, tmp_path: Path) -> None:
    from terminal.prefs import PrefsStore
    from terminal.ui.run import _Remembered

    path = tmp_path / "prefs.json"
    path.write_text('{"last_mode": "demo", "last_symbol": ', encoding="utf-8")  # cut off mid-write
    store = PrefsStore(path)
    remembered = _Remembered(store, store.load(), Mode.DEMO)
    assert store.warning is not None and "not valid JSON" in store.warning
    runner = qloop.create_task(_run_sessions(demo_config(tmp_path / "data"), remembered))
    wait_until(qloop, lambda: _live_window(Mode.DEMO), 60, "the demo window with a running app")
    window = _live_window(Mode.DEMO)
    assert window is not None
    notice = window.notice
    # still there after "demo mode running" replaced the temporary status message
    assert notice.isVisible() and notice.message == store.warning
    assert "preferences file" in notice.text()
    assert "not valid JSON" in notice.toolTip() and str(path) in notice.toolTip()
    assert window.statusBar().isAncestorOf(notice)
    log_panel = window.panels["log"]
    wait_until(qloop, lambda: "not valid JSON" in log_panel.text(), 5, "the warning in the Log panel")
    Path("/tmp/shots").mkdir(parents=True, exist_ok=True)
    window.statusBar().grab().save("/tmp/shots/prefs_warning_statusbar.png")
    from PySide6.QtTest import QTest

    QTest.mouseClick(notice, Qt.MouseButton.LeftButton)  # dismissed by a click
    assert not notice.isVisible()
    window.close()
    wait_until(qloop, runner.done, 30, "the runner to return")
    assert runner.result() == 0
    assert store.load() is not None and store.warning is None  # the next save repaired the file
