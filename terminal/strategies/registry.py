"""The strategy registry: name -> class, parameter descriptions for the UI, and building a
strategy from user-typed values (strings from the UI/CLI, or JSON values from the armed-set
store) with every value converted to its field's type and validated.

Every problem raises ``ParamError`` naming the parameter; nothing is half-built.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from enum import StrEnum
from typing import Any

from terminal.strategies.base import InputKind, ParamError, Strategy, StrategyContext, check_params
from terminal.strategies.ema_cross import EmaCross
from terminal.strategies.macd_cross import MacdCross
from terminal.strategies.marketraker_momentum import MarketRakerMomentum
from terminal.strategies.marketraker_obos import MarketRakerObos
from terminal.strategies.rsi_sma import RsiSma
from terminal.strategies.smc import SmartMoney

__all__ = [
    "ParamInfo",
    "ParamKind",
    "StrategyInfo",
    "UnknownStrategy",
    "describe",
    "get",
    "list_strategies",
    "make",
    "names",
    "params_dict",
    "parse_params",
]

# Registration order is the UI's listing order (and, with momentum before overbought/oversold,
# the order a host evaluating both on one signal asks them in).
_CLASSES: tuple[type[Strategy], ...] = (
    MarketRakerMomentum,
    MarketRakerObos,
    RsiSma,
    MacdCross,
    EmaCross,
    SmartMoney,
)
_REGISTRY: dict[str, type[Strategy]] = {cls.name: cls for cls in _CLASSES}

RawValue = str | int | float | bool | Sequence[str]


class UnknownStrategy(ParamError):
    """No strategy of that name."""


class ParamKind(StrEnum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    TEXT = "text"
    CHOICE = "choice"  # one of ``choices``
    LIST = "list"  # of text; typed as comma-separated


@dataclass(frozen=True, slots=True)
class ParamInfo:
    name: str
    kind: ParamKind
    default: Any  # JSON-able: enums as their value, lists as lists
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class StrategyInfo:
    name: str
    title: str
    doc: str
    inputs: frozenset[InputKind]
    params: tuple[ParamInfo, ...]


def get(name: str) -> type[Strategy]:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(_REGISTRY)
        raise UnknownStrategy(f"unknown strategy {name!r}; known: {known}") from None


def names() -> list[str]:
    return list(_REGISTRY)


def list_strategies() -> list[StrategyInfo]:
    return [describe(n) for n in _REGISTRY]


def describe(name: str) -> StrategyInfo:
    cls = get(name)
    hints = typing.get_type_hints(cls.Params)
    infos = []
    for f in fields(cls.Params):
        kind = _kind(hints[f.name])
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        choices = f.metadata.get("choices")
        infos.append(
            ParamInfo(
                name=f.name,
                kind=kind,
                default=_jsonable(default),
                help=f.metadata.get("help", ""),
                minimum=f.metadata.get("min"),
                maximum=f.metadata.get("max"),
                choices=tuple(str(c) for c in choices) if choices else None,
            )
        )
    return StrategyInfo(cls.name, cls.title, cls.doc, cls.inputs, tuple(infos))


def parse_params(name: str, raw: Mapping[str, RawValue]) -> Any:
    """The strategy's ``Params`` from user values; unset fields keep their defaults."""
    cls = get(name)
    hints = typing.get_type_hints(cls.Params)
    known = {f.name for f in fields(cls.Params)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ParamError(f"{key}: not a parameter of {name}; known: {', '.join(sorted(known))}")
        values[key] = _convert(key, hints[key], value)
    try:
        params = cls.Params(**values)
    except ParamError:
        raise
    except (TypeError, ValueError) as exc:  # a field's own validation without a ParamError
        raise ParamError(f"{name}: {exc}") from None
    check_params(params)
    return params


def make(name: str, params: Mapping[str, RawValue], ctx: StrategyContext) -> Strategy:
    """A ready strategy instance armed on ``ctx``."""
    return get(name)(parse_params(name, params), ctx)


def params_dict(params: Any) -> dict[str, Any]:
    """JSON-able values of a Params instance (what the armed-set store keeps); ``make`` and
    ``parse_params`` take it back unchanged."""
    return {f.name: _jsonable(getattr(params, f.name)) for f in fields(params)}


# -- conversion


def _kind(tp: Any) -> ParamKind:
    if tp is bool:
        return ParamKind.BOOL
    if tp is int:
        return ParamKind.INT
    if tp is float:
        return ParamKind.FLOAT
    if tp is str:
        return ParamKind.TEXT
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        return ParamKind.CHOICE
    if typing.get_origin(tp) is tuple:
        return ParamKind.LIST
    raise TypeError(f"unsupported parameter type {tp!r}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _convert(name: str, tp: Any, value: Any) -> Any:
    kind = _kind(tp)
    shown = repr(value)
    if kind is ParamKind.BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ParamError(f"{name}: expected true or false, got {shown}")
    if kind is ParamKind.INT:
        if isinstance(value, bool):
            raise ParamError(f"{name}: expected an integer, got {shown}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                try:  # "21.0" from a spin box or a JSON float is still 21
                    number = float(value)
                except ValueError:
                    number = math.nan
                if number.is_integer():
                    return int(number)
        raise ParamError(f"{name}: expected an integer, got {shown}")
    if kind is ParamKind.FLOAT:
        number: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                number = None
        if number is None or not math.isfinite(number):
            raise ParamError(f"{name}: expected a finite number, got {shown}")
        return number
    if kind is ParamKind.TEXT:
        if not isinstance(value, str):
            raise ParamError(f"{name}: expected text, got {shown}")
        return value.strip()
    if kind is ParamKind.CHOICE:
        try:
            return tp(value.strip() if isinstance(value, str) else value)
        except ValueError:
            raise ParamError(f"{name}: must be one of {', '.join(tp)}, got {shown}") from None
    # LIST of text: "A, B" or ["A", "B"]
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        raise ParamError(f"{name}: expected a comma-separated list, got {shown}")
    return tuple(v for v in items if v)
