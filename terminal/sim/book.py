"""Price-time priority order book on integer ticks and lots.

Shared by the market generator's liquidity and users' resting orders. Every change
of a level's total is journaled with a new update id (+1 each), which is what the
protocol servers turn into depth diffs (Binance U/u/pu, Bybit u/seq).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

from sortedcontainers import SortedDict

# Keep at least this many journaled level changes; publishers lagging further must resync.
_JOURNAL_KEEP = 200_000


class RestingOrder:
    __slots__ = ("is_bid", "lots", "oid", "owner", "price")

    def __init__(self, oid: int, is_bid: bool, price: int, lots: int, owner: object | None) -> None:
        self.oid = oid
        self.is_bid = is_bid
        self.price = price
        self.lots = lots
        self.owner = owner  # the user's SimOrder, or None for generator liquidity


class Level:
    __slots__ = ("orders", "total")

    def __init__(self) -> None:
        self.orders: dict[int, RestingOrder] = {}  # insertion order == time priority
        self.total = 0


@dataclass(slots=True, frozen=True)
class MakerFill:
    maker: RestingOrder
    price: int
    lots: int


class MatchingBook:
    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: SortedDict = SortedDict(operator.neg)  # highest price first
        self.asks: SortedDict = SortedDict()  # lowest price first
        self.orders: dict[int, RestingOrder] = {}
        self.update_id = 0
        self._journal: list[tuple[int, bool, int, int]] = []
        self._journal_base = 1  # update id of _journal[0]

    # ---- queries ----
    def best_bid(self) -> int | None:
        return self.bids.peekitem(0)[0] if self.bids else None

    def best_ask(self) -> int | None:
        return self.asks.peekitem(0)[0] if self.asks else None

    def best_bid_level(self) -> tuple[int, int] | None:
        if not self.bids:
            return None
        price, level = self.bids.peekitem(0)
        return price, level.total

    def best_ask_level(self) -> tuple[int, int] | None:
        if not self.asks:
            return None
        price, level = self.asks.peekitem(0)
        return price, level.total

    def depth(self, limit: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        bids = [(p, lv.total) for p, lv in self.bids.items()[:limit]]
        asks = [(p, lv.total) for p, lv in self.asks.items()[:limit]]
        return bids, asks

    def level_total(self, is_bid: bool, price: int) -> int:
        level = (self.bids if is_bid else self.asks).get(price)
        return level.total if level else 0

    def would_take(self, is_bid: bool, price: int) -> bool:
        if is_bid:
            best = self.best_ask()
            return best is not None and price >= best
        best = self.best_bid()
        return best is not None and price <= best

    def fillable_lots(self, is_bid: bool, limit: int | None, lots: int) -> int:
        """Lots a taker could fill now (for FOK) without changing the book."""
        side = self.asks if is_bid else self.bids
        got = 0
        for price, level in side.items():
            if limit is not None and (price > limit if is_bid else price < limit):
                break
            got += level.total
            if got >= lots:
                return lots
        return got

    def walk_quote(self, is_bid: bool, budget_ticks_lots: int) -> int:
        """Lots a buyer gets for a budget expressed in tick*lot units (spot quote-qty market)."""
        side = self.asks if is_bid else self.bids
        got = 0
        left = budget_ticks_lots
        for price, level in side.items():
            cost = price * level.total
            if cost <= left:
                got += level.total
                left -= cost
            else:
                got += left // price
                break
        return got

    def cost_ticks_lots(self, is_bid: bool, lots: int) -> tuple[int, int]:
        """(filled lots, sum of price*lots) a taker of ``lots`` would pay/receive now."""
        side = self.asks if is_bid else self.bids
        got = 0
        cost = 0
        for price, level in side.items():
            take = min(level.total, lots - got)
            got += take
            cost += take * price
            if got >= lots:
                break
        return got, cost

    # ---- changes ----
    def _journal_change(self, is_bid: bool, price: int, total: int) -> None:
        self.update_id += 1
        journal = self._journal
        journal.append((self.update_id, is_bid, price, total))
        if len(journal) > 2 * _JOURNAL_KEEP:
            del journal[:_JOURNAL_KEEP]
            self._journal_base = journal[0][0]

    def changes_since(self, update_id: int) -> list[tuple[int, bool, int, int]] | None:
        """Level changes with update ids > ``update_id``; None if already trimmed away."""
        if update_id >= self.update_id:
            return []
        start = update_id + 1 - self._journal_base
        if start < 0:
            return None
        return self._journal[start:]

    def add(self, order: RestingOrder) -> None:
        side = self.bids if order.is_bid else self.asks
        level = side.get(order.price)
        if level is None:
            level = Level()
            side[order.price] = level
        level.orders[order.oid] = order
        level.total += order.lots
        self.orders[order.oid] = order
        self._journal_change(order.is_bid, order.price, level.total)

    def remove(self, oid: int) -> RestingOrder | None:
        order = self.orders.pop(oid, None)
        if order is None:
            return None
        side = self.bids if order.is_bid else self.asks
        level = side[order.price]
        del level.orders[oid]
        level.total -= order.lots
        if not level.orders:
            del side[order.price]
        self._journal_change(order.is_bid, order.price, level.total)
        return order

    def reduce(self, oid: int, new_lots: int) -> None:
        """Shrink a resting order in place, keeping its time priority."""
        order = self.orders[oid]
        level = (self.bids if order.is_bid else self.asks)[order.price]
        level.total -= order.lots - new_lots
        order.lots = new_lots
        self._journal_change(order.is_bid, order.price, level.total)

    def match(self, is_bid: bool, limit: int | None, lots: int) -> list[MakerFill]:
        """Take up to ``lots`` from the opposite side at prices no worse than ``limit``."""
        side = self.asks if is_bid else self.bids
        fills: list[MakerFill] = []
        left = lots
        while left > 0 and side:
            price, level = side.peekitem(0)
            if limit is not None and (price > limit if is_bid else price < limit):
                break
            for oid in list(level.orders):
                maker = level.orders[oid]
                take = min(maker.lots, left)
                fills.append(MakerFill(maker, price, take))
                maker.lots -= take
                level.total -= take
                left -= take
                if maker.lots == 0:
                    del level.orders[oid]
                    del self.orders[oid]
                if left == 0:
                    break
            self._journal_change(not is_bid, price, level.total)
            if not level.orders:
                del side[price]
        return fills
