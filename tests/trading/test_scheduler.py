"""Cron parsing and ``next_fire`` (exact cases and a brute-force property), and the scheduler on
the real asyncio loop with a clock the tests step."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terminal.trading.scheduler import CronError, Scheduler, next_fire, parse_cron

pytestmark = pytest.mark.timeout(60)


def ms(text: str) -> int:
    """'2024-03-15 10:07' (UTC) -> epoch ms."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC).timestamp() * 1000)


def at(ms_value: int) -> str:
    return datetime.fromtimestamp(ms_value / 1000, UTC).strftime("%Y-%m-%d %H:%M %a")


# ---------------------------------------------------------------------- next_fire


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        ("*/15 * * * *", "2024-03-15 10:07", "2024-03-15 10:15 Fri"),
        ("*/15 * * * *", "2024-03-15 10:45", "2024-03-15 11:00 Fri"),
        ("*/15 * * * *", "2024-03-15 10:15", "2024-03-15 10:30 Fri"),  # strictly after
        ("0 9 * * 1-5", "2024-03-15 10:00", "2024-03-18 09:00 Mon"),  # Friday after 9 -> Monday
        ("0 9 * * mon-fri", "2024-03-16 08:00", "2024-03-18 09:00 Mon"),
        ("0 0 * * 7", "2024-03-15 10:00", "2024-03-17 00:00 Sun"),  # 7 is Sunday
        ("0 0 * * sun", "2024-03-15 10:00", "2024-03-17 00:00 Sun"),
        ("30 2 29 2 *", "2024-03-01 00:00", "2028-02-29 02:30 Tue"),  # next leap day
        ("0 0 31 * *", "2024-01-31 00:00", "2024-03-31 00:00 Sun"),  # February has no 31st
        ("0 0 13 * 5", "2024-09-01 00:00", "2024-09-06 00:00 Fri"),  # either the 13th or a Friday
        ("0 0 13 * 5", "2024-09-12 01:00", "2024-09-13 00:00 Fri"),
        ("0 0 13 * 1", "2024-09-10 00:00", "2024-09-13 00:00 Fri"),  # the 13th, though not a Monday
        ("10-30/10 * * * *", "2024-03-15 10:30", "2024-03-15 11:10 Fri"),
        ("5/20 * * * *", "2024-03-15 10:26", "2024-03-15 10:45 Fri"),
        ("0 0 1 jan,jul *", "2024-03-15 10:00", "2024-07-01 00:00 Mon"),
        ("59 23 31 12 *", "2024-12-31 23:59", "2025-12-31 23:59 Wed"),
        ("@hourly", "2024-03-15 10:00", "2024-03-15 11:00 Fri"),
        ("@daily", "2024-12-31 23:00", "2025-01-01 00:00 Wed"),
        ("@weekly", "2024-03-15 10:00", "2024-03-17 00:00 Sun"),
        ("@monthly", "2024-03-15 10:00", "2024-04-01 00:00 Mon"),
        ("@yearly", "2024-03-15 10:00", "2025-01-01 00:00 Wed"),
        ("0 0 * * *", "2024-03-15 23:59", "2024-03-16 00:00 Sat"),
        ("15 14 1 * *", "2024-02-01 14:15", "2024-03-01 14:15 Fri"),
    ],
)
def test_next_fire(expr, after, expected):
    assert at(next_fire(expr, ms(after))) == expected


def test_next_fire_from_inside_a_minute_and_ms_precision():
    base = ms("2024-03-15 10:07")
    assert next_fire("* * * * *", base + 59_999) == base + 60_000
    assert next_fire("* * * * *", base) == base + 60_000
    assert next_fire("* * * * *", base - 1) == base


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("* * * *", "expected 5 fields"),
        ("* * * * * *", "expected 5 fields"),
        ("60 * * * *", "minute: 60 out of range 0-59"),
        ("* 24 * * *", "hour: 24 out of range 0-23"),
        ("* * 0 * *", "day of month: 0 out of range 1-31"),
        ("* * * 13 *", "month: 13 out of range 1-12"),
        ("* * * * 8", "day of week: 8 out of range 0-7"),
        ("*/0 * * * *", "step must be at least 1"),
        ("30-10 * * * *", "runs backwards"),
        ("x * * * *", "'x' is not a number"),
        ("1,,2 * * * *", "empty list item"),
        ("* * * foo *", "'foo' is not a number"),
        ("-5 * * * *", "is not a number"),
    ],
)
def test_bad_expressions_name_the_field(expr, message):
    with pytest.raises(CronError, match=message):
        parse_cron(expr)


def test_an_expression_that_never_fires():
    with pytest.raises(CronError, match="never fires"):
        next_fire("0 0 30 2 *", ms("2024-01-01 00:00"))


