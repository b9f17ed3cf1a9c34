"""The interactive GC settings: the start-up heap is frozen out of scans, collections rarer."""

from __future__ import annotations

import gc

from terminal.gctune import INTERACTIVE_THRESHOLDS, tune_for_interactive


def test_tune_freezes_the_heap_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        tune_for_interactive()
        assert gc.get_threshold() == INTERACTIVE_THRESHOLDS
        assert gc.get_freeze_count() > 1000  # the interpreter's own heap at least
        assert INTERACTIVE_THRESHOLDS[0] > before[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
