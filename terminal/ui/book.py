"""The order book ladder: asks above, bids below, spread row between, size bars, grouping.

The table has a fixed number of rows (asks | spread | bids) that are updated in place: a
refresh compares each row with what it showed, reformats only the numbers that changed and
emits one ``dataChanged`` over the changed span: about a millisecond for 50 rows per side,
snapshot included (measured in tests/ui/test_book.py), and the view never resets, jumps or
loses the user's scroll position. The spread row always sits at the same row index, so a
centred ladder stays centred. A refresh is skipped when this market's book did not move
(``versions.books`` counts every market).

Grouping buckets levels on a grid of ``factor x tick``: asks round up and bids round down, so
a bucket never shows a better price than any order in it (what a taker would really get).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Context, Decimal
from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QStackedLayout,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from terminal.engine.engine import Versions
from terminal.model import BookLevel, Instrument, OrderBookSnapshot, Side, Venue
from terminal.ui.context import UiContext
from terminal.ui.fmt import (
    bps,
    decimals_of_step,
    format_bps,
    format_mid,
    format_price,
    format_price_step,
    format_qty,
    instrument_for,
    venue_label,
)
from terminal.ui.textcells import Cell, TextCellDelegate
from terminal.ui.theme import BUY_COLOR, SELL_COLOR

__all__ = [
    "DEPTH_CHOICES",
    "GROUP_FACTORS",
    "BarMode",
    "Ladder",
    "LadderLevel",
    "LadderModel",
    "OrderBookPanel",
    "RowKind",
    "build_ladder",
    "group_levels",
]

GROUP_FACTORS: tuple[int, ...] = (1, 2, 5, 10, 50, 100)
DEPTH_CHOICES: tuple[int, ...] = (20, 50, 100, 200)  # ladder rows per side
DEFAULT_DEPTH = 50
MAX_RAW_DEPTH = 1000  # raw levels read for one grouped ladder (a Decimal snapshot costs ~7 us/level)

_CTX = Context(prec=40)  # price / step stays exact for any listed price and tick


# ---------------------------------------------------------------------------- pure ladder logic
@dataclass(frozen=True, slots=True)
class LadderLevel:
    price: Decimal
    qty: Decimal
    cum: Decimal  # this level plus every better one on its side


@dataclass(frozen=True, slots=True)
class Ladder:
    venue: Venue
    symbol: str
    asks: tuple[LadderLevel, ...]  # best (lowest) first
    bids: tuple[LadderLevel, ...]  # best (highest) first
    best_bid: Decimal | None  # raw (ungrouped) touch: the spread is never widened by grouping
    best_ask: Decimal | None
    step: Decimal  # the grid the prices are on (tick x factor)

    @property
    def spread(self) -> Decimal | None:
        return None if self.best_bid is None or self.best_ask is None else self.best_ask - self.best_bid

    @property
    def mid(self) -> Decimal | None:
        return None if self.best_bid is None or self.best_ask is None else (self.best_bid + self.best_ask) / 2

    @property
    def spread_bps(self) -> Decimal | None:
        spread, mid = self.spread, self.mid
        return None if spread is None or mid is None else bps(spread, mid)


def group_levels(levels: Sequence[BookLevel], step: Decimal, side: Side) -> list[BookLevel]:
    """Merge best-first ``levels`` into buckets on a ``step`` grid (asks up, bids down).

    Quantity is conserved: the buckets' total equals the levels' total. Rounding is monotonic,
    so equal buckets are adjacent and the output stays best first.
    """
    rounding = ROUND_CEILING if side is Side.SELL else ROUND_FLOOR
    out: list[BookLevel] = []
    key: Decimal | None = None
    qty = Decimal(0)
    for lv in levels:
        k = _CTX.divide(lv.price, step).to_integral_value(rounding=rounding, context=_CTX)
        if k != key:
            if key is not None:
                out.append(BookLevel(_CTX.multiply(key, step), qty))
            key, qty = k, lv.qty
        else:
            qty += lv.qty
    if key is not None:
        out.append(BookLevel(_CTX.multiply(key, step), qty))
    return out


def _cumulate(levels: Sequence[BookLevel]) -> tuple[LadderLevel, ...]:
    cum = Decimal(0)
    out = []
    for lv in levels:
        cum += lv.qty
        out.append(LadderLevel(lv.price, lv.qty, cum))
    return tuple(out)


def build_ladder(
    snap: OrderBookSnapshot,
    tick: Decimal,
    factor: int = 1,
    rows: int | None = None,
    raw_depth: int | None = None,
) -> Ladder:
    """Group ``snap`` by ``factor`` ticks and keep ``rows`` buckets per side.

    ``raw_depth`` is the depth the snapshot was asked for: a side that filled it may continue
    beyond, so its last grouped bucket can be partial and is dropped rather than shown short.
    """
    step = tick * factor if factor > 1 else tick

    def side(levels: tuple[BookLevel, ...], s: Side) -> tuple[LadderLevel, ...]:
        if factor <= 1:
            grouped = list(levels)
        else:
            grouped = group_levels(levels, step, s)
            if raw_depth is not None and len(levels) >= raw_depth and len(grouped) > 1:
                grouped.pop()
        if rows is not None:
            grouped = grouped[:rows]
        return _cumulate(grouped)

    bid, ask = snap.best_bid, snap.best_ask
    return Ladder(
        snap.venue,
        snap.symbol,
        side(snap.asks, Side.SELL),
        side(snap.bids, Side.BUY),
        None if bid is None else bid.price,
        None if ask is None else ask.price,
        step,
    )


# ---------------------------------------------------------------------------- Qt model
class RowKind(IntEnum):
    EMPTY = 0
    ASK = 1
    BID = 2
    SPREAD = 3


class BarMode(IntEnum):
    LEVEL = 0  # bar length ~ the level's own size
    CUMULATIVE = 1  # bar length ~ size up to and including the level


BAR_ROLE = Qt.ItemDataRole.UserRole + 1  # float 0..1, the row's bar length
KIND_ROLE = Qt.ItemDataRole.UserRole + 2  # RowKind
PRICE_ROLE = Qt.ItemDataRole.UserRole + 3  # Decimal price of a level row, else None

COL_PRICE, COL_QTY, COL_CUM = 0, 1, 2
_HEADERS = ("Price", "Size", "Total")
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_CENTER = Qt.AlignmentFlag.AlignCenter


@dataclass(slots=True)
class _Row:
    kind: RowKind = RowKind.EMPTY
    raw: tuple[Any, ...] = ()  # (price, qty, cum) or spread values: what decides a reformat
    price: Decimal | None = None
    texts: tuple[str, str, str] = ("", "", "")
    bar_level: float = 0.0
    bar_cum: float = 0.0


class LadderModel(QAbstractTableModel):
    """``2 * rows_per_side + 1`` rows: asks worst..best, the spread row, bids best..worst."""

    def __init__(self, rows_per_side: int = DEFAULT_DEPTH, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._n = rows_per_side
        self._rows = [_Row() for _ in range(2 * rows_per_side + 1)]
        self.bar_mode = BarMode.LEVEL
        self._style: tuple[Instrument | None, int] | None = None  # what the texts were formatted for
        self._fmt = _Formatter(None, None)
        self._ask_brush = QBrush(QColor(SELL_COLOR))
        self._bid_brush = QBrush(QColor(BUY_COLOR))
        self._ask_color, self._bid_color = QColor(SELL_COLOR), QColor(BUY_COLOR)
        self._bold = QFont()
        self._bold.setBold(True)

    # -------------------------------------------------------------- layout
    @property
    def rows_per_side(self) -> int:
        return self._n

    @property
    def spread_row(self) -> int:
        return self._n

    def ask_row(self, i: int) -> int:
        """Row of the i-th best ask (0 = best, right above the spread)."""
        return self._n - 1 - i

    def bid_row(self, i: int) -> int:
        return self._n + 1 + i

    def set_rows_per_side(self, n: int) -> None:
        """The only reset: changing the ladder's height (a user action, not a data update)."""
        self.beginResetModel()
        self._n = n
        self._rows = [_Row() for _ in range(2 * n + 1)]
        self.endResetModel()

    # -------------------------------------------------------------- Qt API
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else 3

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return _HEADERS[section]
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        row = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return row.texts[col]
        if role == BAR_ROLE:
            return row.bar_cum if self.bar_mode is BarMode.CUMULATIVE else row.bar_level
        if role == Qt.ItemDataRole.ForegroundRole:
            if col == COL_PRICE and row.kind is RowKind.ASK:
                return self._ask_brush
            if col == COL_PRICE and row.kind is RowKind.BID:
                return self._bid_brush
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _CENTER if row.kind is RowKind.SPREAD else _RIGHT
        if role == KIND_ROLE:
            return row.kind
        if role == PRICE_ROLE:
            return row.price
        if role == Qt.ItemDataRole.FontRole and row.kind is RowKind.SPREAD:
            return self._bold
        if role == Qt.ItemDataRole.ToolTipRole and row.kind is RowKind.SPREAD:
            return "Spread between the best bid and ask (absolute, basis points of mid) and the mid price"
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        kind = self._rows[index.row()].kind
        if kind in (RowKind.ASK, RowKind.BID):
            return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        return Qt.ItemFlag.ItemIsEnabled

    def cell(self, row: int, col: int) -> Cell:
        """What the view paints (``TextCellDelegate``): the cached text, no ``data`` round trips."""
        r = self._rows[row]
        kind = r.kind
        if kind is RowKind.SPREAD:
            return Cell(r.texts[col], None, _CENTER, True)
        if col == COL_PRICE and kind is RowKind.ASK:
            return Cell(r.texts[col], self._ask_color, _RIGHT)
        if col == COL_PRICE and kind is RowKind.BID:
            return Cell(r.texts[col], self._bid_color, _RIGHT)
        return Cell(r.texts[col], None, _RIGHT)

    def bar(self, row: int) -> tuple[RowKind, float]:
        """The row's kind and bar length (0..1) in the current bar mode."""
        r = self._rows[row]
        return r.kind, r.bar_cum if self.bar_mode is BarMode.CUMULATIVE else r.bar_level

    # -------------------------------------------------------------- readers (tests, panel)
    def level_at(self, row: int) -> tuple[RowKind, Decimal | None, Any]:
        r = self._rows[row]
        return r.kind, r.price, r.raw

    # -------------------------------------------------------------- update in place
    def update(self, ladder: Ladder | None, inst: Instrument | None, factor: int) -> int:
        """Show ``ladder`` (None: clear); returns how many rows changed (one dataChanged)."""
        n = self._n
        new: list[tuple[RowKind, tuple[Any, ...]]] = [(RowKind.EMPTY, ())] * len(self._rows)
        max_qty = max_cum = 0.0
        if ladder is not None:
            for i, lv in enumerate(ladder.asks[:n]):
                new[self.ask_row(i)] = (RowKind.ASK, (lv.price, lv.qty, lv.cum))
            for i, lv in enumerate(ladder.bids[:n]):
                new[self.bid_row(i)] = (RowKind.BID, (lv.price, lv.qty, lv.cum))
            new[n] = (RowKind.SPREAD, (ladder.spread, ladder.spread_bps, ladder.mid))
            shown = (*ladder.asks[:n], *ladder.bids[:n])
            if shown:
                max_qty = float(max(lv.qty for lv in shown))
                max_cum = float(max(lv.cum for lv in shown))
        first = last = -1
        grid = ladder.step if ladder is not None and factor > 1 else None
        if (inst, factor) != self._style or grid != self._fmt.step:
            # same numbers, new text (64969.70 -> 64969.7 on a 0.1 grid): reformat every row
            self._style = (inst, factor)
            self._fmt = _Formatter(inst, grid)
            for row in self._rows:
                row.kind, row.raw = RowKind.EMPTY, ()
        fmt = self._fmt
        for i, (kind, raw) in enumerate(new):
            row = self._rows[i]
            changed = False
            if kind is not row.kind or raw != row.raw:
                if kind is RowKind.ASK or kind is RowKind.BID:
                    old = row.raw if row.kind is kind else (None, None, None)
                    price, qty, cum = raw
                    t0, t1, t2 = row.texts if row.kind is kind else ("", "", "")
                    # only the changed numbers are formatted: usually just the cumulative column
                    row.texts = (
                        t0 if price == old[0] else fmt.price(price),
                        t1 if qty == old[1] else fmt.qty(qty),
                        t2 if cum == old[2] else fmt.qty(cum),
                    )
                    row.price = price
                else:
                    row.texts = _other_texts(kind, raw, inst)
                    row.price = None
                row.kind, row.raw = kind, raw
                changed = True
            if kind is RowKind.ASK or kind is RowKind.BID:
                bar_level = float(raw[1]) / max_qty if max_qty > 0 else 0.0
                bar_cum = float(raw[2]) / max_cum if max_cum > 0 else 0.0
            else:
                bar_level = bar_cum = 0.0
            if bar_level != row.bar_level or bar_cum != row.bar_cum:
                row.bar_level, row.bar_cum = bar_level, bar_cum
                changed = True
            if changed:
                if first < 0:
                    first = i
                last = i
        if first >= 0:
            self.dataChanged.emit(self.index(first, 0), self.index(last, 2))
        return 0 if first < 0 else last - first + 1

    def repaint_bars(self) -> None:
        """The bar mode changed: every visible bar has a new length."""
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, 2), [BAR_ROLE])


