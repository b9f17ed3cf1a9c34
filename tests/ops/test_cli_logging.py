"""The command line's logging: a rotating file in the data dir; ``--log-json`` lines are JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)


def test_headless_logs_json_to_console_and_file(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "terminal", "--headless", "--mode", "demo", "--venue", "binance_usdm",
         "--symbols", "BTCUSDT", "--data-dir", str(tmp_path), "--duration", "1.5", "--log-json"],
        capture_output=True, text=True, timeout=45,
    )  # fmt: skip
    assert out.returncode == 0, (out.stdout + out.stderr)[-2000:]
    console = [json.loads(line) for line in out.stderr.splitlines() if line.strip()]
    assert any("app started" in rec.get("message", rec.get("msg", "")) for rec in console), console[:5]
    file_lines = (tmp_path / "logs" / "terminal.log").read_text().splitlines()
    records = [json.loads(line) for line in file_lines]
    assert records and all("level" in r or "levelname" in r for r in records)
