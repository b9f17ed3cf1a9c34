"""/metrics and /healthz without a webhook listener: their own loopback listener (real App on the
simulator over real sockets, real aiohttp), and the headless CLI's default of serving them."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from terminal.app import App, AppError
from terminal.automation.wiring import AutomationConfig
from terminal.model import Venue
from terminal.ops import OpsConfig
from tests.ops.test_app_metrics import parse, value
from tests.support.apps import external_demo
from tests.venues.binance_support import sim, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(90)

FUT = Venue.BINANCE_USDM
SYM = "SOLUSDT"


async def test_ops_routes_without_a_webhook_listener(sim, tmp_path: Path) -> None:  # noqa: F811
    automation = AutomationConfig(ops=OpsConfig(listen_port=0))
    app = App(external_demo(sim, tmp_path / "data", (FUT,), (SYM,), automation=automation))
    try:
        await app.start()
        assert app.automation.webhooks is None  # no signal can come in
        listener = app.automation.ops_listener
        assert listener is not None and listener.url.startswith("http://127.0.0.1:")
        await wait_for(lambda: (t := app.engine.top_of_book(FUT, SYM)) is not None and t.live, 10, "live")
        async with aiohttp.ClientSession() as http:
            async with http.get(listener.url + "/metrics") as resp:
                assert resp.status == 200
                samples = parse(await resp.text())
            assert value(samples, "terminal_feed_messages_total") > 0
            async with http.get(listener.url + "/healthz") as resp:
                body = await resp.json()
                assert resp.status == 200, body
            assert body["mode"] == "demo" and body["uptime_s"] >= 0
            assert any("binance_usdm" in k for k in body["feeds"]), body["feeds"]
            # nothing that accepts signals exists here
            async with http.post(listener.url + "/marketraker/notification", data=b"{}") as resp:
                assert resp.status in (404, 405)
            async with http.post(listener.url + "/signal/x", data=b"{}") as resp:
                assert resp.status in (404, 405)
        assert listener.requests == 4
    finally:
        await app.stop()
    assert app.automation is None  # stopped: the listener with it
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http, http.get(listener.url + "/healthz"):
            pass


async def test_a_busy_ops_port_is_named_and_nothing_is_left_running(sim, tmp_path: Path) -> None:  # noqa: F811
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        automation = AutomationConfig(ops=OpsConfig(listen_port=port))
        app = App(external_demo(sim, tmp_path / "data", (FUT,), (SYM,), automation=automation))
        with pytest.raises(AppError, match=f"/metrics and /healthz on 127.0.0.1:{port}"):
            await app.start()
        assert app.automation is None and app.oms is None  # a failed start stops what it started


def test_headless_serves_ops_by_default(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "terminal", "--headless", "--venue", "binance_spot", "--symbols", "BTCUSDT",
         "--data-dir", str(tmp_path), "--duration", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = ""
        deadline = time.monotonic() + 30
        for line in proc.stdout:
            if line.startswith("ops "):
                url = line.split()[1]
                break
            assert time.monotonic() < deadline
        assert url.startswith("http://127.0.0.1:"), "headless printed no 'ops URL' line"
        import urllib.request

        with urllib.request.urlopen(url + "/healthz", timeout=10) as resp:
            assert resp.status in (200, 503)
            assert b'"mode": "demo"' in resp.read()
        with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
            assert b"terminal_" in resp.read()
    finally:
        proc.terminate()
        proc.wait(15)
