"""The trading journal: one SQLite file recording order intents, order events, fills,
received signals and an audit trail.

Durability rules (why the settings below are what they are):

* ``journal_mode=WAL``: readers (UI, exports, a second process) never block the writer and
  never see a half-written transaction; a crash leaves the last committed state intact.
* ``synchronous=FULL``: in WAL mode ``NORMAL`` already survives a killed *process* (the WAL
  sits in the OS page cache), but a power cut or kernel crash can drop the last commits. An
  order intent must survive those too: if the venue accepted the order but we forgot its
  client id we can neither reconcile nor cancel it, and a forgotten fill corrupts positions
  and PnL. So every commit fsyncs the WAL. The cost (one fsync per order/fill, ~ms) is small
  against a network round trip, and signal/audit writes are rare enough to share it.
* Every public write is one short ``BEGIN IMMEDIATE ... COMMIT`` transaction: it either fully
  happens or not at all, and when the method returns the row is durable. That is what lets
  the OMS call :meth:`Journal.record_order_intent` *before* sending a request.

Threading/asyncio: the methods are synchronous and each is one short transaction (well under
a millisecond plus one fsync), so a coroutine on the asyncio loop may call them directly. A
lock serialises callers from other threads (e.g. a webhook server) on the one connection.

Decimals are stored as TEXT (``str(d)``) in STRICT tables: exact, including trailing zeros,
and SQLite never coerces them to floating point.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

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
    TimeInForce,
    Venue,
)

__all__ = [
    "EXTERNAL_ORIGIN",
    "JOURNAL_FILENAME",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "AuditRecord",
    "DuplicateOrder",
    "Journal",
    "JournalCorrupt",
    "JournalError",
    "JournalTable",
    "OrderEventRecord",
    "OrderRecord",
    "SignalRecord",
    "SignalVerdict",
    "UnknownOrder",
    "WebhookOutcome",
    "WebhookRequestRecord",
    "kill_switch_origin",
    "validate_origin",
]

JOURNAL_FILENAME = "journal.sqlite3"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_BUSY_TIMEOUT_MS = 5000  # another process writing: wait for it rather than fail at once

# Each entry upgrades the schema by one version; PRAGMA user_version records how many ran.
# Append only: never edit a released migration, add a new one.
MIGRATIONS: Sequence[Sequence[str]] = (
    (  # 1: initial schema
        """CREATE TABLE orders (
            client_order_id TEXT PRIMARY KEY,
            venue TEXT NOT NULL,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL,
            type TEXT NOT NULL,
            tif TEXT NOT NULL,
            qty TEXT NOT NULL,
            price TEXT,
            stop_price TEXT,
            reduce_only INTEGER NOT NULL,
            post_only INTEGER NOT NULL,
            position_side TEXT NOT NULL,
            venue_order_id TEXT,
            status TEXT NOT NULL,
            filled_qty TEXT NOT NULL,
            avg_price TEXT,
            created_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL,
            origin TEXT NOT NULL,
            reason TEXT,             -- why we placed it (the intent's reason)
            status_reason TEXT,      -- the venue's reject/cancel reason (Order.reason)
            status_before_cancel TEXT
        ) STRICT""",
        "CREATE INDEX orders_status ON orders(status)",
        """CREATE TABLE order_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            client_order_id TEXT NOT NULL,
            ts INTEGER NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            payload TEXT NOT NULL
        ) STRICT""",
        "CREATE INDEX order_events_client ON order_events(client_order_id, seq)",
        """CREATE TABLE fills (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            venue TEXT NOT NULL,
            symbol TEXT NOT NULL,
            trade_id TEXT NOT NULL,
            client_order_id TEXT NOT NULL,
            venue_order_id TEXT,
            side TEXT NOT NULL,
            position_side TEXT NOT NULL,
            price TEXT NOT NULL,
            qty TEXT NOT NULL,
            fee TEXT NOT NULL,
            fee_asset TEXT NOT NULL,
            realized_pnl TEXT,
            is_maker INTEGER NOT NULL,
            ts INTEGER NOT NULL,
            UNIQUE (venue, symbol, trade_id)
        ) STRICT""",
        "CREATE INDEX fills_ts ON fills(ts)",
        """CREATE TABLE signals (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            signal_id TEXT NOT NULL,
            source TEXT NOT NULL,
            received_ms INTEGER NOT NULL,
            symbol TEXT NOT NULL,
            payload TEXT NOT NULL,
            verdict TEXT NOT NULL,
            reason TEXT
        ) STRICT""",
        "CREATE INDEX signals_id ON signals(source, signal_id)",
        """CREATE TABLE audit (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts INTEGER NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL
        ) STRICT""",
    ),
    (  # 2: origin "external" for orders adopted from the venue (they were "manual" with an
        # "adopted:" reason); an index for per-venue/symbol order queries (reconcile windows).
        "UPDATE orders SET origin='external' WHERE origin='manual' AND reason LIKE 'adopted:%'",
        "CREATE INDEX orders_venue_symbol ON orders(venue, symbol, created_ms)",
    ),
    (  # 3: every request the webhook listener answered, accepted or not (never its secrets:
        # no signature header, no hook secret). ``body`` is the text as received (secret-looking
        # JSON fields masked), NULL when it was not read (too large, no such hook or route).
        """CREATE TABLE webhook_requests (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            received_ms INTEGER NOT NULL,
            hook TEXT NOT NULL,
            method TEXT NOT NULL,
            path TEXT NOT NULL,
            remote TEXT,
            status INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            reason TEXT,
            signal_id TEXT,
            body_size INTEGER NOT NULL,
            body_sha256 TEXT,
            body TEXT,
            headers TEXT NOT NULL,
            elapsed_us INTEGER NOT NULL
        ) STRICT""",
        "CREATE INDEX webhook_requests_ms ON webhook_requests(received_ms)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


class JournalError(Exception):
    """The journal cannot be opened or used as asked."""


class JournalCorrupt(JournalError):
    """The file is not a (readable) SQLite journal; it was left untouched."""


class DuplicateOrder(JournalError):
    """An intent with this client order id is already journalled (ids must be unique)."""


class UnknownOrder(JournalError, KeyError):
    """An event refers to a client order id the journal has never seen."""


class SignalVerdict(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


class JournalTable(StrEnum):
    """Tables that can be exported; also the whitelist that keeps table names out of SQL
    injection reach."""

    ORDERS = "orders"
    ORDER_EVENTS = "order_events"
    FILLS = "fills"
    SIGNALS = "signals"
    AUDIT = "audit"
    WEBHOOK_REQUESTS = "webhook_requests"


class WebhookOutcome(StrEnum):
    """What the webhook listener made of a request (the HTTP status says it to the sender)."""

    ACCEPTED = "accepted"  # 200: verified, valid, first delivery; published
    DUPLICATE = "duplicate"  # 200 with duplicate: true; not published again
    IGNORED = "ignored"  # 202: verified but not actionable (unknown notification type)
    INVALID = "invalid"  # 400: malformed JSON, missing fields, wrong types
    UNAUTHORIZED = "unauthorized"  # 401: missing or bad signature
    NOT_FOUND = "not_found"  # 404/405: no such hook or route
    TIMEOUT = "timeout"  # 408: the body did not arrive in time
    TOO_LARGE = "too_large"  # 413
    RATE_LIMITED = "rate_limited"  # 429
    UNAVAILABLE = "unavailable"  # 503: our side cannot process it now (no key, journal error)


# Who placed an order:
# * ``manual`` - a person, in this terminal;
# * ``strategy:<name>`` / ``webhook:<name>`` - a strategy or a webhook source;
# * ``external`` - not this terminal: first seen on the venue (its web UI, another program)
#   and adopted into the journal;
# * ``kill_switch:<actor>`` - sent by the kill switch (flatten orders), ``<actor>`` being
#   who pulled it (``manual``, ``strategy:<name>``, ``webhook:<name>``, ``risk``, ...).
EXTERNAL_ORIGIN = "external"
_PLACER = r"(manual|(strategy|webhook):[^\s:][^\s]*)"
_ORIGIN_RE = re.compile(rf"^({_PLACER}|external|kill_switch:(risk|{_PLACER}))$")


def validate_origin(origin: str) -> str:
    """Origins are ``manual``, ``strategy:<name>``, ``webhook:<name>``, ``external`` or
    ``kill_switch:<actor>``; anything else is a caller bug, caught here so reports can group
    by origin reliably."""
    if not _ORIGIN_RE.match(origin):
        raise ValueError(
            f"bad order origin {origin!r}: expected manual, strategy:<name>, webhook:<name>, "
            "external or kill_switch:<actor>"
        )
    return origin


def kill_switch_origin(actor: str) -> str:
    """The origin of an order the kill switch sends on behalf of ``actor``."""
    return validate_origin(f"kill_switch:{actor}")


@dataclass(frozen=True, slots=True)
class OrderRecord:
    order: Order
    origin: str
    reason: str | None  # why the order was placed


@dataclass(frozen=True, slots=True)
class OrderEventRecord:
    seq: int
    client_id: str
    ts: int
    kind: str  # "intent", "update" or "illegal"
    status: OrderStatus
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SignalRecord:
    seq: int
    signal_id: str
    source: str
    received_at: int
    symbol: str
    payload: Mapping[str, Any]
    verdict: SignalVerdict
    reason: str | None


@dataclass(frozen=True, slots=True)
class WebhookRequestRecord:
    seq: int
    received_at: int  # ms
    hook: str  # "marketraker", a generic hook's name, or the path's name for unknown routes
    method: str
    path: str
    remote: str | None
    status: int
    outcome: WebhookOutcome
    reason: str | None
    signal_id: str | None
    body_size: int
    body_sha256: str | None
    body: str | None
    headers: Mapping[str, str]  # already stripped of secrets by the listener
    elapsed_us: int


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An audit record to write together with another journal write."""

    actor: str
    action: str
    detail: Mapping[str, Any]
    ts: int = 0  # 0: the other write's time


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    ts: int
    actor: str
    action: str
    detail: Mapping[str, Any]


