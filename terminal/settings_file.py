"""``terminal --config FILE``: one TOML file with a session's settings, read into typed settings.

Sections: ``[session]`` ``[webhook]`` ``[ops]`` ``[risk]`` (with ``[risk.loss]``,
``[risk.strategy_default]``, ``[risk.strategies.<name>]``) ``[sizing]`` ``[notify]`` ``[log]``.
Every problem raises ``SettingsError`` naming the file and the key (``session.symbols``); nothing
is half-read. Amounts become exact Decimals: strings as written, TOML floats through ``str()``
(``0.1`` stays 0.1). Relative paths are relative to the file (a service's working directory is
not the user's). Secrets never belong here: a key that looks like one is refused with where it
goes instead (the key store).

The command line's explicit flags override the file; merging them is ``terminal.cli``'s job.
A file never acknowledges live trading: that stays a command-line flag.
"""

from __future__ import annotations

import math
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from terminal.app import Mode
from terminal.model import Venue
from terminal.notify import NotifyConfig, NotifyConfigError
from terminal.trading.risk import LossLimits, RiskLimits, StrategyLimits
from terminal.trading.sizing import SizingConfig

__all__ = [
    "LogLevel",
    "LogSettings",
    "OpsSettings",
    "PaperData",
    "SessionSettings",
    "Settings",
    "SettingsError",
    "WebhookSettings",
    "describe_limits",
    "load_settings",
    "parse_settings",
]

_E = TypeVar("_E", bound=StrEnum)

SECRETS_HINT = (
    "secrets never go in the settings file: API keys live in the key store (the window's "
    "File -> Settings -> API keys), the Telegram bot token under 'telegram:bot_token', the SMTP "
    "password under 'smtp:password', a webhook's secret under 'webhook:<name>'"
)
_SECRETISH = re.compile(r"api[_-]?key|secret|passw(or)?d|passphrase|token", re.IGNORECASE)
# Tables whose keys are names (symbols, strategies, notice kinds), not settings.
_NAME_TABLES = frozenset({"risk.max_position_qty", "risk.strategies", "notify.routes"})
_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")
# Fields where 0 means "off" or is a valid point of a range; every other amount must be positive.
_ZERO_OK = frozenset({"balance_reserve", "duplicate_window_s", "day_start_hour_utc"})
MAX_LEVERAGE = 125  # the highest any supported venue offers


class SettingsError(ValueError):
    """The settings file is wrong: ``str()`` is ``FILE: key: what is wrong``."""

    def __init__(self, path: Path | str, key: str | None, problem: str) -> None:
        self.path = Path(path)
        self.key = key
        self.problem = problem
        super().__init__(f"{path}: {key}: {problem}" if key else f"{path}: {problem}")


