"""Events the simulated market emits; protocol servers format them to the wire.

Listeners are called synchronously, in order, while the core's state is exactly
as the event describes, so a listener must format (or copy) what it needs before
returning: SimOrder objects keep changing afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from terminal.model.enums import PositionSide, Side
from terminal.sim.orders import ExecType, OrderList, SimOrder


@dataclass(slots=True, frozen=True)
class TradeEvent:
    """A public trade. ``taker_side`` is the aggressor's side."""

    symbol: str
    trade_id: int
    price_ticks: int
    qty_lots: int
    taker_side: Side
    ts_ms: int
    maker_order_id: int = 0
    taker_order_id: int = 0
    taker_seq: int = 0  # same taker action: consecutive same-price trades form one aggTrade


@dataclass(slots=True, frozen=True)
class OrderEvent:
    """A change of one user order (NEW, TRADE, CANCELED, EXPIRED, TRIGGERED, AMENDED)."""

    account_id: str
    order: SimOrder
    exec_type: ExecType
    ts_ms: int
    last_qty: Decimal = Decimal(0)
    last_price: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    fee_asset: str = ""
    trade_id: int = -1
    is_maker: bool = False
    realized_pnl: Decimal = Decimal(0)  # derivatives: PnL realised by this fill


@dataclass(slots=True, frozen=True)
class OrderListEvent:
    account_id: str
    order_list: OrderList
    ts_ms: int


@dataclass(slots=True, frozen=True)
class BalanceChange:
    asset: str
    free: Decimal
    locked: Decimal


@dataclass(slots=True, frozen=True)
class AccountEvent:
    """Balances (and for derivatives, positions) changed. ``reason`` as Binance's ACCOUNT_UPDATE 'm'."""

    account_id: str
    balances: tuple[BalanceChange, ...]
    positions: tuple[PositionSnapshot, ...]
    reason: str  # ORDER | FUNDING_FEE | DEPOSIT | ADJUSTMENT | MARGIN_TYPE_CHANGE ...
    ts_ms: int


@dataclass(slots=True, frozen=True)
class PositionSnapshot:
    symbol: str
    position_side: PositionSide
    qty: Decimal  # signed in one-way mode; positive for LONG/SHORT legs in hedge mode
    entry_price: Decimal
    mark_price: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal  # cumulative
    leverage: int
    isolated: bool
    isolated_margin: Decimal
    liquidation_price: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    updated_ms: int


@dataclass(slots=True, frozen=True)
class BalanceDeltaEvent:
    """A deposit/withdrawal style change (Binance spot balanceUpdate)."""

    account_id: str
    asset: str
    delta: Decimal
    ts_ms: int


SimEvent = TradeEvent | OrderEvent | OrderListEvent | AccountEvent | BalanceDeltaEvent
Listener = Callable[[SimEvent], None]