# ---------------------------------------------------------------------- value conversion


def _dec(d: Decimal | None) -> str | None:
    return None if d is None else str(d)


def _undec(s: str | None) -> Decimal | None:
    return None if s is None else Decimal(s)


def _json_default(value: object) -> object:
    # Decimals as strings keep them exact; enums are StrEnums and serialise natively.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(value, default=_json_default, sort_keys=True, separators=(",", ":"))


def _update_payload(update: OrderUpdate) -> dict[str, Any]:
    return {
        "status": update.status,
        "ts": update.ts,
        "venue_order_id": update.venue_order_id,
        "filled_qty": update.filled_qty,
        "avg_price": update.avg_price,
        "reason": update.reason,
    }


def _signal_payload(signal: Signal) -> dict[str, Any]:
    return {
        "side": signal.side,
        "entry": signal.entry,
        "stop": signal.stop,
        "target": signal.target,
        "horizon": signal.horizon,
        "confidence": signal.confidence,
        "raw": signal.raw,
    }


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


_ORDER_COLUMNS = (
    "client_order_id, venue, symbol, side, type, tif, qty, price, stop_price, reduce_only, "
    "post_only, position_side, venue_order_id, status, filled_qty, avg_price, created_ms, "
    "updated_ms, origin, reason, status_reason, status_before_cancel"
)


