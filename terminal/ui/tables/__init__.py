"""Account tables: positions, open orders, order history / fills, balances."""

from terminal.ui.tables.balances import BalancesPanel
from terminal.ui.tables.history import HistoryPanel
from terminal.ui.tables.orders import OpenOrdersPanel
from terminal.ui.tables.positions import PositionsPanel

__all__ = ["BalancesPanel", "HistoryPanel", "OpenOrdersPanel", "PositionsPanel"]
