"""A cron-like scheduler on the asyncio loop, for strategies that run at fixed times (a daily
MACD sweep over a symbol list, say).

Expressions are the classic five fields, always in UTC: ``minute hour day-of-month month
day-of-week``, each ``*``, a number, a list (``1,15``), a range (``1-5``) and steps (``*/15``,
``10-40/10``, ``5/20``), with month and weekday names (``jan``, ``mon-fri``; Sunday is 0 or 7)
and the shortcuts ``@hourly @daily @midnight @weekly @monthly @yearly @annually``. As in Vixie
cron, when both day fields are restricted a day matching either fires.

Why no library: croniter was declared abandoned by its maintainer at the end of 2024 and has
since been taken over by pallets-eco, so its future is unsettled; cronsim is small but would
be one more dependency. Both do far more than this needs (seconds, L/W/# fields, local time
zones); five UTC fields fit in a small parser, tested exhaustively (tests/trading/test_scheduler.py).

Each job's next time is computed from the wall clock every time the job wakes (at least every
``max_sleep_s``), so a clock that is stepped (NTP, a suspended laptop) neither delays a job by the
step nor fires a storm: a jump over several due times fires once, and a slot that already
fired never fires again after the clock goes back. A callback that raises is logged and
counted; the job stays (the owner decides whether to disarm it).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["CronError", "CronExpr", "JobInfo", "Scheduler", "next_fire", "parse_cron"]

log = logging.getLogger(__name__)

Callback = Callable[[int], Awaitable[None] | None]

_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1
    )
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_SHORTCUTS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
# (name, low, high, names)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_SEARCH_YEARS = 8  # Feb 29 on a given weekday recurs within this; beyond it nothing ever fires


class CronError(ValueError):
    """A cron expression is malformed (the message names the field and the token) or never fires."""


@dataclass(frozen=True, slots=True)
class CronExpr:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]  # of the month, 1..31
    months: frozenset[int]  # 1..12
    weekdays: frozenset[int]  # 0 = Sunday .. 6
    any_day: bool  # day-of-month field is "*"
    any_weekday: bool  # day-of-week field is "*"

    def matches_day(self, dt: datetime) -> bool:
        dom = dt.day in self.days
        dow = (dt.weekday() + 1) % 7 in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return dow
        if self.any_weekday:
            return dom
        return dom or dow  # both restricted: either (Vixie cron)

    def matches(self, dt: datetime) -> bool:
        return (
            dt.minute in self.minutes
            and dt.hour in self.hours
            and dt.month in self.months
            and self.matches_day(dt)
        )


def parse_cron(text: str) -> CronExpr:
    expr = _SHORTCUTS.get(text.strip().lower(), text)
    parts = expr.split()
    if len(parts) != 5:
        raise CronError(f"cron {text!r}: expected 5 fields (minute hour day month weekday), got {len(parts)}")
    sets = [_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in sets[4])  # 7 is Sunday too
    return CronExpr(
        text=text,
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=weekdays,
        any_day=parts[2].startswith("*"),
        any_weekday=parts[4].startswith("*"),
    )


def _field(part: str, name: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    out: set[int] = set()
    for item in part.lower().split(","):
        if not item:
            raise CronError(f"cron {name}: empty list item in {part!r}")
        body, _, step_text = item.partition("/")
        step = 1
        if step_text:
            step = _number(step_text, name, item, names={})
            if step < 1:
                raise CronError(f"cron {name}: step must be at least 1 in {item!r}")
        if body == "*":
            start, end = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            start, end = _number(a, name, item, names), _number(b, name, item, names)
            if start > end:
                raise CronError(f"cron {name}: range {body!r} runs backwards")
        else:
            start = _number(body, name, item, names)
            end = high if step_text else start  # "5/20": from 5 to the end, every 20
        for value in (start, end):
            if not low <= value <= high:
                raise CronError(f"cron {name}: {value} out of range {low}-{high} in {item!r}")
        out.update(range(start, end + 1, step))
    return frozenset(out)


def _number(token: str, name: str, item: str, names: dict[str, int]) -> int:
    if token in names:
        return names[token]
    if not token.isdigit():
        raise CronError(f"cron {name}: {token!r} is not a number in {item!r}")
    return int(token)


def next_fire(expr: str | CronExpr, after_ms: int) -> int:
    """The first time (epoch ms, on a whole UTC minute) strictly after ``after_ms`` that ``expr``
    matches. Raises ``CronError`` if it never matches (``0 0 30 2 *``)."""
    cron = parse_cron(expr) if isinstance(expr, str) else expr
    minutes, hours = sorted(cron.minutes), sorted(cron.hours)
    t = datetime.fromtimestamp((after_ms // 60_000 + 1) * 60, UTC)
    limit = t.year + _SEARCH_YEARS
    while t.year <= limit:
        if t.month not in cron.months:
            t = _next_month(t)
            continue
        if not cron.matches_day(t):
            t = (t + timedelta(days=1)).replace(hour=0, minute=0)
            continue
        hour = next((h for h in hours if h >= t.hour), None)
        if hour is None:
            t = (t + timedelta(days=1)).replace(hour=0, minute=0)
            continue
        if hour != t.hour:
            t = t.replace(hour=hour, minute=0)
        minute = next((m for m in minutes if m >= t.minute), None)
        if minute is None:
            t = t.replace(minute=0) + timedelta(hours=1)
            continue
        return int(t.replace(minute=minute).timestamp()) * 1000
    raise CronError(f"cron {cron.text!r} never fires (no matching date within {_SEARCH_YEARS} years)")


def _next_month(t: datetime) -> datetime:
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return t.replace(year=year, month=month, day=1, hour=0, minute=0)


# ---------------------------------------------------------------------- the scheduler


@dataclass(slots=True)
class _Job:
    name: str
    cron: CronExpr
    callback: Callback
    task: asyncio.Task[None] | None = None
    next_ms: int | None = None
    last_fire_ms: int | None = None
    runs: int = 0
    errors: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class JobInfo:
    name: str
    expr: str
    next_ms: int | None
    last_fire_ms: int | None
    runs: int
    errors: int
    last_error: str | None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Scheduler:
    """``add(name, expr, callback)``: ``callback(fire_ms)`` (plain or async) at every time
    ``expr`` matches; one run of a job at a time (a run that overlaps its next time skips it)."""

    def __init__(self, *, clock_ms: Callable[[], int] = _now_ms, max_sleep_s: float = 30.0) -> None:
        if max_sleep_s <= 0:
            raise ValueError(f"max_sleep_s must be positive, got {max_sleep_s}")
        self._clock_ms = clock_ms
        self._max_sleep_s = max_sleep_s
        self._jobs: dict[str, _Job] = {}

    def add(self, name: str, expr: str, callback: Callback) -> JobInfo:
        """Start a job; raises ``CronError`` for a bad or never-firing expression, ValueError for a
        name already in use. Needs a running event loop."""
        if not name:
            raise ValueError("a job needs a name")
        if name in self._jobs:
            raise ValueError(f"a job named {name!r} already exists")
        cron = parse_cron(expr)
        job = _Job(name, cron, callback, next_ms=next_fire(cron, self._clock_ms()))
        job.task = asyncio.get_running_loop().create_task(self._run(job), name=f"cron:{name}")
        self._jobs[name] = job
        return self._info(job)

    def remove(self, name: str) -> bool:
        job = self._jobs.pop(name, None)
        if job is None:
            return False
        if job.task is not None:
            job.task.cancel()
        return True

    async def close(self) -> None:
        """Cancel every job and wait for them to end."""
        jobs, self._jobs = list(self._jobs.values()), {}
        tasks = [j.task for j in jobs if j.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def jobs(self) -> list[JobInfo]:
        return [self._info(j) for j in self._jobs.values()]

    def job(self, name: str) -> JobInfo | None:
        j = self._jobs.get(name)
        return None if j is None else self._info(j)

    @staticmethod
    def _info(j: _Job) -> JobInfo:
        return JobInfo(j.name, j.cron.text, j.next_ms, j.last_fire_ms, j.runs, j.errors, j.last_error)

    async def _run(self, job: _Job) -> None:
        target = job.next_ms if job.next_ms is not None else next_fire(job.cron, self._clock_ms())
        while True:
            now = self._clock_ms()
            if now >= target:
                await self._fire(job, target)
                # Due times the clock jumped over are skipped: they fire once, not in a burst.
                target = next_fire(job.cron, max(self._clock_ms(), target))
            else:
                # The clock may have gone back: a slot before the old target is due first; a
                # slot that already fired never fires again.
                floor = now if job.last_fire_ms is None else max(now, job.last_fire_ms)
                target = min(target, next_fire(job.cron, floor))
            job.next_ms = target
            wait_s = (target - self._clock_ms()) / 1000
            if wait_s > 0:
                await asyncio.sleep(min(wait_s, self._max_sleep_s))

    async def _fire(self, job: _Job, fire_ms: int) -> None:
        job.last_fire_ms = fire_ms
        job.runs += 1
        try:
            result = job.callback(fire_ms)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            job.errors += 1
            job.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("scheduled job %s failed at %d", job.name, fire_ms)
