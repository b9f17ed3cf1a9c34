"""File → Record market data / Replay a recording / End replay, in a real window on a demo App."""

from __future__ import annotations

from pathlib import Path

import pytest

from terminal.app import Mode
from terminal.storage.recorder import recording_files
from terminal.ui.run import _run_sessions
from terminal.venues.base import Network
from tests.ui.conftest import demo_config, wait_until
from tests.ui.test_run import _live_window

pytestmark = pytest.mark.timeout(120)


def test_record_then_replay_then_end_the_replay_from_the_file_menu(qloop, tmp_path: Path) -> None:
    import dataclasses

    from terminal.model import Venue

    config = dataclasses.replace(
        demo_config(tmp_path / "data", venues=(Venue.BINANCE_SPOT,)),
        symbols=("BTCUSDT",),
        paper_data=Network.CUSTOM,
    )
    runner = qloop.create_task(_run_sessions(config))
    wait_until(qloop, lambda: _live_window(Mode.DEMO), 60, "the demo window")
    window = _live_window(Mode.DEMO)
    assert window is not None
    menu = window.recording
    assert not menu.end_replay_action.isEnabled()  # not replaying
    app = window.ctx.app
    menu.record_action.setChecked(True)
    assert app.recorder is not None
    path = app.recorder.path
    assert path.parent == tmp_path / "data" / "recordings"
    assert "recording market data to" in window.statusBar().currentMessage()
    wait_until(qloop, lambda: app.recorder.records > 50, 20, "recorded events")
    menu.record_action.setChecked(False)
    wait_until(qloop, lambda: app.recorder is None, 10, "the recording to stop")
    wait_until(qloop, lambda: "recorded" in window.statusBar().currentMessage(), 5, "the summary")
    assert recording_files(path)  # a finished, gzipped hour file

    # a bad directory is refused with the reason, and the session keeps running
    assert not menu.replay(tmp_path)
    assert window.ctx.app is app and app.oms is not None

    assert menu.replay(path, speed=2.0)
    wait_until(
        qloop,
        lambda: (
            (w := _live_window(Mode.DEMO)) is not None
            and w is not window
            and w.ctx.app.config.replay is not None
        ),
        60,
        "the replaying window",
    )
    replaying = _live_window(Mode.DEMO)
    assert replaying is not None
    assert "replaying" in replaying.windowTitle() and replaying.recording.end_replay_action.isEnabled()
    assert replaying.ctx.app.config.symbols == ("BTCUSDT",)
    replaying.recording.end_replay()
    wait_until(
        qloop,
        lambda: (
            (w := _live_window(Mode.DEMO)) is not None
            and w is not replaying
            and w.ctx.app.config.replay is None
        ),
        60,
        "back to the simulated market",
    )
    final = _live_window(Mode.DEMO)
    assert final is not None and "replaying" not in final.windowTitle()
    final.close()
    wait_until(qloop, runner.done, 30, "the runner to return")
    assert runner.result() == 0