class _Formatter:
    """``fmt``'s rules with the quantum computed once per style and price texts cached.

    A 200-row ladder reformats a few hundred numbers per frame; going through the generic
    helpers (exponent lookups, Decimal construction per call) cost more than the snapshot.
    """

    def __init__(self, inst: Instrument | None, grid: Decimal | None) -> None:
        self.step = grid
        pd = (
            decimals_of_step(grid) if grid is not None else inst.price_precision if inst is not None else None
        )
        self._pq = None if pd is None else Decimal(1).scaleb(-pd)
        self._qq = None if inst is None else Decimal(1).scaleb(-inst.qty_precision)
        self._prices: dict[Decimal, str] = {}

    def price(self, value: Decimal) -> str:
        text = self._prices.get(value)
        if text is None:
            if len(self._prices) > 20_000:  # a long session walks the price: stay bounded
                self._prices.clear()
            text = self._prices[value] = (
                format_price(value, None) if self._pq is None else _fixed(value, self._pq)
            )
        return text

    def qty(self, value: Decimal) -> str:
        return format_qty(value, None) if self._qq is None else _fixed(value, self._qq)


def _fixed(value: Decimal, quantum: Decimal) -> str:
    q = value.quantize(quantum, rounding=ROUND_HALF_UP)
    return format(abs(q) if q == 0 else q, "f")


