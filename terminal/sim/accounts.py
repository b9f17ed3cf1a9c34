"""Simulated accounts: spot balances (free/locked) and derivatives positions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from terminal.model.enums import MarginMode, PositionSide

ZERO = Decimal(0)


@dataclass(slots=True)
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(slots=True)
class Position:
    """Signed quantity: > 0 long, < 0 short (a hedge-mode SHORT leg is negative, as Binance shows it)."""

    symbol: str
    side: PositionSide
    qty: Decimal = ZERO
    entry_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    isolated_margin: Decimal = ZERO
    updated_ms: int = 0


@dataclass(slots=True)
class SimAccount:
    account_id: str
    balances: dict[str, Balance] = field(default_factory=dict)
    positions: dict[tuple[str, PositionSide], Position] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    margin_mode: dict[str, MarginMode] = field(default_factory=dict)
    hedge_mode: bool = False
    default_leverage: int = 20

    def balance(self, asset: str) -> Balance:
        bal = self.balances.get(asset)
        if bal is None:
            bal = self.balances[asset] = Balance()
        return bal

    def position(self, symbol: str, side: PositionSide) -> Position:
        key = (symbol, side)
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position(symbol, side)
        return pos

    def leverage_of(self, symbol: str) -> int:
        return self.leverage.get(symbol, self.default_leverage)

    def margin_mode_of(self, symbol: str) -> MarginMode:
        return self.margin_mode.get(symbol, MarginMode.CROSS)


class AccountBook:
    """Accounts of one venue, created on first use from a funding template."""

    def __init__(self, fund: Callable[[SimAccount], None], default_leverage: int = 20) -> None:
        self._fund = fund
        self._default_leverage = default_leverage
        self._accounts: dict[str, SimAccount] = {}

    def get(self, account_id: str) -> SimAccount:
        acct = self._accounts.get(account_id)
        if acct is None:
            acct = SimAccount(account_id, default_leverage=self._default_leverage)
            self._fund(acct)
            self._accounts[account_id] = acct
        return acct

    def __iter__(self):
        return iter(self._accounts.values())
