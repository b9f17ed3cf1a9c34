"""A first-order recursive filter ``y[i] = d * y[i-1] + a * x[i]`` without a Python loop.

EMA and Wilder smoothing are this filter. Unrolled, ``y[k] = d**(k+1) * y0 + a * d**k *
cumsum(x[i] / d**i)``: exact, but ``1 / d**i`` overflows on long inputs, so the input is cut
into blocks short enough that ``1 / d**len`` stays below 1e8 (no precision lost), each block
seeded with the previous block's last value.
"""

from __future__ import annotations

import math

import numpy as np

_MAX_GROWTH = 1e8


def recursive_filter(x: np.ndarray, a: float, y0: float) -> np.ndarray:
    """Filter ``x`` (1-D float64) starting from ``y0`` (the value before ``x[0]``)."""
    d = 1.0 - a
    n = len(x)
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    if d <= 0.0:  # a == 1: no memory
        out[:] = x
        return out
    block = max(1, int(math.log(_MAX_GROWTH) / -math.log(d)))
    powers = d ** np.arange(block + 1, dtype=np.float64)  # d**0 .. d**block
    inv = 1.0 / powers[:block]
    prev = y0
    for start in range(0, n, block):
        chunk = x[start : start + block]
        m = len(chunk)
        acc = np.cumsum(chunk * inv[:m])
        seg = powers[1 : m + 1] * prev + a * powers[:m] * acc
        out[start : start + m] = seg
        prev = seg[-1]
    return out
