"""Signals from outside: the embedded webhook listener (MarketRaker, generic signed hooks)."""