def _order_from_row(row: sqlite3.Row) -> Order:
    before = row["status_before_cancel"]
    return Order(
        client_id=row["client_order_id"],
        venue=Venue(row["venue"]),
        symbol=row["symbol"],
        side=Side(row["side"]),
        type=OrderType(row["type"]),
        qty=Decimal(row["qty"]),
        price=_undec(row["price"]),
        stop_price=_undec(row["stop_price"]),
        tif=TimeInForce(row["tif"]),
        reduce_only=bool(row["reduce_only"]),
        post_only=bool(row["post_only"]),
        position_side=PositionSide(row["position_side"]),
        status=OrderStatus(row["status"]),
        venue_order_id=row["venue_order_id"],
        filled_qty=Decimal(row["filled_qty"]),
        avg_price=_undec(row["avg_price"]),
        created_at=row["created_ms"],
        updated_at=row["updated_ms"],
        reason=row["status_reason"],
        status_before_cancel=None if before is None else OrderStatus(before),
    )


def _fill_from_row(row: sqlite3.Row) -> Fill:
    return Fill(
        venue=Venue(row["venue"]),
        symbol=row["symbol"],
        client_id=row["client_order_id"],
        venue_order_id=row["venue_order_id"],
        trade_id=row["trade_id"],
        side=Side(row["side"]),
        price=Decimal(row["price"]),
        qty=Decimal(row["qty"]),
        ts=row["ts"],
        fee=Decimal(row["fee"]),
        fee_asset=row["fee_asset"],
        is_maker=bool(row["is_maker"]),
        position_side=PositionSide(row["position_side"]),
        realized_pnl=_undec(row["realized_pnl"]),
    )


