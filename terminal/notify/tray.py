"""Desktop tray channel: the UI hands in a callable (QSystemTrayIcon.showMessage); headless, a log line."""

from __future__ import annotations

import logging
from collections.abc import Callable

from terminal.notify.channel import Channel, DeliveryError
from terminal.notify.model import ChannelKind, Notice, Severity

__all__ = ["TrayChannel"]

log = logging.getLogger(__name__)

_LEVEL = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING, Severity.CRITICAL: logging.ERROR}


class TrayChannel(Channel):
    kind = ChannelKind.TRAY

    def __init__(self, show: Callable[[Notice], None] | None = None) -> None:
        self.show = show  # runs on the loop's thread (the Qt thread under qasync)

    async def send(self, notice: Notice) -> None:
        if self.show is None:
            log.log(_LEVEL[notice.severity], "notice: %s", notice.text().replace("\n", " | "))
            return
        try:
            self.show(notice)
        except Exception as exc:  # a broken tray must not take the worker down
            raise DeliveryError(f"tray: {type(exc).__name__}: {exc}", permanent=True) from None
