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


def test_live_mode_without_keys_is_refused_clearly(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "terminal", "--headless", "--mode", "live", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "live mode is not available yet without API keys" in out.stderr
