"""`terminal --headless --mode demo` as a user runs it: a real process, real sockets, a log."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from terminal.app import MARKETS
from terminal.cli import LIVE_FLAG

pytestmark = pytest.mark.timeout(60)

BOOK = re.compile(r"book (\w+) (\w+) bid=([\d.]+) ask=([\d.]+) spread=([\d.]+) u=(\d+) live")
FEED = re.compile(r"feed (\w+) (\S+) LIVE")


def _cmd(tmp_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "terminal", "--headless", "--mode", "demo",
        "--symbols", "BTCUSDT", "--data-dir", str(tmp_path), *extra,
    ]  # fmt: skip


def test_headless_demo_logs_live_feeds_and_top_of_book(tmp_path: Path) -> None:
    out = subprocess.run(
        _cmd(tmp_path, "--duration", "3.5"),
        capture_output=True,
        text=True,
        timeout=45,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    live_venues = {m.group(1) for m in FEED.finditer(log)}
    assert live_venues == {v.value for v in MARKETS}, log[-3000:]
    books: dict[str, list[tuple[Decimal, Decimal]]] = {}
    for m in BOOK.finditer(log):
        bid, ask = Decimal(m.group(3)), Decimal(m.group(4))
        assert bid < ask and Decimal(m.group(5)) == ask - bid, m.group(0)
        assert m.group(2) == "BTCUSDT"
        books.setdefault(m.group(1), []).append((bid, ask))
    assert set(books) == {v.value for v in MARKETS}, log[-3000:]
    assert all(len(v) >= 2 for v in books.values())  # once a second
    assert "app stopped" in log and "Traceback" not in log
    assert (tmp_path / "journal.sqlite3").exists()


def test_headless_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        _cmd(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        for line in proc.stdout:
            if "app started" in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=20)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, rest[-3000:]
    assert "shutting down" in rest and "app stopped" in rest and "Traceback" not in rest


# The CLI under an audit hook that ends the process on any socket connect or name lookup: a
# refusal must come before the App, an adapter or the key store touches the network.
_NO_NETWORK = """
import runpy, sys
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
        sys.stderr.write(f"NETWORK ACCESS: {event} {args!r}\\n")
        sys.stderr.flush()
        import os
        os._exit(99)
sys.addaudithook(hook)
sys.argv = ["terminal", *sys.argv[1:]]
runpy.run_module("terminal", run_name="__main__")
"""


def _offline_terminal(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",  # never the user's keyring
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
    }
    return subprocess.run(
        [sys.executable, "-c", _NO_NETWORK, "--headless", "--data-dir", str(tmp_path / "data"), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("--mode", "live"),
        ("--mode", "live", "--live-venue", "binance_spot"),  # no acknowledgement
        ("--mode", "live", LIVE_FLAG),  # no venue
    ],
)
def test_headless_live_without_the_explicit_flag_is_refused_offline(tmp_path: Path, args) -> None:
    out = _offline_terminal(tmp_path, *args)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "NETWORK ACCESS" not in out.stderr
    assert "headless live mode trades real money" in out.stderr
    assert f"--live-venue VENUE {LIVE_FLAG}" in out.stderr  # says what to type
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "data").exists()  # no journal: nothing started


def test_live_flags_belong_to_headless_live(tmp_path: Path) -> None:
    out = _offline_terminal(tmp_path, "--mode", "demo", "--live-venue", "bybit_spot", LIVE_FLAG)
    assert out.returncode == 2 and "go with --mode live" in out.stderr, out.stderr
    two_venues = ("--venue", "binance_spot,bybit_spot", "--live-venue", "bybit_spot", LIVE_FLAG)
    out = _offline_terminal(tmp_path, "--mode", "live", *two_venues)
    assert out.returncode == 2 and "exactly one venue" in out.stderr, out.stderr
    assert "NETWORK ACCESS" not in out.stderr


def test_headless_live_with_the_flag_and_no_keys_says_so(tmp_path: Path) -> None:
    out = _offline_terminal(tmp_path, "--mode", "live", "--live-venue", "bybit_linear", LIVE_FLAG)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "NETWORK ACCESS" not in out.stderr  # no keys: it stops before connecting
    assert "live mode is not available yet without API keys" in out.stderr
    assert "bybit_linear" in out.stderr and "binance" not in out.stderr.split("without API keys")[1]
    assert "LIVE trading on bybit_linear" in out.stderr  # the acknowledgement is logged


def test_help_documents_the_live_flag() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "terminal", "--help"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0
    assert LIVE_FLAG in out.stdout and "--live-venue" in out.stdout
