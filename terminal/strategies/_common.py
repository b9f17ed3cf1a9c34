"""Small helpers shared by the strategy modules (no strategy logic here)."""

from __future__ import annotations

import re
from collections import OrderedDict
from decimal import Decimal

import numpy as np

from terminal.strategies.base import ParamError

_TIMEFRAME = re.compile(r"^[1-9][0-9]*[smhdwM]$")


def dec(x: float) -> Decimal:
    """A float price as the shortest Decimal that round-trips (the host rounds to the tick)."""
    return Decimal(repr(float(x)))


def pct_away(price: Decimal, sign: int, pct: float) -> Decimal:
    """``price`` moved ``pct`` % against a position of ``sign`` (+1 long, -1 short): a stop;
    a negative ``pct`` moves it with the position (a target). Exact in Decimal."""
    return price * (1 - sign * Decimal(repr(float(pct))) / 100)


def check_timeframe(name: str, value: str) -> None:
    if not isinstance(value, str) or not _TIMEFRAME.match(value):
        raise ParamError(f"{name} must be an interval like 1m, 15m, 4h, 1d; got {value!r}")


def ffill_nonzero(sign: np.ndarray) -> np.ndarray:
    """Carry the last non-zero value forward over zeros (leading zeros stay 0): "a tie keeps
    the previous signal"."""
    n = len(sign)
    idx = np.where(sign != 0, np.arange(n), -1)
    np.maximum.accumulate(idx, out=idx)
    return np.where(idx >= 0, sign[np.maximum(idx, 0)], 0).astype(sign.dtype)


class SeenIds:
    """The last ``limit`` signal ids a strategy acted on or skipped: one decision per signal,
    however often it is delivered."""

    def __init__(self, limit: int = 10_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    def add(self, signal_id: str) -> bool:
        """Record ``signal_id``; False if it was already there."""
        if signal_id in self._ids:
            return False
        self._ids[signal_id] = None
        if len(self._ids) > self._limit:
            self._ids.popitem(last=False)
        return True


_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000, "M": 2_592_000_000}


def timeframe_ms(value: str) -> int:
    """Nominal length of an interval label ("M" counted as 30 days: only for ordering)."""
    return int(value[:-1]) * _UNIT_MS[value[-1]]
