"""The user's saved risk limits (``risk.toml``): round trip, broken files, and which limits a
session starts with (``--config [risk]`` > saved > none), in process and in a real headless run."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from terminal import cli
from terminal.app import AppConfig
from terminal.settings_file import load_settings
from terminal.trading.risk import LossLimits, RiskLimits, StrategyLimits
from terminal.trading.risk_store import (
    RiskSettingsStore,
    RiskSource,
    default_risk_path,
    dump_risk_toml,
    resolve_start_limits,
)

pytestmark = pytest.mark.timeout(60)

D = Decimal

FULL = RiskLimits(
    max_order_notional=D("1000.25"),
    max_position_qty={"BTCUSDT": D("0.5"), "ETHUSDT": D("12")},
    max_position_notional=D("5000"),
    max_open_orders=7,
    max_orders_per_second=3,
    max_orders_per_minute=40,
    duplicate_window_s=0.75,
    loss=LossLimits(
        daily_loss_reduce=D("100"),
        daily_loss_halt=D("200.5"),
        drawdown_reduce=D("0.05"),
        drawdown_halt=D("0.1"),
        day_start_hour_utc=8,
        resume_next_day=True,
    ),
    strategies={
        "macd_cross": StrategyLimits(max_open_positions=2, max_notional=D("300"), daily_loss=D("50")),
        "webhook:tv-alerts": StrategyLimits(max_notional=D("75"), one_position_per_symbol=False),
    },
    strategy_default=StrategyLimits(max_open_positions=1, max_notional=D("100"), daily_loss=D("20")),
)


@pytest.fixture
def store(tmp_path: Path) -> RiskSettingsStore:
    return RiskSettingsStore(tmp_path / "config" / "risk.toml")


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default store under tmp_path (the suite's shared XDG dir must never get a risk.toml),
    and a clean per-process record of where the limits came from."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert default_risk_path().is_relative_to(tmp_path)
    return default_risk_path()


# ---------------------------------------------------------------------- the file


def test_every_field_round_trips(store: RiskSettingsStore) -> None:
    store.save(FULL)
    assert store.load() == FULL and store.warning is None
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert [p.name for p in store.path.parent.iterdir()] == ["risk.toml"]  # no temp file left
    # the same [risk] format as --config: the file can be used as one as it is
    assert load_settings(store.path).risk == FULL
    assert tomllib.loads(store.path.read_text())["risk"]["strategies"]["webhook:tv-alerts"] == {
        "max_notional": "75",
        "one_position_per_symbol": False,
    }


def test_defaults_round_trip_and_none_means_no_limit(store: RiskSettingsStore) -> None:
    store.save(RiskLimits())
    text = store.path.read_text()
    assert "max_order_notional" not in text  # None: left out, exactly as a --config file would
    assert store.load() == RiskLimits()
    off = RiskLimits(duplicate_window_s=0.0)
    store.save(off)
    assert store.load() == off


def test_a_missing_file_is_no_limits_and_no_warning(store: RiskSettingsStore) -> None:
    assert store.load() is None and store.warning is None


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("[risk\nmax_open_orders = 5\n", "is not valid TOML"),
        ('[session]\nmode = "demo"\n', "must hold exactly one [risk] section (found session)"),
        ("", "must hold exactly one [risk] section (found nothing)"),
        ("[risk]\nmax_open_orders = -1\n", "risk.max_open_orders: must not be negative"),
        ('[risk]\nmax_order_notional = "lots"\n', "risk.max_order_notional: not a number"),
        ("[risk.loss]\ndrawdown_halt = 1.5\n", "risk.loss.drawdown_halt"),
        ("[risk.strategies.nosuch]\nmax_notional = 1\n", "unknown strategy 'nosuch'"),
        ("[risk]\napi_key = 1\n", "secrets never go in the settings file"),
    ],
)
def test_a_broken_file_is_none_with_a_warning_never_a_crash(
    store: RiskSettingsStore, content: str, said: str, caplog
) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="terminal.trading.risk_store"):
        assert store.load() is None
    assert store.warning is not None and said in store.warning and str(store.path) in store.warning
    assert any(said in r.getMessage() for r in caplog.records)
    store.save(FULL)  # saving again repairs it
    assert store.load() == FULL and store.warning is None


def test_an_unreadable_file_is_a_warning(store: RiskSettingsStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_bytes(b"\xff\xfe[risk]\x00")
    assert store.load() is None and "cannot be read" in (store.warning or "")


def test_a_failed_write_keeps_the_old_file(store: RiskSettingsStore, monkeypatch) -> None:
    store.save(FULL)

    def boom(*_a: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        store.save(RiskLimits())
    assert store.load() == FULL
    assert [p.name for p in store.path.parent.iterdir()] == ["risk.toml"]


def test_strings_and_odd_names_are_valid_toml() -> None:
    text = dump_risk_toml(RiskLimits(strategies={'webhook:a"b': StrategyLimits(max_notional=D(1))}))
    # a hook name cannot hold a quote, so the parser refuses it - but the writer's output is TOML
    assert tomllib.loads(text)["risk"]["strategies"]['webhook:a"b'] == {
        "max_notional": "1",
        "one_position_per_symbol": True,
    }


# ---------------------------------------------------------------------- precedence at start-up


def test_resolve_file_beats_saved_beats_none(store: RiskSettingsStore, tmp_path: Path) -> None:
    file_limits = RiskLimits(max_order_notional=D(1))
    assert resolve_start_limits(None, None, store).source is RiskSource.NONE
    store.save(FULL)
    saved = resolve_start_limits(None, None, store)
    assert (saved.limits, saved.source, saved.path) == (FULL, RiskSource.SAVED, store.path)
    chosen = resolve_start_limits(file_limits, tmp_path / "s.toml", store)
    assert (chosen.limits, chosen.source) == (file_limits, RiskSource.CONFIG_FILE)
    assert chosen.describe() == f"from --config {tmp_path / 's.toml'}"


def test_a_broken_saved_file_starts_without_limits_and_says_so(store: RiskSettingsStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text("[risk]\nmax_open_orders = 0\n")
    start = resolve_start_limits(None, None, store)
    assert start.limits is None and start.source is RiskSource.NONE
    assert start.warning is not None and "risk.max_open_orders" in start.warning


def _cli_config(argv: list[str]) -> AppConfig:
    """What ``terminal`` builds from ``argv`` up to the App's config (no App started)."""
    args = cli._build_parser().parse_args(argv)
    if args.config is not None:
        cli._apply_config(args)
    config = AppConfig()
    cli._apply_settings(args, config)
    return config