def _brute(expr: str, after: int, horizon_min: int) -> int | None:
    cron = parse_cron(expr)
    t = datetime.fromtimestamp((after // 60_000 + 1) * 60, UTC)
    for _ in range(horizon_min):
        if cron.matches(t):
            return int(t.timestamp()) * 1000
        t += timedelta(minutes=1)
    return None


def _field(draw, low: int, high: int) -> str:
    kind = draw(st.sampled_from(["*", "n", "list", "range", "step", "rangestep"]))
    if kind == "*":
        return "*"
    a = draw(st.integers(low, high))
    if kind == "n":
        return str(a)
    if kind == "list":
        return ",".join(str(x) for x in draw(st.lists(st.integers(low, high), min_size=1, max_size=4)))
    b = draw(st.integers(a, high))
    if kind == "range":
        return f"{a}-{b}"
    step = draw(st.integers(1, max(1, high - low)))
    return f"*/{step}" if kind == "step" else f"{a}-{b}/{step}"


@st.composite
def expressions(draw):
    fields = [_field(draw, 0, 59), _field(draw, 0, 23)]
    # day fields restricted often enough to exercise the OR rule, rarely months (brute force
    # searches 40 days)
    fields.append(draw(st.sampled_from(["*", _field(draw, 1, 31)])))
    fields.append("*")
    fields.append(draw(st.sampled_from(["*", _field(draw, 0, 7)])))
    return " ".join(fields)


@settings(max_examples=150, deadline=None)
@given(expressions(), st.integers(ms("2020-01-01 00:00"), ms("2030-01-01 00:00")))
def test_next_fire_agrees_with_brute_force(expr, after):
    expected = _brute(expr, after, 40 * 24 * 60)
    if expected is None:
        nxt = next_fire(expr, after)  # beyond the brute-force horizon: at least later and matching
        assert nxt > after + 40 * 24 * 60 * 60_000 - 60_000
        assert parse_cron(expr).matches(datetime.fromtimestamp(nxt / 1000, UTC))
    else:
        assert next_fire(expr, after) == expected


# ---------------------------------------------------------------------- the scheduler


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


async def until(pred, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_jobs_fire_at_their_times_and_raising_callbacks_are_kept():
    clock = Clock(ms("2024-03-15 10:07"))
    s = Scheduler(clock_ms=clock, max_sleep_s=0.01)
    fired: list[int] = []
    boom: list[int] = []

    async def ok(fire_ms: int) -> None:
        fired.append(fire_ms)

    def bad(fire_ms: int) -> None:
        boom.append(fire_ms)
        raise RuntimeError("strategy blew up")

    try:
        info = s.add("sweep", "*/15 * * * *", ok)
        s.add("bad", "*/15 * * * *", bad)
        assert info.next_ms == ms("2024-03-15 10:15")
        await asyncio.sleep(0.05)
        assert fired == []  # nothing before its time
        clock.t = ms("2024-03-15 10:15") + 200
        await until(lambda: len(fired) == 1 and len(boom) == 1)
        assert fired == [ms("2024-03-15 10:15")]
        clock.t = ms("2024-03-15 10:30")
        await until(lambda: len(fired) == 2 and len(boom) == 2)
        job = s.job("bad")
        assert job is not None and job.errors == 2 and job.runs == 2
        assert job.last_error == "RuntimeError: strategy blew up"
        assert s.job("sweep").next_ms == ms("2024-03-15 10:45")
        with pytest.raises(ValueError, match="already exists"):
            s.add("sweep", "* * * * *", ok)
        with pytest.raises(CronError, match="minute"):
            s.add("other", "99 * * * *", ok)
        assert s.remove("bad") and not s.remove("bad")
        assert [j.name for j in s.jobs()] == ["sweep"]
    finally:
        await s.close()
    assert s.jobs() == []


async def test_clock_stepped_forward_fires_once_and_back_never_refires():
    clock = Clock(ms("2024-03-15 10:07"))
    s = Scheduler(clock_ms=clock, max_sleep_s=0.01)
    fired: list[int] = []
    try:
        s.add("hourly", "0 * * * *", fired.append)
        clock.t = ms("2024-03-15 15:30")  # a jump over five due times
        await until(lambda: len(fired) == 1)
        await asyncio.sleep(0.05)
        assert fired == [ms("2024-03-15 11:00")]  # one run, not a burst
        assert s.job("hourly").next_ms == ms("2024-03-15 16:00")
        clock.t = ms("2024-03-15 16:00")
        await until(lambda: len(fired) == 2)
        clock.t = ms("2024-03-15 15:59")  # NTP steps the clock back over a slot that fired
        await asyncio.sleep(0.05)
        clock.t = ms("2024-03-15 16:00")
        await asyncio.sleep(0.05)
        assert fired == [ms("2024-03-15 11:00"), ms("2024-03-15 16:00")]
        clock.t = ms("2024-03-15 17:00")
        await until(lambda: len(fired) == 3)
    finally:
        await s.close()


async def test_clock_stepped_back_before_any_run_uses_the_earlier_slot():
    clock = Clock(ms("2024-03-15 10:30"))
    s = Scheduler(clock_ms=clock, max_sleep_s=0.01)
    fired: list[int] = []
    try:
        s.add("hourly", "0 * * * *", fired.append)
        assert s.job("hourly").next_ms == ms("2024-03-15 11:00")
        clock.t = ms("2024-03-15 08:30")  # the wall clock was wrong; 09:00 comes first now
        await until(lambda: s.job("hourly").next_ms == ms("2024-03-15 09:00"))
        clock.t = ms("2024-03-15 09:00")
        await until(lambda: fired == [ms("2024-03-15 09:00")])
    finally:
        await s.close()


async def test_real_clock_sleep_is_bounded_and_close_cancels():
    s = Scheduler()  # the wall clock: nothing fires within the test, the task sleeps
    s.add("daily", "@daily", lambda _: None)
    await asyncio.sleep(0.01)
    info = s.job("daily")
    assert info is not None and info.runs == 0 and info.next_ms is not None
    await s.close()
    with pytest.raises(ValueError, match="max_sleep_s"):
        Scheduler(max_sleep_s=0)
