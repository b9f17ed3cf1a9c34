"""A replayed demo in the window: the title and status bar name the recording, the book and tape
panels show the recorded market, and switching to paper leaves the replay behind."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from terminal.app import Mode
from terminal.model import Side, Venue
from terminal.sim.replay import ReplaySpec
from terminal.ui.run import _run_sessions
from terminal.venues.base import Network
from tests.sim.test_replay import _book, _trade, _write_recording
from tests.ui.conftest import demo_config, wait_until
from tests.ui.test_run import _live_window

pytestmark = pytest.mark.timeout(120)


def test_the_window_says_it_replays_and_shows_the_recorded_market(qloop, tmp_path: Path) -> None:
    rec = tmp_path / "session-rec"
    bids = [(10000 - i, 1.0) for i in range(30)]
    asks = [(10001 + i, 1.0) for i in range(30)]
    _write_recording(
        rec,
        [_book(0.0, bids, asks, True)] + [_trade(1.0 + i, i, "100.01", "0.1", Side.BUY) for i in range(60)],
    )
    config = dataclasses.replace(
        demo_config(tmp_path / "data", venues=(Venue.BINANCE_SPOT,)),
        symbols=("BTCUSDT",),
        replay=ReplaySpec(rec, speed=2.0),
        paper_data=Network.CUSTOM,
    )
    runner = qloop.create_task(_run_sessions(config))
    wait_until(qloop, lambda: _live_window(Mode.DEMO), 60, "the demo window with a running app")
    window = _live_window(Mode.DEMO)
    assert window is not None
    assert window.windowTitle() == "crypto-terminal — demo — replaying session-rec (2×)"
    engine = window.ctx.engine
    wait_until(
        qloop,
        lambda: (t := engine.top_of_book(Venue.BINANCE_SPOT, "BTCUSDT")) is not None and t.bid is not None,
        20,
        "the recorded book",
    )
    top = engine.top_of_book(Venue.BINANCE_SPOT, "BTCUSDT")
    assert top is not None and top.bid == Decimal("100.00") and top.ask == Decimal("100.01")
    wait_until(qloop, lambda: len(engine.recent_trades(Venue.BINANCE_SPOT, "BTCUSDT")) >= 2, 20, "prints")
    assert {t.price for t in engine.recent_trades(Venue.BINANCE_SPOT, "BTCUSDT")} == {Decimal("100.01")}
    Path("/tmp/shots").mkdir(parents=True, exist_ok=True)
    window.grab().save("/tmp/shots/replay_window.png")

    window.on_restart(window.base_config.for_mode(Mode.PAPER))  # the mode combo: no replay in paper
    wait_until(qloop, lambda: _live_window(Mode.PAPER), 60, "the paper window")
    paper = _live_window(Mode.PAPER)
    assert paper is not None and paper.ctx.app.config.replay is None
    assert "replaying" not in paper.windowTitle()
    paper.close()
    wait_until(qloop, runner.done, 30, "the runner to return")
    assert runner.result() == 0
