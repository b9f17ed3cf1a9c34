"""The armed set survives restarts, and a broken file is reported and set aside, never lost."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from terminal.automation.arming import ArmedStore, ArmedStoreError, Arming, ArmKey
from terminal.automation.context import clamp_to_account
from terminal.model import Venue


def test_round_trip_keeps_params_and_order(tmp_path: Path) -> None:
    store = ArmedStore(tmp_path)
    a = Arming(ArmKey("ema_cross", Venue.BINANCE_USDM, "BTCUSDT"), {"fast": "12", "slow": 26}, 5)
    b = Arming(ArmKey("rsi_sma", Venue.BYBIT_SPOT, "ETHUSDT"), {}, 7)
    store.save([b, a])
    loaded = store.load()
    assert [x.key for x in loaded] == sorted([a.key, b.key])
    assert dict(loaded[0].params) == {"fast": "12", "slow": "26"}  # as text, the way the UI gives them
    assert loaded[0].armed_at_ms == 5
    assert not (tmp_path / "armed.json.tmp").exists()


def test_missing_file_is_an_empty_set(tmp_path: Path) -> None:
    assert ArmedStore(tmp_path).load() == []


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps({"version": 99, "armed": []}),
        json.dumps({"version": 1, "armed": [{"venue": "nope"}]}),
    ],
)
def test_broken_file_is_reported_and_moved_aside(tmp_path: Path, content: str) -> None:
    store = ArmedStore(tmp_path)
    store.path.write_text(content)
    with pytest.raises(ArmedStoreError, match=r"unreadable.*nothing was armed.*moved to"):
        store.load()
    aside = list(tmp_path.glob("armed.json.broken-*"))
    assert len(aside) == 1 and aside[0].read_text() == content  # the user's file is kept, byte for byte
    assert store.load() == []  # and the next start begins empty instead of failing again


@pytest.mark.parametrize(
    ("own", "account", "expected"),
    [
        ("1", "3", "1"),
        ("3", "1", "1"),
        ("1", "0", "0"),
        ("1", "-2", "0"),
        ("-2", "-1", "-1"),
        ("0", "5", "0"),
    ],
)
def test_a_strategy_never_holds_more_than_the_account(own: str, account: str, expected: str) -> None:
    assert clamp_to_account(Decimal(own), Decimal(account)) == Decimal(expected)
