"""Pure domain types: no I/O, no Qt. Decimal for money, ms epoch ints for time."""

from terminal.model.account import Balance, Position
from terminal.model.enums import (
    FeedState,
    InstrumentKind,
    MarginMode,
    OrderStatus,
    OrderType,
    PositionSide,
    Side,
    TimeInForce,
    TradingState,
    Venue,
)
from terminal.model.feed import FeedStatus
from terminal.model.instrument import FilterName, FilterViolation, Instrument, RoundingMode
from terminal.model.market import (
    BookLevel,
    Candle,
    FundingRate,
    MarkPrice,
    OrderBookSnapshot,
    Ticker,
    Trade,
)
from terminal.model.order import (
    TRANSITIONS,
    Fill,
    IllegalTransition,
    Order,
    OrderUpdate,
    TransitionKind,
    classify_transition,
)
from terminal.model.signal import Signal, SignalSource

__all__ = [
    "TRANSITIONS",
    "Balance",
    "BookLevel",
    "Candle",
    "FeedState",
    "FeedStatus",
    "Fill",
    "FilterName",
    "FilterViolation",
    "FundingRate",
    "IllegalTransition",
    "Instrument",
    "InstrumentKind",
    "MarginMode",
    "MarkPrice",
    "Order",
    "OrderBookSnapshot",
    "OrderStatus",
    "OrderType",
    "OrderUpdate",
    "Position",
    "PositionSide",
    "RoundingMode",
    "Side",
    "Signal",
    "SignalSource",
    "Ticker",
    "TimeInForce",
    "Trade",
    "TradingState",
    "TransitionKind",
    "Venue",
    "classify_transition",
]
