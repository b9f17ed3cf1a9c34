"""Candles of one symbol: closed 1-minute bars in numpy columns + the live minute.

Larger intervals are aggregated from 1-minute bars on demand, so a trade updates
one bar, not fifteen. Minutes without trades become flat zero-volume bars, as the
venues report them.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

MINUTE_MS = 60_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
MONTH = -1  # interval sentinel: calendar month
_WEEK_OFFSET_MS = 4 * DAY_MS  # 1970-01-01 was a Thursday; venues start weeks on Monday


@dataclass(slots=True, frozen=True)
class Kline:
    """One candle; prices in ticks, volumes in lots, quote volumes in quote currency."""

    open_ms: int
    close_ms: int  # open_ms + interval - 1 (Binance convention)
    open: int
    high: int
    low: int
    close: int
    volume: int
    quote_volume: Decimal
    trades: int
    taker_buy_volume: int
    taker_buy_quote: Decimal
    closed: bool


def bucket_start(ts_ms: int, interval_ms: int) -> int:
    if interval_ms == MONTH:
        d = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
        return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() * 1000)
    if interval_ms == WEEK_MS:
        return (ts_ms - _WEEK_OFFSET_MS) // WEEK_MS * WEEK_MS + _WEEK_OFFSET_MS
    return ts_ms // interval_ms * interval_ms


def bucket_end(start_ms: int, interval_ms: int) -> int:
    """Exclusive end of the bucket starting at ``start_ms``."""
    if interval_ms == MONTH:
        d = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
        days = calendar.monthrange(d.year, d.month)[1]
        return start_ms + days * DAY_MS
    return start_ms + interval_ms


_COLS = ("open_ms", "open", "high", "low", "close", "volume", "trades", "taker_buy")
_FCOLS = ("quote", "taker_buy_quote")


class KlineSeries:
    def __init__(self, qty_scale: float, capacity: int = 1 << 14) -> None:
        self._qty_scale = qty_scale  # tick*step: quote value of one tick-lot
        self._n = 0
        self._i = {c: np.zeros(capacity, dtype=np.int64) for c in _COLS}
        self._f = {c: np.zeros(capacity, dtype=np.float64) for c in _FCOLS}
        # live minute
        self.cur_open_ms = -1
        self.o = self.h = self.l = self.c = 0
        self.v = self.n = self.tb = 0
        self.qv = self.tbq = 0.0
        self.last_close = 0

    @property
    def closed_count(self) -> int:
        return self._n

    def _append(self, row: tuple[int, ...], quote: float, tbq: float) -> None:
        if self._n == len(self._i["open_ms"]):
            for c in _COLS:
                self._i[c] = np.resize(self._i[c], self._n * 2)
            for c in _FCOLS:
                self._f[c] = np.resize(self._f[c], self._n * 2)
        for c, value in zip(_COLS, row, strict=True):
            self._i[c][self._n] = value
        self._f["quote"][self._n] = quote
        self._f["taker_buy_quote"][self._n] = tbq
        self._n += 1

    def load(
        self,
        open_ms: np.ndarray,
        o: np.ndarray,
        h: np.ndarray,
        lo: np.ndarray,
        c: np.ndarray,
        vol: np.ndarray,
        trades: np.ndarray,
        quote: np.ndarray,
    ) -> None:
        """Replace history with closed 1m bars (prices in ticks, volumes in lots)."""
        n = len(open_ms)
        cap = max(1 << 14, 1 << int(np.ceil(np.log2(n + 1024))))
        self._i = {col: np.zeros(cap, dtype=np.int64) for col in _COLS}
        self._f = {col: np.zeros(cap, dtype=np.float64) for col in _FCOLS}
        for col, arr in zip(_COLS, (open_ms, o, h, lo, c, vol, trades, vol // 2), strict=True):
            self._i[col][:n] = arr
        self._f["quote"][:n] = quote
        self._f["taker_buy_quote"][:n] = quote / 2
        self._n = n
        if n:
            self.last_close = int(c[-1])
            self.cur_open_ms = -1

    # ---- live updates ----
    def roll(self, now_ms: int) -> None:
        """Close the live minute (and fill flat minutes) once the clock has passed it."""
        minute = now_ms // MINUTE_MS * MINUTE_MS
        if self.cur_open_ms == minute:
            return
        if self.cur_open_ms >= 0:
            self._append(
                (self.cur_open_ms, self.o, self.h, self.l, self.c, self.v, self.n, self.tb), self.qv, self.tbq
            )
            self.last_close = self.c
            t = self.cur_open_ms + MINUTE_MS
        elif self._n:
            t = int(self._i["open_ms"][self._n - 1]) + MINUTE_MS
        else:
            t = minute
        p = self.last_close
        while t < minute:  # minutes with no trade at all
            self._append((t, p, p, p, p, 0, 0, 0), 0.0, 0.0)
            t += MINUTE_MS
        self.cur_open_ms = minute
        self.o = self.h = self.l = self.c = p
        self.v = self.n = self.tb = 0
        self.qv = self.tbq = 0.0

    def on_trade(self, ts_ms: int, price: int, lots: int, taker_buy: bool) -> None:
        self.roll(ts_ms)
        if self.n == 0:
            self.o = self.h = self.l = price
        elif price > self.h:
            self.h = price
        elif price < self.l:
            self.l = price
        self.c = price
        self.v += lots
        self.n += 1
        quote = price * lots * self._qty_scale
        self.qv += quote
        if taker_buy:
            self.tb += lots
            self.tbq += quote

    # ---- queries ----
    def _live_bar(self) -> tuple[int, ...] | None:
        if self.cur_open_ms < 0:
            return None
        return (self.cur_open_ms, self.o, self.h, self.l, self.c, self.v, self.n, self.tb)

    def query(
        self, interval_ms: int, start_ms: int | None, end_ms: int | None, limit: int, now_ms: int
    ) -> list[Kline]:
        """Bars of ``interval_ms`` (or MONTH) whose open time is within [start, end], oldest first."""
        self.roll(now_ms)
        n = self._n
        cols = {c: self._i[c][:n] for c in _COLS}
        fcols = {c: self._f[c][:n] for c in _FCOLS}
        opens = cols["open_ms"]
        live = self._live_bar()
        if interval_ms == MINUTE_MS:
            first = 0 if start_ms is None else int(np.searchsorted(opens, start_ms))
            last = n if end_ms is None else int(np.searchsorted(opens, end_ms, side="right"))
            # build only the rows that can survive the final limit slice
            if start_ms is None:
                first = max(first, last - limit)
            else:
                last = min(last, first + limit)
            rows = [self._row(cols, fcols, i, MINUTE_MS, True) for i in range(first, last)]
            if live and (end_ms is None or live[0] <= end_ms) and (start_ms is None or live[0] >= start_ms):
                rows.append(self._live_kline(live, MINUTE_MS, now_ms))
            return rows[:limit] if start_ms is not None else rows[-limit:]
        # aggregate: bucket every 1m bar, reduce per bucket
        lo_ms = opens[0] if n else (live[0] if live else now_ms)
        lo_bucket = bucket_start(int(lo_ms), interval_ms)
        if start_ms is not None:
            lo_bucket = max(lo_bucket, bucket_start(start_ms, interval_ms))
            if lo_bucket < start_ms:
                lo_bucket = bucket_end(lo_bucket, interval_ms)
        hi_limit = end_ms if end_ms is not None else now_ms
        buckets: list[int] = []
        b = lo_bucket
        if start_ms is None:
            # newest ``limit`` buckets ending at the live one
            b = bucket_start(hi_limit, interval_ms)
            while len(buckets) < limit and b >= lo_bucket:
                buckets.append(b)
                b = bucket_start(b - 1, interval_ms)
            buckets.reverse()
        else:
            while b <= hi_limit and len(buckets) < limit:
                buckets.append(b)
                b = bucket_end(b, interval_ms)
        out: list[Kline] = []
        for b in buckets:
            e = bucket_end(b, interval_ms)
            i0 = int(np.searchsorted(opens, b))
            i1 = int(np.searchsorted(opens, e))
            parts: list[tuple[int, ...]] = []
            quote = tbq = 0.0
            if i1 > i0:
                parts.append(
                    (
                        int(cols["open"][i0]),
                        int(cols["high"][i0:i1].max()),
                        int(cols["low"][i0:i1].min()),
                        int(cols["close"][i1 - 1]),
                        int(cols["volume"][i0:i1].sum()),
                        int(cols["trades"][i0:i1].sum()),
                        int(cols["taker_buy"][i0:i1].sum()),
                    )
                )
                quote = float(fcols["quote"][i0:i1].sum())
                tbq = float(fcols["taker_buy_quote"][i0:i1].sum())
            has_live = live is not None and b <= live[0] < e
            if has_live and self.n:
                parts.append((self.o, self.h, self.l, self.c, self.v, self.n, self.tb))
                quote += self.qv
                tbq += self.tbq
            elif has_live and not parts:
                p = self.c
                parts.append((p, p, p, p, 0, 0, 0))
            if not parts:
                continue
            o = parts[0][0]
            h = max(x[1] for x in parts)
            lo = min(x[2] for x in parts)
            c = parts[-1][3]
            v = sum(x[4] for x in parts)
            nt = sum(x[5] for x in parts)
            tb = sum(x[6] for x in parts)
            closed = e <= now_ms
            out.append(Kline(b, e - 1, o, h, lo, c, v, _dec(quote), nt, tb, _dec(tbq), closed))
        return out

    def _row(self, cols, fcols, i: int, interval_ms: int, closed: bool) -> Kline:
        t = int(cols["open_ms"][i])
        return Kline(
            t,
            t + interval_ms - 1,
            int(cols["open"][i]),
            int(cols["high"][i]),
            int(cols["low"][i]),
            int(cols["close"][i]),
            int(cols["volume"][i]),
            _dec(float(fcols["quote"][i])),
            int(cols["trades"][i]),
            int(cols["taker_buy"][i]),
            _dec(float(fcols["taker_buy_quote"][i])),
            closed,
        )

    def _live_kline(self, live: tuple[int, ...], interval_ms: int, now_ms: int) -> Kline:
        t, o, h, lo, c, v, n, tb = live
        return Kline(t, t + interval_ms - 1, o, h, lo, c, v, _dec(self.qv), n, tb, _dec(self.tbq), False)

    def current(self, interval_ms: int, now_ms: int) -> Kline:
        bars = self.query(interval_ms, None, None, 1, now_ms)
        return bars[-1]

    def window(self, start_ms: int, now_ms: int) -> tuple[int, int, int, int, int, float, int] | None:
        """(open, high, low, close, volume, quote, trades) over [start_ms, now] (rolling 24 h)."""
        self.roll(now_ms)
        n = self._n
        opens = self._i["open_ms"][:n]
        i0 = int(np.searchsorted(opens, start_ms))
        o = h = lo = c = None
        v = nt = 0
        q = 0.0
        if i0 < n:
            o = int(self._i["open"][i0])
            h = int(self._i["high"][i0:n].max())
            lo = int(self._i["low"][i0:n].min())
            c = int(self._i["close"][n - 1])
            v = int(self._i["volume"][i0:n].sum())
            nt = int(self._i["trades"][i0:n].sum())
            q = float(self._f["quote"][i0:n].sum())
        if self.cur_open_ms >= 0 and self.n:
            if o is None:
                o, h, lo = self.o, self.h, self.l
            else:
                h = max(h, self.h)
                lo = min(lo, self.l)
            c = self.c
            v += self.v
            nt += self.n
            q += self.qv
        if o is None:
            return None
        return o, h, lo, c, v, q, nt


def _dec(x: float) -> Decimal:
    return Decimal(f"{x:.8f}")
