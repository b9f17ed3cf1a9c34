"""End to end in demo mode: a signed MarketRaker momentum signal -> intent -> sized order with a
bracket on the simulator -> the target fills -> flat -> the journal shows the whole chain.

Real parts throughout: the simulator over real sockets (static books: the price moves only when
the test trades through the book with ``mm_take``), the App with its adapters, OMS, bracket
manager, exit watcher and journal, the aiohttp webhook listener, a generated RSA-2048 key.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from terminal.app import App, AppConfig
from terminal.automation.arming import ArmKey
from terminal.automation.events import IntentOutcome, IntentResult
from terminal.automation.executor import AUDIT_INTENT
from terminal.automation.wiring import AutomationConfig
from terminal.model import OrderStatus, Side, Venue
from terminal.signals.server import WebhookConfig
from terminal.sim.server import RunningSim
from terminal.storage.journal import SignalVerdict
from terminal.trading.brackets import BracketPhase
from terminal.trading.sizing import SizingConfig
from tests.signals.support import indicator, live_body, public_pem
from tests.support.apps import external_demo
from tests.venues.binance_support import sim, wait_for  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(90)

FUT = Venue.BINANCE_USDM
SYM = "SOLUSDT"


def demo_config(running: RunningSim, data_dir: Path, key_file: Path) -> AppConfig:
    automation = AutomationConfig(
        sizing=SizingConfig(quote_notional=Decimal(300)),
        webhook=WebhookConfig(port=0, marketraker_key=key_file),
    )
    return external_demo(running, data_dir, (FUT,), (SYM,), automation=automation)


async def test_signed_momentum_signal_to_bracket_to_flat(sim, tmp_path: Path) -> None:  # noqa: F811
    key_file = tmp_path / "marketraker.pem"
    key_file.write_text(public_pem())
    app = App(demo_config(sim, tmp_path / "data", key_file))
    await app.start()
    results: list[IntentResult] = []
    app.bus.subscribe(IntentResult, results.append)
    try:
        auto = app.automation
        await auto.host.arm(ArmKey("marketraker_momentum", FUT, SYM))
        await wait_for(
            lambda: app.engine.top_of_book(FUT, SYM) is not None and app.engine.top_of_book(FUT, SYM).live,
            10,
            "a live SOL book",
        )
        top = app.engine.top_of_book(FUT, SYM)
        mid = (top.bid + top.ask) / 2
        now = int(time.time())
        data = indicator(
            trading_pair="SOL/USD",
            trading_type="Long",
            market_direction="Bull",
            leverage=2,
            buy_price=float(top.ask * Decimal("1.01")),  # the price now is better than the signal's
            sell_price=float(mid * Decimal("1.004")),
            stoploss=float(mid * Decimal("0.97")),
            buy_date=now,
            sell_prediction_date=now + 86_400,
            risk=3,
            percentage_change=4.2,
        )
        body, signature = live_body(data)
        async with aiohttp.ClientSession() as http:
            resp = await http.post(
                auto.webhooks.marketraker_url, data=body, headers={"x-signature": signature}
            )
            answer = await resp.json()
            assert resp.status == 200, answer
            # The same delivery again: acknowledged, nothing placed twice.
            again = await http.post(
                auto.webhooks.marketraker_url, data=body, headers={"x-signature": signature}
            )
            assert again.status == 200 and (await again.json()).get("duplicate") is True

        await wait_for(
            lambda: any(r.outcome is IntentOutcome.PLACED for r in results), 10, "the intent placed"
        )
        placed = next(r for r in results if r.outcome is IntentOutcome.PLACED)
        assert placed.intent.signal_id == answer["signal_id"]
        assert placed.intent.side is Side.BUY
        # Sized by the sizer (300 USDT at the mid), on the venue's step - never 1/leverage units.
        assert placed.qty is not None and abs(placed.qty * mid - 300) < mid
        (bracket,) = app.brackets.active()
        await wait_for(
            lambda: bracket.tp_id is not None and bracket.sl_id is not None, 10, "exits after the fill"
        )
        await wait_for(lambda: app.oms.position(FUT, SYM) == placed.qty, 10, "the long position")

        # The price rises through the target: the take-profit fills, the stop is canceled.
        market = sim.exchange.markets[FUT]
        market.mm_take(SYM, Side.BUY, market.instruments[SYM].lots(Decimal("20000")))
        await wait_for(lambda: bracket.phase is BracketPhase.DONE, 15, "the bracket done")
        await auto.settle()
        await wait_for(lambda: app.oms.position(FUT, SYM) == 0, 10, "flat")
        assert app.oms.order(bracket.tp_id).status is OrderStatus.FILLED
        assert app.oms.order(bracket.sl_id).status is OrderStatus.CANCELED
        assert auto.exits.active() == []  # the time exit retired with its group
        assert len([r for r in results if r.outcome is IntentOutcome.PLACED]) == 1

        # The journal holds the chain: signal -> intent -> entry/exit orders -> fills.
        journal = app.journal
        verdicts = [s.verdict for s in journal.signals() if s.signal_id == answer["signal_id"]]
        assert verdicts == [SignalVerdict.ACCEPTED, SignalVerdict.DUPLICATE]
        intents = [a for a in journal.audit_log() if a.action == AUDIT_INTENT]
        assert [a.detail["signal_id"] for a in intents] == [answer["signal_id"]]
        assert intents[0].detail["client_id"] == bracket.entry_id
        entry = journal.order_record(bracket.entry_id)
        assert entry is not None and entry.origin == "strategy:marketraker_momentum"
        filled = {f.client_id for f in journal.fills()}
        assert {bracket.entry_id, bracket.tp_id} <= filled
    finally:
        await app.stop()