class _Bad(ValueError):
    """A value is wrong; ``load_settings`` adds the file name."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key = key
        self.problem = problem


class PaperData(StrEnum):
    LIVE = "live"  # the live venues' public data
    SIM = "sim"  # an in-process simulator (offline)


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """``None``: not in the file (the command line or the built-in default decides)."""

    mode: Mode | None = None
    venues: tuple[Venue, ...] | None = None
    symbols: tuple[str, ...] | None = None
    data_dir: Path | None = None
    paper_data: PaperData | None = None
    live_venue: Venue | None = None  # headless live: still needs the command-line acknowledgement


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """The section being present turns the webhook listener on."""

    host: str | None = None
    port: int | None = None
    marketraker_key_file: Path | None = None
    hooks: tuple[str, ...] | None = None
    webhook_venue: Venue | None = None  # generic hooks' orders; None: the session's first venue


@dataclass(frozen=True, slots=True)
class OpsSettings:
    host: str | None = None
    port: int | None = None
    metrics_remote: bool | None = None
    feed_down_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: LogLevel | None = None
    json: bool | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    path: Path
    session: SessionSettings = field(default_factory=SessionSettings)
    webhook: WebhookSettings | None = None  # None: no [webhook] section
    ops: OpsSettings = field(default_factory=OpsSettings)
    risk: RiskLimits | None = None  # None: no [risk] section (the permissive defaults)
    sizing: SizingConfig | None = None
    max_leverage: int | None = None  # [sizing].max_leverage: also AutomationConfig.max_leverage
    notify: NotifyConfig | None = None
    log: LogSettings = field(default_factory=LogSettings)


def load_settings(path: Path | str) -> Settings:
    """Read and check the file. ``SettingsError`` names the file and the key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(path, None, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SettingsError(path, None, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(path, None, f"not valid TOML: {exc}") from None
    return parse_settings(data, path)


def parse_settings(data: Mapping[str, Any], path: Path | str) -> Settings:
    """The settings from an already parsed document (relative paths: next to ``path``)."""
    path = Path(path)
    try:
        return _parse(data, path)
    except _Bad as bad:
        raise SettingsError(path, bad.key, bad.problem) from None


# --------------------------------------------------------------------------- sections


def _parse(data: Mapping[str, Any], path: Path) -> Settings:
    _refuse_secrets(data, "")
    _known(data, set(_PARSERS), "", what="section")
    kwargs: dict[str, Any] = {"path": path}
    for name, parse in _PARSERS.items():
        if name in data:
            table = _table(data[name], name)
            kwargs.update(parse(table, path.absolute().parent))
    return Settings(**kwargs)


def _session(t: Mapping[str, Any], base: Path) -> dict[str, Any]:
    _known(t, {"mode", "venues", "symbols", "data_dir", "paper_data", "live_venue"}, "session")
    mode = _enum(Mode, t["mode"], "session.mode") if "mode" in t else None
    venues = _venues(t["venues"], "session.venues") if "venues" in t else None
    symbols = _symbols(t["symbols"], "session.symbols") if "symbols" in t else None
    paper = _enum(PaperData, t["paper_data"], "session.paper_data") if "paper_data" in t else None
    live_venue = _enum(Venue, t["live_venue"], "session.live_venue") if "live_venue" in t else None
    if live_venue is not None and mode not in (None, Mode.LIVE):
        raise _Bad("session.live_venue", f'goes with mode = "live", not mode = "{mode}"')
    if mode is Mode.LIVE and venues is not None:
        raise _Bad("session.venues", "live mode trades exactly one venue: name it with live_venue instead")
    if symbols is not None and (mode is Mode.DEMO or (mode is Mode.PAPER and paper is PaperData.SIM)):
        from terminal.sim.instruments import known_symbols

        unknown = [s for s in symbols if s not in known_symbols()]
        if unknown:
            raise _Bad(
                "session.symbols",
                f"the demo exchange does not list {', '.join(unknown)}; known: {', '.join(known_symbols())}",
            )
    data_dir = _path(t["data_dir"], "session.data_dir", base) if "data_dir" in t else None
    return {
        "session": SessionSettings(
            mode=mode,
            venues=venues,
            symbols=symbols,
            data_dir=data_dir,
            paper_data=paper,
            live_venue=live_venue,
        )
    }


def _webhook(t: Mapping[str, Any], base: Path) -> dict[str, Any]:
    _known(t, {"host", "port", "marketraker_key_file", "hooks", "webhook_venue"}, "webhook")
    key_file = None
    if "marketraker_key_file" in t:
        key_file = _path(t["marketraker_key_file"], "webhook.marketraker_key_file", base)
        if not key_file.is_file():
            raise _Bad("webhook.marketraker_key_file", f"no such file: {key_file}")
    hooks = None
    if "hooks" in t:
        from terminal.signals.generic import valid_hook_name
        from terminal.signals.server import MARKETRAKER_HOOK

        hooks = _strings(t["hooks"], "webhook.hooks", allow_empty=True)
        bad = [h for h in hooks if not valid_hook_name(h) or h == MARKETRAKER_HOOK]
        if bad:
            raise _Bad(
                "webhook.hooks", f"hook names are letters, digits, _ . - (max 64), not 'marketraker': {bad}"
            )
    settings = WebhookSettings(
        host=_host(t["host"], "webhook.host") if "host" in t else None,
        port=_port(t["port"], "webhook.port") if "port" in t else None,
        marketraker_key_file=key_file,
        hooks=hooks,
        webhook_venue=_enum(Venue, t["webhook_venue"], "webhook.webhook_venue")
        if "webhook_venue" in t
        else None,
    )
    return {"webhook": settings}


def _ops(t: Mapping[str, Any], base: Path) -> dict[str, Any]:
    _known(t, {"host", "port", "metrics_remote", "feed_down_after_s"}, "ops")
    down = None
    if "feed_down_after_s" in t:
        down = _number(t["feed_down_after_s"], float, "ops.feed_down_after_s", zero_ok=True)
    settings = OpsSettings(
        host=_host(t["host"], "ops.host") if "host" in t else None,
        port=_port(t["port"], "ops.port") if "port" in t else None,
        metrics_remote=_bool(t["metrics_remote"], "ops.metrics_remote") if "metrics_remote" in t else None,
        feed_down_after_s=down,
    )
    return {"ops": settings}


def _risk(t: Mapping[str, Any], base: Path) -> dict[str, Any]:
    special: dict[str, Callable[[object, str], Any]] = {
        "max_position_qty": _per_symbol_qty,
        "loss": lambda v, k: _dataclass(LossLimits, _table(v, k), k),
        "strategy_default": lambda v, k: _dataclass(StrategyLimits, _table(v, k), k),
        "strategies": _per_strategy,
    }
    return {"risk": _dataclass(RiskLimits, t, "risk", special)}


def _sizing(t: Mapping[str, Any], base: Path) -> dict[str, Any]:
    # One max_leverage for both: the sizer's cap (position notional <= equity x it) and the
    # leverage the executor sets on the venue. A whole number: venues take no 2.5x.
    leverage = None
    if "max_leverage" in t:
        leverage = _number(t["max_leverage"], int, "sizing.max_leverage")
        if leverage > MAX_LEVERAGE:
            raise _Bad("sizing.max_leverage", f"must be at most {MAX_LEVERAGE}, got {leverage}")
    sizing = _dataclass(SizingConfig, t, "sizing", {"max_leverage": lambda v, k: Decimal(leverage or 1)})
    return {"sizing": sizing, "max_leverage": leverage}


def _notify(t: Mapping[str, Any], base: Path) -> dict[str, Any]:
    try:
        return {"notify": NotifyConfig.from_dict(t)}
    except NotifyConfigError as exc:
        # Its messages start with the key ("notify.email.port must be ..."): split it off.
        match = re.match(r"(notify(?:\.[\w]+)*)[:\s]\s*(.*)", str(exc), re.DOTALL)
        raise _Bad(*match.groups()) if match else _Bad("notify", str(exc)) from None
    except (TypeError, ValueError) as exc:  # a wrong type inside a sub-table the class rejects
        raise _Bad("notify", str(exc)) from None


def _log(t: Mapping[str, Any], base: Path) -> dict[str, Any]:
    _known(t, {"level", "json"}, "log")
    level = None
    if "level" in t:
        raw = t["level"]
        level = _enum(LogLevel, raw.upper() if isinstance(raw, str) else raw, "log.level")
    return {"log": LogSettings(level=level, json=_bool(t["json"], "log.json") if "json" in t else None)}


_PARSERS: dict[str, Callable[[Mapping[str, Any], Path], dict[str, Any]]] = {
    "session": _session,
    "webhook": _webhook,
    "ops": _ops,
    "risk": _risk,
    "sizing": _sizing,
    "notify": _notify,
    "log": _log,
}


# --------------------------------------------------------------------------- risk helpers


def _per_symbol_qty(value: object, key: str) -> dict[str, Decimal]:
    table = _table(value, key)
    out: dict[str, Decimal] = {}
    for symbol, qty in table.items():
        norm = _symbol(symbol, key)
        out[norm] = _decimal(qty, f"{key}.{symbol}")
    return out


def _per_strategy(value: object, key: str) -> dict[str, StrategyLimits]:
    from terminal.signals.generic import valid_hook_name
    from terminal.strategies import registry

    table = _table(value, key)
    out: dict[str, StrategyLimits] = {}
    for name, limits in table.items():
        where = f"{key}.{name}"
        # RiskLimits keys: a strategy's registry name, or "webhook:<hook>" for a webhook's orders.
        hook = name.removeprefix("webhook:") if name.startswith("webhook:") else None
        if hook is not None and not valid_hook_name(hook):
            raise _Bad(where, f"not a webhook hook name: {hook!r}")
        if hook is None and name not in registry.names():
            raise _Bad(
                where, f"unknown strategy {name!r}; known: {', '.join(registry.names())}, webhook:<hook>"
            )
        out[name] = _dataclass(StrategyLimits, _table(limits, where), where)
    return out


_D = TypeVar("_D")


def _dataclass(
    cls: type[_D],
    table: Mapping[str, Any],
    where: str,
    special: Mapping[str, Callable[[object, str], Any]] | None = None,
) -> _D:
    """``cls`` from a table: every field by its type hint (``special`` for the nested ones);
    the class's own checks are reported at the field their message names."""
    special = special or {}
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    _known(table, set(names), where)
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, raw in table.items():
        k = f"{where}.{key}"
        kwargs[key] = special[key](raw, k) if key in special else _typed(hints[key], raw, k)
    try:
        return cls(**kwargs)
    except ValueError as exc:
        named = [n for n in sorted(names, key=len, reverse=True) if n in str(exc)]
        raise _Bad(f"{where}.{named[0]}" if named else where, str(exc)) from None


def _typed(tp: Any, raw: object, key: str) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        (tp,) = [a for a in typing.get_args(tp) if a is not type(None)]
    name = key.rsplit(".", 1)[-1]
    if tp is Decimal:
        return _decimal(raw, key, zero_ok=name in _ZERO_OK)
    if tp is bool:
        return _bool(raw, key)
    if tp in (int, float):
        return _number(raw, tp, key, zero_ok=name in _ZERO_OK)
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        return _enum(tp, raw, key)
    raise TypeError(f"{key}: no reader for a {tp!r} setting")  # a new field type: teach this module


# --------------------------------------------------------------------------- values


def _refuse_secrets(data: Mapping[str, Any], where: str) -> None:
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if where not in _NAME_TABLES and _SECRETISH.search(str(key)):
            raise _Bad(path, SECRETS_HINT)  # the value is never echoed
        if isinstance(value, Mapping):
            _refuse_secrets(value, path)


def _known(data: Mapping[str, Any], known: set[str], where: str, *, what: str = "setting") -> None:
    for key in data:
        if key not in known:
            raise _Bad(
                f"{where}.{key}" if where else str(key), f"unknown {what} (known: {', '.join(sorted(known))})"
            )


def _table(value: object, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _Bad(key, f"must be a table, got {_kind(value)}")
    return value


def _kind(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}.get(
        type(value), type(value).__name__
    )


def _decimal(raw: object, key: str, *, zero_ok: bool = False) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise _Bad(key, f"must be a number or a quoted decimal, got {_kind(raw)}")
    try:
        # str() of a float is its shortest repr: 0.1 -> "0.1", not 0.1000000000000000055...
        value = Decimal(raw.strip() if isinstance(raw, str) else str(raw))
    except InvalidOperation:
        raise _Bad(key, f"not a number: {raw!r}") from None
    if not value.is_finite():
        raise _Bad(key, f"must be a finite number, got {raw!r}")
    _sign(value, key, zero_ok)
    return value


_N = TypeVar("_N", int, float)


def _number(raw: object, tp: type[_N], key: str, *, zero_ok: bool = False) -> _N:
    ok = (int,) if tp is int else (int, float)
    if isinstance(raw, bool) or not isinstance(raw, ok):
        raise _Bad(key, f"must be {'an integer' if tp is int else 'a number'}, got {_kind(raw)}")
    if isinstance(raw, float) and not math.isfinite(raw):
        raise _Bad(key, f"must be a finite number, got {raw!r}")
    _sign(raw, key, zero_ok)
    return tp(raw)


def _sign(value: Decimal | float, key: str, zero_ok: bool) -> None:
    if value < 0:
        raise _Bad(key, f"must not be negative, got {value}")
    if value == 0 and not zero_ok:
        raise _Bad(key, "must be positive (leave the key out to disable a limit)")


def _bool(raw: object, key: str) -> bool:
    if not isinstance(raw, bool):
        raise _Bad(key, f"must be true or false, got {_kind(raw)}")
    return raw


def _enum(enum: type[_E], raw: object, key: str) -> _E:
    try:
        return enum(raw)
    except ValueError:
        raise _Bad(key, f"unknown value {raw!r} (known: {', '.join(e.value for e in enum)})") from None


def _strings(raw: object, key: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise _Bad(key, f"must be a list of strings, got {_kind(raw)}")
    values = tuple(x.strip() for x in raw)
    if not values and not allow_empty:
        raise _Bad(key, "is empty")
    if len(set(values)) != len(values):
        raise _Bad(key, f"lists a name twice: {list(values)}")
    return values


def _venues(raw: object, key: str) -> tuple[Venue, ...]:
    return tuple(_enum(Venue, v.lower(), key) for v in _strings(raw, key))


def _symbol(raw: str, key: str) -> str:
    symbol = raw.strip().upper()
    if not _SYMBOL.match(symbol):
        raise _Bad(key, f"not a symbol: {raw!r} (letters and digits, e.g. BTCUSDT)")
    return symbol


def _symbols(raw: object, key: str) -> tuple[str, ...]:
    symbols = tuple(_symbol(s, key) for s in _strings(raw, key))
    if len(set(symbols)) != len(symbols):
        raise _Bad(key, f"lists a symbol twice: {list(symbols)}")
    return symbols


def _path(raw: object, key: str, base: Path) -> Path:
    if not isinstance(raw, str) or not raw.strip():
        raise _Bad(key, f"must be a path (a non-empty string), got {_kind(raw)}")
    path = Path(raw.strip()).expanduser()
    return path if path.is_absolute() else base / path


def _host(raw: object, key: str) -> str:
    if not isinstance(raw, str) or not raw.strip() or any(c.isspace() for c in raw.strip()):
        raise _Bad(key, f"must be a host name or address, got {raw!r}")
    return raw.strip()


def _port(raw: object, key: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise _Bad(key, f"must be an integer, got {_kind(raw)}")
    if not 0 <= raw <= 65535:
        raise _Bad(key, f"must be within 0..65535 (0: a free port), got {raw}")
    return raw


# --------------------------------------------------------------------------- logging


def describe_limits(limits: RiskLimits | None) -> str:
    """One line of the limits in force (what is set; ``None`` ones are off). No secrets: there are none."""
    if limits is None:
        return "none (every order passes the limit checks)"
    parts: list[str] = []
    _describe(limits, "", parts)
    return " ".join(parts) or "none"


def _describe(obj: Any, prefix: str, parts: list[str]) -> None:
    for f in fields(obj):
        value = getattr(obj, f.name)
        name = f"{prefix}{f.name}"
        if value is None or (isinstance(value, Mapping) and not value):
            continue
        if prefix and value == f.default:  # nested defaults (one position per symbol ...) are noise
            continue
        if isinstance(value, (LossLimits, StrategyLimits)):
            _describe(value, f"{name}.", parts)
        elif isinstance(value, Mapping) and all(isinstance(v, StrategyLimits) for v in value.values()):
            for key, sub in value.items():
                _describe(sub, f"{name}.{key}.", parts)
        elif isinstance(value, Mapping):
            parts.append(f"{name}={{{', '.join(f'{k}: {v}' for k, v in value.items())}}}")
        else:
            parts.append(f"{name}={value}")
