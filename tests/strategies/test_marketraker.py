"""MarketRaker momentum and overbought/oversold on signals whose right answer is known."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from terminal.model import Side, Signal, SignalSource
from terminal.signals.indicator import parse_indicator
from terminal.strategies import EntryKind, IntentAction, ParamError
from terminal.strategies.marketraker_momentum import MarketRakerMomentum, MomentumParams
from terminal.strategies.marketraker_obos import MarketRakerObos, ObosMode, ObosParams
from tests.strategies.ctx import FakeContext, spot

pytestmark = pytest.mark.timeout(60)

FIXTURES = Path("/work/shared/fixtures/marketraker/postman_collection.json")
BUY_DATE = 1733913000  # s
NOW = (BUY_DATE + 60) * 1000  # ms: a minute after the signal's buy_date

BASE: dict[str, Any] = {
    "trading_type": "Long",
    "leverage": 10,
    "buy_price": 205.0,
    "sell_price": 215.0,
    "buy_date": BUY_DATE,
    "sell_prediction_date": 1733999400,
    "risk": 4,
    "market_direction": "Bull",
    "percentage_change": 5.1,
    "stoploss": 200,
    "trading_type_24h": None,
    "percentage_change_24h": -1.5,
    "risk_24h": 5,
    "leverage_24h": 2,
    "stoploss_24h": 190,
    "trading_pair": "SOL/USD",
}
SHORT = {
    **BASE,
    "trading_type": "Short",
    "market_direction": "Bear",
    "percentage_change": -3.0,
    "sell_price": 195.0,
    "stoploss": 212,
}


def signal(**over: Any) -> Signal:
    return parse_indicator({**BASE, **over}).to_signal(received_at=NOW)


def ctx(price: str | None = "204", derivatives: bool = True) -> FakeContext:
    c = FakeContext(symbol="SOLUSDT", now=NOW) if derivatives else spot("SOLUSDT", now=NOW)
    if price is not None:
        c.prices["SOLUSDT"] = Decimal(price)
    return c


def momentum(c: FakeContext, **kw: Any) -> MarketRakerMomentum:
    return MarketRakerMomentum(MomentumParams(**kw), c)


def obos(c: FakeContext, **kw: Any) -> MarketRakerObos:
    return MarketRakerObos(ObosParams(**kw), c)


def skip_reasons(s: Any) -> list[str]:
    return [k.reason for k in s.drain_skips()]


# -- momentum


def test_momentum_long_at_or_better_than_buy_price() -> None:
    sig = signal()
    s = momentum(ctx("204"))
    (it,) = s.on_signal(sig)
    assert (it.side, it.action, it.entry, it.price) == (
        Side.BUY,
        IntentAction.OPEN,
        EntryKind.MARKET,
        Decimal("204"),
    )
    assert (it.stop, it.target) == (Decimal("200"), Decimal("215.0"))
    assert it.time_exit_ms == 1733999400 * 1000
    assert it.leverage == 3  # the signal's 10 capped by max_leverage
    assert it.signal_id == sig.id and it.at_ms == NOW and it.symbol == "SOLUSDT"
    assert it.confidence == pytest.approx(0.7)  # risk 4
    assert it.strategy == "marketraker_momentum" and "Bull +5.1%" in it.reason
    # exactly at buy_price is "at or better" too
    (it,) = momentum(ctx("205")).on_signal(sig)
    assert it.price == Decimal("205")


def test_momentum_answers_a_signal_once() -> None:
    s = momentum(ctx())
    assert len(s.on_signal(signal())) == 1
    assert s.on_signal(signal()) == ()
    assert skip_reasons(s) == ["signal already handled"]


def test_momentum_worse_price_skips_or_tolerates_or_rests_a_limit() -> None:
    s = momentum(ctx("206"))
    assert s.on_signal(signal()) == ()
    assert skip_reasons(s) == ["price 206 is above buy_price 205.0 (tolerance 0.0%)"]
    (it,) = momentum(ctx("206"), entry_tolerance_pct=0.5).on_signal(signal())  # 205 * 1.005 = 206.025
    assert it.entry is EntryKind.MARKET and it.price == Decimal("206")
    (it,) = momentum(ctx("207"), limit_if_worse=True).on_signal(signal())
    assert it.entry is EntryKind.LIMIT and it.price == Decimal("205.0") and it.stop == Decimal("200")


def test_momentum_short_on_derivatives() -> None:
    sig = parse_indicator(SHORT).to_signal(NOW)
    (it,) = momentum(ctx("205.5")).on_signal(sig)  # a short wants >= buy_price
    assert (it.side, it.price, it.stop, it.target) == (
        Side.SELL,
        Decimal("205.5"),
        Decimal("212"),
        Decimal("195.0"),
    )
    s = momentum(ctx("204"))
    assert s.on_signal(sig) == ()
    assert skip_reasons(s) == ["price 204 is below buy_price 205.0 (tolerance 0.0%)"]


def test_momentum_spot_short_is_not_entered() -> None:
    s = momentum(ctx("206", derivatives=False))
    assert s.on_signal(parse_indicator(SHORT).to_signal(NOW)) == ()
    (reason,) = skip_reasons(s)
    assert "spot" in reason and "cannot short" in reason


def test_momentum_spot_long_has_no_leverage() -> None:
    (it,) = momentum(ctx(derivatives=False)).on_signal(signal())
    assert it.leverage is None


def test_momentum_default_stop_when_the_signal_has_none() -> None:
    (it,) = momentum(ctx("204")).on_signal(signal(stoploss=None))
    assert it.stop == Decimal("197.88")  # 204 * (1 - 3 %)
    (it,) = momentum(ctx("204"), default_stop_pct=1.5).on_signal(signal(stoploss=None))
    assert it.stop == Decimal("200.94")


@pytest.mark.parametrize(
    ("over", "price", "reason"),
    [
        ({"percentage_change": 1.5}, "204", "Bull with percentage_change 1.5% is not beyond ±2.0%"),
        ({"percentage_change": -5.0}, "204", "Bull with percentage_change -5.0% is not beyond ±2.0%"),
        ({"trading_type": "Short"}, "204", "trading_type Short disagrees with Bull 5.1"),
        ({"risk": 9}, "204", "risk 9 is above max_risk 8"),
        ({"stoploss": 204.5}, "204", "stop 204.5 is not below entry 204"),
        ({"sell_price": 203.0, "buy_price": 206.0}, "204", "target 203.0 is not above entry 204"),
        ({"sell_prediction_date": BUY_DATE}, "204", "sell_prediction_date has already passed"),
        ({}, None, "no current price for the symbol"),
    ],
)
def test_momentum_skips_with_a_reason(over: dict[str, Any], price: str | None, reason: str) -> None:
    s = momentum(ctx(price), max_risk=8)
    assert s.on_signal(signal(**over)) == ()
    (got,) = skip_reasons(s)
    assert got.startswith(reason), got


def test_momentum_threshold_is_a_parameter() -> None:
    assert momentum(ctx(), threshold=6.0).on_signal(signal()) == ()
    assert len(momentum(ctx(), threshold=5.0).on_signal(signal())) == 1  # 5.1 > 5


def test_other_symbols_and_sources_are_not_ours() -> None:
    s = momentum(ctx())
    assert s.on_signal(signal(trading_pair="BTC/USD")) == ()
    webhook = Signal(id="x", source=SignalSource.WEBHOOK, symbol="SOLUSDT", side=Side.BUY, received_at=NOW)
    assert s.on_signal(webhook) == ()
    assert s.drain_skips() == []  # not a decision: nothing to report


# -- overbought / oversold (24 h)


def test_obos_contrarian_fades_an_overbought_bull() -> None:
    sig = signal(percentage_change_24h=6.0)
    (it,) = obos(ctx("204")).on_signal(sig)
    assert (it.side, it.entry, it.price) == (Side.SELL, EntryKind.MARKET, Decimal("204"))
    # stoploss_24h 190 protects a long; for the fade it is on the wrong side: 3 % above entry
    assert it.stop == Decimal("210.12") and "stoploss_24h 190.0 is on the wrong side" in it.reason
    assert it.target == Decimal("197.88")  # target_pct 3 below entry
    assert it.leverage == 2  # leverage_24h
    assert it.confidence == pytest.approx(0.6)  # risk_24h 5
    assert it.time_exit_ms == (BUY_DATE + 24 * 3600) * 1000
    assert it.signal_id == sig.id and it.strategy == "marketraker_obos"


def test_obos_contrarian_buys_an_oversold_bear() -> None:
    sig = signal(market_direction="Bear", trading_type="Short", percentage_change_24h=-7.0)
    (it,) = obos(ctx("204")).on_signal(sig)
    assert (it.side, it.stop, it.target) == (Side.BUY, Decimal("190"), Decimal("210.12"))


def test_obos_follow_mode_trades_with_the_move() -> None:
    (it,) = obos(ctx("204"), mode=ObosMode.FOLLOW).on_signal(signal(percentage_change_24h=6.0))
    assert (it.side, it.stop) == (Side.BUY, Decimal("190"))  # stoploss_24h fits a long
    assert it.target == Decimal("216.24")  # the predicted +6 % from entry
    (it,) = obos(ctx("204"), mode=ObosMode.FOLLOW).on_signal(
        signal(percentage_change_24h=-6.0, market_direction="Bear")
    )
    assert it.side is Side.SELL and it.stop == Decimal("210.12") and it.target == Decimal("191.76")


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"percentage_change_24h": None}, "the signal has no percentage_change_24h"),
        ({"percentage_change_24h": 4.0}, "Bull with percentage_change_24h 4.0% is not beyond ±5.0%"),
        ({"percentage_change_24h": -8.0}, "Bull with percentage_change_24h -8.0% is not beyond ±5.0%"),
        ({"percentage_change_24h": 6.0, "risk_24h": 9}, "risk 9 is above max_risk 8"),
        (
            {"percentage_change_24h": 6.0, "buy_date": BUY_DATE - 86_400},
            "the 24 h horizon after buy_date is already over",
        ),
    ],
)
def test_obos_skips_with_a_reason(over: dict[str, Any], reason: str) -> None:
    s = obos(ctx("204"), max_risk=8)
    assert s.on_signal(signal(**over)) == ()
    assert skip_reasons(s) == [reason]


def test_obos_spot_cannot_fade_a_bull() -> None:
    s = obos(ctx("204", derivatives=False))
    assert s.on_signal(signal(percentage_change_24h=6.0)) == ()
    assert "cannot short" in skip_reasons(s)[0]


def test_momentum_and_obos_on_one_signal_each_answer_once_with_its_id() -> None:
    # both armed on SOLUSDT: each strategy gives at most one intent per signal, both carry the
    # signal id, so the host can keep it to one position per signal
    sig = signal(percentage_change_24h=6.0)
    c = ctx("204")
    m, o = momentum(c), obos(c)
    first = [*m.on_signal(sig), *o.on_signal(sig)]
    assert [(it.strategy, it.side) for it in first] == [
        ("marketraker_momentum", Side.BUY),
        ("marketraker_obos", Side.SELL),
    ]
    assert {it.signal_id for it in first} == {sig.id}
    assert [*m.on_signal(sig), *o.on_signal(sig)] == []


def test_the_published_example_requests_give_at_most_one_intent_each() -> None:
    items = json.loads(FIXTURES.read_text())["item"]
    seen = 0
    for item in items:
        data = json.loads(item["request"]["body"]["raw"])["data"]
        if isinstance(data, str):
            data = json.loads(data)
        sig = parse_indicator(data).to_signal(NOW)
        for derivatives in (True, False):
            c = ctx("204", derivatives)
            c.symbol = sig.symbol
            c.prices[sig.symbol] = Decimal("204")
            for s in (momentum(c), obos(c, mode=ObosMode.FOLLOW), obos(c)):
                out = s.on_signal(sig)
                assert len(out) + len(s.drain_skips()) == 1  # an intent or a reason, never both
                seen += len(out)
    assert seen > 0


def test_obos_param_validation() -> None:
    with pytest.raises(ParamError, match="mode must be one of contrarian, follow"):
        ObosParams(mode="sideways")  # type: ignore[arg-type]
    assert ObosParams(mode="follow").mode is ObosMode.FOLLOW  # type: ignore[arg-type]
    with pytest.raises(ParamError, match="max_leverage must be <= 125"):
        obos(ctx(), max_leverage=200)
