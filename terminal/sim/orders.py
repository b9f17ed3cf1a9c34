"""Orders, requests and rejections inside the simulator (venue-neutral)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from terminal.model.enums import OrderStatus, OrderType, PositionSide, Side, TimeInForce


class RejectReason(StrEnum):
    """Why the matching core refused a request; protocol servers map these to venue codes."""

    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    PRICE_FILTER = "PRICE_FILTER"  # price not a tick multiple, or outside min/max
    LOT_SIZE = "LOT_SIZE"  # qty not a step multiple, or outside min/max
    MARKET_LOT_SIZE = "MARKET_LOT_SIZE"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    MAX_NOTIONAL = "MAX_NOTIONAL"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"  # spot
    MARGIN_INSUFFICIENT = "MARGIN_INSUFFICIENT"  # derivatives
    POST_ONLY_WOULD_TAKE = "POST_ONLY_WOULD_TAKE"
    WOULD_TRIGGER_IMMEDIATELY = "WOULD_TRIGGER_IMMEDIATELY"
    REDUCE_ONLY_REJECTED = "REDUCE_ONLY_REJECTED"
    DUPLICATE_CLIENT_ID = "DUPLICATE_CLIENT_ID"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    INVALID_PARAMETER = "INVALID_PARAMETER"
    POSITION_SIDE_MISMATCH = "POSITION_SIDE_MISMATCH"  # hedge/one-way mismatch
    MODE_CHANGE_WITH_OPEN = "MODE_CHANGE_WITH_OPEN"  # switch mode/margin with open orders/positions
    NO_LIQUIDITY = "NO_LIQUIDITY"


class SimReject(Exception):
    """A request the matching core refuses; nothing has changed when this is raised."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else str(reason))
        self.reason = reason
        self.detail = detail


class ExecType(StrEnum):
    NEW = "NEW"
    TRADE = "TRADE"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    TRIGGERED = "TRIGGERED"  # conditional order's trigger hit; it now works as market/limit
    AMENDED = "AMENDED"


class TriggerDirection(StrEnum):
    RISE = "RISE"  # fires when last price >= trigger
    FALL = "FALL"  # fires when last price <= trigger


@dataclass(slots=True)
class OrderRequest:
    """What a user asks for, already parsed from the wire into venue-neutral terms."""

    symbol: str
    side: Side
    type: OrderType
    qty: Decimal | None = None
    quote_qty: Decimal | None = None  # spot market orders by quote amount
    price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    close_position: bool = False  # futures closePosition / Bybit position TP/SL
    client_id: str = ""
    position_side: PositionSide = PositionSide.BOTH
    trigger_direction: TriggerDirection | None = None  # None: inferred from side/type
    list_id: int = -1  # OCO membership (set by the core)


@dataclass(slots=True)
class SimOrder:
    """A user order as the core tracks it (generator orders never become SimOrders)."""

    order_id: int
    account_id: str
    symbol: str
    side: Side
    type: OrderType
    tif: TimeInForce
    qty: Decimal  # original quantity (0 for quote-amount market orders until filled)
    price: Decimal  # limit price; 0 for market
    stop_price: Decimal  # 0 if not conditional
    client_id: str
    created_ms: int
    updated_ms: int
    status: OrderStatus = OrderStatus.NEW
    filled_qty: Decimal = Decimal(0)
    filled_quote: Decimal = Decimal(0)
    quote_qty: Decimal = Decimal(0)  # requested quote amount (spot market buy by quote)
    reduce_only: bool = False
    close_position: bool = False
    position_side: PositionSide = PositionSide.BOTH
    trigger_direction: TriggerDirection | None = None
    triggered: bool = False
    list_id: int = -1
    fee_total: Decimal = Decimal(0)
    fee_asset: str = ""
    working_ms: int = 0  # when it started working in the book (after trigger)

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    @property
    def avg_price(self) -> Decimal:
        return self.filled_quote / self.filled_qty if self.filled_qty else Decimal(0)


@dataclass(slots=True)
class OrderList:
    """An OCO pair: when one leg fills or triggers, the other is cancelled."""

    list_id: int
    account_id: str
    symbol: str
    client_list_id: str
    order_ids: list[int] = field(default_factory=list)
    status: str = "EXECUTING"  # EXECUTING | ALL_DONE (Binance listOrderStatus)
    created_ms: int = 0
