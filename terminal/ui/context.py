"""What every panel is given: the running app's engine/OMS and the shared selection.

``Selection`` is the one place the current venue/symbol/interval live; panels follow its
signals instead of talking to each other (the book's click-to-price reaches the ticket through
``price_picked``). ``UiContext`` bundles it with the running ``App``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from terminal.model import Venue

if TYPE_CHECKING:
    from terminal.app import App, Mode
    from terminal.engine import Engine
    from terminal.trading.oms import OrderManager

__all__ = ["Selection", "UiContext"]


class Selection(QObject):
    """The current market of the window; signals fire only on a real change."""

    changed = Signal(object, str)  # (Venue, symbol)
    interval_changed = Signal(str)  # candle interval, e.g. "1m"
    price_picked = Signal(object)  # Decimal: a price clicked in the book/chart, for the ticket

    def __init__(
        self, venue: Venue, symbol: str, interval: str = "1m", parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._venue = venue
        self._symbol = symbol
        self._interval = interval

    @property
    def venue(self) -> Venue:
        return self._venue

    @property
    def symbol(self) -> str:
        return self._symbol

    @property
    def interval(self) -> str:
        return self._interval

    def set_market(self, venue: Venue, symbol: str) -> None:
        if (venue, symbol) != (self._venue, self._symbol):
            self._venue, self._symbol = venue, symbol
            self.changed.emit(venue, symbol)

    def set_interval(self, interval: str) -> None:
        if interval != self._interval:
            self._interval = interval
            self.interval_changed.emit(interval)

    def pick_price(self, price: Decimal) -> None:
        self.price_picked.emit(price)


@dataclass(slots=True)
class UiContext:
    app: App
    selection: Selection

    @property
    def engine(self) -> Engine:
        return self.app.engine

    @property
    def oms(self) -> OrderManager | None:
        return self.app.oms

    @property
    def mode(self) -> Mode:
        return self.app.config.mode

    @property
    def replay_note(self) -> str:
        """ " — replaying <recording> (2×)" for a replayed demo, else "": the title and status
        bar must say that the market is a recording."""
        replay = self.app.config.replay
        if replay is None:
            return ""
        speed = f" ({replay.speed:g}×)" if replay.speed != 1 else ""
        return f" — replaying {replay.path.name}{speed}"
