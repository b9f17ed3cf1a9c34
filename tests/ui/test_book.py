"""Order book ladder against the real demo App (simulator over loopback sockets)."""

from __future__ import annotations

import os
import statistics
import time
from decimal import Decimal
from typing import TypeVar

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from terminal.app import App
from terminal.model import BookLevel, OrderBookSnapshot, Side, Venue
from terminal.sim.faults import HttpFault, StreamFault
from terminal.ui.book import (
    GROUP_FACTORS,
    MAX_RAW_DEPTH,
    BarMode,
    OrderBookPanel,
    RowKind,
    build_ladder,
    group_levels,
)
from terminal.ui.context import Selection, UiContext
from terminal.ui.fmt import format_price, format_price_step, format_qty
from terminal.ui.refresh import Refresher
from terminal.ui.theme import apply_dark
from tests.ui.conftest import UI_SYMBOL, demo_config
from tests.ui.conftest import run as loop_run
from tests.ui.conftest import wait_until as loop_wait

pytestmark = pytest.mark.timeout(120)

D = Decimal
SPOT = Venue.BINANCE_SPOT
T = TypeVar("T")


@pytest.fixture
def market_app(demo_app: App) -> App:
    """The demo App (conftest's ``demo_app``); the market-panel tests share this name."""
    return demo_app


def _panel(market_app, qtbot, venue: Venue = SPOT, symbol: str = UI_SYMBOL) -> OrderBookPanel:
    apply_dark(QApplication.instance())
    ctx = UiContext(market_app, Selection(venue, symbol))
    panel = OrderBookPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(420, 720)
    panel.show()
    return panel


def _live(qloop, market_app, panel: OrderBookPanel) -> None:
    def ready() -> bool:
        panel.refresh(market_app.engine.versions())
        return panel.ladder is not None and len(panel.ladder.bids) >= 20 and len(panel.ladder.asks) >= 20

    loop_wait(qloop, ready, 15, "a live ladder")


def _expected(levels: tuple[BookLevel, ...]) -> list[tuple[D, D, D]]:
    out, cum = [], D(0)
    for lv in levels:
        cum += lv.qty
        out.append((lv.price, lv.qty, cum))
    return out


def test_ladder_levels_equal_the_engine_snapshot(qloop, market_app, qtbot) -> None:
    panel = _panel(market_app, qtbot)
    _live(qloop, market_app, panel)
    panel._redraw()  # no loop iteration between this and the snapshot below: same book state
    model, n = panel.model, panel.model.rows_per_side
    snap = market_app.engine.book_snapshot(SPOT, UI_SYMBOL, n)
    inst = market_app.adapters[SPOT].instrument(UI_SYMBOL)
    assert snap is not None and panel.state == ""
    for side, levels, row_of in (
        (RowKind.ASK, snap.asks, model.ask_row),
        (RowKind.BID, snap.bids, model.bid_row),
    ):
        for i, (price, qty, cum) in enumerate(_expected(levels)):
            kind, shown_price, raw = model.level_at(row_of(i))
            assert (kind, shown_price, raw) == (side, price, (price, qty, cum)), (side, i)
            texts = [model.index(row_of(i), c).data() for c in range(3)]
            assert texts == [format_price(price, inst), format_qty(qty, inst), format_qty(cum, inst)]
    # asks above (worst at the top), spread row between, bids below
    assert model.level_at(model.ask_row(0))[1] == snap.asks[0].price
    assert model.level_at(model.ask_row(1))[1] > snap.asks[0].price
    assert model.ask_row(1) < model.ask_row(0) < model.spread_row < model.bid_row(0)
    spread_text = model.index(model.spread_row, 0).data()
    spread = snap.asks[0].price - snap.bids[0].price
    assert f"Spread {format_price(spread, inst)}" in spread_text and "bps" in spread_text
    assert panel.ladder is not None and panel.ladder.spread == spread
    # bars: the largest visible level (or cumulative total) has the full-length bar
    qtys = [model.index(model.bid_row(i), 0).data(Qt.ItemDataRole.UserRole + 1) for i in range(n)]
    assert max(qtys) == pytest.approx(1.0) and min(qtys) >= 0
    shot(panel, "book.png")
    panel.bars_box.setCurrentIndex(1)
    assert model.bar_mode is BarMode.CUMULATIVE
    last_bid = model.index(model.bid_row(n - 1), 0).data(Qt.ItemDataRole.UserRole + 1)
    first_bid = model.index(model.bid_row(0), 0).data(Qt.ItemDataRole.UserRole + 1)
    assert first_bid < last_bid <= 1.0
    shot(panel, "book_cumulative.png")


