"""The user's saved notification settings: JSON round-trip, broken files, file hygiene, start-up."""

from __future__ import annotations

import argparse
import json
import logging
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from terminal.cli import _notify_config
from terminal.notify import (
    ChannelKind,
    EmailConfig,
    NoticeKind,
    NotifyConfig,
    RetryPolicy,
    SmtpSecurity,
    TelegramConfig,
)
from terminal.notify.store import NOTIFY_FILENAME, NotifySettingsStore, default_notify_path

TG = TelegramConfig(chat_id="-100123", base_url="http://127.0.0.1:9/api", timeout_s=3.5)
EMAIL = EmailConfig(
    host="smtp.example.test",
    sender="bot@example.test",
    recipients=("a@example.test", "b@example.test"),
    port=465,
    security=SmtpSecurity.TLS,
    username="bot@example.test",
    ca_file=Path("/etc/ssl/private-ca.pem"),
    timeout_s=7.0,
)


def full_config() -> NotifyConfig:
    routes = {kind: frozenset({ChannelKind.TRAY}) for kind in NoticeKind}
    routes[NoticeKind.FILL] = frozenset(ChannelKind)
    routes[NoticeKind.FEED] = frozenset()  # routed nowhere: must stay nowhere
    routes[NoticeKind.RISK_STATE] = frozenset({ChannelKind.TELEGRAM, ChannelKind.EMAIL})
    return NotifyConfig(
        routes=routes,
        queue_size=50,
        coalesce_s=0.25,
        retry=RetryPolicy(attempts=3, base_s=0.5, max_s=9.0),
        close_timeout_s=2.0,
        telegram=TG,
        email=EMAIL,
    )


# ---------------------------------------------------------------------- to_dict / from_dict
def test_to_dict_round_trips_through_from_dict_and_json() -> None:
    config = full_config()
    doc = config.to_dict()
    assert NotifyConfig.from_dict(doc) == config
    assert NotifyConfig.from_dict(json.loads(json.dumps(doc))) == config
    assert doc["routes"]["feed"] == [] and doc["routes"]["fill"] == ["email", "telegram", "tray"]
    assert doc["email"]["security"] == "tls" and doc["email"]["ca_file"] == "/etc/ssl/private-ca.pem"


def test_optional_sections_round_trip_when_absent() -> None:
    config = NotifyConfig()
    doc = config.to_dict()
    assert "telegram" not in doc and "email" not in doc
    assert NotifyConfig.from_dict(doc) == config
    local_relay = NotifyConfig(
        routes={k: frozenset({ChannelKind.EMAIL}) for k in NoticeKind},
        email=EmailConfig(host="localhost", sender="t@x.test", recipients=("me@x.test",), port=25,
                          security=SmtpSecurity.NONE),
    )  # fmt: skip
    assert NotifyConfig.from_dict(json.loads(json.dumps(local_relay.to_dict()))) == local_relay


@given(
    st.dictionaries(
        st.sampled_from(list(NoticeKind)),
        st.frozensets(st.sampled_from(list(ChannelKind))),
        max_size=len(NoticeKind),
    )
)
def test_any_routes_keep_their_meaning(routes: dict[NoticeKind, frozenset[ChannelKind]]) -> None:
    # A kind missing from the mapping goes nowhere; after the round trip it still does.
    config = NotifyConfig(routes=routes, telegram=TG, email=EMAIL)
    back = NotifyConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    for kind in NoticeKind:
        assert back.channels_for(kind) == config.channels_for(kind)


# ---------------------------------------------------------------------- the store
def test_missing_file_means_no_notifications(tmp_path: Path) -> None:
    store = NotifySettingsStore(tmp_path / "nope" / NOTIFY_FILENAME)
    assert store.load() is None
    assert store.warning is None


def test_save_then_load_private_atomic_and_secret_free(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / NOTIFY_FILENAME
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir()
    tmp.write_text("left over by a crash")
    os.chmod(tmp, 0o644)
    store = NotifySettingsStore(path)
    store.save(full_config())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not tmp.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == [NOTIFY_FILENAME]
    assert NotifySettingsStore(path).load() == full_config()
    text = path.read_text()
    for word in ("token", "password", "secret"):
        assert word not in text.lower()

    store.save(NotifyConfig())  # overwrite in place
    assert NotifySettingsStore(path).load() == NotifyConfig()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "holds no settings table"),
        ('{"routes": {"fill": ["sms"]}}', "unknown value 'sms'"),
        ('{"telegram": {"chat_id": "1"}, "routes": {"fill": ["email"]}}', "notify.email is not set"),
        ('{"email": {"host": "h", "sender": "s@x", "recipients": "r@x", "port": "25"}}', "notify.email.port"),
        ('{"telegram": {"chat_id": "1", "base_url": 5}}', "bad setting"),
        ('{"retry": {"attempts": "3"}}', "bad setting"),
        (b"\xff\xfe\x00", "cannot be read"),
    ],
)
def test_broken_file_means_none_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str | bytes, why: str
) -> None:
    path = tmp_path / NOTIFY_FILENAME
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    store = NotifySettingsStore(path)
    with caplog.at_level(logging.WARNING, logger="terminal.notify.store"):
        assert store.load() is None
    assert store.warning is not None
    assert str(path) in store.warning and why in store.warning
    assert "notifications are off" in store.warning
    assert any(r.levelno == logging.WARNING and str(path) in r.getMessage() for r in caplog.records)
    assert path.read_bytes() == (content if isinstance(content, bytes) else content.encode())  # untouched


def test_default_path_is_per_user_not_per_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_notify_path() == tmp_path / "crypto-terminal" / NOTIFY_FILENAME
    assert NotifySettingsStore().path == default_notify_path()


# ---------------------------------------------------------------------- start-up (cli)
def _args(notify_config: Path | None = None) -> argparse.Namespace:
    return argparse.Namespace(notify_config=notify_config)


def test_startup_reads_the_saved_settings_without_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert _notify_config(_args()) is None  # nothing saved: no notifications
    NotifySettingsStore().save(full_config())
    assert _notify_config(_args()) == full_config()
    # --notify-config still wins over the saved settings
    explicit = tmp_path / "explicit.json"
    explicit.write_text(json.dumps(NotifyConfig().to_dict()))
    assert _notify_config(_args(explicit)) == NotifyConfig()


def test_startup_with_a_broken_saved_file_warns_and_runs_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    path = default_notify_path()
    path.parent.mkdir(parents=True)
    path.write_text('{"routes": {"fill": ["telegram"]}}')
    with caplog.at_level(logging.WARNING):
        assert _notify_config(_args()) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(path) in w and "notify.telegram is not set" in w for w in warnings)
