"""The journal's webhook_requests table: migration from version 2, writes, reads, export."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from terminal.storage.journal import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Journal,
    JournalTable,
    WebhookOutcome,
    WebhookRequestRecord,
)


@pytest.mark.timeout(10)
def test_version_2_journal_gains_the_table_and_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite3"
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA journal_mode=WAL")
    for migration in MIGRATIONS[:2]:
        for statement in migration:
            raw.execute(statement)
    raw.execute("INSERT INTO audit (ts, actor, action, detail) VALUES (1, 'me', 'x', '{}')")
    raw.execute("PRAGMA user_version=2")
    raw.commit()
    raw.close()
    with Journal.open(path) as j:
        assert j.schema_version == SCHEMA_VERSION == 3
        assert j.integrity_check() == "ok"
        assert [a.action for a in j.audit_log()] == ["x"]
        assert j.webhook_requests() == []


@pytest.mark.timeout(10)
def test_record_read_and_export(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite3") as j:
        first = j.record_webhook_request(
            received_at=1000,
            hook="marketraker",
            method="POST",
            path="/marketraker/notification",
            status=200,
            outcome=WebhookOutcome.ACCEPTED,
            remote="127.0.0.1",
            signal_id="mr-abc",
            body_size=12,
            body_sha256="00" * 32,
            body='{"type": 1}',
            headers={"Content-Type": "application/json"},
            elapsed_us=850,
        )
        second = j.record_webhook_request(
            received_at=2000, hook="tv", method="POST", path="/signal/tv", status=429, outcome="rate_limited"
        )
        assert isinstance(first, WebhookRequestRecord) and first.seq < second.seq
        assert second.outcome is WebhookOutcome.RATE_LIMITED and second.headers == {}
        assert j.webhook_requests() == [first, second]
        assert j.webhook_requests(since=1500) == [second]
        with pytest.raises(ValueError):
            j.record_webhook_request(received_at=1, hook="x", method="GET", path="/", status=1, outcome="odd")
        out = tmp_path / "w.csv"
        assert j.export_csv(JournalTable.WEBHOOK_REQUESTS, out) == 2
        rows = list(csv.DictReader(out.open()))
        assert rows[0]["outcome"] == "accepted" and rows[1]["status"] == "429"
