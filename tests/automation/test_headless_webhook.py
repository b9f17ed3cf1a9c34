"""The headless contract scripts rely on: ``terminal --headless --mode demo --data-dir DIR
--webhook-host 127.0.0.1 --webhook-port PORT --marketraker-key-file PEM`` starts the simulator,
engine and listener, prints ``webhook http://HOST:PORT`` when ready and answers ``GET /healthz``
there. Then MarketRaker's own 9 example requests, byte for byte: 8 accepted, 1 refused (401)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(90)

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "marketraker"


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_headless_webhook_contract_with_marketrakers_examples(tmp_path: Path) -> None:
    cmd = [
        sys.executable, "-m", "terminal", "--headless", "--mode", "demo", "--venue", "binance_usdm",
        "--symbols", "SOLUSDT", "--data-dir", str(tmp_path), "--webhook-host", "127.0.0.1",
        "--webhook-port", "0", "--marketraker-key-file", str(FIXTURES / "public_key.pem"),
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("webhook http://"):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(45), "".join(lines)[-3000:]
        url = next(x for x in lines if x.startswith("webhook http://")).split()[1]
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as resp:
            health = json.loads(resp.read())
        assert resp.status == 200 and health["ok"] is True

        collection = json.loads((FIXTURES / "postman_collection.json").read_text())
        outcomes: dict[str, int] = {}
        for item in collection["item"]:
            request = item["request"]
            headers = {h["key"]: h["value"] for h in request["header"]}
            body = request["body"]["raw"].encode()
            status, _ = _post(f"{url}/marketraker/notification", body, headers)
            outcomes[item["name"]] = status
        refused = {n: s for n, s in outcomes.items() if s >= 300}
        assert refused == {"Invalid Indicator": 401}, outcomes
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        reader.join(5)
    log = "".join(lines)
    assert code == 0, log[-3000:]
    assert "Traceback" not in log and "app stopped" in log


def test_an_unreadable_key_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "key.pem"
    bad.write_text("not a key")
    out = subprocess.run(
        [sys.executable, "-m", "terminal", "--headless", "--mode", "demo", "--venue", "binance_usdm",
         "--symbols", "SOLUSDT", "--data-dir", str(tmp_path / "d"), "--webhook-port", "0",
         "--marketraker-key-file", str(bad)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    log = out.stdout + out.stderr
    assert out.returncode == 2, log[-2000:]
    assert "webhook listener" in log and "Traceback" not in log
