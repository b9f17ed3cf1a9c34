"""/metrics and /healthz of a real demo App (simulator over real sockets, real journal, the
embedded aiohttp listener), and the correlation id in real JSON log lines from signal to fill."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from terminal.app import App, AppConfig
from terminal.automation.arming import ArmKey
from terminal.automation.events import IntentOutcome, IntentResult
from terminal.automation.wiring import AutomationConfig
from terminal.model import OrderStatus, OrderType, Side, TradingState, Venue
from terminal.ops import configure_logging
from terminal.signals.server import WebhookConfig
from terminal.sim.server import RunningSim
from terminal.trading.oms import OrderIntent
from terminal.trading.sizing import SizingConfig
from tests.signals.support import indicator, live_body, public_pem
from tests.support.apps import external_demo
from tests.venues.binance_support import sim, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(90)

FUT = Venue.BINANCE_USDM
SYM = "SOLUSDT"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum over the samples of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def demo_config(running: RunningSim, data_dir: Path, key_file: Path) -> AppConfig:
    automation = AutomationConfig(
        sizing=SizingConfig(quote_notional=Decimal(300)),
        webhook=WebhookConfig(port=0, marketraker_key=key_file),
    )
    return external_demo(running, data_dir, (FUT,), (SYM,), automation=automation)


async def test_metrics_healthz_and_correlated_logs(sim, tmp_path: Path) -> None:  # noqa: F811
    key_file = tmp_path / "marketraker.pem"
    key_file.write_text(public_pem())
    logs = configure_logging(tmp_path / "logs-dir", json=True, console=False, level="INFO")
    app = App(demo_config(sim, tmp_path / "data", key_file))
    results: list[IntentResult] = []
    try:
        await app.start()
        app.bus.subscribe(IntentResult, results.append)
        auto = app.automation
        server = auto.webhooks
        await auto.host.arm(ArmKey("marketraker_momentum", FUT, SYM))
        await wait_for(
            lambda: (t := app.engine.top_of_book(FUT, SYM)) is not None and t.live, 10, "a live book"
        )
        top = app.engine.top_of_book(FUT, SYM)
        assert top is not None and top.bid is not None and top.ask is not None
        mid = (top.bid + top.ask) / 2

        async with aiohttp.ClientSession() as http:

            async def scrape() -> Samples:
                async with http.get(server.url + "/metrics") as resp:
                    assert resp.status == 200
                    assert resp.headers["Content-Type"].startswith("text/plain")
                    return parse(await resp.text())

            before = await scrape()
            assert value(before, "terminal_webhook_requests_total") == 0
            assert value(before, "terminal_order_ack_seconds_count") == 0

            # A manual market order through the OMS: acked and filled by the simulator.
            order = await app.oms.submit(OrderIntent(FUT, SYM, Side.BUY, OrderType.MARKET, Decimal("2")))
            await wait_for(lambda: app.oms.order(order.client_id).status is OrderStatus.FILLED, 10, "a fill")

            # An unsigned delivery (401), then a signed MarketRaker signal the armed strategy takes.
            async with http.post(server.marketraker_url, data=b'{"type":"indicator"}') as resp:
                assert resp.status == 401
            now = int(time.time())
            body, signature = live_body(
                indicator(
                    trading_pair="SOL/USD",
                    trading_type="Long",
                    market_direction="Bull",
                    leverage=2,
                    buy_price=float(top.ask * Decimal("1.01")),
                    sell_price=float(mid * Decimal("1.004")),
                    stoploss=float(mid * Decimal("0.97")),
                    buy_date=now,
                    sell_prediction_date=now + 86_400,
                    risk=3,
                    percentage_change=4.2,
                )
            )
            async with http.post(
                server.marketraker_url, data=body, headers={"x-signature": signature}
            ) as resp:
                assert resp.status == 200
                signal_id = (await resp.json())["signal_id"]
            await wait_for(
                lambda: any(r.outcome is IntentOutcome.PLACED for r in results), 10, "intent placed"
            )
            placed = next(r for r in results if r.outcome is IntentOutcome.PLACED)
            await wait_for(
                lambda: app.oms.order(placed.client_id).status is OrderStatus.FILLED, 10, "the entry filled"
            )

            after = await scrape()
            # Counters moved: messages per stream, book (re)syncs, ack latency, statuses, webhooks.
            assert value(after, "terminal_feed_messages_total", level="stream") > value(
                before, "terminal_feed_messages_total", level="stream"
            )
            trades = {"stream": f"{FUT}:{SYM}:market:solusdt@aggTrade", "level": "stream"}
            assert value(after, "terminal_feed_messages_total", **trades) >= 2  # our own fills traded
            assert value(after, "terminal_book_resyncs_total", venue=FUT.value, symbol=SYM) >= 1
            assert value(after, "terminal_order_ack_seconds_count", venue=FUT.value, outcome="accepted") >= 2
            assert value(after, "terminal_order_ack_seconds_sum") > 0
            assert value(after, "terminal_order_ack_seconds_bucket", le="+Inf") >= 2
            assert value(after, "terminal_orders_total", status="FILLED") >= 2
            assert value(after, "terminal_orders_total", status="PENDING_NEW") >= 2
            assert value(after, "terminal_webhook_requests_total", outcome="accepted") == 1
            assert value(after, "terminal_webhook_requests_total", outcome="unauthorized") == 1
            assert value(after, "terminal_trading_state", state="ACTIVE") == 1
            assert (
                value(after, "terminal_strategy_state", strategy="marketraker_momentum", state="armed") == 1
            )
            assert value(after, "terminal_feed_state", state="live") >= 1
            assert value(after, "terminal_feed_reconnects_total") == 0

            async with http.get(server.url + "/healthz") as resp:
                health = await resp.json()
                assert resp.status == 200, health
            assert health["ok"] is True and health["problems"] == []
            assert health["mode"] == "demo" and health["trading_state"] == "ACTIVE"
            assert health["journal_ok"] is True
            assert health["counts"]["accepted"] == 1  # the listener's own figures are kept
            assert any(f["state"] == "live" and f["messages"] > 0 for f in health["feeds"].values())
            assert health["armed"] == [f"marketraker_momentum@{FUT}:{SYM}=armed"]

            # HALTED: unhealthy, 503, and the metric says so.
            app.oms.risk.set_state(TradingState.HALTED, actor="manual", reason="test")
            async with http.get(server.url + "/healthz") as resp:
                halted = await resp.json()
                assert resp.status == 503
            assert halted["ok"] is False and "trading is HALTED" in halted["problems"]
            assert value(await scrape(), "terminal_trading_state", state="HALTED") == 1
    finally:
        await app.stop()
        logs.close()

    # The JSON log lines parse, and the signal's id follows it to the intent, order and fill.
    lines = [json.loads(line) for line in logs.path.read_text().splitlines()]
    chain = [r for r in lines if r.get("correlation_id") == signal_id]
    text = "\n".join(r["msg"] for r in chain)
    assert f"signal {signal_id} accepted" in text
    assert "marketraker_momentum" in text and "PLACED" in text.upper()  # the executor's intent line
    assert f"order {placed.client_id}" in text
    assert f"fill {placed.client_id}" in text
    # The manual order carries its own client id as correlation id.
    assert any(r.get("correlation_id") == order.client_id and r["msg"].startswith("fill ") for r in lines)
