"""The daily summary: one day of the journal (fills, fees, PnL, signals, risk) as a notice,
and a task that posts it each day at a configured UTC hour."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

from terminal.model import Side
from terminal.notify.model import Notice, NoticeKind
from terminal.storage.journal import Journal, SignalVerdict

__all__ = ["DailySummary", "SymbolActivity", "run_daily_summaries", "summarize", "summary_notice"]

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
# Audit actions (terminal/automation/host.py AUDIT_ERROR, RiskManager.set_state).
STRATEGY_ERROR_ACTION = "strategy_error"
TRADING_STATE_ACTION = "trading_state"


@dataclass(slots=True)
class SymbolActivity:
    fills: int = 0
    bought: Decimal = Decimal(0)
    sold: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)


@dataclass(slots=True)
class DailySummary:
    start_ms: int
    end_ms: int
    fills: int = 0
    by_symbol: dict[str, SymbolActivity] = field(default_factory=dict)  # "venue SYMBOL"
    fees: dict[str, Decimal] = field(default_factory=dict)  # per fee asset
    realized_pnl: Decimal | None = None  # venue-reported (derivatives); None if none reported
    signals: dict[SignalVerdict, int] = field(default_factory=dict)
    state_changes: list[str] = field(default_factory=list)  # "ACTIVE -> HALTED (reason)"
    strategy_errors: int = 0


def summarize(journal: Journal, start_ms: int, end_ms: int) -> DailySummary:
    """What the journal holds for ``start_ms <= ts < end_ms``."""
    s = DailySummary(start_ms, end_ms)
    for f in journal.fills(since=start_ms):
        if f.ts >= end_ms:
            continue
        s.fills += 1
        act = s.by_symbol.setdefault(f"{f.venue} {f.symbol}", SymbolActivity())
        act.fills += 1
        if f.side is Side.BUY:
            act.bought += f.qty
        else:
            act.sold += f.qty
        act.notional += f.notional
        if f.fee:
            s.fees[f.fee_asset] = s.fees.get(f.fee_asset, Decimal(0)) + f.fee
        if f.realized_pnl is not None:
            s.realized_pnl = (s.realized_pnl or Decimal(0)) + f.realized_pnl
    for rec in journal.signals(since=start_ms):
        if rec.received_at < end_ms:
            s.signals[rec.verdict] = s.signals.get(rec.verdict, 0) + 1
    for a in journal.audit_log(since=start_ms):
        if a.ts >= end_ms:
            continue
        if a.action == TRADING_STATE_ACTION:
            s.state_changes.append(
                f"{a.detail.get('from')} -> {a.detail.get('to')} ({a.detail.get('reason', '')})"
            )
        elif a.action == STRATEGY_ERROR_ACTION:
            s.strategy_errors += 1
    return s


def _n(d: Decimal) -> str:
    return f"{d.normalize():f}"


def summary_notice(s: DailySummary) -> Notice:
    day = time.strftime("%Y-%m-%d", time.gmtime(s.start_ms / 1000))
    lines = [f"Fills: {s.fills}"]
    for name, act in sorted(s.by_symbol.items()):
        lines.append(
            f"  {name}: {act.fills} fills, bought {_n(act.bought)}, sold {_n(act.sold)}, notional {_n(act.notional)}"
        )
    if s.fees:
        lines.append("Fees: " + ", ".join(f"{_n(v)} {k}".strip() for k, v in sorted(s.fees.items())))
    if s.realized_pnl is not None:
        lines.append(f"Realized PnL (venue-reported): {_n(s.realized_pnl)}")
    sig = ", ".join(f"{s.signals.get(v, 0)} {v}" for v in SignalVerdict)
    lines.append(f"Signals: {sig}")
    if s.strategy_errors:
        lines.append(f"Strategy errors: {s.strategy_errors}")
    lines.append("Trading state changes: " + ("; ".join(s.state_changes) if s.state_changes else "none"))
    return Notice(
        NoticeKind.DAILY_SUMMARY,
        title=f"Daily summary {day} UTC",
        body="\n".join(lines),
        dedupe_key=f"summary:{day}",
        ts=s.end_ms,
    )


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


async def run_daily_summaries(
    post: Callable[[Notice], None],
    journal: Journal,
    *,
    hour_utc: int = 0,
    wall_ms: Callable[[], int] = _wall_ms,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Forever: at each ``hour_utc`` boundary, post the summary of the 24 h that just ended.
    Cancel the task to stop it."""
    if not 0 <= hour_utc < 24:
        raise ValueError(f"summary hour must be 0..23 UTC, got {hour_utc}")
    offset = hour_utc * 3_600_000
    while True:
        now = wall_ms()
        next_ms = ((now - offset) // DAY_MS + 1) * DAY_MS + offset
        await sleep((next_ms - now) / 1000)
        try:
            post(summary_notice(summarize(journal, next_ms - DAY_MS, next_ms)))
        except Exception:  # a journal error must not end the daily task
            log.exception("daily summary failed")
