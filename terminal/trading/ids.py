"""Client order ids that stay unique across restarts and fit every venue.

Layout: ``<prefix>-<ms time><counter><random>``, lower-case base 36 only, 28 characters at
most. Binance allows ``^[.A-Z:/a-z0-9_-]{1,36}$`` and Bybit's orderLinkId up to 36
characters of letters, digits, ``-`` and ``_``: this alphabet is inside both.

* the millisecond time makes ids of different runs differ (a restarted process never
  re-issues an id, even if the journal was lost);
* the counter makes ids of one run differ within the same millisecond;
* the random part covers two processes started in the same millisecond with one prefix.

Ids sort by creation time within a prefix, which keeps the journal and venue lists readable.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Callable

__all__ = ["MAX_ID_LEN", "ClientIdGenerator", "is_valid_client_id"]

MAX_ID_LEN = 36  # Binance newClientOrderId and Bybit orderLinkId
_PREFIX_RE = re.compile(r"^[a-z0-9]{1,8}$")
_VALID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")  # Binance's rule, the stricter charset
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_TIME_LEN = 9  # base 36 ms: 9 digits last until the year 5188
_COUNTER_LEN = 4  # 36**4 = 1.7 M ids per millisecond before the counter wraps
_RANDOM_LEN = 6  # ~31 bits


def _b36(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, digit = divmod(value, 36)
        out.append(_ALPHABET[digit])
    return "".join(reversed(out))


def is_valid_client_id(client_id: str) -> bool:
    """True if both Binance and Bybit accept ``client_id``."""
    return bool(_VALID_RE.match(client_id))


class ClientIdGenerator:
    """``next()`` returns a fresh id; ``owns(id)`` tells ids of this prefix from foreign ones."""

    def __init__(self, prefix: str = "t", *, clock_ms: Callable[[], int] | None = None) -> None:
        if not _PREFIX_RE.match(prefix):
            raise ValueError(f"client id prefix must be 1-8 of [a-z0-9], got {prefix!r}")
        self.prefix = prefix
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._counter = itertools.count(secrets.randbelow(36**_COUNTER_LEN))

    def next(self) -> str:
        stamp = _b36(self._clock_ms() % 36**_TIME_LEN, _TIME_LEN)
        counter = _b36(next(self._counter) % 36**_COUNTER_LEN, _COUNTER_LEN)
        rand = _b36(secrets.randbelow(36**_RANDOM_LEN), _RANDOM_LEN)
        client_id = f"{self.prefix}-{stamp}{counter}{rand}"
        assert len(client_id) <= MAX_ID_LEN
        return client_id

    __call__ = next

    def owns(self, client_id: str) -> bool:
        return client_id.startswith(f"{self.prefix}-")