def _other_texts(kind: RowKind, raw: tuple[Any, ...], inst: Instrument | None) -> tuple[str, str, str]:
    if kind is RowKind.SPREAD:
        spread, spread_bps, mid = raw
        if spread is None:
            return ("no spread: one side of the book is empty", "", "")
        return (
            f"Spread {format_price(spread, inst)}  ({format_bps(spread_bps)})   Mid {format_mid(mid, inst)}",
            "",
            "",
        )
    return ("", "", "")


class _BarDelegate(TextCellDelegate):
    """Paints the size bar behind the row (anchored right, across every column), then the text."""

    def __init__(self, view: QTableView, model: LadderModel) -> None:
        super().__init__(model.cell, view)
        self._view = view
        self._model = model
        ask, bid = QColor(SELL_COLOR), QColor(BUY_COLOR)
        ask.setAlpha(55)
        bid.setAlpha(55)
        self._colors = {RowKind.ASK: ask, RowKind.BID: bid}

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        self.painted += 1
        row = index.row()
        kind, frac = self._model.bar(row)
        rect = option.rect
        color = self._colors.get(kind)
        if color is not None and frac:
            header = self._view.horizontalHeader()
            total = header.length()
            right = total - header.offset()
            bar = QRect(round(right - frac * total), rect.top(), round(frac * total), rect.height())
            part = bar.intersected(rect)
            if not part.isEmpty():
                painter.fillRect(part, color)
        self.draw_text(painter, rect, self._model.cell(row, index.column()))


