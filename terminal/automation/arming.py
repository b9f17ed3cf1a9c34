"""Which strategies are armed where, persisted in the data directory (``armed.json``).

A JSON file, not the journal: it is configuration the user edits through the UI and may
inspect or back up by hand. Written atomically (temp file + rename) so a crash mid-write
leaves the previous set; an unreadable file is moved aside and reported, never silently
replaced by an empty set.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from terminal.fileio import write_atomic
from terminal.model import Venue

__all__ = ["ArmKey", "ArmedStore", "ArmedStoreError", "Arming"]

log = logging.getLogger(__name__)

FILE_NAME = "armed.json"
_VERSION = 1


@dataclass(frozen=True, slots=True, order=True)
class ArmKey:
    strategy: str
    venue: Venue
    symbol: str

    def __str__(self) -> str:
        return f"{self.strategy}@{self.venue}:{self.symbol}"


@dataclass(frozen=True, slots=True)
class Arming:
    key: ArmKey
    params: Mapping[str, str] = field(default_factory=dict)  # as the user typed them
    armed_at_ms: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType({str(k): str(v) for k, v in self.params.items()}))


class ArmedStoreError(Exception):
    """The armed set could not be read; the message says where the bad file was moved."""


class ArmedStore:
    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / FILE_NAME

    def load(self) -> list[Arming]:
        if not self.path.exists():
            return []
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict) or doc.get("version") != _VERSION:
                raise ValueError(f"expected {{'version': {_VERSION}, 'armed': [...]}}")
            out = []
            for item in doc["armed"]:
                key = ArmKey(str(item["strategy"]), Venue(item["venue"]), str(item["symbol"]))
                params = item.get("params", {})
                if not isinstance(params, dict):
                    raise ValueError(f"{key}: params must be an object")
                out.append(Arming(key, params, int(item.get("armed_at_ms", 0))))
            return out
        except (OSError, ValueError, KeyError, TypeError) as exc:
            aside = self.path.with_name(f"{FILE_NAME}.broken-{int(time.time())}")
            try:
                os.replace(self.path, aside)
                where = f"moved to {aside}"
            except OSError:
                where = "left in place"
            raise ArmedStoreError(
                f"the armed strategies file {self.path} is unreadable ({exc}); nothing was armed, "
                f"the file was {where}"
            ) from exc

    def save(self, armings: Iterable[Arming]) -> None:
        doc = {
            "version": _VERSION,
            "armed": [
                {
                    "strategy": a.key.strategy,
                    "venue": a.key.venue.value,
                    "symbol": a.key.symbol,
                    "params": dict(a.params),
                    "armed_at_ms": a.armed_at_ms,
                }
                for a in sorted(armings, key=lambda a: a.key)
            ],
        }
        write_atomic(self.path, json.dumps(doc, indent=2))
