"""Bybit v5 venue adapter (spot and linear USDT perpetuals on one unified account)."""

from terminal.venues.bybit.adapter import BybitAdapter

__all__ = ["BybitAdapter"]
