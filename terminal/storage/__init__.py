"""Persistence: the SQLite trading journal; the candle history store (`history.py`) and the
stream recorder (`recorder.py`) are imported from their modules."""

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
