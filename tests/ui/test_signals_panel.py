"""The signals dock against the real demo App with its webhook listener (aiohttp on 127.0.0.1,
a generated RSA-2048 MarketRaker key, an HMAC hook secret in an in-memory keyring): the URLs
to register, the /healthz check, signed signals with the intents they produced, skips,
duplicates and unsigned requests refused with 401."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from terminal.app import App, AppConfig
from terminal.automation.arming import ArmKey
from terminal.automation.events import IntentOutcome, IntentResult
from terminal.automation.wiring import AutomationConfig
from terminal.model import Venue
from terminal.secrets import KeyStore
from terminal.signals.generic import sign_hmac
from terminal.signals.server import WebhookConfig
from terminal.ui.context import Selection, UiContext
from terminal.ui.signals_panel import NO_LISTENER_TEXT, SignalsPanel, check_health
from terminal.ui.strategies_panel import StrategiesPanel
from terminal.ui.theme import BUY_COLOR, SELL_COLOR, apply_dark
from tests.signals.support import HOOK_SECRET, indicator, live_body, public_pem
from tests.ui.conftest import UI_SYMBOL, demo_config, run, wait_until

pytestmark = pytest.mark.timeout(120)

FUT = Venue.BINANCE_USDM
MOMENTUM = ArmKey("marketraker_momentum", FUT, UI_SYMBOL)


def hook_config(tmp_path: Path) -> AppConfig:
    """The UI demo config with a listener: a generated MarketRaker key, hook "tv" whose secret
    is in the (in-memory) keyring."""
    key_file = tmp_path / "marketraker.pem"
    key_file.write_text(public_pem())
    keystore = KeyStore(tmp_path / "secrets")
    keystore.save_secret("webhook:tv", HOOK_SECRET)
    webhook = WebhookConfig(port=0, marketraker_key=key_file, generic_hooks=("tv",))
    return dataclasses.replace(
        demo_config(tmp_path / "data"), keystore=keystore, automation=AutomationConfig(webhook=webhook)
    )


@pytest.fixture
def hook_app(qloop: asyncio.AbstractEventLoop, tmp_path: Path, memory_keyring: object) -> Iterator[App]:
    app = App(hook_config(tmp_path))
    run(qloop, app.start(), 60)
    try:
        yield app
    finally:
        run(qloop, app.stop(), 30)


def panel_for(app: App, qtbot) -> SignalsPanel:
    panel = SignalsPanel(UiContext(app, Selection(FUT, UI_SYMBOL)))
    qtbot.addWidget(panel)
    panel.resize(1200, 380)
    panel.show()
    return panel


def rows(panel: SignalsPanel) -> list[dict[str, str]]:
    return [dict(zip(panel.model.headers, r.cells, strict=True)) for r in panel.model.rows]


def find(panel: SignalsPanel, **want: str) -> dict[str, str] | None:
    return next((r for r in rows(panel) if all(r[k] == v for k, v in want.items())), None)


def post(qloop, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async def send() -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as resp:
            return resp.status, json.loads(await resp.text())

    return run(qloop, send())


def live_fut_book(qloop, app: App) -> tuple[Decimal, Decimal]:
    def ready() -> bool:
        top = app.engine.top_of_book(FUT, UI_SYMBOL)
        return top is not None and top.live and top.bid is not None and top.ask is not None

    wait_until(qloop, ready, 15, "a live BTCUSDT futures book")
    top = app.engine.top_of_book(FUT, UI_SYMBOL)
    return top.ask, (top.bid + top.ask) / 2


def momentum_signal(ask: Decimal, mid: Decimal, *, worse: bool = False) -> dict[str, Any]:
    """A long MarketRaker indicator on BTC; ``worse``: its buy_price is below the market, so
    momentum skips it (the price is worse than the signal's)."""
    now = int(time.time())
    return indicator(
        trading_pair="BTC/USD",
        trading_type="Long",
        market_direction="Bull",
        leverage=2,
        buy_price=float((ask * Decimal("0.995" if worse else "1.01")).quantize(Decimal("0.1"))),
        sell_price=float((mid * Decimal("1.01")).quantize(Decimal("0.1"))),
        stoploss=float((mid * Decimal("0.97")).quantize(Decimal("0.1"))),
        buy_date=now,
        sell_prediction_date=now + 86_400,
        risk=3,
        percentage_change=4.2 if not worse else 4.3,
    )


def test_listener_urls_copy_and_health(qloop, hook_app: App, qtbot) -> None:
    panel = panel_for(hook_app, qtbot)
    webhooks = hook_app.automation.webhooks
    box = panel.listener
    assert box.urls["MarketRaker"].text() == webhooks.marketraker_url
    assert webhooks.marketraker_url.startswith("http://127.0.0.1:") and webhooks.port > 0
    assert box.urls["hook tv"].text() == webhooks.hook_url("tv")
    assert "HMAC-SHA256" in box.urls["hook tv"].toolTip() and "'webhook:tv'" in box.urls["hook tv"].toolTip()
    assert not box.note.isHidden() and box.note.text().startswith("Loopback only")
    qtbot.mouseClick(box.copy_buttons["MarketRaker"], Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == webhooks.marketraker_url

    # a real GET /healthz from the UI loop
    wait_until(qloop, lambda: panel.health is not None, 10, "the health check")
    assert panel.health.ok and "reachable: GET /healthz 200" in box.state.text()
    assert webhooks.url in box.state.text()
    qtbot.mouseClick(box.check_button, Qt.MouseButton.LeftButton)  # again, on demand
    assert panel.health_task is not None
    wait_until(qloop, lambda: panel.health_task.done(), 10, "the second check")
    assert panel.health.ok

    run(qloop, webhooks.stop())  # the listener goes away
    down = run(qloop, check_health(webhooks.url))
    assert not down.ok and "unreachable" in down.text
    assert panel.check() is None
    assert box.state.text().startswith("stopped (was http://127.0.0.1:")
    assert not box.check_button.isEnabled()


def test_a_signed_signal_shows_with_its_intent_outcome_and_a_duplicate(qloop, hook_app: App, qtbot) -> None:
    panel = panel_for(hook_app, qtbot)
    results: list[IntentResult] = []
    hook_app.bus.subscribe(IntentResult, results.append)
    run(qloop, hook_app.automation.host.arm(MOMENTUM))
    ask, mid = live_fut_book(qloop, hook_app)
    body, signature = live_body(momentum_signal(ask, mid))
    url = hook_app.automation.webhooks.marketraker_url

    status, answer = post(qloop, url, body, {"x-signature": signature})
    assert status == 200, answer
    sid = answer["signal_id"]
    wait_until(qloop, lambda: find(panel, Kind="intent", **{"Signal id": sid}), 10, "the intent row")
    (result,) = results
    assert result.outcome is IntentOutcome.PLACED, result.message

    signal = find(panel, Kind="signal", **{"Signal id": sid})
    assert signal is not None
    assert (signal["Source"], signal["Symbol"], signal["Side"], signal["Outcome"]) == (
        "marketraker",
        UI_SYMBOL,
        "BUY",
        "accepted",
    )
    assert (
        signal["Detail"].startswith("entry ")
        and "stop " in signal["Detail"]
        and "target " in signal["Detail"]
    )
    intent = find(panel, Kind="intent", **{"Signal id": sid})
    assert intent["Source"] == "strategy:marketraker_momentum" and intent["Outcome"] == "placed"
    assert intent["Symbol"] == UI_SYMBOL and intent["Side"] == "BUY"
    assert intent["Detail"].startswith(f"qty {result.qty.normalize():f} ({result.client_id})")
    assert rows(panel)[0]["Kind"] == "intent"  # newest first: the intent after its signal
    i = panel.model.row_of(next(r.key for r in panel.model.rows if r.cells[1] == "intent"))
    assert panel.model.rows[i].colors[6] == BUY_COLOR

    # the same delivery again: acknowledged as a duplicate (no bus event: read from the journal)
    status, again = post(qloop, url, body, {"x-signature": signature})
    assert status == 200 and again["duplicate"] is True
    wait_until(qloop, lambda: find(panel, Outcome="duplicate"), 10, "the duplicate row")
    dup = find(panel, Outcome="duplicate")
    assert (dup["Kind"], dup["Signal id"], dup["Symbol"], dup["Side"]) == ("request", sid, UI_SYMBOL, "BUY")
    run(qloop, hook_app.automation.settle())
    assert len(results) == 1  # nothing placed twice
    assert "accepted 1" in panel.listener.counts.text() and "duplicate 1" in panel.listener.counts.text()


def test_an_unsigned_request_shows_as_rejected_401(qloop, hook_app: App, qtbot) -> None:
    panel = panel_for(hook_app, qtbot)
    run(qloop, hook_app.automation.host.arm(MOMENTUM))
    body, _signature = live_body(indicator(trading_pair="BTC/USD"))
    status, answer = post(qloop, hook_app.automation.webhooks.marketraker_url, body, {})
    assert status == 401, answer
    wait_until(qloop, lambda: rows(panel), 10, "the rejected row")
    (row,) = rows(panel)
    assert (row["Kind"], row["Source"], row["Outcome"]) == ("request", "marketraker", "rejected 401")
    assert row["Detail"] == answer["error"] and "signature" in row["Detail"]
    assert panel.model.rows[0].colors[6] == SELL_COLOR
    run(qloop, hook_app.automation.settle())
    assert [r for r in rows(panel) if r["Kind"] == "intent"] == []  # nothing placed


def test_a_strategy_skip_shows_its_reason(qloop, hook_app: App, qtbot) -> None:
    panel = panel_for(hook_app, qtbot)
    run(qloop, hook_app.automation.host.arm(MOMENTUM))
    ask, mid = live_fut_book(qloop, hook_app)
    body, signature = live_body(momentum_signal(ask, mid, worse=True))
    status, answer = post(
        qloop, hook_app.automation.webhooks.marketraker_url, body, {"x-signature": signature}
    )
    assert status == 200, answer
    wait_until(qloop, lambda: find(panel, Kind="skip"), 10, "the skip row")
    skip = find(panel, Kind="skip")
    assert skip["Source"] == "strategy:marketraker_momentum" and skip["Signal id"] == answer["signal_id"]
    assert skip["Symbol"] == UI_SYMBOL and "buy_price" in skip["Detail"]
    kinds = [r["Kind"] for r in rows(panel)]
    assert kinds == ["skip", "signal"]  # newest first: the skip answers the signal
    assert find(panel, Kind="intent") is None


def test_docks_built_before_the_session_starts_follow_it(
    qloop, tmp_path: Path, memory_keyring, qtbot
) -> None:
    app = App(hook_config(tmp_path))  # the window is built first, the App started after
    panel = panel_for(app, qtbot)
    strategies = StrategiesPanel(UiContext(app, Selection(FUT, UI_SYMBOL)))
    qtbot.addWidget(strategies)
    assert panel.listener.state.text() == "Automation starts with the session…"
    assert (
        strategies.empty.text() == "Automation starts with the session…"
        and not strategies.arm_button.isEnabled()
    )
    run(qloop, app.start(), 60)
    try:
        for p in (panel, strategies):
            p.refresh(app.engine.versions())
        assert panel.listener.urls["MarketRaker"].text() == app.automation.webhooks.marketraker_url
        wait_until(qloop, lambda: panel.health is not None and panel.health.ok, 10, "the listener checked")
        strategies.throttle.now()
        assert strategies.arm_button.isEnabled() and strategies.empty.text().startswith("No strategy armed")
    finally:
        run(qloop, app.stop(), 30)


def test_without_a_listener_or_automation_the_dock_says_so(
    qloop, demo_app: App, qtbot, tmp_path: Path
) -> None:
    panel = panel_for(demo_app, qtbot)  # automation, but no webhook configured
    assert panel.listener.state.text() == NO_LISTENER_TEXT
    assert panel.listener.urls == {} and not panel.listener.check_button.isEnabled()
    assert panel.check() is None

    config = dataclasses.replace(demo_config(tmp_path / "off"), automation=None)
    off = panel_for(App(config), qtbot)
    off.refresh(off.ctx.engine.versions())
    assert off.listener.state.text().startswith("Automation is off in this session")
    assert off.model.rows == [] and off._stack.currentWidget() is off.empty


def test_screenshot_and_a_generic_hook_order(qloop, hook_app: App, qtbot) -> None:
    apply_dark(QApplication.instance())
    panel = panel_for(hook_app, qtbot)
    strategies = StrategiesPanel(UiContext(hook_app, Selection(FUT, UI_SYMBOL)))
    qtbot.addWidget(strategies)
    strategies.resize(1000, 220)
    strategies.show()
    host = hook_app.automation.host
    run(qloop, host.arm(MOMENTUM))
    run(qloop, host.arm(ArmKey("ema_cross", FUT, "ETHUSDT"), {"timeframe": "1m", "fast": "5", "slow": "20"}))
    rsi = ArmKey("rsi_sma", Venue.BINANCE_SPOT, UI_SYMBOL)
    run(qloop, host.arm(rsi, {"timeframe": "1m", "sma_period": "50"}))
    run(qloop, host.disarm(rsi))
    broken = run(qloop, host.arm(ArmKey("macd_cross", FUT, "ETHUSDT"), {"timeframe": "1m"}))
    host._fail(broken, ZeroDivisionError("division by zero"))  # how a raising strategy ends
    webhooks = hook_app.automation.webhooks
    ask, mid = live_fut_book(qloop, hook_app)
    body, signature = live_body(momentum_signal(ask, mid))
    post(qloop, webhooks.marketraker_url, body, {"x-signature": signature})
    post(qloop, webhooks.marketraker_url, body, {"x-signature": signature})  # duplicate
    skipped, sig2 = live_body(momentum_signal(ask, mid, worse=True))
    post(qloop, webhooks.marketraker_url, skipped, {"x-signature": sig2})
    post(qloop, webhooks.marketraker_url, body, {"x-signature": "forged"})
    order = json.dumps(
        {"symbol": "ETHUSDT", "side": "buy", "type": "market", "quote": "150", "id": "7"}
    ).encode()
    status, answer = post(
        qloop, webhooks.hook_url("tv"), order, {"X-Signature": sign_hmac(HOOK_SECRET, order)}
    )
    assert status == 200, answer

    # the generic hook's order: its signal, then the intent executed with the hook as origin
    wait_until(qloop, lambda: find(panel, Source="webhook:tv"), 10, "the hook's intent")
    signal = find(panel, Kind="signal", Source="tv")
    assert signal is not None and signal["Detail"] == "market quote 150" and signal["Signal id"] == "wh-tv-7"
    assert find(panel, Source="webhook:tv")["Outcome"] == "placed"

    wait_until(qloop, lambda: len(rows(panel)) >= 8 and panel.health is not None, 15, "the activity")
    run(qloop, hook_app.automation.settle())
    run(qloop, asyncio.sleep(0.6))  # the last throttled redraws and the layout
    times = [r.data.at_ms for r in panel.model.rows]
    assert times == sorted(times, reverse=True)  # newest first, by when it happened
    image = panel.grab()
    assert not image.isNull() and image.width() >= 1200
    out = os.environ.get("TERMINAL_SHOTS_DIR")
    if out:
        os.makedirs(out, exist_ok=True)
        assert image.save(os.path.join(out, "signals.png"))
        assert strategies.grab().save(os.path.join(out, "strategies.png"))