class _LadderView(QTableView):
    """Tells when its viewport's height changes: the ladder re-centres on the spread then."""

    height_changed = Signal()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.oldSize().height() != event.size().height():
            self.height_changed.emit()


# ---------------------------------------------------------------------------- the panel
class OrderBookPanel(QWidget):
    """Full-depth ladder of the selected market; click a level to load its price in the ticket."""

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("book")
        self.ctx = ctx
        self.factor = 1
        self.ladder: Ladder | None = None
        self.state = ""  # why no ladder is shown ("" when it is)
        self.redraws = 0  # full refreshes done (tests: at most one per Refresher tick)
        self.last_redraw_ms = 0.0
        self._seen: tuple[int, int] = (-1, -1)
        self._drawn: tuple[int, bool] | None = None  # (update id, live) of the book last drawn
        self._inst: Instrument | None = None

        self.title = QLabel(self)
        self.group_box = QComboBox(self)
        self.group_box.setToolTip("Group levels by multiples of the tick size (asks round up, bids down)")
        self.depth_box = QComboBox(self)
        self.depth_box.setToolTip("Rows per side")
        for n in DEPTH_CHOICES:
            self.depth_box.addItem(f"{n} levels", n)
        self.depth_box.setCurrentIndex(DEPTH_CHOICES.index(DEFAULT_DEPTH))
        self.bars_box = QComboBox(self)
        self.bars_box.setToolTip("Size bars proportional to each level's size or to the cumulative size")
        self.bars_box.addItem("Bars: level", BarMode.LEVEL)
        self.bars_box.addItem("Bars: cumulative", BarMode.CUMULATIVE)

        self.model = LadderModel(DEFAULT_DEPTH, self)
        self.view = _LadderView(self)
        self.view.height_changed.connect(self._center)
        self.view.setModel(self.model)
        self.view.setItemDelegate(_BarDelegate(self.view, self.model))
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 4)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.view.setMouseTracking(True)
        self.view.setToolTip("Click a level to load its price into the order ticket")
        self.view.clicked.connect(self._on_clicked)

        self.message = QLabel(self)
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setEnabled(False)  # the palette's muted text colour
        self._stack = QStackedLayout()
        self._stack.addWidget(self.view)
        self._stack.addWidget(self.message)

        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 2)
        bar.addWidget(self.title, 1)
        bar.addWidget(self.group_box)
        bar.addWidget(self.depth_box)
        bar.addWidget(self.bars_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addLayout(self._stack, 1)

        self.group_box.currentIndexChanged.connect(self._on_group)
        self.depth_box.currentIndexChanged.connect(self._on_depth)
        self.bars_box.currentIndexChanged.connect(self._on_bars)
        ctx.selection.changed.connect(self._on_market)
        self._on_market(ctx.selection.venue, ctx.selection.symbol)

    # -------------------------------------------------------------- selection and controls
    def _on_market(self, venue: Venue, symbol: str) -> None:
        self._inst = instrument_for(getattr(self.ctx.app, "adapters", {}), venue, symbol)
        self.title.setText(f"<b>{symbol}</b> · {venue_label(venue)}")
        self._fill_group_box()
        self._redraw()
        self._center()

    def _fill_group_box(self) -> None:
        tick = self._inst.tick_size if self._inst is not None else None
        self.group_box.blockSignals(True)
        self.group_box.clear()
        for f in GROUP_FACTORS:
            label = f"{f}× tick" if tick is None else format_price_step(tick * f, tick * f)
            self.group_box.addItem(label, f)
        self.group_box.setCurrentIndex(
            GROUP_FACTORS.index(self.factor) if self.factor in GROUP_FACTORS else 0
        )
        self.group_box.setEnabled(tick is not None)
        self.group_box.blockSignals(False)

    def set_grouping(self, factor: int) -> None:
        self.group_box.setCurrentIndex(GROUP_FACTORS.index(factor))

    def set_rows_per_side(self, n: int) -> None:
        self.depth_box.setCurrentIndex(DEPTH_CHOICES.index(n))

    def _on_group(self, i: int) -> None:
        self.factor = int(self.group_box.itemData(i) or 1)
        self._redraw()

    def _on_depth(self, i: int) -> None:
        self.model.set_rows_per_side(int(self.depth_box.itemData(i)))
        self._redraw()
        self._center()

    def _on_bars(self, i: int) -> None:
        self.model.bar_mode = BarMode(self.bars_box.itemData(i))
        self.model.repaint_bars()

    def _center(self) -> None:
        self.view.clearSpans()
        self.view.setSpan(self.model.spread_row, 0, 1, 3)
        self.view.scrollTo(
            self.model.index(self.model.spread_row, 0), QAbstractItemView.ScrollHint.PositionAtCenter
        )

    def _on_clicked(self, index: QModelIndex) -> None:
        price = index.data(PRICE_ROLE)
        if isinstance(price, Decimal):
            self.ctx.selection.pick_price(price)

    # -------------------------------------------------------------- refresh
    def refresh(self, versions: Versions) -> None:
        # feeds too: a book that went out of sync must show it even if no level changed since
        seen = (versions.books, versions.feeds)
        if seen == self._seen:
            return
        self._seen = seen
        if not self._book_moved():
            return
        self._redraw()

    def _book_moved(self) -> bool:
        """``versions.books`` counts every market's updates: has *this* book changed since drawn?"""
        sel = self.ctx.selection
        top = self.ctx.engine.top_of_book(sel.venue, sel.symbol)
        return top is None or (top.update_id, top.live) != self._drawn

    def _redraw(self) -> None:
        t0 = time.perf_counter()
        sel = self.ctx.selection
        engine = self.ctx.engine
        n = self.model.rows_per_side
        raw_depth = min(n * self.factor, MAX_RAW_DEPTH)
        top = engine.top_of_book(sel.venue, sel.symbol)
        snap = engine.book_snapshot(sel.venue, sel.symbol, raw_depth) if top is not None else None
        self._drawn = None if top is None else (top.update_id, top.live)
        if self._inst is None and snap is not None:  # built before the app loaded its instruments
            self._inst = instrument_for(getattr(self.ctx.app, "adapters", {}), sel.venue, sel.symbol)
            if self._inst is not None:
                self._fill_group_box()
        if snap is None:
            self._show_state(
                f"No order book for {sel.symbol} on {venue_label(sel.venue)}: the market is not watched."
            )
        elif top is not None and not top.live:
            self._show_state(
                f"Resyncing the {sel.symbol} order book…\nLevels reappear once the venue's snapshot is applied."
            )
        elif not snap.bids and not snap.asks:
            self._show_state(f"The {sel.symbol} order book is empty.")
        else:
            tick = self._inst.tick_size if self._inst is not None else _guess_tick(snap)
            self.ladder = build_ladder(snap, tick, self.factor, n, raw_depth)
            self.state = ""
            self.model.update(self.ladder, self._inst, self.factor)
            self._stack.setCurrentWidget(self.view)
        self.redraws += 1
        self.last_redraw_ms = (time.perf_counter() - t0) * 1000

    def _show_state(self, text: str) -> None:
        self.ladder = None
        self.state = text
        self.message.setText(text)
        self.model.update(None, self._inst, self.factor)
        self._stack.setCurrentWidget(self.message)


def _guess_tick(snap: OrderBookSnapshot) -> Decimal:
    """Without a loaded instrument: the finest price exponent seen (grouping is disabled then)."""
    exps = [lv.price.as_tuple().exponent for lv in (*snap.bids[:5], *snap.asks[:5])]
    ints = [e for e in exps if isinstance(e, int)]
    return Decimal(1).scaleb(min(ints)) if ints else Decimal(1)
