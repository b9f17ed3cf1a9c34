"""Smart Money Concepts detectors: pure functions over OHLC arrays (float64, oldest first).

Every result says when it became known (``Swing.confirmed_at``, ``StructureBreak.index``,
``Zone.index``): a live strategy and a backtest only use what was known at the bar they decide
on, so nothing here looks ahead.

- Swing (fractal): bar i is a swing high if its high is strictly above the highs of the
  ``lookback`` bars on each side (a plateau is not a swing); lows mirrored. Known at i+lookback.
- Structure break: a close beyond the latest confirmed, not yet broken swing high (bullish) or
  low (bearish). It is a CHoCH (change of character) when it goes against the trend set by the
  previous break, else a BOS (break of structure; the first break is a BOS). Each swing level
  breaks at most once; a newer confirmed swing replaces the level.
- Fair value gap: three bars i-2, i-1, i with low[i] > high[i-2] (bullish gap
  [high[i-2], low[i]]) or high[i] < low[i-2] (bearish gap [high[i], low[i-2]]). Known at i.
- Order block: for a bullish break of the swing high at j by the close of bar b, the move's
  origin is the lowest low in [j, b]; the block is the last bearish candle (close < open) at or
  before the origin, back to j (the origin candle itself if none); its zone is that candle's
  [low, high]. Bearish mirrored. Known at b.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "Bias",
    "BreakKind",
    "StructureBreak",
    "Swing",
    "Zone",
    "ZoneKind",
    "fair_value_gaps",
    "first_touch",
    "fresh_touches",
    "order_blocks",
    "structure_breaks",
    "swings",
    "trend",
]


class Bias(StrEnum):
    BULL = "bull"
    BEAR = "bear"


class BreakKind(StrEnum):
    BOS = "bos"  # break in the direction of the prevailing trend
    CHOCH = "choch"  # change of character: the first break against it


class ZoneKind(StrEnum):
    FVG = "fvg"
    ORDER_BLOCK = "order_block"


@dataclass(frozen=True, slots=True)
class Swing:
    index: int
    price: float
    is_high: bool
    confirmed_at: int  # index + lookback: the first close at which it is known


@dataclass(frozen=True, slots=True)
class StructureBreak:
    index: int  # the bar whose close broke the level
    kind: BreakKind
    direction: Bias
    level: float
    swing_index: int  # the swing that was broken


@dataclass(frozen=True, slots=True)
class Zone:
    kind: ZoneKind
    direction: Bias  # BULL: a demand zone to buy a retrace into; BEAR: supply
    top: float
    bottom: float
    index: int  # the bar at whose close the zone is known
    origin: int  # FVG: the middle (impulse) candle; order block: the block candle


def _arrays(*xs: np.ndarray) -> list[np.ndarray]:
    out = [np.asarray(x, dtype=np.float64) for x in xs]
    if len({len(x) for x in out}) > 1:
        raise ValueError(f"OHLC arrays differ in length: {[len(x) for x in out]}")
    return out


def swings(high: np.ndarray, low: np.ndarray, lookback: int) -> list[Swing]:
    """Fractal swing highs and lows, ordered by index (a high before a low on the same bar)."""
    if lookback < 1:
        raise ValueError(f"lookback must be >= 1, got {lookback}")
    h, lo = _arrays(high, low)
    width = 2 * lookback + 1
    if len(h) < width:
        return []
    hw, lw = sliding_window_view(h, width), sliding_window_view(lo, width)
    centre = lookback
    is_high = hw[:, centre] > np.maximum(hw[:, :centre].max(axis=1), hw[:, centre + 1 :].max(axis=1))
    is_low = lw[:, centre] < np.minimum(lw[:, :centre].min(axis=1), lw[:, centre + 1 :].min(axis=1))
    out = [
        Swing(int(i) + lookback, float(h[i + lookback]), True, int(i) + 2 * lookback)
        for i in np.flatnonzero(is_high)
    ]
    out += [
        Swing(int(i) + lookback, float(lo[i + lookback]), False, int(i) + 2 * lookback)
        for i in np.flatnonzero(is_low)
    ]
    out.sort(key=lambda s: (s.index, not s.is_high))
    return out


def structure_breaks(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, lookback: int
) -> list[StructureBreak]:
    """BOS/CHoCH events in bar order (see the module doc)."""
    h, lo, c = _arrays(high, low, close)
    by_confirm: dict[int, list[Swing]] = {}
    for s in swings(h, lo, lookback):
        by_confirm.setdefault(s.confirmed_at, []).append(s)
    out: list[StructureBreak] = []
    level_high: Swing | None = None  # latest confirmed swing high not yet broken
    level_low: Swing | None = None
    bias: Bias | None = None
    closes = c.tolist()
    for i in range(len(closes)):
        for s in by_confirm.get(i, ()):
            if s.is_high:
                level_high = s
            else:
                level_low = s
        if level_high is not None and closes[i] > level_high.price:
            kind = BreakKind.CHOCH if bias is Bias.BEAR else BreakKind.BOS
            out.append(StructureBreak(i, kind, Bias.BULL, level_high.price, level_high.index))
            bias, level_high = Bias.BULL, None
        if level_low is not None and closes[i] < level_low.price:
            kind = BreakKind.CHOCH if bias is Bias.BULL else BreakKind.BOS
            out.append(StructureBreak(i, kind, Bias.BEAR, level_low.price, level_low.index))
            bias, level_low = Bias.BEAR, None
    return out


def trend(breaks: list[StructureBreak]) -> Bias | None:
    """The market structure's current direction: that of the latest break (None before any)."""
    return breaks[-1].direction if breaks else None


