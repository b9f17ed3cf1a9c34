"""The user's risk limits (Settings → Risk limits) as TOML in the config dir, and which limits a
session starts with.

The file is a ``terminal --config`` file holding only its ``[risk]`` section, read by the same
parser (``terminal.settings_file``), so a saved file can be copied into a ``--config`` file as
is. Per user, not per mode. A missing file means "none saved"; a broken one means the same plus
a ``warning`` (logged, shown by the tab): start-up never fails because of it.

Precedence at start-up: ``--config FILE`` with a ``[risk]`` section > the saved file > none
(the permissive defaults). ``AppConfig.risk_source`` records which for the session: the tab says
so when a ``--config`` file's limits are in force.
"""

from __future__ import annotations

import json
import logging
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from terminal.fileio import write_atomic
from terminal.trading.risk import LossLimits, RiskLimits, StrategyLimits

__all__ = [
    "RISK_FILENAME",
    "RiskSettingsStore",
    "RiskSource",
    "StartLimits",
    "default_risk_path",
    "dump_risk_toml",
    "resolve_start_limits",
]

log = logging.getLogger(__name__)

RISK_FILENAME = "risk.toml"


def default_risk_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path("crypto-terminal") / RISK_FILENAME


class RiskSettingsStore:
    """Reads and writes one risk file; ``warning`` says what was wrong with it on the last load."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_risk_path()
        self.warning: str | None = None

    def __repr__(self) -> str:
        return f"RiskSettingsStore({str(self.path)!r})"

    def load(self) -> RiskLimits | None:
        """The saved limits; None when there are none or they cannot be used (see ``warning``)."""
        from terminal.settings_file import SettingsError, parse_settings

        self.warning = None
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            return self._broken(f"cannot be read ({exc})")
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            return self._broken(f"is not valid TOML ({exc})")
        extra = sorted(set(doc) - {"risk"})
        if extra or "risk" not in doc:
            found = ", ".join(extra) or "nothing"
            return self._broken(f"must hold exactly one [risk] section (found {found})")
        try:
            limits = parse_settings({"risk": doc["risk"]}, self.path).risk
        except SettingsError as exc:  # names the key: "risk.loss.daily_loss_halt: must be ..."
            return self._broken(f"has a bad setting: {exc.key}: {exc.problem}" if exc.key else f"{exc}")
        except (TypeError, ValueError) as exc:  # belt and braces: never a crash at start-up
            return self._broken(f"has a bad setting: {exc}")
        return limits

    def save(self, limits: RiskLimits) -> None:
        """Atomic (temp file + rename) and 0600 like the other settings files: a crash never
        leaves half a file."""
        write_atomic(self.path, dump_risk_toml(limits), private=True)
        self.warning = None
        log.info("risk limits saved to %s", self.path)

    def _broken(self, why: str) -> None:
        self.warning = f"the saved risk limits {self.path} {why}; they are not used until saved again"
        log.warning("%s", self.warning)
        return None


# --------------------------------------------------------------------------- TOML writer
# Only what a [risk] section holds: tables, strings (Decimals are quoted: exact), ints, floats,
# bools and inline maps of strings. tomli_w is not a dependency for these few lines.

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else _string(name)


def _string(text: str) -> str:
    # A JSON string is a valid TOML basic string (the same escapes; \uXXXX for control chars).
    return json.dumps(text, ensure_ascii=False)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)  # finite: the dataclasses' parser refuses inf/nan before anything is saved
        return text if any(c in text for c in ".eE") else text + ".0"
    if isinstance(value, (Decimal, str)):
        return _string(str(value))
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _scalars(obj: Any, *, skip: Iterable[str] = ()) -> list[str]:
    """``key = value`` lines of a dataclass's set fields (None means "no limit": left out)."""
    lines: list[str] = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name in skip or value is None or (isinstance(value, Mapping) and not value):
            continue
        lines.append(f"{f.name} = {_value(value)}")
    return lines


def dump_risk_toml(limits: RiskLimits) -> str:
    """``limits`` as a ``[risk]`` TOML document ``terminal.settings_file`` reads back equal."""
    out = ["# crypto-terminal risk limits (Settings → Risk limits); the [risk] format of --config", ""]
    out += ["[risk]", *_scalars(limits, skip=("loss", "strategies", "strategy_default"))]
    sections: list[tuple[str, LossLimits | StrategyLimits]] = [
        ("risk.loss", limits.loss),
        ("risk.strategy_default", limits.strategy_default),
    ]
    sections += [(f"risk.strategies.{_key(name)}", sub) for name, sub in limits.strategies.items()]
    for header, sub in sections:
        out += ["", f"[{header}]", *_scalars(sub)]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- start-up


class RiskSource(StrEnum):
    CONFIG_FILE = "config_file"  # ``terminal --config FILE`` with a [risk] section
    SAVED = "saved"  # the user's risk.toml
    NONE = "none"  # the permissive defaults


@dataclass(frozen=True, slots=True)
class StartLimits:
    limits: RiskLimits | None
    source: RiskSource
    path: Path | None = None  # the file the limits came from
    warning: str | None = None  # the saved file was broken (and not used)

    def describe(self) -> str:
        if self.source is RiskSource.CONFIG_FILE:
            return f"from --config {self.path}"
        if self.source is RiskSource.SAVED:
            return f"saved in {self.path}"
        return "none set"


def resolve_start_limits(
    file_limits: RiskLimits | None, file_path: Path | None, store: RiskSettingsStore | None = None
) -> StartLimits:
    """``--config``'s [risk] (``file_limits``, None without the section) > the saved limits > none."""
    if file_limits is not None:
        return StartLimits(file_limits, RiskSource.CONFIG_FILE, file_path)
    store = store or RiskSettingsStore()
    saved = store.load()
    if saved is not None:
        return StartLimits(saved, RiskSource.SAVED, store.path)
    return StartLimits(None, RiskSource.NONE, None, store.warning)
