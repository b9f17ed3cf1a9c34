"""Garbage-collector settings for an interactive session (the window's event loop).

CPython's default thresholds (700, 10, 10) run a collection every few hundred allocations; a
market-data app allocates constantly (Decimals, events), so young collections are frequent and
every tenth of a tenth is a full pass over the whole heap - 100-150 ms with the simulator's books
in it (demo mode), a visible freeze and the main cause of event-loop lag over 5 ms
(bench/ui_latency.py: p99 9 ms, max 145 ms with the defaults; 4.2 ms / 25 ms tuned).

Once the app has started, ``gc.freeze()`` moves the start-up heap (modules, instruments, the
simulator's books) out of the collector's scans, and larger thresholds make collections rarer.
Reference counting still frees almost everything at once; only cycles wait longer.
"""

from __future__ import annotations

import gc

__all__ = ["INTERACTIVE_THRESHOLDS", "tune_for_interactive"]

INTERACTIVE_THRESHOLDS = (20_000, 20, 100)


def tune_for_interactive() -> None:
    """Call once the app has started (its long-lived objects exist)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*INTERACTIVE_THRESHOLDS)