def test_cli_precedence_config_file_then_saved_then_none(user_config: Path, tmp_path: Path) -> None:
    config = _cli_config([])
    assert config.risk_limits is None
    assert config.risk_source is not None and config.risk_source.source is RiskSource.NONE

    RiskSettingsStore().save(FULL)
    config = _cli_config([])
    assert config.risk_limits == FULL
    start = config.risk_source
    assert start is not None and start.source is RiskSource.SAVED and start.path == user_config

    no_risk = tmp_path / "norisk.toml"
    no_risk.write_text('[log]\nlevel = "INFO"\n')
    assert _cli_config(["--config", str(no_risk)]).risk_limits == FULL  # no [risk]: the saved ones

    with_risk = tmp_path / "risk.toml"
    with_risk.write_text('[risk]\nmax_order_notional = "5"\n')
    config = _cli_config(["--config", str(with_risk)])
    assert config.risk_limits == RiskLimits(max_order_notional=D(5))
    start = config.risk_source
    assert start is not None and start.source is RiskSource.CONFIG_FILE and start.path == with_risk


def test_a_headless_run_starts_with_the_saved_limits(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    RiskSettingsStore(xdg / "crypto-terminal" / "risk.toml").save(
        RiskLimits(max_order_notional=D("123"), loss=LossLimits(daily_loss_halt=D("45")))
    )
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(xdg),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "PYTHONUNBUFFERED": "1",
    }
    argv = ["--headless", "--venue", "binance_usdm", "--symbols", "BTCUSDT", "--duration", "1"]
    out = subprocess.run(
        [sys.executable, "-m", "terminal", *argv, "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=50,
        env=env,
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    saved_at = xdg / "crypto-terminal" / "risk.toml"
    assert (
        f"risk limits: max_order_notional=123 duplicate_window_s=2.0 loss.daily_loss_halt=45 (saved in {saved_at})"
        in log
    ), log[-3000:]
