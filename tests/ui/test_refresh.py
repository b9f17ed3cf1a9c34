"""Coalesced refresh against the real demo App: panels redraw at the timer rate, not per event."""

from __future__ import annotations

import itertools
import time

import pytest

from terminal.engine.engine import Versions
from terminal.model import Venue
from terminal.ui.context import Selection
from terminal.ui.refresh import FrameSlots, Refresher, Throttle
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


# ---------------------------------------------------------------------------- Throttle / FrameSlots
def test_throttle_draws_at_most_once_per_interval_and_never_drops_the_last_request(qloop) -> None:
    slots = FrameSlots(slot_ms=5)
    drawn: list[float] = []
    throttle = Throttle(0.1, lambda: drawn.append(time.monotonic()), slots=slots)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 0.35:  # a request every few ms, as a flooded refresher makes
        throttle.request()
        wait_until(qloop, lambda: True, 1, "a loop turn")
        time.sleep(0.004)
    assert 2 <= len(drawn) <= 5  # ~0.35 s at <= 10 Hz, not one per request
    assert all(b - a >= 0.095 for a, b in itertools.pairwise(drawn))
    n = len(drawn)
    throttle.request()  # the last change is drawn when the interval ends, never dropped
    wait_until(qloop, lambda: len(drawn) == n + 1, 2, "the pending draw")
    assert not throttle.pending and not slots.active  # nothing waits: the slot timer stops


def test_frame_slots_let_one_throttled_panel_draw_per_slot_longest_waiting_first(qapp) -> None:
    slots = FrameSlots(slot_ms=1000)  # ticked by hand below
    order: list[str] = []
    throttles = {
        k: Throttle(0.0, lambda k=k: order.append(k), slots=slots) for k in ("depth", "tape", "watch")
    }
    throttles["tape"].now()  # drew last: it waits behind the two that never drew
    order.clear()
    for t in throttles.values():
        t.request()
    assert order == [] and slots.active  # requests wait for a slot, they do not draw inline
    slots.tick()
    assert len(order) == 1  # one throttled panel per slot: their repaints never pile up in one pass
    slots.tick()
    slots.tick()
    assert sorted(order) == ["depth", "tape", "watch"] and order[-1] == "tape"
    assert not slots.active
    throttles["depth"].request()
    throttles["depth"].now()  # a user action draws at once and cancels the waiting request
    slots.tick()
    assert order.count("depth") == 2 and not slots.active