def test_grouping_rounds_asks_up_bids_down_and_conserves_quantity() -> None:
    snap = OrderBookSnapshot.create(
        SPOT,
        "T",
        bids=[("100.07", "1"), ("100.03", "2"), ("100.00", "3"), ("99.99", "4")],
        asks=[("100.08", "5"), ("100.10", "6"), ("100.11", "7")],
    )
    ladder = build_ladder(snap, D("0.01"), factor=5)
    assert [(lv.price, lv.qty, lv.cum) for lv in ladder.bids] == [
        (D("100.05"), D("1"), D("1")),
        (D("100.00"), D("5"), D("6")),
        (D("99.95"), D("4"), D("10")),
    ]
    assert [(lv.price, lv.qty) for lv in ladder.asks] == [(D("100.10"), D("11")), (D("100.15"), D("7"))]
    assert ladder.best_bid == D("100.07") and ladder.spread == D("0.01")  # the raw touch, not the buckets
    # a side that filled the requested depth may continue: its last bucket is not shown short
    cut = build_ladder(snap, D("0.01"), factor=5, raw_depth=4)
    assert [lv.price for lv in cut.bids] == [D("100.05"), D("100.00")]


def test_grouping_the_live_book_conserves_quantity_per_side(qloop, market_app, qtbot) -> None:
    panel = _panel(market_app, qtbot)
    _live(qloop, market_app, panel)
    tick = market_app.adapters[SPOT].instrument(UI_SYMBOL).tick_size
    snap = market_app.engine.book_snapshot(SPOT, UI_SYMBOL, MAX_RAW_DEPTH)
    assert snap is not None and len(snap.bids) < MAX_RAW_DEPTH  # the whole book
    for factor in GROUP_FACTORS:
        step = tick * factor
        for side, levels in ((Side.BUY, snap.bids), (Side.SELL, snap.asks)):
            grouped = group_levels(levels, step, side)
            assert sum(g.qty for g in grouped) == sum(lv.qty for lv in levels), (factor, side)
            prices = [g.price for g in grouped]
            assert all(p % step == 0 for p in prices)
            assert prices == sorted(prices, reverse=side is Side.BUY) and len(set(prices)) == len(prices)
            for lv in levels:  # every level sits in the bucket that rounds it away from the touch
                bucket = next(
                    g.price
                    for g in grouped
                    if (g.price <= lv.price if side is Side.BUY else g.price >= lv.price)
                )
                assert abs(lv.price - bucket) < step
    # the panel shows grouped rows on the coarser grid, best bucket adjacent to the spread
    panel.set_grouping(10)
    assert panel.factor == 10 and panel.ladder is not None
    step = tick * 10
    rows = panel.model.rows_per_side
    bids = [panel.model.level_at(panel.model.bid_row(i)) for i in range(rows)]
    shown = [b for b in bids if b[0] is RowKind.BID]
    assert len(shown) >= 10 and all(p % step == 0 for _, p, _ in shown)
    assert panel.model.index(panel.model.bid_row(0), 0).data() == format_price_step(shown[0][1], step)
    assert panel.ladder.bids[0].price <= panel.ladder.best_bid < panel.ladder.bids[0].price + step
    shot(panel, "book_grouped.png")


def test_clicking_a_bid_row_picks_its_price(qloop, market_app, qtbot) -> None:
    panel = _panel(market_app, qtbot)
    _live(qloop, market_app, panel)
    picked: list[Decimal] = []
    panel.ctx.selection.price_picked.connect(picked.append)
    model = panel.model
    for row, kind in ((model.bid_row(2), RowKind.BID), (model.ask_row(0), RowKind.ASK)):
        index = model.index(row, 1)
        panel.view.scrollTo(index)
        expected_kind, expected_price, _ = model.level_at(row)
        assert expected_kind is kind
        qtbot.mouseClick(
            panel.view.viewport(), Qt.MouseButton.LeftButton, pos=panel.view.visualRect(index).center()
        )
        assert picked[-1] == expected_price and isinstance(picked[-1], Decimal)
    # the spread row is not a price
    n = len(picked)
    spread = model.index(model.spread_row, 0)
    qtbot.mouseClick(
        panel.view.viewport(), Qt.MouseButton.LeftButton, pos=panel.view.visualRect(spread).center()
    )
    assert len(picked) == n


