"""Small typed user preferences (JSON under the user's config dir): never secrets.

What the app remembers between runs: the last mode, venue, symbol and interval. A missing file
means defaults; a broken one (bad JSON, wrong types, unknown values) means defaults for what is
broken plus a warning the UI can show — start-up never fails because of this file.

``startup_mode``: the app starts in demo unless the user chose another mode last time *and*
confirms it now (a live start must never happen just because the app was live yesterday).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from terminal.app import Mode
from terminal.fileio import write_atomic
from terminal.model import Venue

__all__ = ["Prefs", "PrefsStore", "default_prefs_path", "startup_mode"]

log = logging.getLogger(__name__)

_FORMAT = 1


@dataclass(slots=True)
class Prefs:
    last_mode: Mode = Mode.DEMO
    last_venue: Venue = Venue.BINANCE_SPOT
    last_symbol: str = "BTCUSDT"
    last_interval: str = "1m"


def default_prefs_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path("crypto-terminal") / "prefs.json"


def _nonempty_str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value.strip()


def _interval(value: Any) -> str:
    text = _nonempty_str(value)
    if not _INTERVAL.fullmatch(text):
        raise ValueError(f"not a candle interval: {text!r}")
    return text


_INTERVAL = re.compile(r"[1-9][0-9]*[smhdwM]")
# field -> parser that raises ValueError/TypeError on a bad value
_PARSERS: dict[str, Callable[[Any], Any]] = {
    "last_mode": Mode,
    "last_venue": Venue,
    "last_symbol": lambda v: _nonempty_str(v).upper(),
    "last_interval": _interval,
}


class PrefsStore:
    """Reads and writes one prefs file; ``warning`` holds what was wrong with it on the last load."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_prefs_path()
        self.warning: str | None = None

    def load(self) -> Prefs:
        self.warning = None
        prefs = Prefs()
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return prefs
        except OSError as exc:
            return self._warn(prefs, f"cannot read the preferences file {self.path} ({exc}); using defaults")
        try:
            doc = json.loads(text)
        except ValueError as exc:
            return self._warn(
                prefs, f"the preferences file {self.path} is not valid JSON ({exc}); using defaults"
            )
        if not isinstance(doc, dict):
            return self._warn(
                prefs, f"the preferences file {self.path} holds no settings table; using defaults"
            )
        problems = []
        for f in fields(Prefs):
            if f.name not in doc:
                continue
            try:
                setattr(prefs, f.name, _PARSERS[f.name](doc[f.name]))
            except (ValueError, TypeError):
                problems.append(f"{f.name}={doc[f.name]!r}")
        if problems:
            self._warn(prefs, f"ignored bad values in {self.path}: {', '.join(problems)} (defaults used)")
        return prefs

    def save(self, prefs: Prefs) -> None:
        """Atomic write (temp file + rename): a crash never leaves half a file."""
        doc = {"format": _FORMAT, **{k: str(v) for k, v in asdict(prefs).items()}}
        write_atomic(self.path, json.dumps(doc, indent=2) + "\n")

    def _warn(self, prefs: Prefs, message: str) -> Prefs:
        self.warning = message
        log.warning("%s", message)
        return prefs


def startup_mode(prefs: Prefs, confirm: Callable[[Mode], bool]) -> Mode:
    """Demo, unless the last session used another mode and ``confirm(that_mode)`` says yes.

    A confirm callback that raises counts as "no": failing safe means demo.
    """
    if prefs.last_mode is Mode.DEMO:
        return Mode.DEMO
    try:
        confirmed = bool(confirm(prefs.last_mode))
    except Exception:
        log.exception("start-mode confirmation failed; starting in demo")
        return Mode.DEMO
    if confirmed:
        log.info("starting in %s mode (last used, confirmed)", prefs.last_mode)
        return prefs.last_mode
    return Mode.DEMO
