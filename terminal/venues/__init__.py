"""Venue adapters: REST and supervised websocket clients for Binance Spot, Binance USDⓈ-M and Bybit v5.

``ws.SupervisedStream`` is the one streaming layer every adapter builds on (PROTOCOLS.md §2: the
clients' own streaming layers give up or die, so we own reconnects, heartbeats and watchdogs).
"""
