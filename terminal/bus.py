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
Handler = Callable[[Any], None]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)
        self._any: list[Handler] = []
        # Per event type, the handlers to call (its own, then the catch-alls) as one tuple:
        # publish() runs per book diff, so it pays one dict lookup instead of two lookups,
        # two loops and a call indirection per handler. Rebuilt lazily after any (un)subscribe;
        # a dispatch in progress keeps the tuple it started with.
        self._dispatch: dict[type, tuple[Handler, ...]] = {}
        self.published = 0
        self.handler_errors = 0

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call ``handler`` for every event of exactly ``event_type``; returns an unsubscribe function."""
        self._handlers[event_type].append(handler)
        self._dispatch.clear()

        def unsubscribe() -> None:
            self._handlers[event_type].remove(handler)
            self._dispatch.clear()

        return unsubscribe

    def subscribe_all(self, handler: Callable[[Any], None]) -> Callable[[], None]:
        self._any.append(handler)
        self._dispatch.clear()

        def unsubscribe() -> None:
            self._any.remove(handler)
            self._dispatch.clear()

        return unsubscribe

    def publish(self, event: object) -> None:
        self.published += 1
        cls = type(event)
        try:
            handlers = self._dispatch[cls]
        except KeyError:
            handlers = self._dispatch[cls] = (*self._handlers.get(cls, ()), *self._any)
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                self._failed(handler, event)

    def _failed(self, handler: Handler, event: object) -> None:
        self.handler_errors += 1
        log.exception("event handler %r failed on %s", handler, type(event).__name__)
