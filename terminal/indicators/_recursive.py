"""A first-order recursive filter ``y[i] = d * y[i-1] + a * x[i]`` without a per-bar Python loop.

EMA and Wilder smoothing are this filter. Unrolled, ``y[k] = d**(k+1) * y0 + a * d**k *
cumsum(x[i] / d**i)``: exact, but ``1 / d**i`` overflows on long inputs, so the input is cut
into blocks short enough that ``1 / d**len`` stays below 1e8 (no precision lost), each block
seeded with the previous block's last value.

All blocks are filtered at once as the rows of a matrix (from a zero start); only the carry from
block to block - one multiply-add per block - runs as a scalar loop. The arithmetic is the same,
operation for operation, as filtering block after block.
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
    block = min(n, max(1, int(math.log(_MAX_GROWTH) / -math.log(d))))
    powers = d ** np.arange(block + 1, dtype=np.float64)  # d**0 .. d**block
    rows = -(-n // block)
    padded = np.zeros(rows * block, dtype=np.float64)
    padded[:n] = x
    # each block filtered from 0: a * d**j * cumsum(x / d**i)
    free = (a * powers[:block]) * np.cumsum(padded.reshape(rows, block) * (1.0 / powers[:block]), axis=1)
    # the value carried into each block: the previous block's last value
    carry = np.empty(rows, dtype=np.float64)
    last = free[:, -1].tolist()
    grow = float(powers[block])
    prev = y0
    for k in range(rows):
        carry[k] = prev
        prev = grow * prev + last[k]
    full = powers[1:][None, :] * carry[:, None] + free
    out[:] = full.ravel()[:n]
    return out
