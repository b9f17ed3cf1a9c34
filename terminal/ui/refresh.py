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

__all__ = ["Panel", "Refresher"]

log = logging.getLogger(__name__)


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
