"""Project-wide pytest setup.

Kept light: every test session imports it, including pure unit runs without Qt.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# Headless by default; must happen before anything imports Qt. A developer running the UI
# tests under Xvfb can still choose QT_QPA_PLATFORM=xcb.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The user's own dirs stay out of every test, child processes included: no test may read a
# developer's saved notification settings (and message their phone), preferences, candle store
# or default data dirs, nor write there. platformdirs reads these at each call.
_USER_DIRS = tempfile.mkdtemp(prefix="terminal-tests-home-")
for _var, _sub in (
    ("XDG_CONFIG_HOME", "config"),
    ("XDG_DATA_HOME", "data"),
    ("XDG_STATE_HOME", "state"),
    ("XDG_CACHE_HOME", "cache"),
):
    os.environ[_var] = os.path.join(_USER_DIRS, _sub)

# No deadline: CI machines have 2 cores and timing flakes are not what property tests test.
# No example database: it would write .hypothesis/ into the checkout.
settings.register_profile(
    "default", deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", parent=settings.get_profile("default"), max_examples=2000, print_blob=True
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-soak",
        action="store_true",
        default=False,
        help="also run @pytest.mark.soak tests (long stability runs; or set TERMINAL_SOAK=1)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-soak") or os.environ.get("TERMINAL_SOAK") == "1":
        return
    skip = pytest.mark.skip(reason="soak test: run with --run-soak or TERMINAL_SOAK=1")
    for item in items:
        # The marker, not item.keywords: keywords also hold directory names, and tests/soak/
        # runs its small fault count in CI on purpose (it is marked "slow", not "soak").
        if item.get_closest_marker("soak") is not None:
            item.add_marker(skip)


@pytest.fixture
def memory_keyring() -> Iterator[object]:
    """Route ``keyring`` to an in-memory backend for the test (headless CI has no Secret
    Service, and tests must never touch a developer's real keyring)."""
    import keyring
    from keyring.backend import KeyringBackend
    from keyring.errors import PasswordDeleteError

    class MemoryKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            if self.store.pop((service, username), None) is None:
                raise PasswordDeleteError(f"{service}/{username} not found")

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
