"""Binance venues: the shared REST layer (``client``), URLs per network, and the spot adapter.

The USDⓈ-M futures adapter lives beside it (``futures``, ``parse_futures``)."""
