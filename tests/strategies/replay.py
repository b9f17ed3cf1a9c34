"""Drive a candle strategy bar by bar, recording its target after each bar and its intents."""

from __future__ import annotations

import numpy as np

from terminal.model import Candle
from terminal.strategies import Intent
from terminal.strategies._target import TargetStrategy


def step_all(strategy: TargetStrategy, bars: list[Candle]) -> tuple[np.ndarray, list[tuple[int, Intent]]]:
    targets = np.empty(len(bars), dtype=np.int8)
    intents: list[tuple[int, Intent]] = []
    for i, candle in enumerate(bars):
        intents.extend((i, it) for it in strategy.on_candle(candle))
        targets[i] = strategy.target
    return targets, intents


def changes(targets: np.ndarray) -> int:
    """Intents implied by a target path: a CLOSE per left position, an OPEN per new one."""
    prev = np.concatenate(([0], targets[:-1]))
    moved = prev != targets
    return int(np.sum(moved & (prev != 0)) + np.sum(moved & (targets != 0)))
