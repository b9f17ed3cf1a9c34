"""``terminal --headless --config FILE``: a real process runs the file's session; an App built
from the file's settings enforces its risk limits through the OMS; live mode from a file still
needs the command-line acknowledgement and refuses without touching the network."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from terminal.app import App, AppConfig, Mode
from terminal.cli import LIVE_FLAG
from terminal.model import OrderStatus, OrderType, RoundingMode, Side
from terminal.settings_file import load_settings
from terminal.trading.oms import OrderIntent, RiskRejected
from terminal.trading.risk import RiskRule
from tests.engine.test_headless_cli import BOOK, FEED
from tests.venues.binance_support import wait_for

pytestmark = pytest.mark.timeout(60)

SERVER_FILE = """
[session]
mode = "demo"
venues = ["binance_usdm", "bybit_linear"]
symbols = ["ETHUSDT"]
data_dir = "data"              # next to this file

[webhook]
port = 0                       # a free port; the section turns the listener on

[risk]
max_order_notional = "1000"
max_open_orders = 5
max_orders_per_minute = 30

[risk.loss]
daily_loss_halt = "250.5"

[sizing]
quote_notional = "50"
max_leverage = 2

[log]
level = "INFO"
"""


def test_headless_runs_the_files_session(tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text(SERVER_FILE, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "terminal", "--headless", "--config", str(config), "--duration", "3"],
        capture_output=True,
        text=True,
        timeout=45,
        cwd=tmp_path.parent,  # data_dir is relative to the file, not to the working directory
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert {m.group(1) for m in FEED.finditer(log)} == {"binance_usdm", "bybit_linear"}, log[-3000:]
    books = {(m.group(1), m.group(2)) for m in BOOK.finditer(log)}
    assert books == {("binance_usdm", "ETHUSDT"), ("bybit_linear", "ETHUSDT")}, log[-3000:]
    assert re.search(r"^webhook http://127\.0\.0\.1:\d+$", out.stdout, re.M), out.stdout
    line = f"settings {config}; risk limits: max_order_notional=1000 max_open_orders=5 "
    assert line in log and "max_orders_per_minute=30" in log and "loss.daily_loss_halt=250.5" in log
    assert "app stopped" in log and "Traceback" not in log
    assert (tmp_path / "data" / "journal.sqlite3").exists()


async def test_an_order_over_the_files_max_notional_is_rejected_by_risk(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_text(
        SERVER_FILE.replace('venues = ["binance_usdm", "bybit_linear"]', 'venues = ["binance_usdm"]')
    )
    settings = load_settings(path)
    session = settings.session
    assert session.mode is not None and session.venues is not None and session.symbols is not None
    config = AppConfig(
        mode=Mode(session.mode),
        venues=session.venues,
        symbols=session.symbols,
        data_dir=session.data_dir,
        risk_limits=settings.risk,
        candle_history=50,
        automation=None,
    )
    app = App(config)
    await app.start()
    try:
        (venue,), (symbol,) = session.venues, session.symbols
        assert app.oms.risk.limits.max_order_notional == Decimal(1000)
        adapter = app.adapters[venue]
        await wait_for(lambda: adapter.reference_price(symbol) is not None, 10, "a live book")
        ref = adapter.reference_price(symbol)
        inst = adapter.instrument(symbol)
        price = inst.round_price(ref * Decimal("0.97"), RoundingMode.DOWN)  # rests: nothing fills

        def buy(qty: Decimal) -> OrderIntent:
            return OrderIntent(
                venue, symbol, Side.BUY, OrderType.LIMIT, qty, price=price, allow_duplicate=True
            )

        big = inst.round_qty(Decimal(1200) / ref)  # ~1200 quote > 1000
        with pytest.raises(RiskRejected) as caught:
            await app.oms.submit(buy(big))
        assert caught.value.verdict.rule is RiskRule.ORDER_NOTIONAL
        assert "exceeds max 1000" in caught.value.verdict.reason
        cid = caught.value.order.client_id
        assert cid not in app.oms.orders  # never sent
        journaled = app.journal.order(cid)
        assert journaled is not None and journaled.status is OrderStatus.REJECTED
        small = await app.oms.submit(buy(inst.round_qty(Decimal(200) / ref)))  # under the limit: sent
        assert small.status in (OrderStatus.NEW, OrderStatus.PENDING_NEW)
    finally:
        await app.stop()
    assert (tmp_path / "data" / "journal.sqlite3").exists()  # the file's data dir


# The CLI under an audit hook that ends the process on any socket connect or name lookup.
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

LIVE_FILE = """
[session]
mode = "live"
live_venue = "bybit_linear"
data_dir = "live-data"
[risk]
max_order_notional = "100"
"""


def _offline(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "live.toml"
    config.write_text(LIVE_FILE, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",  # never the user's keyring
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
    }
    return subprocess.run(
        [sys.executable, "-c", _NO_NETWORK, "--headless", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def test_live_from_a_file_without_the_flag_is_refused_offline(tmp_path: Path) -> None:
    out = _offline(tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "NETWORK ACCESS" not in out.stderr and "Traceback" not in out.stderr
    assert "headless live mode trades real money" in out.stderr
    assert f"a --config file cannot acknowledge it: {LIVE_FLAG} goes on the command line" in out.stderr
    assert not (tmp_path / "live-data").exists()  # nothing started


def test_live_from_a_file_with_the_flag_uses_the_files_venue(tmp_path: Path) -> None:
    out = _offline(tmp_path, LIVE_FLAG)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "NETWORK ACCESS" not in out.stderr  # no keys: it stops before connecting
    assert "LIVE trading on bybit_linear" in out.stderr
    assert "live mode is not available yet without API keys" in out.stderr
    assert "risk limits: max_order_notional=100" in out.stderr
