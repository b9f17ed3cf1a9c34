"""Generic signed webhooks (``POST /signal/<name>``), e.g. TradingView alerts.

Authentication: HMAC-SHA256 of the raw body with the hook's secret, hex, in ``X-Signature``
(a ``sha256=`` prefix, as GitHub-style senders write it, is accepted).

Body (JSON object; unknown fields are refused so a typo such as ``"stoploss"`` for ``"stop"``
cannot silently drop a stop)::

    {"symbol": "BTCUSDT", "side": "buy"|"sell", "type": "market"|"limit",
     exactly one of "qty" (base units) | "quote" (quote notional) | "risk" (fraction of equity,
     0.01 = 1 %, needs "stop"),
     "price"?: limit price (limit only), "stop"?, "target"?, "time_exit"?: unix seconds,
     "leverage"?: int, "id"?: sender's id (the de-duplication key when given)}

Numbers may be JSON numbers or decimal strings ("0.01"); booleans, NaN and infinities are not.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import orjson

from terminal.model import Side, Signal, SignalSource
from terminal.signals.indicator import venue_symbol
from terminal.strategies.base import SizeHint

__all__ = [
    "MAX_RISK",
    "GenericEntry",
    "GenericOrderSignal",
    "GenericSignalError",
    "check_hmac",
    "generic_of",
    "parse_generic",
    "sign_hmac",
    "valid_hook_name",
]

MAX_RISK = Decimal("0.1")  # "risk": 1 meant as 1 % would otherwise risk the whole account
MAX_LEVERAGE = 125
_ID_MAX = 128
_HOOK_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FIELDS = frozenset(
    {
        "symbol",
        "side",
        "type",
        "qty",
        "quote",
        "risk",
        "price",
        "stop",
        "target",
        "time_exit",
        "leverage",
        "id",
    }
)
_SIZING = ("qty", "quote", "risk")


class GenericEntry(StrEnum):
    MARKET = "market"
    LIMIT = "limit"


class GenericSignalError(ValueError):
    """The body is malformed; ``problems`` lists every issue (answered as a 400)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def valid_hook_name(name: str) -> bool:
    """Hook names appear in URLs and journal rows: letters, digits, ``_ . -``, up to 64."""
    return bool(_HOOK_RE.match(name))


# ---------------------------------------------------------------------- authentication


def sign_hmac(secret: str | bytes, body: bytes) -> str:
    """The hex HMAC-SHA256 a sender puts in ``X-Signature``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def check_hmac(secret: str | bytes, body: bytes, header: str | None) -> str | None:
    """None if ``header`` authenticates ``body``; else the reason (for the 401)."""
    if header is None or not header.strip():
        return "missing X-Signature header"
    given = header.strip()
    if given[:7].lower() == "sha256=":
        given = given[7:]
    expected = sign_hmac(secret, body)
    # Compare as bytes in constant time; a non-ASCII header cannot match and must not raise.
    if not hmac.compare_digest(given.lower().encode("utf-8", "replace"), expected.encode()):
        return "invalid signature"
    return None


# ---------------------------------------------------------------------- the typed signal


@dataclass(frozen=True, slots=True)
class GenericOrderSignal:
    hook: str
    symbol: str  # venue symbol, e.g. "BTCUSDT"
    side: Side
    type: GenericEntry
    qty: Decimal | None = None
    quote: Decimal | None = None
    risk: Decimal | None = None
    price: Decimal | None = None  # limit price
    stop: Decimal | None = None
    target: Decimal | None = None
    time_exit: int | None = None  # unix s
    leverage: int | None = None
    id: str | None = None  # the sender's id

    @property
    def size_hint(self) -> SizeHint:
        return SizeHint(qty=self.qty, quote=self.quote, risk=self.risk)

    def raw(self) -> dict[str, Any]:
        """JSON-safe fields (Decimals as exact strings), as kept in ``Signal.raw``."""
        out: dict[str, Any] = {"hook": self.hook, "symbol": self.symbol, "side": self.side.value}
        out["type"] = self.type.value
        for name in ("qty", "quote", "risk", "price", "stop", "target"):
            value = getattr(self, name)
            if value is not None:
                out[name] = str(value)
        for name in ("time_exit", "leverage", "id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def signal_id(self) -> str:
        """The sender's id when given (its re-sends share it), else a hash of the fields."""
        if self.id is not None:
            return f"wh-{self.hook}-{self.id}"
        digest = hashlib.sha256(orjson.dumps(self.raw(), option=orjson.OPT_SORT_KEYS)).hexdigest()
        return f"wh-{self.hook}-{digest[:24]}"

    def to_signal(self, received_at: int) -> Signal:
        return Signal(
            id=self.signal_id(),
            source=SignalSource.WEBHOOK,
            symbol=self.symbol,
            side=self.side,
            received_at=received_at,
            entry=self.price,
            stop=self.stop,
            target=self.target,
            horizon=None if self.time_exit is None else self.time_exit * 1000,
            raw=self.raw(),
        )


def generic_of(signal: Signal) -> GenericOrderSignal | None:
    """The typed generic signal behind a webhook Signal (None for other sources)."""
    if signal.source is not SignalSource.WEBHOOK:
        return None
    raw = dict(signal.raw)
    hook = raw.pop("hook", "")
    return parse_generic(hook, raw, now_ms=None)


# ---------------------------------------------------------------------- parsing


def _decimal(name: str, value: Any, problems: list[str]) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        problems.append(f"{name}: expected a number, got {_kind(value)}")
        return None
    try:
        d = Decimal(value.strip()) if isinstance(value, str) else Decimal(str(value))
    except InvalidOperation:
        problems.append(f"{name}: {value!r} is not a number")
        return None
    if not d.is_finite():
        problems.append(f"{name}: must be finite")
        return None
    if d <= 0:
        problems.append(f"{name}: must be positive, got {d}")
        return None
    return d


