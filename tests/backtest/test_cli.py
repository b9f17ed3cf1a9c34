"""``terminal backtest`` end to end: a CSV file, the simulator over REST, and bad input."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from terminal.cli import main
from terminal.sim.server import RunningSim
from tests.backtest.support import walk
from tests.venues.binance_support import start_test_sim

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    b = walk(3_000)
    lines = ["time,open,high,low,close,volume"]  # times in ms from T0
    lines += [
        f"{T0 + t},{o!r},{h!r},{lo!r},{c!r},1"
        for t, o, h, lo, c in zip(
            *(a.tolist() for a in (b.time, b.open, b.high, b.low, b.close)), strict=True
        )
    ]
    p = tmp_path / "bars.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_csv_json(csv_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "backtest",
        "--strategy",
        "ema_cross",
        "--symbol",
        "btcusdt",
        "--timeframe",
        "1m",
        "--data",
        str(csv_file),
    ]
    rc = main(
        [*argv, "--param", "timeframe=1m", "--param", "fast=5", "--param", "slow=30", "--json", "--trades"]
    )
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["params"]["fast"] == 5 and out["symbols"] == ["BTCUSDT"] and out["fast_path"] is True
    assert out["metrics"]["bars"] == 3_000 and out["metrics"]["trades"] > 10
    assert len(out["trades"]) == out["metrics"]["trades"] + out["open_trades"]
    # a range: only bars opening within [start, end)
    rc = main(
        [
            *argv,
            "--param",
            "timeframe=1m",
            "--start",
            str(T0 + 60_000),
            "--end",
            "2023-11-14T22:24:20Z",
            "--json",
        ]
    )
    assert rc == 0 and json.loads(capsys.readouterr().out)["metrics"]["bars"] == 10
    rc = main([*argv, "--param", "timeframe=1m"])  # the table
    text = capsys.readouterr().out
    assert rc == 0 and "max drawdown" in text and "fast (target positions)" in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--strategy", "nope"], "unknown strategy 'nope'"),
        (["--param", "fast=x"], "fast: expected an integer"),
        (["--param", "speed=3"], "speed: not a parameter of ema_cross"),
        (["--param", "fast"], "expected KEY=VALUE"),
        (["--timeframe", "1 minute"], "interval like"),
        (["--start", "2030-01-01"], "no BTCUSDT 1m bars"),
        (["--start", "2030-01-01", "--end", "2020-01-01"], "not after --start"),
        (["--start", "soon"], "not a time"),
        (["--param", "timeframe=15s"], "data is 1m bars, the strategy needs 15s"),
        (["--cash", "-5"], "initial_cash must be a positive"),
    ],
)
def test_bad_input_exits_2_with_reason(
    csv_file: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    argv = [
        "backtest",
        "--strategy",
        "ema_cross",
        "--symbol",
        "BTCUSDT",
        "--data",
        str(csv_file),
        "--param",
        "timeframe=1m",
    ]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_missing_file_and_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["backtest", "--strategy", "ema_cross", "--symbol", "X", "--data", str(tmp_path / "no.csv")])
        == 2
    )
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # neither --data nor --venue: argparse's usage error
        main(["backtest", "--strategy", "ema_cross", "--symbol", "X"])
    assert exc.value.code == 2


@pytest.fixture
def sim_url() -> Iterator[str]:
    """The simulator on its own loop in a thread: the CLI runs its own asyncio.run."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: list[RunningSim] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        box.append(loop.run_until_complete(start_test_sim(generator=False)))
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(20)
    try:
        yield box[0].url
    finally:
        asyncio.run_coroutine_threadsafe(box[0].stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_venue_over_rest_against_the_simulator(sim_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "backtest",
        "--strategy",
        "ema_cross",
        "--symbol",
        "BTCUSDT",
        "--venue",
        "binance_usdm",
        "--base-url",
        sim_url,
    ]
    rc = main([*argv, "--param", "timeframe=1m", "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    out = json.loads(captured.out)
    assert 990 <= out["metrics"]["bars"] <= 1000  # the default 1000 bars before now (closed ones)
    rc = main(
        [
            "backtest",
            "--strategy",
            "ema_cross",
            "--symbol",
            "NOPEUSDT",
            "--venue",
            "binance_usdm",
            "--base-url",
            sim_url,
        ]
    )
    assert rc == 2 and "NOPEUSDT" in capsys.readouterr().err
    rc = main([*argv[:-4], "--venue", "kraken"])
    assert rc == 2 and "unknown venue 'kraken'" in capsys.readouterr().err
