"""Notifications from a running App: a fill and the kill switch's HALTED reach a (local) Telegram
Bot API through the App's bus, with the token taken from the key store."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from terminal.app import App
from terminal.model import OrderType, Side, Venue
from terminal.notify import ChannelKind, NoticeKind, NotifyConfig, TelegramConfig
from terminal.trading.oms import OrderIntent
from tests.notify.support import TOKEN, telegram_server
from tests.support.apps import external_demo
from tests.venues.binance_support import sim, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(60)

FUT = Venue.BINANCE_USDM
SYM = "BTCUSDT"


class _Secrets:
    def secret(self, name: str) -> str | None:
        return TOKEN if name == "telegram:bot_token" else None


async def test_fill_and_kill_switch_reach_telegram(sim, tmp_path: Path) -> None:  # noqa: F811
    async with telegram_server() as fake:
        tg = frozenset({ChannelKind.TELEGRAM})
        notify = NotifyConfig(
            routes={NoticeKind.FILL: tg, NoticeKind.RISK_STATE: tg},
            coalesce_s=0.1,
            telegram=TelegramConfig(chat_id="42", base_url=fake.url),
        )
        app = App(external_demo(sim, tmp_path, (FUT,), (SYM,), notify=notify, keystore=_Secrets()))
        await app.start()
        try:
            await app.oms.submit(OrderIntent(FUT, SYM, Side.BUY, OrderType.MARKET, Decimal("0.002")))
            await wait_for(
                lambda: any("BTCUSDT" in r.payload.get("text", "") for r in fake.delivered), 10, "fill"
            )
            await app.oms.kill_switch(actor="manual", reason="test")
            await wait_for(
                lambda: any("HALTED" in r.payload.get("text", "") for r in fake.delivered), 10, "halt"
            )
            assert all(r.payload["chat_id"] in ("42", 42) for r in fake.delivered)
            assert all(TOKEN not in r.payload.get("text", "") for r in fake.delivered)
        finally:
            await app.stop()
        assert app.notifier is None


def test_notify_config_file_errors_are_clear(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "notify.json"
    bad.write_text('{"routes": {"fill": ["sms"]}}')
    out = subprocess.run(
        [sys.executable, "-m", "terminal", "--headless", "--mode", "demo", "--data-dir", str(tmp_path / "d"),
         "--notify-config", str(bad), "--duration", "1"],
        capture_output=True, text=True, timeout=45,
    )  # fmt: skip
    assert out.returncode == 2
    assert "--notify-config" in out.stderr and "sms" in out.stderr and "Traceback" not in out.stderr