# ---------------------------------------------------------------------- opening


def _check_header(path: Path) -> None:
    """Refuse a non-SQLite file *before* SQLite opens it: SQLite would otherwise create
    -wal/-shm files next to it, and a migration must never write into someone's file."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise JournalError(f"cannot read journal {path}: {exc}") from exc
    if head and head != _SQLITE_MAGIC:
        raise JournalCorrupt(f"{path} is not an SQLite database (bad header); refusing to open it")


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; we issue BEGIN IMMEDIATE ourselves so
    # each write takes the write lock up front instead of failing on upgrade mid-way.
    # check_same_thread=False: calls are serialised by Journal._lock instead.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode.lower() != "wal":
        conn.close()
        raise JournalError(f"{path}: cannot enable WAL mode (got {mode!r})")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"{path}: journal schema version {version} is newer than this program's {SCHEMA_VERSION}"
        )
    if version == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Re-read under the write lock: another process may have migrated meanwhile.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number]:
                conn.execute(statement)
            # user_version lives in the database header and is part of this transaction.
            conn.execute(f"PRAGMA user_version={number + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


# ---------------------------------------------------------------------- the journal


class Journal:
    """See the module docstring for durability and threading guarantees."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        self._lock = threading.RLock()  # batch() holds it around the writes it groups
        self._in_batch = False

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, path: str | Path) -> Journal:
        """Open (creating and migrating as needed) the journal file at ``path``."""
        path = Path(path)
        if path.is_dir():
            raise JournalError(f"{path} is a directory; use Journal.open_in() for a data directory")
        _check_header(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn: sqlite3.Connection | None = None
        try:
            conn = _connect(path)
            _migrate(conn, path)
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            raise JournalCorrupt(f"cannot open journal {path}: {exc}") from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return cls(conn, path)

    @classmethod
    def open_in(cls, data_dir: str | Path) -> Journal:
        """Open the journal kept as ``journal.sqlite3`` under a data directory."""
        return cls.open(Path(data_dir) / JOURNAL_FILENAME)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._read("PRAGMA user_version")[0][0])

    @property
    def journal_mode(self) -> str:
        return str(self._read("PRAGMA journal_mode")[0][0])

    def integrity_check(self) -> str:
        """'ok' when SQLite finds the file consistent, else its first complaint."""
        return str(self._read("PRAGMA integrity_check")[0][0])

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The writes inside go in one transaction: one fsync, all or none (e.g. a webhook's
        signal and its request row)."""
        with self._lock:
            if self._in_batch:
                raise RuntimeError("journal batches do not nest")
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_batch = True
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            finally:
                self._in_batch = False
            self._conn.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._in_batch:  # part of batch(): it commits (or rolls back) them all
                yield self._conn
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # ------------------------------------------------------------------ orders

    def record_order_intent(
        self, order: Order, origin: str, reason: str | None = None, *, audit: AuditEntry | None = None
    ) -> None:
        """Journal an order before its request is sent; durable when this returns. ``audit``
        goes in the same transaction (one fsync): e.g. a bracket's record and its entry order,
        which must never exist one without the other."""
        validate_origin(origin)
        created = order.created_at or _now_ms()
        updated = order.updated_at or created
        row = (
            order.client_id,
            order.venue,
            order.symbol,
            order.side,
            order.type,
            order.tif,
            _dec(order.qty),
            _dec(order.price),
            _dec(order.stop_price),
            int(order.reduce_only),
            int(order.post_only),
            order.position_side,
            order.venue_order_id,
            order.status,
            _dec(order.filled_qty),
            _dec(order.avg_price),
            created,
            updated,
            origin,
            reason,
            order.reason,
            order.status_before_cancel,
        )
        payload = {
            "venue": order.venue,
            "symbol": order.symbol,
            "side": order.side,
            "type": order.type,
            "qty": order.qty,
            "price": order.price,
            "stop_price": order.stop_price,
            "origin": origin,
            "reason": reason,
        }
        try:
            with self._write() as conn:
                conn.execute(
                    f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES ({','.join('?' * len(row))})", row
                )
                self._append_event(conn, order.client_id, created, "intent", order.status, payload)
                if audit is not None:
                    conn.execute(
                        "INSERT INTO audit (ts, actor, action, detail) VALUES (?,?,?,?)",
                        (audit.ts or created, audit.actor, audit.action, _dumps(audit.detail)),
                    )
        except sqlite3.IntegrityError as exc:
            raise DuplicateOrder(f"order {order.client_id} is already journalled") from exc

    def record_order_event(
        self, client_id: str, update: OrderUpdate, *, result: Order | None = None
    ) -> Order:
        """Append ``update`` to the order's history and store the order's new state.

        The new state is ``order.apply(update)`` unless the caller (the OMS, which owns the
        state machine) passes the ``result`` it computed, e.g. after ``cancel_rejected``.
        An update the state machine refuses is still appended (kind ``illegal``, for the
        post-mortem), the stored order is left as it was, and ``IllegalTransition`` raised.
        """
        if update.client_id != client_id:
            raise ValueError(f"update for {update.client_id} recorded under {client_id}")
        if result is not None and result.client_id != client_id:
            raise ValueError(f"result order {result.client_id} recorded under {client_id}")
        payload = _update_payload(update)
        illegal: IllegalTransition | None = None
        with self._write() as conn:
            row = conn.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id=?", (client_id,))
            found = row.fetchone()
            if found is None:
                raise UnknownOrder(f"no journalled order {client_id}")
            new = result
            if new is None:
                try:
                    new = _order_from_row(found).apply(update)
                except IllegalTransition as exc:
                    illegal = exc
            if new is None:
                payload["error"] = str(illegal)
                self._append_event(conn, client_id, update.ts, "illegal", update.status, payload)
            else:
                self._append_event(conn, client_id, update.ts, "update", update.status, payload)
                self._store_state(conn, new)
        if illegal is not None:
            raise illegal
        assert new is not None
        return new

    def _store_state(self, conn: sqlite3.Connection, order: Order) -> None:
        conn.execute(
            "UPDATE orders SET status=?, venue_order_id=?, filled_qty=?, avg_price=?, updated_ms=?, "
            "status_reason=?, status_before_cancel=? WHERE client_order_id=?",
            (
                order.status,
                order.venue_order_id,
                _dec(order.filled_qty),
                _dec(order.avg_price),
                order.updated_at,
                order.reason,
                order.status_before_cancel,
                order.client_id,
            ),
        )

    @staticmethod
    def _append_event(
        conn: sqlite3.Connection,
        client_id: str,
        ts: int,
        kind: str,
        status: OrderStatus,
        payload: Mapping[str, Any],
    ) -> None:
        conn.execute(
            "INSERT INTO order_events (client_order_id, ts, kind, status, payload) VALUES (?,?,?,?,?)",
            (client_id, ts, kind, status, _dumps(payload)),
        )

    def order(self, client_id: str) -> Order | None:
        rows = self._read(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id=?", (client_id,))
        return _order_from_row(rows[0]) if rows else None

    def order_record(self, client_id: str) -> OrderRecord | None:
        """The order with the origin and reason it was placed for."""
        rows = self._read(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id=?", (client_id,))
        if not rows:
            return None
        return OrderRecord(_order_from_row(rows[0]), rows[0]["origin"], rows[0]["reason"])

    def open_orders(self) -> list[Order]:
        """Every order not in a terminal status, oldest first.

        Includes PENDING_NEW: an intent whose request may or may not have reached the venue
        before a crash is exactly what a restart must reconcile.
        """
        terminal = [s.value for s in OrderStatus if s.is_terminal]
        marks = ",".join("?" * len(terminal))
        rows = self._read(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE status NOT IN ({marks}) ORDER BY created_ms, rowid",
            terminal,
        )
        return [_order_from_row(r) for r in rows]

    def orders(self, venue: Venue | None = None) -> list[Order]:
        """Every journalled order (of ``venue``), oldest first."""
        where, params = ("WHERE venue=?", (str(venue),)) if venue is not None else ("", ())
        rows = self._read(f"SELECT {_ORDER_COLUMNS} FROM orders {where} ORDER BY created_ms, rowid", params)
        return [_order_from_row(r) for r in rows]

    def order_symbols(self, venue: Venue) -> dict[str, int]:
        """Symbol -> creation time (ms) of its oldest journalled order, for every symbol
        ``venue`` has orders in."""
        rows = self._read(
            "SELECT symbol, MIN(created_ms) FROM orders WHERE venue=? GROUP BY symbol", (str(venue),)
        )
        return {r[0]: int(r[1]) for r in rows}

    def order_events(self, client_id: str) -> list[OrderEventRecord]:
        rows = self._read("SELECT * FROM order_events WHERE client_order_id=? ORDER BY seq", (client_id,))
        return [
            OrderEventRecord(
                seq=r["seq"],
                client_id=r["client_order_id"],
                ts=r["ts"],
                kind=r["kind"],
                status=OrderStatus(r["status"]),
                payload=json.loads(r["payload"]),
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ fills

    def record_fill(self, fill: Fill) -> bool:
        """Store a fill; False when (venue, symbol, trade id) is already known, so replays
        from reconnects and reconcile polls are harmless."""
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO fills (venue, symbol, trade_id, client_order_id, venue_order_id, side, "
                "position_side, price, qty, fee, fee_asset, realized_pnl, is_maker, ts) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (venue, symbol, trade_id) DO NOTHING",
                (
                    fill.venue,
                    fill.symbol,
                    fill.trade_id,
                    fill.client_id,
                    fill.venue_order_id,
                    fill.side,
                    fill.position_side,
                    _dec(fill.price),
                    _dec(fill.qty),
                    _dec(fill.fee),
                    fill.fee_asset,
                    _dec(fill.realized_pnl),
                    int(fill.is_maker),
                    fill.ts,
                ),
            )
            return cur.rowcount == 1

    def fills(self, since: int | None = None, symbol: str | None = None) -> list[Fill]:
        """Fills with ``ts >= since`` (ms) and/or of one symbol, in time order."""
        where, params = [], []
        if since is not None:
            where.append("ts >= ?")
            params.append(since)
        if symbol is not None:
            where.append("symbol = ?")
            params.append(symbol)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._read(f"SELECT * FROM fills {clause} ORDER BY ts, seq", params)
        return [_fill_from_row(r) for r in rows]

    # ------------------------------------------------------------------ signals, audit

    def record_signal(self, signal: Signal, verdict: SignalVerdict, reason: str | None = None) -> int:
        """Record a received signal and what we decided about it; returns its row number.
        Duplicates are recorded too (verdict DUPLICATE) so a replaying sender is visible."""
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO signals (signal_id, source, received_ms, symbol, payload, verdict, reason) "
                "VALUES (?,?,?,?,?,?,?)",
                (
                    signal.id,
                    signal.source,
                    signal.received_at,
                    signal.symbol,
                    _dumps(_signal_payload(signal)),
                    SignalVerdict(verdict),
                    reason,
                ),
            )
            return int(cur.lastrowid or 0)

    def signals(self, since: int | None = None) -> list[SignalRecord]:
        rows = self._read(
            "SELECT * FROM signals WHERE received_ms >= ? ORDER BY received_ms, seq",
            (since if since is not None else -(2**62),),
        )
        return [
            SignalRecord(
                seq=r["seq"],
                signal_id=r["signal_id"],
                source=r["source"],
                received_at=r["received_ms"],
                symbol=r["symbol"],
                payload=json.loads(r["payload"]),
                verdict=SignalVerdict(r["verdict"]),
                reason=r["reason"],
            )
            for r in rows
        ]

    def record_webhook_request(
        self,
        *,
        received_at: int,
        hook: str,
        method: str,
        path: str,
        status: int,
        outcome: WebhookOutcome,
        remote: str | None = None,
        reason: str | None = None,
        signal_id: str | None = None,
        body_size: int = 0,
        body_sha256: str | None = None,
        body: str | None = None,
        headers: Mapping[str, str] | None = None,
        elapsed_us: int = 0,
    ) -> WebhookRequestRecord:
        """Record one request the webhook listener answered. The caller strips secrets
        (signature headers, hook secrets) before calling: this stores what it is given."""
        outcome = WebhookOutcome(outcome)
        header_map = dict(headers or {})
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO webhook_requests (received_ms, hook, method, path, remote, status, outcome, "
                "reason, signal_id, body_size, body_sha256, body, headers, elapsed_us) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    received_at,
                    hook,
                    method,
                    path,
                    remote,
                    int(status),
                    outcome,
                    reason,
                    signal_id,
                    body_size,
                    body_sha256,
                    body,
                    _dumps(header_map),
                    elapsed_us,
                ),
            )
            seq = int(cur.lastrowid or 0)
        return WebhookRequestRecord(
            seq=seq,
            received_at=received_at,
            hook=hook,
            method=method,
            path=path,
            remote=remote,
            status=int(status),
            outcome=outcome,
            reason=reason,
            signal_id=signal_id,
            body_size=body_size,
            body_sha256=body_sha256,
            body=body,
            headers=header_map,
            elapsed_us=elapsed_us,
        )

    def webhook_requests(self, since: int | None = None) -> list[WebhookRequestRecord]:
        """Requests received at or after ``since`` (ms), oldest first."""
        rows = self._read(
            "SELECT * FROM webhook_requests WHERE received_ms >= ? ORDER BY received_ms, seq",
            (since if since is not None else -(2**62),),
        )
        return [
            WebhookRequestRecord(
                seq=r["seq"],
                received_at=r["received_ms"],
                hook=r["hook"],
                method=r["method"],
                path=r["path"],
                remote=r["remote"],
                status=r["status"],
                outcome=WebhookOutcome(r["outcome"]),
                reason=r["reason"],
                signal_id=r["signal_id"],
                body_size=r["body_size"],
                body_sha256=r["body_sha256"],
                body=r["body"],
                headers=json.loads(r["headers"]),
                elapsed_us=r["elapsed_us"],
            )
            for r in rows
        ]

    def audit(
        self, actor: str, action: str, detail: Mapping[str, Any] | None = None, ts: int | None = None
    ) -> int:
        """Record who did what (settings changed, kill switch, mode switch...)."""
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO audit (ts, actor, action, detail) VALUES (?,?,?,?)",
                (_now_ms() if ts is None else ts, actor, action, _dumps(detail or {})),
            )
            return int(cur.lastrowid or 0)

    def audit_log(
        self, since: int | None = None, actions: Collection[str] | None = None
    ) -> list[AuditRecord]:
        """Audit records in time order; ``actions`` keeps only those (the restores at start read
        their own few kinds, not the whole log)."""
        params: list[object] = [since if since is not None else -(2**62)]
        where = "ts >= ?"
        if actions is not None:
            wanted = list(actions)
            where += f" AND action IN ({','.join('?' * len(wanted))})" if wanted else " AND 0"
            params.extend(wanted)
        rows = self._read(f"SELECT * FROM audit WHERE {where} ORDER BY ts, seq", params)
        return [
            AuditRecord(r["seq"], r["ts"], r["actor"], r["action"], json.loads(r["detail"])) for r in rows
        ]

    # ------------------------------------------------------------------ export

    def export_csv(self, table: JournalTable | str, path: str | Path) -> int:
        """Write one table as CSV (header + rows exactly as stored, decimals as text);
        returns the number of data rows."""
        name = JournalTable(table)  # ValueError for anything not whitelisted
        rows = self._read(f"SELECT * FROM {name} ORDER BY rowid")
        with self._lock:
            columns = [c[1] for c in self._conn.execute(f"PRAGMA table_info({name})")]
        with Path(path).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(columns)
            for r in rows:
                writer.writerow(["" if v is None else v for v in r])
        return len(rows)
