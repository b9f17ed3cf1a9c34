"""Enumerations shared by every layer (model, venues, simulator, UI).

Values are the canonical wire-neutral names; venue adapters map them to each
venue's spelling (e.g. Bybit "Buy"/"Sell").
"""

from __future__ import annotations

from enum import StrEnum


class Venue(StrEnum):
    BINANCE_SPOT = "binance_spot"
    BINANCE_USDM = "binance_usdm"
    BYBIT_SPOT = "bybit_spot"
    BYBIT_LINEAR = "bybit_linear"


class InstrumentKind(StrEnum):
    SPOT = "spot"
    LINEAR_PERPETUAL = "linear_perpetual"


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_MARKET = "STOP_MARKET"
    STOP_LIMIT = "STOP_LIMIT"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
    TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"
    TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"

    @property
    def is_conditional(self) -> bool:
        return self not in (OrderType.MARKET, OrderType.LIMIT)

    @property
    def has_limit_price(self) -> bool:
        return self in (OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT)


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    POST_ONLY = "POST_ONLY"  # Binance GTX / LIMIT_MAKER, Bybit PostOnly


class OrderStatus(StrEnum):
    PENDING_NEW = "PENDING_NEW"  # created locally, request not acknowledged yet
    NEW = "NEW"
    UNTRIGGERED = "UNTRIGGERED"  # conditional order waiting for its trigger
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in (
            OrderStatus.FILLED,
            OrderStatus.CANCELED,
            OrderStatus.REJECTED,
            OrderStatus.EXPIRED,
        )

    @property
    def is_open(self) -> bool:
        return not self.is_terminal and self is not OrderStatus.PENDING_NEW


class PositionSide(StrEnum):
    BOTH = "BOTH"  # one-way mode
    LONG = "LONG"  # hedge mode
    SHORT = "SHORT"


class MarginMode(StrEnum):
    CROSS = "CROSS"
    ISOLATED = "ISOLATED"


class FeedState(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    STALE = "stale"
    RECONNECTING = "reconnecting"
    RESYNCING = "resyncing"
    STOPPED = "stopped"


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"
