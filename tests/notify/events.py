"""Bus events as the adapters, the webhook listener and the automation host publish them."""

from __future__ import annotations

from decimal import Decimal

from terminal.automation.arming import ArmKey
from terminal.automation.events import ArmState, IntentOutcome, IntentResult, StrategyStateChanged
from terminal.model import FeedState, FeedStatus, Fill, Side, Signal, SignalSource, TradingState, Venue
from terminal.notify import TradingStateChanged
from terminal.signals.events import SignalAccepted, SignalRejected
from terminal.strategies.base import Intent
from terminal.venues.events import FeedEvent, FillEvent, ReportSource, StreamKind

V = Venue.BINANCE_USDM


def fill(n: int, *, source: ReportSource = ReportSource.STREAM, pnl: str | None = None) -> FillEvent:
    return FillEvent(
        Fill(
            venue=V,
            symbol="BTCUSDT",
            client_id=f"strategy-ema-0000{n:04d}",
            venue_order_id=str(1000 + n),
            trade_id=str(n),
            side=Side.BUY if n % 2 == 0 else Side.SELL,
            price=Decimal("65000.50"),
            qty=Decimal("0.010"),
            ts=1_700_000_000_000 + n,
            fee=Decimal("0.26"),
            fee_asset="USDT",
            realized_pnl=None if pnl is None else Decimal(pnl),
        ),
        source,
    )


def feed(state: FeedState, detail: str = "") -> FeedEvent:
    status = FeedStatus(stream_id="binance_usdm:btcusdt@depth@100ms", venue=V, state=state, detail=detail)
    return FeedEvent(status, StreamKind.MARKET, "BTCUSDT")


def signal_accepted() -> SignalAccepted:
    sig = Signal(
        id="mr-42",
        source=SignalSource.MARKETRAKER,
        symbol="SOLUSDT",
        side=Side.BUY,
        received_at=1,
        entry=Decimal("150.5"),
        stop=Decimal("145"),
        target=Decimal("160"),
        confidence=0.8,
        raw={"token": "sender-secret-xyz", "pair": "SOL/USDT"},
    )
    return SignalAccepted(sig, "marketraker")


def signal_rejected(reason: str = "bad signature") -> SignalRejected:
    return SignalRejected(hook="marketraker", status=401, reason=reason, received_at=2)


def strategy(state: ArmState, message: str = "") -> StrategyStateChanged:
    return StrategyStateChanged(ArmKey("ema_cross", V, "BTCUSDT"), state, message)


def intent(outcome: IntentOutcome, message: str = "") -> IntentResult:
    i = Intent(strategy="ema_cross", symbol="BTCUSDT", side=Side.BUY)
    return IntentResult(ArmKey("ema_cross", V, "BTCUSDT"), "strategy:ema_cross", i, outcome, message)


def risk(state: TradingState, previous: TradingState = TradingState.ACTIVE) -> TradingStateChanged:
    return TradingStateChanged(previous, state, "risk", "daily_loss: day loss 120 >= 100", 5)