def test_selection_change_switches_the_book(qloop, market_app, qtbot) -> None:
    panel = _panel(market_app, qtbot)
    _live(qloop, market_app, panel)
    assert panel.ladder is not None and panel.ladder.venue is SPOT
    panel.ctx.selection.set_market(Venue.BINANCE_USDM, "ETHUSDT")
    # switched at once, without waiting for a refresh tick
    snap = market_app.engine.book_snapshot(Venue.BINANCE_USDM, "ETHUSDT", 1)
    assert (panel.ladder.venue, panel.ladder.symbol) == (Venue.BINANCE_USDM, "ETHUSDT")
    assert snap is not None and panel.ladder.bids[0].price == snap.bids[0].price
    assert "ETHUSDT" in panel.title.text() and "USD" in panel.title.text()
    inst = market_app.adapters[Venue.BINANCE_USDM].instrument("ETHUSDT")
    assert panel.model.index(panel.model.bid_row(0), 0).data() == format_price(snap.bids[0].price, inst)
    # grouping choices follow the new instrument's tick
    assert panel.group_box.itemText(0) == "0.01" and panel.group_box.itemText(5) == "1"


def test_unwatched_and_resyncing_books_show_a_clear_state(qloop, market_app, qtbot) -> None:
    panel = _panel(market_app, qtbot)
    _live(qloop, market_app, panel)
    panel.ctx.selection.set_market(SPOT, "XRPUSDT")
    assert panel.ladder is None and "No order book for XRPUSDT" in panel.state
    assert panel.message.isVisible() and not panel.view.isVisible()
    assert all(panel.model.level_at(r)[0] is RowKind.EMPTY for r in range(panel.model.rowCount()))
    panel.ctx.selection.set_market(SPOT, UI_SYMBOL)
    assert panel.ladder is not None and panel.view.isVisible(), panel.state

    # a gap in the depth stream makes the adapter resync; a slow REST snapshot keeps it there a while
    faults = market_app.sim.exchange.faults
    faults.inject_http(HttpFault.DELAY, SPOT, count=3, delay_s=1.5, paths=["/api/v3/depth"])
    faults.inject_stream(StreamFault.GAP, SPOT, symbol=UI_SYMBOL)

    def resyncing() -> bool:
        panel.refresh(market_app.engine.versions())
        return panel.state.startswith("Resyncing")

    def back() -> bool:
        panel.refresh(market_app.engine.versions())
        return panel.ladder is not None

    loop_wait(qloop, resyncing, 15, "the resyncing state")
    assert panel.message.isVisible() and panel.ladder is None
    shot(panel, "book_resyncing.png")
    loop_wait(qloop, back, 15, "the ladder back after the resync")
    assert panel.state == ""
    assert panel.ladder is not None and panel.view.isVisible()


def test_ladder_redraws_at_most_once_per_refresher_tick(qloop, market_app, qtbot) -> None:
    panel = _panel(market_app, qtbot)
    refresher = Refresher(market_app.engine.versions, hz=30)
    refresher.add(panel)
    before_redraws, before_events = panel.redraws, market_app.bus.published
    resets: list[int] = []
    panel.model.modelReset.connect(lambda: resets.append(1))
    refresher.start()
    loop_wait(qloop, lambda: refresher.frames >= 20, 10, "20 refresher frames")
    refresher.stop()
    redraws = panel.redraws - before_redraws
    events = market_app.bus.published - before_events
    assert 0 < redraws <= refresher.frames < events
    assert resets == []  # rows are updated in place, never rebuilt per frame
    # nothing changed: a refresh is a no-op
    versions = market_app.engine.versions()
    panel.refresh(versions)
    n = panel.redraws
    panel.refresh(versions)
    panel.refresh(versions)
    assert panel.redraws == n