def _int(name: str, value: Any, problems: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{name}: expected an integer, got {_kind(value)}")
        return None
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _enum(name: str, enum: type[StrEnum], value: Any, problems: list[str]) -> Any:
    choices = ", ".join(e.value.lower() for e in enum)  # type: ignore[attr-defined]
    if not isinstance(value, str):
        problems.append(f"{name}: expected one of {choices}, got {_kind(value)}")
        return None
    for member in enum:
        if member.value.lower() == value.strip().lower():
            return member
    problems.append(f"{name}: expected one of {choices}, got {value!r}")
    return None


def parse_generic(hook: str, body: Mapping[str, Any], now_ms: int | None) -> GenericOrderSignal:
    """Validate a generic hook's body; every problem is collected into one error.

    ``now_ms`` (the receipt time) rejects a ``time_exit`` already past; None skips that
    check (re-reading a journaled signal)."""
    if not isinstance(body, Mapping):
        raise GenericSignalError([f"body: expected a JSON object, got {_kind(body)}"])
    problems: list[str] = []
    unknown = sorted(str(k) for k in body if k not in _FIELDS)
    if unknown:
        problems.append(f"unknown field(s): {', '.join(unknown)} (allowed: {', '.join(sorted(_FIELDS))})")
    for name in ("symbol", "side", "type"):
        if body.get(name) is None:
            problems.append(f"{name}: missing")

    symbol: str | None = None
    raw_symbol = body.get("symbol")
    if raw_symbol is not None:
        if not isinstance(raw_symbol, str) or not raw_symbol.strip():
            problems.append(f"symbol: expected a non-empty string, got {_kind(raw_symbol)}")
        else:
            symbol = venue_symbol(raw_symbol.strip())
            if not (symbol.isascii() and symbol.isalnum() and 2 <= len(symbol) <= 30):
                problems.append(f"symbol: cannot map {raw_symbol!r} to a venue symbol")
                symbol = None
    side = _enum("side", Side, body["side"], problems) if body.get("side") is not None else None
    kind = _enum("type", GenericEntry, body["type"], problems) if body.get("type") is not None else None

    sizing = [name for name in _SIZING if body.get(name) is not None]
    if len(sizing) != 1:
        got = ", ".join(sizing) if sizing else "none"
        problems.append(f"size: exactly one of qty, quote, risk is required (got {got})")
    values: dict[str, Decimal | None] = {}
    for name in (*_SIZING, "price", "stop", "target"):
        values[name] = _decimal(name, body[name], problems) if body.get(name) is not None else None
    risk = values["risk"]
    if risk is not None and risk > MAX_RISK:
        problems.append(f"risk: a fraction of equity (0.01 = 1 %), at most {MAX_RISK}; got {risk}")
    if risk is not None and body.get("stop") is None:
        problems.append("stop: required when sizing by risk")

    price, stop, target = values["price"], values["stop"], values["target"]
    if kind is GenericEntry.LIMIT and body.get("price") is None:
        problems.append("price: required for a limit order")
    if kind is GenericEntry.MARKET and body.get("price") is not None:
        problems.append("price: only for limit orders (a market order fills at the market)")
    if side is not None:
        _check_sides(side, price, stop, target, problems)

    time_exit = _int("time_exit", body["time_exit"], problems) if body.get("time_exit") is not None else None
    if time_exit is not None:
        if time_exit > 10**11:
            problems.append("time_exit: expected unix seconds, got what looks like milliseconds")
        elif time_exit <= 0 or (now_ms is not None and time_exit * 1000 <= now_ms):
            problems.append(f"time_exit: {time_exit} is not in the future")
    leverage = _int("leverage", body["leverage"], problems) if body.get("leverage") is not None else None
    if leverage is not None and not 1 <= leverage <= MAX_LEVERAGE:
        problems.append(f"leverage: must be within 1..{MAX_LEVERAGE}, got {leverage}")

    sender_id: str | None = None
    raw_id = body.get("id")
    if raw_id is not None:
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            problems.append(f"id: expected a string or an integer, got {_kind(raw_id)}")
        elif (
            not (sender_id := str(raw_id).strip()) or len(sender_id) > _ID_MAX or not sender_id.isprintable()
        ):
            problems.append(f"id: expected 1..{_ID_MAX} printable characters")
            sender_id = None

    if problems:
        raise GenericSignalError(problems)
    assert symbol is not None and side is not None and kind is not None
    return GenericOrderSignal(
        hook=hook,
        symbol=symbol,
        side=side,
        type=kind,
        qty=values["qty"],
        quote=values["quote"],
        risk=risk,
        price=price,
        stop=stop,
        target=target,
        time_exit=time_exit,
        leverage=leverage,
        id=sender_id,
    )


def _check_sides(
    side: Side, price: Decimal | None, stop: Decimal | None, target: Decimal | None, problems: list[str]
) -> None:
    """A buy's stop is below and its target above the entry (a sell's the other way)."""
    below, above = ("stop", "target") if side is Side.BUY else ("target", "stop")
    levels = {"stop": stop, "target": target}
    if price is not None:
        for name, level in levels.items():
            if level is None:
                continue
            wrong = level >= price if name == below else level <= price
            if wrong:
                where = "below" if name == below else "above"
                problems.append(
                    f"{name}: {level} must be {where} the price {price} for a {side.value.lower()}"
                )
    elif stop is not None and target is not None:
        low, high = levels[below], levels[above]
        assert low is not None and high is not None
        if low >= high:
            problems.append(f"stop/target: for a {side.value.lower()} the {below} must be below the {above}")
