"""Coalesced redraws: panels repaint at the display rate from engine snapshots, never per event.

A flood of market data only bumps the engine's change counters; one ``QTimer`` (default 30 Hz)
compares ``Engine.versions()`` with the last tick and calls ``refresh`` on the panels, so the
work per frame is bounded whatever the message rate. Panels decide from the ``Versions`` what
they need to redraw (equal numbers: nothing changed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject, QTimer

from terminal.engine.engine import Versions

__all__ = ["SLOT_MS", "FrameSlots", "Panel", "Refresher", "Throttle"]

log = logging.getLogger(__name__)

SLOT_MS = 20  # FrameSlots: one throttled panel may draw every 20 ms (50 slots a second)


class Panel(Protocol):
    def refresh(self, versions: Versions) -> None:
        """Redraw what changed since the last call (compare with the versions seen last)."""


class Refresher(QObject):
    def __init__(
        self, versions: Callable[[], Versions], *, hz: float = 30.0, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._versions = versions
        self._panels: list[Panel] = []
        self._last: Versions | None = None
        self.frames = 0  # ticks that called the panels
        self.last_frame_ms = 0.0  # wall time the panels took on the last such tick
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000 / hz)))
        self._timer.timeout.connect(self.tick)

    def add(self, panel: Panel) -> None:
        self._panels.append(panel)
        self._last = None  # the new panel needs a first full draw

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def tick(self, *, force: bool = False) -> None:
        current = self._versions()
        if current == self._last and not force:
            return
        self._last = current
        t0 = time.perf_counter()
        for panel in self._panels:
            try:
                panel.refresh(current)
            except Exception:  # one broken panel must not freeze the others
                log.exception("panel %r failed to refresh", panel)
        self.last_frame_ms = (time.perf_counter() - t0) * 1000
        self.frames += 1


class FrameSlots(QObject):
    """Hands out draw slots to the throttled panels: at most one of them draws per slot.

    Qt repaints every dirty widget of a window in one pass, so panels that redraw on the same
    loop turn add up to one long stall (event-loop lag is the longest uninterrupted stretch
    of work). The overview panels each ask for a few frames a second; spreading them over
    separate slots keeps every pass to the ladder plus at most one of them. The timer runs
    only while some panel is waiting.
    """

    _shared: FrameSlots | None = None

    def __init__(self, slot_ms: int = SLOT_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._waiting: list[Throttle] = []
        self.slots_used = 0
        self._timer = QTimer(self)
        self._timer.setInterval(slot_ms)
        self._timer.timeout.connect(self.tick)

    @classmethod
    def shared(cls) -> FrameSlots:
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    @property
    def active(self) -> bool:
        """Some throttled panel is waiting for a slot (the timer runs only then)."""
        return self._timer.isActive()

    def wait(self, throttle: Throttle) -> None:
        if throttle not in self._waiting:
            self._waiting.append(throttle)
        if not self._timer.isActive():
            self._timer.start()

    def forget(self, throttle: Throttle) -> None:
        if throttle in self._waiting:
            self._waiting.remove(throttle)

    def tick(self) -> None:
        now = time.monotonic()
        due = [t for t in self._waiting if t.due(now)]
        if due:
            # the one that has waited longest since its last draw
            chosen = min(due, key=lambda t: t.last_draw)
            self._waiting.remove(chosen)
            self.slots_used += 1
            try:
                chosen.now()
            except RuntimeError:  # its panel was deleted while it waited
                log.debug("throttled panel gone", exc_info=True)
        if not self._waiting:
            self._timer.stop()


class Throttle(QObject):
    """Runs ``draw`` at most once per ``min_interval_s``, in a slot of ``FrameSlots``; a
    request in between is drawn when the interval ends (never dropped, never queued twice).

    For panels the eye reads as an overview (depth chart, tape, watchlist): they need far
    fewer frames than the ladder, and each repaint they skip is loop time given back.
    """

    def __init__(
        self,
        min_interval_s: float,
        draw: Callable[[], None],
        parent: QObject | None = None,
        slots: FrameSlots | None = None,
    ) -> None:
        super().__init__(parent)
        self.min_interval_s = min_interval_s
        self._draw = draw
        self._slots = slots or FrameSlots.shared()
        self.last_draw = float("-inf")
        self.draws = 0
        self.pending = False
        self.destroyed.connect(lambda *_: self._slots.forget(self))

    def due(self, now: float) -> bool:
        return now - self.last_draw >= self.min_interval_s

    def request(self) -> None:
        if not self.pending:
            self.pending = True
            self._slots.wait(self)

    def now(self) -> None:
        """Draw immediately (user actions: a market switch must not wait for the interval)."""
        self._slots.forget(self)
        self.pending = False
        self.last_draw = time.monotonic()
        self.draws += 1
        self._draw()
