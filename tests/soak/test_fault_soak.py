"""Fault soak per venue against the simulator over real sockets (see tests/soak/harness.py).

Every stream fault kind the simulator offers for the venue and every HTTP fault kind are
injected ``TERMINAL_SOAK_FAULTS`` times each (CI default 2; bench/fault_soak.py runs 200).
After each heal the adapter's book must equal the simulator's, each fault must have shown its
FeedStatus observable, the journal must equal the venue with every fill exactly once, and the
engine's 1m candles must be gap/duplicate-free and equal the simulator's closed bars.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from terminal.sim.faults import StreamFault
from tests.soak.harness import BYBIT, VENUES, soak_venue, stream_kinds

N = int(os.environ.get("TERMINAL_SOAK_FAULTS", "2"))

# Not marked "soak" (that mark is skipped by default): CI runs this small count on purpose.
pytestmark = pytest.mark.slow


@pytest.mark.timeout(60 + 25 * N)
@pytest.mark.parametrize("name", list(VENUES))
async def test_every_fault_kind_heals(name: str, tmp_path: Path) -> None:
    venue = VENUES[name]
    kinds = list(stream_kinds(venue))
    report = await soak_venue(name, N, tmp_path, kinds=kinds)
    assert report.failures() == []
    # every kind was really injected N times (a fault that never struck is a failure above)
    assert {k: s.injected for k, s in report.stream.items()} == {str(k): N for k in kinds}
    assert all(h.injected == N for h in report.http.values()) and len(report.http) == 7
    assert report.sim_fills > 0 and report.candle_bars >= 30


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", [n for n, v in VENUES.items() if v in BYBIT])
async def test_bybit_duplicate_delta_is_ignored(name: str, tmp_path: Path) -> None:
    report = await soak_venue(name, N, tmp_path, kinds=[StreamFault.DUPLICATE], http=False)
    assert report.failures() == []
