"""`terminal backtest` from the local candle store (filled by `terminal history download` from the
simulator over real sockets) and from a recording directory; the network stores' locations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from terminal.app import App, AppConfig, Mode
from terminal.bus import EventBus
from terminal.cli import main
from terminal.model import Candle, Venue
from terminal.storage.history import history_dir
from terminal.storage.recorder import Recorder
from terminal.venues.base import Network
from terminal.venues.events import CandleEvent
from tests.backtest.test_cli import sim_url  # noqa: F401 - fixture

MIN = 60_000
BT = ["backtest", "--strategy", "ema_cross", "--symbol", "BTCUSDT", "--param", "timeframe=1m", "--json"]


def test_backtest_from_the_store_that_history_download_filled(
    sim_url: str,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = tmp_path / "store"
    # the simulator's bars need an explicit store: they must never enter the live one
    assert main(["history", "download", "--venue", "binance_usdm", "--symbol", "BTCUSDT",
                 "--start", "0", "--base-url", sim_url]) == 2  # fmt: skip
    assert "--base-url (a simulator) needs --data-dir" in capsys.readouterr().err
    import time

    now = int(time.time() * 1000) // MIN * MIN
    start, end = now - 600 * MIN, now - 100 * MIN
    dl = ["history", "download", "--venue", "binance_usdm", "--symbol", "BTCUSDT",
          "--start", str(start), "--end", str(end), "--base-url", sim_url, "--data-dir", str(store)]  # fmt: skip
    assert main(dl) == 0
    capsys.readouterr()
    rc = main([*BT, "--venue", "binance_usdm", "--store", "--store-dir", str(store),
               "--start", str(start), "--end", str(end)])  # fmt: skip
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert json.loads(out.out)["metrics"]["bars"] == 500
    # a range the store lacks: named, with the command that fills it (no venue is asked)
    rc = main([*BT, "--venue", "binance_usdm", "--store", "--store-dir", str(store),
               "--start", str(start - 50 * MIN), "--end", str(end)])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "the local store lacks BTCUSDT 1m bars of binance_usdm" in err
    assert "terminal history download --venue binance_usdm --symbol BTCUSDT --interval 1m" in err
    assert f"--data-dir {store}" in err
    assert main([*BT, "--data", str(tmp_path), "--store"]) == 2
    assert "--store go with --venue" in capsys.readouterr().err


def _candle(venue: Venue, t: int, close: float) -> CandleEvent:
    return CandleEvent(
        Candle(
            venue, "BTCUSDT", "1m", t, t + MIN - 1, close, close + 1, close - 1, close, 1.0, close, 3, True
        )
    )


async def test_backtest_a_recording_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio
    import math

    rec = tmp_path / "rec"
    bus = EventBus()
    async with Recorder(bus, rec):
        for i in range(300):
            for venue in (Venue.BINANCE_SPOT, Venue.BYBIT_SPOT):
                bus.publish(
                    _candle(venue, 1_700_000_000_000 // MIN * MIN + i * MIN, 100 + 10 * math.sin(i / 15))
                )
    rc = await asyncio.to_thread(main, [*BT, "--data", str(rec)])
    err = capsys.readouterr().err
    assert rc == 2 and "on binance_spot, bybit_spot: pick one with --recorded-venue" in err
    rc = await asyncio.to_thread(main, [*BT, "--data", str(rec), "--recorded-venue", "bybit_spot"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    result = json.loads(out.out)
    assert result["metrics"]["bars"] == 300 and result["metrics"]["trades"] > 0
    rc = await asyncio.to_thread(main, [*BT, "--data", str(rec), "--recorded-venue", "binance_usdm"])
    assert rc == 2 and "has no closed BTCUSDT 1m candles of binance_usdm" in capsys.readouterr().err


def test_stores_are_per_network_and_the_session_picks_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    live, testnet = history_dir(Network.LIVE), history_dir(Network.TESTNET)
    assert live != testnet and str(tmp_path / "xdg") in str(live)
    with pytest.raises(ValueError, match="simulator candles have no default store"):
        history_dir(Network.CUSTOM)

    def store_of(**kw: object) -> Path | None:
        return App(AppConfig(data_dir=tmp_path / "d", **kw))._history_dir()  # type: ignore[arg-type]

    assert store_of(mode=Mode.PAPER) == live  # paper trades on the live klines: it shares them
    assert store_of(mode=Mode.LIVE) == live
    assert store_of(mode=Mode.TESTNET) == testnet
    assert store_of(mode=Mode.DEMO) is None  # synthetic, new on every start
    assert store_of(mode=Mode.PAPER, paper_data=Network.CUSTOM) is None
    assert store_of(mode=Mode.LIVE, history_dir=tmp_path / "own") == tmp_path / "own"
    # history download and list default to the network's store: what the chart reads
    assert main(["history", "list", "--network", "testnet"]) == 0
    assert (testnet / "history.sqlite3").exists() and not (live / "history.sqlite3").exists()
