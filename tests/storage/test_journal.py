"""The SQLite journal against real files: round trips, idempotence, WAL, kill -9."""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from terminal.model import (
    Fill,
    IllegalTransition,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionSide,
    Side,
    Signal,
    SignalSource,
    TimeInForce,
    Venue,
)
from terminal.storage import (
    JOURNAL_FILENAME,
    SCHEMA_VERSION,
    DuplicateOrder,
    Journal,
    JournalCorrupt,
    JournalError,
    JournalTable,
    SignalVerdict,
    UnknownOrder,
)
from terminal.storage.journal import EXTERNAL_ORIGIN, MIGRATIONS, kill_switch_origin

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def journal(tmp_path: Path):
    j = Journal.open(tmp_path / "j.sqlite3")
    yield j
    j.close()


def _order(cid: str = "c1", **kw: object) -> Order:
    # Awkward decimals on purpose: trailing zeros and exponent forms must survive exactly.
    return Order.new(
        cid,
        Venue.BINANCE_USDM,
        "SOLUSDT",
        Side.SELL,
        OrderType.STOP_LIMIT,
        "1.500",
        "123.4500",
        stop_price="1.2E+2",
        tif=TimeInForce.IOC,
        reduce_only=True,
        post_only=False,
        position_side=PositionSide.SHORT,
        **({"ts": 1_700_000_000_000} | kw),
    )


def _fill(
    trade_id: str = "t1", cid: str = "c1", ts: int = 1_700_000_000_500, symbol: str = "SOLUSDT"
) -> Fill:
    return Fill(
        venue=Venue.BINANCE_USDM,
        symbol=symbol,
        client_id=cid,
        venue_order_id="9001",
        trade_id=trade_id,
        side=Side.SELL,
        price=Decimal("123.4500"),
        qty=Decimal("0.100"),
        ts=ts,
        fee=Decimal("0.00617250"),
        fee_asset="USDT",
        is_maker=True,
        position_side=PositionSide.SHORT,
        realized_pnl=Decimal("-0.0000001"),
    )


def _same_decimal(a: Decimal | None, b: Decimal | None) -> bool:
    # Equal *and* the same representation (str compares exponent/trailing zeros).
    return str(a) == str(b)


# ---------------------------------------------------------------------- schema, modes


@pytest.mark.timeout(10)
def test_wal_mode_schema_version_and_full_sync(tmp_path: Path) -> None:
    with Journal.open_in(tmp_path / "data") as j:
        assert j.path == tmp_path / "data" / JOURNAL_FILENAME
        assert j.journal_mode == "wal"
        assert j.schema_version == SCHEMA_VERSION >= 1
        assert j.integrity_check() == "ok"
        assert j._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    # Reopening an up-to-date journal migrates nothing and keeps the data.
    with Journal.open_in(tmp_path / "data") as j:
        assert j.schema_version == SCHEMA_VERSION


@pytest.mark.timeout(10)
def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    Journal.open(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(JournalError, match="newer"):
        Journal.open(path)


@pytest.mark.timeout(10)
def test_corrupt_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    content = b"this is my shopping list, not a database\n" * 100
    path.write_bytes(content)
    with pytest.raises(JournalCorrupt, match=str(path)):
        Journal.open(path)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.sqlite3"]  # no -wal/-shm


@pytest.mark.timeout(10)
def test_damaged_sqlite_file_raises_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with Journal.open(path) as j:
        j.audit("me", "x")
    data = bytearray(path.read_bytes())
    data[16:100] = b"\xff" * 84  # valid magic, garbage header fields (page size etc.)
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt, match=str(path)):
        Journal.open(path)


