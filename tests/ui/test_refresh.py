"""Coalesced refresh against the real demo App: panels redraw at the timer rate, not per event."""

from __future__ import annotations

import pytest

from terminal.engine.engine import Versions
from terminal.model import Venue
from terminal.ui.context import Selection
from terminal.ui.refresh import Refresher
from tests.ui.conftest import UI_SYMBOL, wait_until

pytestmark = pytest.mark.timeout(90)


class CountingPanel:
    def __init__(self) -> None:
        self.calls: list[Versions] = []

    def refresh(self, versions: Versions) -> None:
        self.calls.append(versions)


class BrokenPanel:
    def refresh(self, versions: Versions) -> None:
        raise RuntimeError("boom")


def test_panels_refresh_only_on_change_and_at_the_timer_rate(qloop, demo_app) -> None:
    engine = demo_app.engine
    refresher = Refresher(engine.versions, hz=20)
    panel = CountingPanel()
    refresher.add(BrokenPanel())  # must not stop the others
    refresher.add(panel)
    published_before = demo_app.bus.published
    refresher.start()
    wait_until(qloop, lambda: len(panel.calls) >= 10, 10, "10 refreshes")
    refresher.stop()
    events = demo_app.bus.published - published_before
    # far fewer redraws than events, and every redraw saw a change
    assert len(panel.calls) < events
    assert all(a != b for a, b in zip(panel.calls, panel.calls[1:], strict=False))
    assert engine.top_of_book(Venue.BINANCE_SPOT, UI_SYMBOL) is not None
    # an unchanged engine is not redrawn, unless forced
    n = len(panel.calls)
    refresher.tick()
    refresher.tick()
    assert len(panel.calls) <= n + 1
    refresher.tick(force=True)
    assert len(panel.calls) >= n + 1


def test_selection_signals_only_on_change(qapp) -> None:
    sel = Selection(Venue.BINANCE_SPOT, UI_SYMBOL)
    seen: list[tuple[Venue, str]] = []
    sel.changed.connect(lambda v, s: seen.append((v, s)))
    sel.set_market(Venue.BINANCE_SPOT, UI_SYMBOL)
    sel.set_market(Venue.BYBIT_LINEAR, "ETHUSDT")
    assert seen == [(Venue.BYBIT_LINEAR, "ETHUSDT")] and sel.venue is Venue.BYBIT_LINEAR
