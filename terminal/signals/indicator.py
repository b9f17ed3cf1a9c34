"""MarketRaker's "indicator" notification as a typed value (fields per MARKETRAKER.md).

``parse_indicator`` is strict: every problem is collected and raised together as
``IndicatorError`` (the listener answers 400 with that text). ``to_signal`` turns it into the
venue-neutral ``Signal`` the journal and the automation host use; strategies get the typed
fields back with ``indicator_of(signal)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import orjson

from terminal.model import Side, Signal, SignalSource

__all__ = [
    "Direction",
    "IndicatorError",
    "MarketRakerIndicator",
    "TradingType",
    "indicator_of",
    "parse_indicator",
    "venue_symbol",
]


class TradingType(StrEnum):
    LONG = "Long"
    SHORT = "Short"


class Direction(StrEnum):
    BULL = "Bull"
    BEAR = "Bear"


class IndicatorError(ValueError):
    """The indicator payload is malformed; ``problems`` lists each field's issue."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class MarketRakerIndicator:
    trading_pair: str
    trading_type: TradingType
    market_direction: Direction
    leverage: int
    buy_price: Decimal
    sell_price: Decimal
    stoploss: Decimal | None
    buy_date: int  # unix s
    sell_prediction_date: int  # unix s
    risk: int  # 1 (low) .. 10 (high)
    percentage_change: Decimal
    trading_type_24h: TradingType | None = None
    percentage_change_24h: Decimal | None = None
    risk_24h: int | None = None
    leverage_24h: int | None = None
    stoploss_24h: Decimal | None = None

    @property
    def symbol(self) -> str:
        return venue_symbol(self.trading_pair)

    @property
    def side(self) -> Side:
        return Side.BUY if self.trading_type is TradingType.LONG else Side.SELL

    def signal_id(self) -> str:
        """Stable over re-deliveries of the same indicator: a hash of its fields."""
        canonical = orjson.dumps(_jsonable(self), option=orjson.OPT_SORT_KEYS)
        return "mr-" + hashlib.sha256(canonical).hexdigest()[:24]

    def to_signal(self, received_at: int) -> Signal:
        return Signal(
            id=self.signal_id(),
            source=SignalSource.MARKETRAKER,
            symbol=self.symbol,
            side=self.side,
            received_at=received_at,
            entry=self.buy_price,
            stop=self.stoploss,
            target=self.sell_price,
            horizon=self.sell_prediction_date * 1000,
            # MarketRaker's risk is 1 (low) .. 10 (high): low risk = high confidence.
            confidence=(11 - self.risk) / 10,
            raw=_jsonable(self),
        )


def _jsonable(ind: MarketRakerIndicator) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in asdict(ind).items():
        out[k] = str(v) if isinstance(v, Decimal) else (v.value if isinstance(v, StrEnum) else v)
    return out


def venue_symbol(pair: str) -> str:
    """'SOL/USD' or 'BTC_USD' -> 'SOLUSDT'; USDT/USDC quotes are kept."""
    s = pair.replace("/", "").replace("_", "").replace("-", "").upper()
    if s.endswith("USD"):
        s += "T"
    return s


_REQUIRED: dict[str, str] = {
    "trading_pair": "str",
    "trading_type": "side",
    "market_direction": "direction",
    "leverage": "int",
    "buy_price": "num",
    "sell_price": "num",
    "stoploss": "num?",
    "buy_date": "int",
    "sell_prediction_date": "int",
    "risk": "int",
    "percentage_change": "num",
}
_OPTIONAL: dict[str, str] = {
    "trading_type_24h": "side?",
    "percentage_change_24h": "num?",
    "risk_24h": "int?",
    "leverage_24h": "int?",
    "stoploss_24h": "num?",
}


def _convert(name: str, kind: str, value: Any, problems: list[str]) -> Any:
    nullable = kind.endswith("?")
    kind = kind.rstrip("?")
    if value is None:
        if nullable:
            return None
        problems.append(f"{name}: must not be null")
        return None
    if kind == "str":
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{name}: expected a non-empty string")
            return None
        return value.strip()
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            problems.append(f"{name}: expected an integer, got {type(value).__name__}")
            return None
        return value
    if kind == "num":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{name}: expected a number, got {type(value).__name__}")
            return None
        try:
            d = Decimal(str(value))
        except InvalidOperation:
            problems.append(f"{name}: not a number")
            return None
        if not d.is_finite():
            problems.append(f"{name}: must be finite")
            return None
        return d
    enum = TradingType if kind == "side" else Direction
    try:
        return enum(value)
    except ValueError:
        problems.append(f"{name}: expected one of {', '.join(e.value for e in enum)}, got {value!r}")
        return None


def parse_indicator(data: Mapping[str, Any]) -> MarketRakerIndicator:
    if not isinstance(data, Mapping):
        raise IndicatorError(["data: expected an object"])
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name, kind in _REQUIRED.items():
        if name not in data:
            problems.append(f"{name}: missing")
            continue
        values[name] = _convert(name, kind, data[name], problems)
    for name, kind in _OPTIONAL.items():
        values[name] = _convert(name, kind, data.get(name), problems)
    if not problems:
        for name in ("buy_price", "sell_price", "stoploss", "stoploss_24h"):
            v = values.get(name)
            if v is not None and v <= 0:
                problems.append(f"{name}: must be positive")
        if values["leverage"] < 1:
            problems.append("leverage: must be at least 1")
        if not 1 <= values["risk"] <= 10:
            problems.append("risk: must be within 1..10")
        if not venue_symbol(values["trading_pair"]).isalnum():
            problems.append(f"trading_pair: cannot map {values['trading_pair']!r} to a symbol")
    if problems:
        raise IndicatorError(problems)
    return MarketRakerIndicator(**values)


def indicator_of(signal: Signal) -> MarketRakerIndicator | None:
    """The typed indicator behind a MarketRaker signal (None for other sources)."""
    if signal.source is not SignalSource.MARKETRAKER:
        return None
    raw = dict(signal.raw)
    for k in (
        "buy_price",
        "sell_price",
        "stoploss",
        "percentage_change",
        "percentage_change_24h",
        "stoploss_24h",
    ):
        if isinstance(raw.get(k), str):
            raw[k] = float(raw[k])  # back through the strict parser's number path
    return parse_indicator(raw)
