"""The daily summary from a real journal, and its scheduling."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from terminal.model import Side, Signal, SignalSource
from terminal.notify import Notice, NoticeKind, summarize, summary_notice
from terminal.notify.summary import DAY_MS, run_daily_summaries
from terminal.storage.journal import Journal, SignalVerdict

from . import events as ev

DAY0 = 1_700_006_400_000 // DAY_MS * DAY_MS  # a UTC midnight


def _journal(tmp_path: Path) -> Journal:
    j = Journal.open(tmp_path / "journal.sqlite3")
    for i, (n, pnl) in enumerate([(0, None), (1, "5.5"), (3, "-2")]):
        j.record_fill(replace(ev.fill(n, pnl=pnl).fill, ts=DAY0 + 1000 * (i + 1)))
    j.record_fill(replace(ev.fill(9).fill, ts=DAY0 + DAY_MS))  # the next day's
    for k, verdict in enumerate([SignalVerdict.ACCEPTED, SignalVerdict.REJECTED, SignalVerdict.ACCEPTED]):
        j.record_signal(
            Signal(f"s{k}", SignalSource.MARKETRAKER, "SOLUSDT", Side.BUY, DAY0 + 10 + k), verdict
        )
    j.audit("risk", "trading_state", {"from": "ACTIVE", "to": "HALTED", "reason": "daily_loss"}, ts=DAY0 + 50)
    j.audit("strategy:ema", "strategy_error", {"key": "ema", "error": "boom"}, ts=DAY0 + 60)
    return j


def test_summary_counts_one_day_of_the_journal(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    s = summarize(j, DAY0, DAY0 + DAY_MS)
    j.close()
    assert s.fills == 3  # the fill at the next midnight belongs to the next day
    act = s.by_symbol["binance_usdm BTCUSDT"]
    assert (act.bought, act.sold) == (Decimal("0.010"), Decimal("0.020"))
    assert act.notional == Decimal("65000.50") * Decimal("0.030")
    assert s.fees == {"USDT": Decimal("0.78")}
    assert s.realized_pnl == Decimal("3.5")
    assert s.signals == {SignalVerdict.ACCEPTED: 2, SignalVerdict.REJECTED: 1}
    assert s.state_changes == ["ACTIVE -> HALTED (daily_loss)"] and s.strategy_errors == 1
    n = summary_notice(s)
    assert n.kind is NoticeKind.DAILY_SUMMARY
    assert n.title.startswith("Daily summary ") and n.title.endswith(" UTC")
    for text in (
        "Fills: 3",
        "bought 0.01, sold 0.02",
        "Fees: 0.78 USDT",
        "Realized PnL (venue-reported): 3.5",
        "Signals: 2 accepted, 1 rejected, 0 duplicate",
        "Strategy errors: 1",
        "ACTIVE -> HALTED",
    ):
        assert text in n.body


async def test_scheduler_posts_the_day_that_just_ended_at_the_hour(tmp_path: Path) -> None:
    j = _journal(tmp_path)
    now = [DAY0 + 5 * 3_600_000]  # 05:00 UTC on day 0
    slept: list[float] = []
    posted: list[Notice] = []

    async def fake_sleep(s: float) -> None:
        slept.append(s)
        now[0] += int(s * 1000)
        if len(slept) > 1:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await run_daily_summaries(posted.append, j, hour_utc=6, wall_ms=lambda: now[0], sleep=fake_sleep)
    j.close()
    assert slept[0] == 3600.0  # until 06:00
    assert slept[1] == DAY_MS / 1000
    (n,) = posted
    assert "Fills: 3" in n.body  # 06:00 day -1 .. 06:00 day 0 holds day 0's early fills


async def test_bad_hour_is_refused(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "j.sqlite3")
    with pytest.raises(ValueError, match=r"0\.\.23"):
        await run_daily_summaries(lambda n: None, j, hour_utc=24)
    j.close()
