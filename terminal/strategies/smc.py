"""Smart Money Concepts, two timeframes: trade retraces into fresh LTF zones in the HTF trend.

- HTF trend: the direction of the latest HTF structure break (BOS/CHoCH), recomputed at each
  closed HTF bar over the last ``window`` HTF bars.
- LTF zones in that direction: fair value gaps and/or order blocks (``zones``), at most
  ``max_zone_age`` LTF bars old. Only a zone's first touch counts (a zone once revisited is
  spent), and only a touch after the bar the zone became known.
- Entry, at the close of the LTF bar that first touches a zone (long: its low reaches the top of
  a bullish zone) and closes on the zone's side (not through it): MARKET at that close; stop
  beyond the far edge of the zone by ``stop_buffer_pct``; target the most recent confirmed LTF
  swing high above entry (``target_mode=liquidity``) or exactly ``min_rr`` times the risk
  (``rr``). No intent if the reward/risk is below ``min_rr``, or while this strategy holds a
  position on the symbol. Several zones touched at once: the most recently formed one.

The decision uses the HTF bars received so far: a host delivering an LTF and an HTF bar that
close together should pass the HTF bar first (as the backtester does). Exits are the intent's
bracket (stop/target), so there is no ``target_positions`` fast path: the backtester runs
``on_candle`` with its bracket fill model.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from terminal.model import Candle, Side
from terminal.strategies._common import check_timeframe, dec, pct_away, timeframe_ms
from terminal.strategies.base import (
    EntryKind,
    InputKind,
    Intent,
    ParamError,
    Strategy,
    StrategyContext,
    param,
)
from terminal.strategies.smc_detect import (
    Bias,
    Zone,
    ZoneKind,
    fair_value_gaps,
    fresh_touches,
    order_blocks,
    structure_breaks,
    swings,
    trend,
)


class ZoneChoice(StrEnum):
    BOTH = "fvg_ob"
    FVG = "fvg"
    ORDER_BLOCK = "ob"


class TargetMode(StrEnum):
    LIQUIDITY = "liquidity"  # the latest swing high (low) beyond entry
    RR = "rr"  # entry + min_rr x risk


@dataclass(frozen=True, slots=True)
class SmcParams:
    ltf: str = param("15m", "Entry (lower) timeframe")
    htf: str = param("4h", "Trend (higher) timeframe")
    swing_lookback: int = param(2, "LTF fractal: bars on each side of a swing", minimum=1, maximum=50)
    htf_swing_lookback: int = param(2, "HTF fractal: bars on each side of a swing", minimum=1, maximum=50)
    zones: ZoneChoice = param(  # noqa: RUF009 - param() returns a dataclasses.field
        ZoneChoice.BOTH, "Zones to trade: fair value gaps, order blocks or both", choices=list(ZoneChoice)
    )
    min_rr: float = param(2.0, "Minimum reward/risk to enter", minimum=0.1, maximum=50.0)
    target_mode: TargetMode = param(  # noqa: RUF009 - param() returns a dataclasses.field
        TargetMode.LIQUIDITY, "Target: latest swing beyond entry, or min_rr x risk", choices=list(TargetMode)
    )
    stop_buffer_pct: float = param(0.1, "Stop this % beyond the zone's far edge", minimum=0.0, maximum=10.0)
    min_fvg_pct: float = param(0.0, "Ignore gaps narrower than this % of price", minimum=0.0, maximum=10.0)
    max_zone_age: int = param(100, "Ignore zones older than this many LTF bars", minimum=1, maximum=5000)
    window: int = param(500, "Bars of each timeframe kept for detection", minimum=20, maximum=5000)
    allow_short: bool = param(True, "Trade bearish HTF trends short (derivatives only)")

    def __post_init__(self) -> None:
        check_timeframe("ltf", self.ltf)
        check_timeframe("htf", self.htf)
        if timeframe_ms(self.htf) <= timeframe_ms(self.ltf):
            raise ParamError(f"htf must be a longer interval than ltf, got ltf={self.ltf} htf={self.htf}")
        for name, enum in (("zones", ZoneChoice), ("target_mode", TargetMode)):
            try:
                object.__setattr__(self, name, enum(getattr(self, name)))
            except ValueError:
                raise ParamError(
                    f"{name} must be one of {', '.join(enum)}, got {getattr(self, name)!r}"
                ) from None


class _Bars:
    """The last ``window`` closed bars of one timeframe as parallel deques."""

    def __init__(self, window: int) -> None:
        self.o: deque[float] = deque(maxlen=window)
        self.h: deque[float] = deque(maxlen=window)
        self.lo: deque[float] = deque(maxlen=window)
        self.c: deque[float] = deque(maxlen=window)
        self.count = 0  # bars ever appended: absolute index of the next one
        self.last_open: int | None = None

    def add(self, c: Candle) -> bool:
        if self.last_open is not None and c.open_time <= self.last_open:
            return False  # replayed bar
        self.last_open = c.open_time
        self.o.append(c.open)
        self.h.append(c.high)
        self.lo.append(c.low)
        self.c.append(c.close)
        self.count += 1
        return True

    @property
    def offset(self) -> int:
        """Absolute index of the first bar kept."""
        return self.count - len(self.c)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (np.array(self.o), np.array(self.h), np.array(self.lo), np.array(self.c))


class SmartMoney(Strategy):
    name = "smc"
    title = "Smart Money Concepts (HTF trend, LTF entry)"
    doc = (
        "Takes the trend from higher-timeframe market structure (BOS/CHoCH) and enters on the "
        "lower timeframe when price first retraces into a fresh fair value gap or order block in "
        "that direction; stop beyond the zone, target at the opposing swing (liquidity), only if "
        "reward/risk is at least min_rr."
    )
    inputs = frozenset({InputKind.CANDLES})
    Params = SmcParams
    params: SmcParams

    def __init__(self, params: SmcParams, ctx: StrategyContext) -> None:
        super().__init__(params, ctx)
        self._ltf = _Bars(params.window)
        self._htf = _Bars(params.window)
        self.htf_trend: Bias | None = None
        self._spent: set[tuple[ZoneKind, Bias, int]] = set()  # (kind, side, absolute origin)

    def timeframes(self) -> tuple[str, ...]:
        return (self.params.ltf, self.params.htf)

    def warmup_bars(self) -> int:
        return self.params.window

    def on_candle(self, candle: Candle) -> Sequence[Intent]:
        if not candle.closed or candle.symbol != self.ctx.symbol:
            return ()
        p = self.params
        if candle.interval == p.htf:
            if self._htf.add(candle):
                _, h, lo, c = self._htf.arrays()
                self.htf_trend = trend(structure_breaks(h, lo, c, p.htf_swing_lookback))
            return ()
        if candle.interval != p.ltf or not self._ltf.add(candle):
            return ()
        intent = self._decide(candle)
        return (intent,) if intent else ()

    # -- LTF decision
    def _zones(self, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, bias: Bias) -> list[Zone]:
        p = self.params
        found: list[Zone] = []
        if p.zones in (ZoneChoice.BOTH, ZoneChoice.FVG):
            found += fair_value_gaps(h, lo, p.min_fvg_pct / 100.0)
        if p.zones in (ZoneChoice.BOTH, ZoneChoice.ORDER_BLOCK):
            found += order_blocks(o, h, lo, c, structure_breaks(h, lo, c, p.swing_lookback))
        return [z for z in found if z.direction is bias]

    def _decide(self, candle: Candle) -> Intent | None:
        p = self.params
        bias = self.htf_trend
        if bias is None:
            return None
        side = Side.BUY if bias is Bias.BULL else Side.SELL
        if side is Side.SELL and not (p.allow_short and self.ctx.can_short(self.ctx.symbol)):
            return None
        o, h, lo, c = self._ltf.arrays()
        at = len(c) - 1
        base = self._ltf.offset
        zones = [z for z in self._zones(o, h, lo, c, bias) if at - z.index <= p.max_zone_age]
        touched = [
            z
            for z in fresh_touches(zones, h, lo, at)
            if (z.kind, z.direction, base + z.origin) not in self._spent
        ]
        if not touched:
            return None
        zone = max(touched, key=lambda z: (z.index, z.origin))
        for z in touched:  # a first touch spends every zone it reaches
            self._spent.add((z.kind, z.direction, base + z.origin))
        when = candle.close_time
        label = f"{bias.value} {'FVG' if zone.kind is ZoneKind.FVG else 'order block'} [{zone.bottom:.8g}, {zone.top:.8g}]"
        if self.ctx.position(self.ctx.symbol) != 0:
            self.skip(f"retrace into {label}: already in a position", at_ms=when)
            return None
        entry = float(c[at])
        edge = zone.bottom if side is Side.BUY else zone.top  # the far edge, beyond which it failed
        if (entry - edge) * side.sign < 0:
            self.skip(f"closed through {label}", at_ms=when)
            return None
        stop = pct_away(dec(edge), side.sign, p.stop_buffer_pct)
        risk = (entry - float(stop)) * side.sign
        if risk <= 0:
            self.skip(f"no room for a stop beyond {label}", at_ms=when)
            return None
        target = self._target(h, lo, at, entry, risk, side)
        if target is None:
            self.skip(f"retrace into {label}: no swing beyond entry to target", at_ms=when)
            return None
        rr = (target - entry) * side.sign / risk
        if rr < p.min_rr - 1e-12:
            self.skip(f"retrace into {label}: reward/risk {rr:.2f} below {p.min_rr}", at_ms=when)
            return None
        return Intent(
            strategy=self.name,
            symbol=self.ctx.symbol,
            side=side,
            entry=EntryKind.MARKET,
            price=dec(entry),
            stop=stop,
            target=dec(target),
            reason=f"SMC: {p.htf} trend {bias.value}, {p.ltf} retrace into {label}, reward/risk {rr:.2f}",
            at_ms=when,
        )

    def _target(
        self, h: np.ndarray, lo: np.ndarray, at: int, entry: float, risk: float, side: Side
    ) -> float | None:
        p = self.params
        if p.target_mode is TargetMode.RR:
            return entry + side.sign * p.min_rr * risk
        want_high = side is Side.BUY
        for s in reversed(swings(h, lo, p.swing_lookback)):
            if s.confirmed_at > at or s.is_high is not want_high:
                continue
            if (s.price - entry) * side.sign > 0:
                return s.price
        return None
