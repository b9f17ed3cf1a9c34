"""Logging setup: console + a rotating file in the data directory, text or JSON lines, every
record tagged with the current correlation id and scrubbed of anything that looks like a secret.

The filters sit on *our handlers*, not on loggers: a logger's filters do not see records that
propagate up from child loggers, a handler's see them all. Scrubbing rewrites the record itself
(message, args, exception text), so handlers that run after ours (the UI's log dock) get the
scrubbed text as well; attaching ``SecretScrubber`` to those too makes it independent of order.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from terminal.ops.correlation import correlation_id

__all__ = [
    "LOG_FILENAME",
    "CorrelationFilter",
    "JsonFormatter",
    "LogHandles",
    "SecretScrubber",
    "configure_logging",
    "scrub",
]

LOG_FILENAME = "terminal.log"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(correlation)s: %(message)s"
MASK = "***"

# key=value / "key": "value" / key: value where the key names a secret. The value runs to the
# next separator; quoted values to the closing quote.
_KEY = r"(?:api[_-]?(?:key|secret)|secret(?:[_-]?key)?|passphrase|password|passwd|token|signature|x-mbx-apikey|x-bapi-api-key|x-bapi-sign|authorization|private[_-]?key)"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM private keys (a MarketRaker public key is harmless, a private one never is)
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
        "-----PRIVATE KEY " + MASK + "-----",
    ),
    # "key": "value" (JSON, Python reprs)
    (re.compile(rf"""(?i)(["']{_KEY}["']\s*[:=]\s*)(["'])(?:(?!\2).)*\2"""), rf"\1\2{MASK}\2"),
    # key=value / key: value (query strings, headers, kwargs)
    (
        re.compile(rf"""(?i)(\b{_KEY}\b\s*[:=]\s*)(?!\*\*\*)(?:Bearer\s+|Basic\s+)?[^\s&,;'"}})\]]+"""),
        rf"\1{MASK}",
    ),
    (re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {MASK}"),
    # Telegram bot tokens (also inside api.telegram.org/bot<token>/ URLs)
    (re.compile(r"(?<!\d)\d{6,12}:[A-Za-z0-9_-]{30,}"), MASK),
    # Binance-style API keys/secrets: 64 letters and digits; other long opaque tokens (>= 40,
    # mixed letters and digits). Hex digests of 64 chars are caught too: a price never is.
    (re.compile(r"\b(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{40,}\b"), MASK),
)


class SecretScrubber(logging.Filter):
    """Masks secrets in a record: known values (``add``) and anything shaped like one."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._known: set[str] = set()
        self._lock = threading.Lock()
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        """Mask this exact value wherever it appears (credentials the app has loaded)."""
        if secret and len(secret) >= 6:  # shorter values would mask ordinary words
            with self._lock:
                self._known.add(secret)

    def scrub(self, text: str) -> str:
        for known in sorted(self._known, key=len, reverse=True):
            if known in text:
                text = text.replace(known, MASK)
        return scrub(text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what we can, scrubbed
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = self.scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


def scrub(text: str) -> str:
    """``text`` with secret-shaped substrings masked."""
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class CorrelationFilter(logging.Filter):
    """``record.correlation_id`` (None without one) and ``record.correlation`` (" [id]" or "")."""

    def filter(self, record: logging.LogRecord) -> bool:
        cid = getattr(record, "correlation_id", None) or correlation_id.get()
        record.correlation_id = cid
        record.correlation = f" [{cid}]" if cid else ""
        return True


_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "correlation",
    "correlation_id",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC ISO-8601), level, logger, msg, correlation_id, plus
    any ``extra=`` fields, exc (traceback text) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        cid = getattr(record, "correlation_id", None) or correlation_id.get()
        if cid:
            out["correlation_id"] = cid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, default=str, ensure_ascii=False)


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Every file it opens (the first and each after a rollover) is readable by the user only:
    logs name orders, positions and signals."""

    def _open(self) -> Any:
        stream = super()._open()
        os.chmod(self.baseFilename, 0o600)
        return stream


@dataclass(slots=True)
class LogHandles:
    """What ``configure_logging`` installed; ``close()`` removes it again (tests, mode switch)."""

    path: Path
    file: logging.handlers.RotatingFileHandler
    console: logging.Handler | None
    scrubber: SecretScrubber
    previous_level: int
    root: logging.Logger = field(default_factory=logging.getLogger)

    @property
    def handlers(self) -> tuple[logging.Handler, ...]:
        return (self.file,) if self.console is None else (self.file, self.console)

    def close(self) -> None:
        for handler in self.handlers:
            self.root.removeHandler(handler)
            handler.close()
        self.root.setLevel(self.previous_level)


def configure_logging(
    data_dir: str | Path,
    *,
    json: bool = False,
    level: int | str = logging.INFO,
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 5,
    console: bool = True,
    stream: IO[str] | None = None,
    secrets: tuple[str, ...] = (),
) -> LogHandles:
    """Root logging to ``<data_dir>/logs/terminal.log`` (rotated at ``max_bytes``, ``backups``
    kept) and, with ``console``, to ``stream`` (stderr). Replaces handlers an earlier call
    installed; leaves other handlers (the UI's log dock) alone."""
    if max_bytes < 1024:
        raise ValueError(f"max_bytes must be at least 1024, got {max_bytes}")
    if backups < 1:
        raise ValueError(f"backups must be at least 1, got {backups}")
    if isinstance(level, str):
        named = logging.getLevelName(level.upper())
        if not isinstance(named, int):
            raise ValueError(f"unknown log level {level!r}")
        level = named
    log_dir = Path(data_dir) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_FILENAME
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_terminal_ops", False)]:
        root.removeHandler(old)
        old.close()
    scrubber = SecretScrubber(secrets)
    formatter: logging.Formatter = JsonFormatter() if json else logging.Formatter(TEXT_FORMAT)
    file_handler = _PrivateRotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    handlers: list[logging.Handler] = [file_handler]
    console_handler: logging.Handler | None = None
    if console:
        console_handler = logging.StreamHandler(stream or sys.stderr)
        handlers.append(console_handler)
    for handler in handlers:
        handler.addFilter(scrubber)  # first: the correlation text must not be scrubbed away
        handler.addFilter(CorrelationFilter())
        handler.setFormatter(formatter)
        handler._terminal_ops = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    previous = root.level
    root.setLevel(level)
    return LogHandles(path, file_handler, console_handler, scrubber, previous, root)