@pytest.mark.timeout(10)
def test_version_1_journal_opens_and_migrates(tmp_path: Path) -> None:
    """A file of the first schema (adopted orders journalled as manual + "adopted:" reason)
    opens, migrates to the current version in place and keeps every row."""
    path = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA journal_mode=WAL")
    for statement in MIGRATIONS[0]:
        raw.execute(statement)
    cols = (
        "client_order_id, venue, symbol, side, type, tif, qty, reduce_only, post_only, position_side, "
        "status, filled_qty, created_ms, updated_ms, origin, reason"
    )
    for cid, reason in (("mine", "scalp"), ("web1", "adopted: order placed outside this terminal")):
        raw.execute(
            f"INSERT INTO orders ({cols}) VALUES (?, 'bybit_linear', 'BTCUSDT', 'BUY', 'LIMIT', 'GTC', "
            "'0.001', 0, 0, 'BOTH', 'NEW', '0', 1, 1, 'manual', ?)",
            (cid, reason),
        )
    raw.execute("INSERT INTO audit (ts, actor, action, detail) VALUES (1, 'me', 'x', '{}')")
    raw.execute("PRAGMA user_version=1")
    raw.commit()
    raw.close()

    with Journal.open(path) as j:
        assert j.schema_version == SCHEMA_VERSION == 3
        assert j.integrity_check() == "ok"
        mine, web = j.order_record("mine"), j.order_record("web1")
        assert mine is not None and web is not None
        assert (mine.origin, mine.reason) == ("manual", "scalp")
        assert web.origin == EXTERNAL_ORIGIN
        assert [a.action for a in j.audit_log()] == ["x"]
        assert j.order_symbols(Venue.BYBIT_LINEAR) == {"BTCUSDT": 1}
        indexes = {r[0] for r in j._read("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "orders_venue_symbol" in indexes
        j.record_order_intent(_order("new"), "manual")  # the migrated file takes new rows
    with Journal.open(path) as j:  # reopening migrates nothing more
        assert j.schema_version == SCHEMA_VERSION
        assert j.order("new") is not None


# ---------------------------------------------------------------------- orders


@pytest.mark.timeout(10)
def test_origins_external_and_kill_switch(journal: Journal) -> None:
    journal.record_order_intent(_order("a"), EXTERNAL_ORIGIN, "adopted")
    journal.record_order_intent(_order("b"), kill_switch_origin("manual"), "flatten")
    journal.record_order_intent(_order("c"), kill_switch_origin("webhook:tv"), "flatten")
    journal.record_order_intent(_order("d"), kill_switch_origin("risk"), "daily loss")
    assert [journal.order_record(c).origin for c in "abcd"] == [  # type: ignore[union-attr]
        "external",
        "kill_switch:manual",
        "kill_switch:webhook:tv",
        "kill_switch:risk",
    ]
    for bad in ("kill_switch", "kill_switch:", "kill_switch:robot", "external:x", "risk"):
        with pytest.raises(ValueError, match="origin"):
            journal.record_order_intent(_order("z"), bad)


@pytest.mark.timeout(10)
def test_orders_and_order_symbols(journal: Journal) -> None:
    journal.record_order_intent(_order("a", ts=300), "manual")
    journal.record_order_intent(_order("b", ts=100), "manual")
    other = Order.new("c", Venue.BYBIT_LINEAR, "BTCUSDT", Side.BUY, OrderType.MARKET, "1", ts=50)
    journal.record_order_intent(other, "manual")
    assert journal.order_symbols(Venue.BINANCE_USDM) == {"SOLUSDT": 100}
    assert journal.order_symbols(Venue.BYBIT_LINEAR) == {"BTCUSDT": 50}
    assert journal.order_symbols(Venue.BINANCE_SPOT) == {}
    assert [o.client_id for o in journal.orders(Venue.BINANCE_USDM)] == ["b", "a"]
    assert [o.client_id for o in journal.orders()] == ["c", "b", "a"]


@pytest.mark.timeout(10)
def test_order_intent_round_trip(journal: Journal) -> None:
    order = _order()
    journal.record_order_intent(order, "strategy:grid-1", "signal mr-42")
    got = journal.order("c1")
    assert got == order
    assert got is not None
    for name in ("qty", "price", "stop_price", "filled_qty", "avg_price"):
        assert _same_decimal(getattr(got, name), getattr(order, name)), name
    record = journal.order_record("c1")
    assert record is not None
    assert (record.origin, record.reason) == ("strategy:grid-1", "signal mr-42")
    assert journal.open_orders() == [order]  # PENDING_NEW counts: it must be reconciled
    assert journal.order("nope") is None

    (event,) = journal.order_events("c1")
    assert (event.kind, event.status, event.ts) == ("intent", OrderStatus.PENDING_NEW, order.created_at)
    assert event.payload["stop_price"] == "1.2E+2"


@pytest.mark.timeout(10)
def test_intent_validation(journal: Journal) -> None:
    journal.record_order_intent(_order(), "manual")
    with pytest.raises(DuplicateOrder):
        journal.record_order_intent(_order(), "manual")
    for bad in ("", "strategy:", "robot", "webhook: x", "Manual"):
        with pytest.raises(ValueError, match="origin"):
            journal.record_order_intent(_order("c2"), bad)
    assert journal.order("c2") is None
    journal.record_order_intent(_order("c3"), "webhook:marketraker")


@pytest.mark.timeout(10)
def test_order_events_update_the_order(journal: Journal) -> None:
    journal.record_order_intent(_order(), "manual")
    t = 1_700_000_000_100
    journal.record_order_event("c1", OrderUpdate("c1", OrderStatus.NEW, t, venue_order_id="9001"))
    after = journal.record_order_event(
        "c1",
        OrderUpdate(
            "c1",
            OrderStatus.PARTIALLY_FILLED,
            t + 1,
            filled_qty=Decimal("0.500"),
            avg_price=Decimal("123.45000"),
        ),
    )
    stored = journal.order("c1")
    assert stored == after
    assert stored is not None
    assert stored.status is OrderStatus.PARTIALLY_FILLED
    assert stored.venue_order_id == "9001"
    assert _same_decimal(stored.filled_qty, Decimal("0.500"))
    assert _same_decimal(stored.avg_price, Decimal("123.45000"))
    assert stored.updated_at == t + 1

    # The OMS may hand over the state it computed itself (here: a cancel request).
    pending = stored.request_cancel(t + 2)
    journal.record_order_event("c1", OrderUpdate("c1", OrderStatus.PENDING_CANCEL, t + 2), result=pending)
    assert journal.order("c1") == pending
    assert journal.order("c1").status_before_cancel is OrderStatus.PARTIALLY_FILLED  # type: ignore[union-attr]

    journal.record_order_event("c1", OrderUpdate("c1", OrderStatus.CANCELED, t + 3, reason="user"))
    assert journal.open_orders() == []
    final = journal.order("c1")
    assert final is not None and final.status is OrderStatus.CANCELED and final.reason == "user"

    # An update contradicting a terminal status is kept for the post-mortem, not applied.
    with pytest.raises(IllegalTransition):
        journal.record_order_event("c1", OrderUpdate("c1", OrderStatus.FILLED, t + 4))
    assert journal.order("c1") == final
    kinds = [(e.kind, e.status) for e in journal.order_events("c1")]
    assert kinds == [
        ("intent", OrderStatus.PENDING_NEW),
        ("update", OrderStatus.NEW),
        ("update", OrderStatus.PARTIALLY_FILLED),
        ("update", OrderStatus.PENDING_CANCEL),
        ("update", OrderStatus.CANCELED),
        ("illegal", OrderStatus.FILLED),
    ]
    assert journal.order_events("c1")[2].payload["filled_qty"] == "0.500"

    with pytest.raises(UnknownOrder):
        journal.record_order_event("ghost", OrderUpdate("ghost", OrderStatus.NEW, t))
    assert journal.order_events("ghost") == []


# ---------------------------------------------------------------------- fills


@pytest.mark.timeout(10)
def test_fill_round_trip_and_idempotence(journal: Journal) -> None:
    fill = _fill()
    assert journal.record_fill(fill) is True
    assert journal.record_fill(fill) is False  # replayed by a reconnect: ignored
    # Same trade id on another symbol is a different trade.
    other = _fill(symbol="BTCUSDT", ts=fill.ts + 10)
    assert journal.record_fill(other) is True
    assert journal.fills() == [fill, other]
    got = journal.fills()[0]
    for name in ("price", "qty", "fee", "realized_pnl"):
        assert _same_decimal(getattr(got, name), getattr(fill, name)), name
    assert journal.fills(symbol="BTCUSDT") == [other]
    assert journal.fills(since=fill.ts + 1) == [other]
    assert journal.fills(since=fill.ts + 1, symbol="SOLUSDT") == []

    spot = Fill(Venue.BINANCE_SPOT, "BTCUSDT", "c9", None, "t2", Side.BUY, Decimal("1"), Decimal("2"), 5)
    assert journal.record_fill(spot) is True
    assert journal.fills(since=0, symbol="BTCUSDT")[0] == spot  # None pnl/venue id survive


# ---------------------------------------------------------------------- signals, audit


@pytest.mark.timeout(10)
def test_signal_and_audit_round_trip(journal: Journal) -> None:
    sig = Signal(
        id="mr-42",
        source=SignalSource.MARKETRAKER,
        symbol="SOLUSDT",
        side=Side.BUY,
        received_at=1_700_000_000_000,
        entry=Decimal("100.10"),
        stop=Decimal("95"),
        target=Decimal("1.1E+2"),
        confidence=0.75,
        raw={"nested": {"a": [1, 2]}, "price": "100.10"},
    )
    s1 = journal.record_signal(sig, SignalVerdict.ACCEPTED)
    s2 = journal.record_signal(sig, SignalVerdict.DUPLICATE, "seen at 1700000000000")
    assert s2 > s1
    first, second = journal.signals()
    assert (first.signal_id, first.source, first.symbol, first.verdict, first.reason) == (
        "mr-42",
        "marketraker",
        "SOLUSDT",
        SignalVerdict.ACCEPTED,
        None,
    )
    assert first.payload["entry"] == "100.10" and first.payload["target"] == "1.1E+2"
    assert first.payload["raw"] == {"nested": {"a": [1, 2]}, "price": "100.10"}
    assert second.verdict is SignalVerdict.DUPLICATE and second.reason == "seen at 1700000000000"
    assert journal.signals(since=sig.received_at + 1) == []

    journal.audit("user", "kill_switch", {"state": "HALTED", "limit": Decimal("250.00")}, ts=10)
    journal.audit("system", "mode", ts=20)
    log = journal.audit_log()
    assert [(a.ts, a.actor, a.action) for a in log] == [(10, "user", "kill_switch"), (20, "system", "mode")]
    assert log[0].detail == {"state": "HALTED", "limit": "250.00"}
    assert log[1].detail == {}
    assert journal.audit_log(since=15) == [log[1]]


# ---------------------------------------------------------------------- export


@pytest.mark.timeout(10)
def test_export_csv(journal: Journal, tmp_path: Path) -> None:
    journal.record_order_intent(_order(), "manual", "why not")
    journal.record_fill(_fill())
    journal.record_fill(_fill("t2", ts=1_700_000_000_900))

    out = tmp_path / "fills.csv"
    assert journal.export_csv(JournalTable.FILLS, out) == 2
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["trade_id"] for r in rows] == ["t1", "t2"]
    assert rows[0]["price"] == "123.4500" and rows[0]["fee"] == "0.00617250"
    assert rows[0]["realized_pnl"] == "-1E-7"  # str(Decimal) as stored: exact
    assert rows[0]["is_maker"] == "1" and rows[0]["venue"] == "binance_usdm"

    out = tmp_path / "orders.csv"
    assert journal.export_csv("orders", out) == 1
    with out.open(newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert (row["client_order_id"], row["qty"], row["stop_price"], row["avg_price"]) == (
        "c1",
        "1.500",
        "1.2E+2",
        "",
    )
    assert (row["origin"], row["reason"]) == ("manual", "why not")

    with pytest.raises(ValueError):
        journal.export_csv("sqlite_master; DROP TABLE fills", tmp_path / "x.csv")
    assert journal.export_csv(JournalTable.AUDIT, tmp_path / "audit.csv") == 0
    assert (tmp_path / "audit.csv").read_text().strip() == "seq,ts,actor,action,detail"


# ---------------------------------------------------------------------- concurrency, crashes


@pytest.mark.timeout(20)
def test_reader_sees_committed_rows_while_writer_active(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    writer = Journal.open(path)
    reader = Journal.open(path)
    try:
        writer.record_fill(_fill("t0"))
        # Another connection holds the write lock with an uncommitted row: in WAL mode the
        # reader is not blocked and sees exactly the committed state.
        raw = sqlite3.connect(path, isolation_level=None)
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("INSERT INTO audit (ts, actor, action, detail) VALUES (1, 'x', 'uncommitted', '{}')")
        started = time.monotonic()
        assert [f.trade_id for f in reader.fills()] == ["t0"]
        assert reader.audit_log() == []
        assert time.monotonic() - started < 1.0  # not waiting on busy_timeout
        raw.execute("COMMIT")
        raw.close()
        assert [a.action for a in reader.audit_log()] == ["uncommitted"]

        # A writer thread committing continuously; the reader polls meanwhile and its view
        # only ever grows, never erroring with "database is locked".
        stop = threading.Event()

        def write() -> None:
            i = 1
            while not stop.is_set():
                writer.record_fill(_fill(f"t{i}", ts=1_700_000_000_500 + i))
                i += 1

        thread = threading.Thread(target=write)
        thread.start()
        seen = []
        try:
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                seen.append(len(reader.fills()))
        finally:
            stop.set()
            thread.join(5)
        assert seen == sorted(seen)
        assert seen[-1] > 1
        assert len(reader.fills()) == len(writer.fills())
    finally:
        writer.close()
        reader.close()


@pytest.mark.timeout(30)
def test_kill_9_loses_no_committed_write(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.storage.journal_writer", str(path)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reported: list[int] = []
    try:
        assert child.stdout is not None
        # Let it get going, then kill it at an arbitrary point of its write loop.
        while len(reported) < 60:
            line = child.stdout.readline()
            if not line:
                pytest.fail(f"writer died early: {child.stderr.read() if child.stderr else ''}")
            reported.append(int(line))
        os.kill(child.pid, signal.SIGKILL)
        # Everything it printed before dying was committed before printing.
        reported += [int(line) for line in child.stdout.read().split()]
    finally:
        child.kill()
        child.wait(5)
    assert child.returncode == -signal.SIGKILL

    with Journal.open(path) as j:
        assert j.integrity_check() == "ok"
        trade_ids = {f.trade_id for f in j.fills()}
        missing = [i for i in reported if f"t{i}" not in trade_ids or j.order(f"k9-{i}") is None]
        assert missing == []
        # Nothing half-written either: every fill's intent is there (each step is intent then fill).
        assert all(j.order(f"k9-{t[1:]}") is not None for t in trade_ids)
        assert len(trade_ids) >= len(reported)


def test_an_audit_entry_rides_in_the_order_intents_transaction(tmp_path):
    """A bracket's record and its entry order are written together or not at all."""
    from terminal.storage.journal import AuditEntry

    with Journal.open(tmp_path / "j.sqlite3") as j:
        j.record_order_intent(
            _order("e1"), "manual", audit=AuditEntry("manual", "bracket_open", {"bracket": "b1"})
        )
        assert [(a.action, a.detail) for a in j.audit_log()] == [("bracket_open", {"bracket": "b1"})]
        with pytest.raises(DuplicateOrder):  # the order fails: its audit entry is not written either
            j.record_order_intent(
                _order("e1"), "manual", audit=AuditEntry("manual", "bracket_open", {"bracket": "b2"})
            )
        assert [a.detail["bracket"] for a in j.audit_log()] == ["b1"]


def test_audit_log_filters_by_action(tmp_path):
    with Journal.open(tmp_path / "j.sqlite3") as j:
        j.audit("manual", "a", {"n": 1}, ts=1)
        j.audit("manual", "b", {"n": 2}, ts=2)
        j.audit("manual", "a", {"n": 3}, ts=3)
        assert [r.detail["n"] for r in j.audit_log(actions=("a",))] == [1, 3]
        assert [r.detail["n"] for r in j.audit_log(since=2, actions=("a", "b"))] == [2, 3]
        assert j.audit_log(actions=()) == []
        assert len(j.audit_log()) == 3
