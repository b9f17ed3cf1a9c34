"""`terminal sim` as a user runs it: a separate process, a ready line, the /sim control plane."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys

import aiohttp
import pytest

pytestmark = pytest.mark.timeout(60)


async def _start(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "terminal",
        "sim",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    match = re.fullmatch(r"ready (http://127\.0\.0\.1:\d+)", line)
    assert match, f"unexpected first line {line!r}"
    return proc, match.group(1)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def test_sim_process_serves_and_takes_faults() -> None:
    proc, url = await _start(
        "--seed",
        "7",
        "--symbols",
        "BTCUSDT,ETHUSDT",
        "--history-days",
        "1",
        "--api-key",
        "k" * 64,
        "--api-secret",
        "s" * 64,
    )
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/sim/status") as r:
                status = await r.json()
            assert status["symbols"] == ["BTCUSDT", "ETHUSDT"]
            assert set(status["venues"]) == {"binance_spot", "binance_usdm", "bybit_spot", "bybit_linear"}
            async with http.get(f"{url}/api/v3/ping") as r:
                assert r.status == 200
            async with http.get(f"{url}/sim/credentials") as r:
                assert (await r.json())["api_key"] == "k" * 64
            async with http.post(f"{url}/sim/faults", json={"kind": "nonsense"}) as r:
                assert r.status == 400 and "unknown fault kind" in (await r.json())["error"]
            async with http.post(
                f"{url}/sim/faults", json={"kind": "server_error", "venue": "binance_spot"}
            ) as r:
                assert r.status == 200
            async with http.get(f"{url}/api/v3/ping") as r:
                assert r.status == 503  # the armed fault strikes once
            async with http.get(f"{url}/api/v3/ping") as r:
                assert r.status == 200
            async with http.get(
                f"{url}/sim/book", params={"venue": "bybit_linear", "symbol": "ETHUSDT"}
            ) as r:
                book = await r.json()
            assert book["bids"] and book["asks"] and float(book["bids"][0][0]) < float(book["asks"][0][0])
    finally:
        await _stop(proc)


def test_sim_rejects_unknown_symbol_clearly() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "terminal", "sim", "--symbols", "NOPEUSDT"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "unknown symbol(s) NOPEUSDT" in out.stderr and "BTCUSDT" in out.stderr


def test_sim_reports_busy_port() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "terminal", "sim", "--port", str(port), "--history-days", "0"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
