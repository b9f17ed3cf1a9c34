"""Every exchange payload in ../shared/fixtures belongs to one venue's parse registry.

Each venue's parse test lists its own fixtures and fails for a file that is neither parsed
(with asserted values) nor exempted with a reason. This test closes the gap between them: a
file that no venue claims would otherwise be skipped silently.
"""

from __future__ import annotations

from tests.support.fixture_registry import fixtures_dir
from tests.venues import test_binance_futures_parse as futures
from tests.venues import test_binance_spot_parse as spot
from tests.venues import test_bybit_parse as bybit

# Captured USDⓈ-M depth history (snapshot + diffs as CSV), replayed through the book engine
# with the pu-chain procedure in tests/market/test_orderbook.py.
BOOK_REPLAY = {"binance/captured/btcusdt-depth-snap.csv", "binance/captured/btcusdt-depth-update.csv"}


def test_every_exchange_payload_is_claimed_by_a_venue_parse_registry() -> None:
    root = fixtures_dir()
    every = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert len(every) > 200, f"fixture tree not found or truncated at {root}"
    claimed = (
        set(spot.spot_fixtures())
        | set(futures._futures_fixtures())
        | set(bybit._all_fixtures())
        | BOOK_REPLAY
    )
    assert sorted(every - claimed) == []


def test_parsed_share_is_reported() -> None:
    """Exemptions stay the exception: most payloads are parsed with asserted values."""
    exempt = len(spot.EXEMPT) + len(futures.EXEMPT) + len(bybit.EXEMPT)
    total = len(spot.spot_fixtures()) + len(futures._futures_fixtures()) + len(bybit._all_fixtures())
    assert exempt / total < 0.25, (exempt, total)
