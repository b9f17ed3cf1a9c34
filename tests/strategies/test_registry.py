"""Registry: listing, descriptions for the UI, building from user strings, clear errors."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from terminal.strategies import (
    InputKind,
    ParamError,
    ParamKind,
    Strategy,
    UnknownStrategy,
    describe,
    get,
    list_strategies,
    make,
    names,
    params_dict,
    parse_params,
)
from terminal.strategies.ema_cross import EmaCross
from terminal.strategies.marketraker_obos import ObosMode
from terminal.strategies.smc import ZoneChoice
from tests.strategies.ctx import FakeContext

pytestmark = pytest.mark.timeout(60)

ALL = ["marketraker_momentum", "marketraker_obos", "rsi_sma", "macd_cross", "ema_cross", "smc"]


def test_all_six_are_listed_in_order_with_docs() -> None:
    assert names() == ALL
    infos = list_strategies()
    assert [i.name for i in infos] == ALL
    for info in infos:
        cls = get(info.name)
        assert issubclass(cls, Strategy) and cls.name == info.name
        assert info.title and len(info.doc) > 40 and info.inputs
        assert [p.name for p in info.params] == [f.name for f in fields(cls.Params)]
        assert all(p.help for p in info.params)


def test_every_strategy_builds_with_defaults() -> None:
    for name in ALL:
        s = make(name, {}, FakeContext())
        assert isinstance(s, get(name)) and s.params == get(name).Params()


def test_describe_gives_kinds_defaults_bounds_and_choices() -> None:
    info = describe("marketraker_obos")
    by = {p.name: p for p in info.params}
    assert by["mode"].kind is ParamKind.CHOICE and by["mode"].default == "contrarian"
    assert by["mode"].choices == ("contrarian", "follow")
    assert by["threshold"].kind is ParamKind.FLOAT and by["threshold"].default == 5.0
    assert (by["max_leverage"].kind, by["max_leverage"].minimum, by["max_leverage"].maximum) == (
        ParamKind.INT,
        1,
        125,
    )
    assert info.inputs == frozenset({InputKind.SIGNALS})
    macd = {p.name: p for p in describe("macd_cross").params}
    assert macd["symbols"].kind is ParamKind.LIST and macd["symbols"].default == []
    assert macd["allow_short"].kind is ParamKind.BOOL and macd["schedule"].kind is ParamKind.TEXT


def test_make_converts_strings_from_the_ui() -> None:
    s = make(
        "ema_cross",
        {"timeframe": " 15m ", "fast": "9", "slow": "21.0", "allow_short": "no", "stop_pct": "1.5"},
        FakeContext(),
    )
    assert isinstance(s, EmaCross)
    p = s.params
    assert (p.timeframe, p.fast, p.slow, p.allow_short, p.stop_pct) == ("15m", 9, 21, False, 1.5)
    obos = parse_params("marketraker_obos", {"mode": "follow", "threshold": 4})
    assert obos.mode is ObosMode.FOLLOW and obos.threshold == 4.0
    macd = parse_params("macd_cross", {"symbols": "btcusdt, ETHUSDT,,", "schedule": "0 0 * * *"})
    assert macd.symbols == ("BTCUSDT", "ETHUSDT")
    assert parse_params("macd_cross", {"symbols": ["SOLUSDT"]}).symbols == ("SOLUSDT",)
    assert parse_params("smc", {"zones": "fvg"}).zones is ZoneChoice.FVG


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("ema_cross", {"fast": "twelve"}, "fast: expected an integer, got 'twelve'"),
        ("ema_cross", {"fast": "12.5"}, "fast: expected an integer"),
        ("ema_cross", {"fast": True}, "fast: expected an integer"),
        ("ema_cross", {"fast": "0"}, "fast must be >= 1, got 0"),
        ("ema_cross", {"fast": "30"}, "fast must be below slow"),
        ("ema_cross", {"allow_short": "maybe"}, "allow_short: expected true or false"),
        ("ema_cross", {"stop_pct": "nan"}, "stop_pct: expected a finite number"),
        ("ema_cross", {"stop_pct": "-1"}, "stop_pct must be >= 0.0"),
        ("ema_cross", {"timeframe": 5}, "timeframe: expected text"),
        ("ema_cross", {"timeframe": "5 minutes"}, "timeframe must be an interval"),
        ("ema_cross", {"speed": "1"}, "speed: not a parameter of ema_cross"),
        ("marketraker_obos", {"mode": "fade"}, "mode: must be one of contrarian, follow, got 'fade'"),
        ("macd_cross", {"symbols": 5}, "symbols: expected a comma-separated list"),
        ("macd_cross", {"symbols": "BTC/USDT"}, "symbols: 'BTC/USDT'"),
        ("smc", {"ltf": "4h", "htf": "1h"}, "htf must be a longer interval than ltf"),
    ],
)
def test_bad_values_name_the_parameter(name: str, raw: dict, message: str) -> None:
    with pytest.raises(ParamError) as exc:
        make(name, raw, FakeContext())
    assert message in str(exc.value)


def test_unknown_strategy() -> None:
    with pytest.raises(UnknownStrategy, match="unknown strategy 'nope'; known: marketraker_momentum"):
        get("nope")
    with pytest.raises(ParamError):  # UnknownStrategy is a ParamError: one except for the UI
        make("nope", {}, FakeContext())


@pytest.mark.parametrize("name", ALL)
def test_params_round_trip_through_the_store_form(name: str) -> None:
    custom = {
        "ema_cross": {"fast": "5", "slow": "8", "timeframe": "4h"},
        "rsi_sma": {"oversold": "25", "allow_short": "true"},
        "macd_cross": {"symbols": "BTCUSDT,ETHUSDT", "schedule": "0 0 * * *"},
        "marketraker_momentum": {"limit_if_worse": "yes", "max_leverage": "5"},
        "marketraker_obos": {"mode": "follow"},
        "smc": {"zones": "ob", "target_mode": "rr"},
    }[name]
    params = parse_params(name, custom)
    stored = params_dict(params)
    again = parse_params(name, json.loads(json.dumps(stored)))  # JSON-able and lossless
    assert again == params
    assert params != get(name).Params()  # the custom values really changed something
