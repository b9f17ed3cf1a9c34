"""Prefs file: round trip, broken files fall back to defaults with a warning, start mode rules."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from terminal.app import Mode
from terminal.model import Venue
from terminal.prefs import Prefs, PrefsStore, startup_mode

pytestmark = pytest.mark.timeout(30)


def test_missing_file_gives_defaults_without_warning(tmp_path: Path) -> None:
    store = PrefsStore(tmp_path / "none" / "prefs.json")
    assert store.load() == Prefs()
    assert store.warning is None
    assert Prefs().last_mode is Mode.DEMO


def test_round_trip(tmp_path: Path) -> None:
    store = PrefsStore(tmp_path / "cfg" / "prefs.json")
    prefs = Prefs(
        last_mode=Mode.TESTNET, last_venue=Venue.BYBIT_LINEAR, last_symbol="ETHUSDT", last_interval="15m"
    )
    store.save(prefs)
    assert PrefsStore(store.path).load() == prefs
    doc = json.loads(store.path.read_text())
    assert doc["last_mode"] == "testnet" and doc["last_venue"] == "bybit_linear"
    assert [p.name for p in store.path.parent.iterdir()] == ["prefs.json"]  # no temp file left


@pytest.mark.parametrize(
    ("content", "expected_in_warning"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2, 3]", "no settings table"),
        ("", "not valid JSON"),
        ("\x00\x01garbage", "not valid JSON"),
    ],
)
def test_broken_file_warns_and_uses_defaults(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str, expected_in_warning: str
) -> None:
    path = tmp_path / "prefs.json"
    path.write_text(content)
    store = PrefsStore(path)
    with caplog.at_level(logging.WARNING):
        prefs = store.load()
    assert prefs == Prefs()
    assert store.warning is not None and expected_in_warning in store.warning
    assert str(path) in store.warning and "defaults" in store.warning
    assert store.warning in caplog.text


def test_bad_values_are_dropped_one_by_one(tmp_path: Path) -> None:
    path = tmp_path / "prefs.json"
    path.write_text(
        json.dumps(
            {
                "last_mode": "yolo",
                "last_venue": "bybit_spot",
                "last_symbol": 42,
                "last_interval": "forever",
                "unknown_future_key": True,
            }
        )
    )
    store = PrefsStore(path)
    prefs = store.load()
    assert prefs == Prefs(last_venue=Venue.BYBIT_SPOT)  # the one good value kept
    assert store.warning is not None
    for bad in ("last_mode='yolo'", "last_symbol=42", "last_interval='forever'"):
        assert bad in store.warning
    assert "unknown_future_key" not in store.warning  # newer versions' keys are not errors


def test_unreadable_path_warns(tmp_path: Path) -> None:
    path = tmp_path / "prefs.json"
    path.mkdir()  # a directory where the file should be
    store = PrefsStore(path)
    assert store.load() == Prefs()
    assert store.warning is not None and "cannot read" in store.warning


def test_startup_mode_is_demo_unless_last_mode_is_confirmed() -> None:
    asked: list[Mode] = []

    def yes(mode: Mode) -> bool:
        asked.append(mode)
        return True

    def no(mode: Mode) -> bool:
        asked.append(mode)
        return False

    def broken(mode: Mode) -> bool:
        raise RuntimeError("dialog crashed")

    assert startup_mode(Prefs(), yes) is Mode.DEMO
    assert asked == []  # demo needs no confirmation
    assert startup_mode(Prefs(last_mode=Mode.LIVE), yes) is Mode.LIVE
    assert startup_mode(Prefs(last_mode=Mode.LIVE), no) is Mode.DEMO
    assert startup_mode(Prefs(last_mode=Mode.PAPER), yes) is Mode.PAPER
    assert asked == [Mode.LIVE, Mode.LIVE, Mode.PAPER]
    assert startup_mode(Prefs(last_mode=Mode.TESTNET), broken) is Mode.DEMO


def test_prefs_hold_no_secret_fields() -> None:
    names = set(Prefs.__dataclass_fields__)
    assert not {n for n in names if any(w in n for w in ("key", "secret", "pass", "token"))}