def test_ladder_refresh_stays_cheap_during_a_burst(qloop, market_app, qtbot) -> None:
    panel = _panel(market_app, qtbot)
    _live(qloop, market_app, panel)
    gen = market_app.sim.exchange.generator
    for flow in gen.flows:  # a burst: 10x the default level-change rate on every market
        flow.rate *= 10
    changes0 = gen.stats.level_changes
    t0 = time.perf_counter()
    results: dict[str, float] = {}
    for label, depth, factor in (("50 rows", 50, 1), ("200 rows x10", 200, 10), ("200 rows x100", 200, 100)):
        panel.set_rows_per_side(depth)
        panel.set_grouping(factor)
        samples: list[float] = []
        for _ in range(15):
            seen = market_app.engine.versions().books
            loop_wait(qloop, lambda seen=seen: market_app.engine.versions().books != seen, 5, "a book change")
            panel._redraw()
            samples.append(panel.last_redraw_ms)
        results[label] = statistics.median(samples)
        results[label + " max"] = max(samples)
    rate = (gen.stats.level_changes - changes0) / (time.perf_counter() - t0)
    print(
        f"\nladder refresh during a burst ({rate:,.0f} sim level changes/s): "
        + ", ".join(f"{k} {v:.2f} ms" for k, v in results.items())
    )
    assert rate > 5000
    assert results["50 rows"] < 10  # generous: measured ~1 ms on the 2-core CI machine
    assert results["200 rows x100"] < 50


def shot(widget, name: str) -> None:
    out = os.environ.get("TERMINAL_SHOTS_DIR")
    if out:
        os.makedirs(out, exist_ok=True)
        widget.grab().save(os.path.join(out, name))


def test_an_app_with_no_data_shows_an_empty_state(qapp, tmp_path) -> None:
    app = App(demo_config(tmp_path / "data"))  # not started: no adapters, no books, no OMS
    panel = OrderBookPanel(UiContext(app, Selection(SPOT, UI_SYMBOL)))
    panel.refresh(app.engine.versions())
    assert panel.ladder is None and "No order book for BTCUSDT" in panel.state
    assert panel.group_box.itemText(0) == "1× tick" and not panel.group_box.isEnabled()
    panel.deleteLater()


def test_a_panel_built_before_the_app_started_picks_up_the_instrument(qloop, tmp_path, qtbot) -> None:
    app = App(demo_config(tmp_path / "data"))
    panel = _panel(app, qtbot)  # the main window builds its docks while the app is starting
    assert not panel.group_box.isEnabled()
    loop_run(qloop, app.start(), 60)
    try:
        _live(qloop, app, panel)
        inst = app.adapters[SPOT].instrument(UI_SYMBOL)
        assert panel.group_box.isEnabled() and panel.group_box.itemText(1) == "0.02"
        bid = panel.model.index(panel.model.bid_row(0), 1).data()
        assert bid == format_qty(panel.ladder.bids[0].qty, inst)  # the step's decimals, not plain
    finally:
        loop_run(qloop, app.stop(), 30)


def _colour_pixels(image, colour: str, tolerance: int = 12) -> int:
    """Pixels of ``image`` within ``tolerance`` of ``colour`` (the text cores of that colour)."""
    from PySide6.QtGui import QColor

    want = QColor(colour)
    n = 0
    for y in range(0, image.height(), 1):
        for x in range(0, image.width(), 2):
            c = image.pixelColor(x, y)
            if (
                abs(c.red() - want.red()) <= tolerance
                and abs(c.green() - want.green()) <= tolerance
                and abs(c.blue() - want.blue()) <= tolerance
            ):
                n += 1
    return n


def test_ladder_paints_its_cached_cells_without_asking_the_model(
    qloop, market_app, qtbot, monkeypatch
) -> None:
    """The fast delegate (``TextCellDelegate``): one ``cell()`` per painted cell, no ``data()``
    round trips per role; the rows still show the side colours and the size bars."""
    from terminal.ui.book import LadderModel
    from terminal.ui.theme import BUY_COLOR, SELL_COLOR

    panel = _panel(market_app, qtbot)
    _live(qloop, market_app, panel)
    calls: list[int] = []
    original = LadderModel.data

    def counting(self, index, role=Qt.ItemDataRole.DisplayRole):
        calls.append(role)
        return original(self, index, role)

    monkeypatch.setattr(LadderModel, "data", counting)
    delegate = panel.view.itemDelegate()
    before = delegate.painted
    image = panel.view.viewport().grab().toImage()
    assert delegate.painted - before >= 20  # the visible cells went through the fast path
    assert Qt.ItemDataRole.DisplayRole not in calls and Qt.ItemDataRole.ForegroundRole not in calls
    assert _colour_pixels(image, SELL_COLOR) > 20 and _colour_pixels(image, BUY_COLOR) > 20
