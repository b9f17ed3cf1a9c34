"""The generic hook's body schema and HMAC, without a server."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from terminal.model import Side, SignalSource
from terminal.signals.generic import (
    GenericEntry,
    GenericSignalError,
    check_hmac,
    generic_of,
    parse_generic,
    sign_hmac,
    valid_hook_name,
)
from terminal.strategies.base import SizeHint

NOW_MS = 1_750_000_000_000


def _problems(body: Any) -> list[str]:
    with pytest.raises(GenericSignalError) as info:
        parse_generic("tv", body, NOW_MS)
    return info.value.problems


def test_a_full_limit_signal_round_trips_through_signal_raw() -> None:
    body = {
        "symbol": "btc/usd",
        "side": "BUY",
        "type": "limit",
        "risk": "0.01",
        "price": 100,
        "stop": 95.5,
        "target": "120.25",
        "time_exit": NOW_MS // 1000 + 3600,
        "leverage": 3,
        "id": 42,
    }
    parsed = parse_generic("tv", body, NOW_MS)
    assert parsed.symbol == "BTCUSDT" and parsed.side is Side.BUY and parsed.type is GenericEntry.LIMIT
    assert (parsed.risk, parsed.price, parsed.stop, parsed.target) == (
        Decimal("0.01"),
        Decimal("100"),
        Decimal("95.5"),
        Decimal("120.25"),
    )
    assert parsed.size_hint == SizeHint(risk=Decimal("0.01"))
    signal = parsed.to_signal(NOW_MS)
    assert signal.id == "wh-tv-42" and signal.source is SignalSource.WEBHOOK
    assert signal.entry == Decimal("100") and signal.horizon == (NOW_MS // 1000 + 3600) * 1000
    assert signal.raw["risk"] == "0.01" and signal.raw["leverage"] == 3 and signal.raw["hook"] == "tv"
    assert generic_of(signal) == parsed


def test_market_qty_signal_without_id_hashes_its_fields() -> None:
    a = parse_generic("tv", {"symbol": "ETHUSDT", "side": "sell", "type": "market", "qty": 0.5}, NOW_MS)
    b = parse_generic("tv", {"type": "market", "qty": "0.5", "side": "Sell", "symbol": "ETHUSDT"}, NOW_MS)
    c = parse_generic("other", {"symbol": "ETHUSDT", "side": "sell", "type": "market", "qty": 0.5}, NOW_MS)
    assert a.signal_id() == b.signal_id() != c.signal_id()
    assert a.signal_id().startswith("wh-tv-")
    assert a.size_hint == SizeHint(qty=Decimal("0.5"))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, ["symbol: missing", "side: missing", "type: missing", "exactly one of qty, quote, risk"]),
        (
            {"symbol": "BTCUSDT", "side": "hold", "type": "stop", "qty": 1, "quote": 10},
            [
                "side: expected one of buy, sell, got 'hold'",
                "type: expected one of market, limit",
                "(got qty, quote)",
            ],
        ),
        (
            {"symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": 1, "stoploss": 5},
            ["unknown field(s): stoploss"],
        ),
        (
            {"symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": True},
            ["qty: expected a number, got bool"],
        ),
        (
            {"symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "abc"},
            ["qty: 'abc' is not a number"],
        ),
        ({"symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": "NaN"}, ["qty: must be finite"]),
        ({"symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": -1}, ["qty: must be positive"]),
        (
            {"symbol": "BTCUSDT", "side": "buy", "type": "limit", "qty": 1},
            ["price: required for a limit order"],
        ),
        (
            {"symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": 1, "price": 5},
            ["price: only for limit"],
        ),
        (
            {"symbol": "BTCUSDT", "side": "buy", "type": "market", "risk": 1},
            ["risk: a fraction of equity (0.01 = 1 %), at most 0.1", "stop: required when sizing by risk"],
        ),
        (
            {
                "symbol": "BTCUSDT",
                "side": "buy",
                "type": "limit",
                "qty": 1,
                "price": 100,
                "stop": 101,
                "target": 99,
            },
            ["stop: 101 must be below the price 100", "target: 99 must be above the price 100"],
        ),
        (
            {"symbol": "BTCUSDT", "side": "sell", "type": "market", "qty": 1, "stop": 90, "target": 95},
            ["for a sell the target must be below the stop"],
        ),
        (
            {"symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": 1, "time_exit": NOW_MS},
            ["time_exit: expected unix seconds, got what looks like milliseconds"],
        ),
        (
            {"symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": 1, "time_exit": 1000},
            ["time_exit: 1000 is not in the future"],
        ),
        (
            {"symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": 1, "time_exit": 1.5e9},
            ["time_exit: expected an integer, got float"],
        ),
        (
            {"symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": 1, "leverage": 0},
            ["leverage: must be within 1..125"],
        ),
        ({"symbol": "BTC USDT!", "side": "buy", "type": "market", "qty": 1}, ["symbol: cannot map"]),
        ({"symbol": 7, "side": "buy", "type": "market", "qty": 1}, ["symbol: expected a non-empty string"]),
        ({"symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": 1, "id": ""}, ["id: expected 1..128"]),
        (
            {"symbol": "BTCUSDT", "side": "buy", "type": "market", "qty": 1, "id": [1]},
            ["id: expected a string"],
        ),
        ([1, 2], ["body: expected a JSON object, got list"]),
    ],
)
def test_every_problem_is_named(body: Any, expected: list[str]) -> None:
    problems = _problems(body)
    for text in expected:
        assert any(text in p for p in problems), (text, problems)
    assert len(problems) >= len(expected)


def test_hmac_header_forms() -> None:
    body = b'{"symbol": "BTCUSDT"}'
    digest = sign_hmac("s3cret", body)
    assert check_hmac("s3cret", body, digest) is None
    assert check_hmac(b"s3cret", body, f"sha256={digest}") is None
    assert check_hmac("s3cret", body, f"SHA256={digest.upper()}") is None
    assert check_hmac("s3cret", body, None) == "missing X-Signature header"
    assert check_hmac("s3cret", body, "") == "missing X-Signature header"
    assert check_hmac("s3cret", body, "0" * 64) == "invalid signature"
    assert check_hmac("other", body, digest) == "invalid signature"
    assert check_hmac("s3cret", body + b" ", digest) == "invalid signature"
    assert check_hmac("s3cret", body, "é\udcff") == "invalid signature"  # must not raise


def test_hook_names() -> None:
    assert valid_hook_name("tv") and valid_hook_name("my-hook_2.0")
    assert not valid_hook_name("") and not valid_hook_name("a/b") and not valid_hook_name("x" * 65)