def fair_value_gaps(high: np.ndarray, low: np.ndarray, min_frac: float = 0.0) -> list[Zone]:
    """Three-candle imbalances at least ``min_frac`` of price wide, ordered by index."""
    h, lo = _arrays(high, low)
    if len(h) < 3:
        return []
    gap_up = lo[2:] - h[:-2]
    gap_down = lo[:-2] - h[2:]
    ref = h[:-2]
    out: list[Zone] = []
    for k in np.flatnonzero((gap_up > 0) & (gap_up >= min_frac * ref)):
        i = int(k) + 2
        out.append(Zone(ZoneKind.FVG, Bias.BULL, float(lo[i]), float(h[i - 2]), i, i - 1))
    for k in np.flatnonzero((gap_down > 0) & (gap_down >= min_frac * ref)):
        i = int(k) + 2
        out.append(Zone(ZoneKind.FVG, Bias.BEAR, float(lo[i - 2]), float(h[i]), i, i - 1))
    out.sort(key=lambda z: (z.index, z.direction))
    return out


def order_blocks(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    breaks: list[StructureBreak],
) -> list[Zone]:
    """The order block behind each structure break (see the module doc), in break order."""
    o, h, lo, c = _arrays(open_, high, low, close)
    out: list[Zone] = []
    for b in breaks:
        j = b.swing_index
        if b.direction is Bias.BULL:
            origin = j + int(np.argmin(lo[j : b.index + 1]))
            opposite = c < o  # bearish candles
        else:
            origin = j + int(np.argmax(h[j : b.index + 1]))
            opposite = c > o  # bullish candles
        block = origin
        for k in range(origin, j - 1, -1):
            if opposite[k]:
                block = k
                break
        out.append(Zone(ZoneKind.ORDER_BLOCK, b.direction, float(h[block]), float(lo[block]), b.index, block))
    return out


def first_touch(zone: Zone, high: np.ndarray, low: np.ndarray) -> int | None:
    """The first bar after the zone is known whose range reaches into it, or None."""
    h, lo = _arrays(high, low)
    after = slice(zone.index + 1, None)
    hits = lo[after] <= zone.top if zone.direction is Bias.BULL else h[after] >= zone.bottom
    idx = np.flatnonzero(hits)
    return zone.index + 1 + int(idx[0]) if len(idx) else None


def fresh_touches(zones: list[Zone], high: np.ndarray, low: np.ndarray, at: int) -> list[Zone]:
    """The zones whose first touch is bar ``at`` - ``first_touch(z) == at`` for each, in one
    pass (suffix minima/maxima instead of a scan per zone: the live path calls this per bar)."""
    h, lo = _arrays(high, low)
    if not zones or at >= len(h):
        return []
    # suffix_min[k] = min(low[k:at]); index ``at`` holds +inf (empty range)
    suffix_min = np.append(np.minimum.accumulate(lo[:at][::-1])[::-1], np.inf)
    suffix_max = np.append(np.maximum.accumulate(h[:at][::-1])[::-1], -np.inf)
    out = []
    for z in zones:
        if z.index >= at:
            continue
        start = z.index + 1
        if z.direction is Bias.BULL:
            if suffix_min[start] > z.top and lo[at] <= z.top:
                out.append(z)
        elif suffix_max[start] < z.bottom and h[at] >= z.bottom:
            out.append(z)
    return out
