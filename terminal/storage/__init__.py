"""Persistence: the SQLite trading journal (candle/history store to follow)."""

from terminal.storage.journal import (
    JOURNAL_FILENAME,
    SCHEMA_VERSION,
    AuditRecord,
    DuplicateOrder,
    Journal,
    JournalCorrupt,
    JournalError,
    JournalTable,
    OrderEventRecord,
    OrderRecord,
    SignalRecord,
    SignalVerdict,
    UnknownOrder,
    validate_origin,
)

__all__ = [
    "JOURNAL_FILENAME",
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
    "validate_origin",
]
