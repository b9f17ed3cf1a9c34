"""The interactive GC settings: the start-up heap is frozen out of scans, collections rarer."""

from __future__ import annotations

import gc

from terminal.gctune import INTERACTIVE_THRESHOLDS, tune_for_interactive


def test_tune_freezes_the_heap_and_raises_the_thresholds() -> None:
    before = gc.get_threshold()  # other tests may have started the app (and tuned) already
    try:
        gc.unfreeze()
        gc.set_threshold(700, 10, 10)  # CPython's defaults
        tune_for_interactive()
        assert gc.get_threshold() == INTERACTIVE_THRESHOLDS
        assert gc.get_freeze_count() > 1000  # the interpreter's own heap at least
        assert INTERACTIVE_THRESHOLDS[0] > 700
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
