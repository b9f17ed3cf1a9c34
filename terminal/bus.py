"""A typed in-process event bus: publish an event, every handler subscribed to its type runs.

Synchronous dispatch on the caller's (the asyncio loop's) thread, in subscription order: an
adapter's message becomes engine state before the next message is read, with no queue to
overflow and no task per event. A handler that raises is logged and does not stop the others
(one broken widget or strategy must not blind the OMS).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["EventBus"]

log = logging.getLogger(__name__)

E = TypeVar("E")


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Callable[[Any], None]]] = defaultdict(list)
        self._any: list[Callable[[Any], None]] = []
        self.published = 0
        self.handler_errors = 0

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call ``handler`` for every event of exactly ``event_type``; returns an unsubscribe function."""
        self._handlers[event_type].append(handler)
        return lambda: self._handlers[event_type].remove(handler)

    def subscribe_all(self, handler: Callable[[Any], None]) -> Callable[[], None]:
        self._any.append(handler)
        return lambda: self._any.remove(handler)

    def publish(self, event: object) -> None:
        self.published += 1
        for handler in self._handlers.get(type(event), ()):
            self._call(handler, event)
        for handler in self._any:
            self._call(handler, event)

    def _call(self, handler: Callable[[Any], None], event: object) -> None:
        try:
            handler(event)
        except Exception:
            self.handler_errors += 1
            log.exception("event handler %r failed on %s", handler, type(event).__name__)
