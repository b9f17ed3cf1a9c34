"""The single entry point: ``terminal`` (the desktop window, demo by default),
``terminal --self-test [--screenshot PATH]``, ``terminal --headless --mode ...``, ``terminal sim ...``,
``terminal backtest ...``.

Headless live trading has no dialog to confirm in, so it needs the venue named and an explicit
acknowledgement on the command line (``LIVE_FLAG``); without them it refuses before anything
touches the network.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from terminal.model.enums import Venue
from terminal.sim.instruments import DEFAULT_SYMBOLS, known_symbols

LIVE_FLAG = "--i-understand-this-trades-real-money"
# `terminal sim`'s keys from the environment (terminal.sim.child restarts its child with them):
# unlike argv, another user cannot read a process's environment.
ENV_SIM_API_KEY = "TERMINAL_SIM_API_KEY"
ENV_SIM_API_SECRET = "TERMINAL_SIM_API_SECRET"


def _symbols(text: str) -> tuple[str, ...]:
    symbols = tuple(s.strip().upper() for s in text.split(",") if s.strip())
    unknown = [s for s in symbols if s not in known_symbols()]
    if unknown or not symbols:
        raise argparse.ArgumentTypeError(
            f"unknown symbol(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(known_symbols())}"
        )
    return symbols


def _plain_symbols(text: str) -> tuple[str, ...]:
    symbols = tuple(s.strip().upper() for s in text.split(",") if s.strip())
    if not symbols:
        raise argparse.ArgumentTypeError("no symbol given")
    return symbols


def _venues(text: str) -> tuple[Venue, ...]:
    try:
        return tuple(Venue(v.strip().lower()) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown venue in {text!r}; known: {', '.join(v.value for v in Venue)}"
        )


def _one_venue(text: str) -> Venue:
    try:
        return Venue(text.strip().lower())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown venue {text!r}; known: {', '.join(v.value for v in Venue)}"
        ) from None


def _add_replay_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--replay",
        type=Path,
        default=None,
        metavar="DIR",
        help="demo: the simulator replays this recording (from --record) instead of its random walk",
    )
    parser.add_argument(
        "--replay-speed", type=float, default=1.0, help="with --replay: 2 = twice the recorded pace"
    )
    parser.add_argument("--replay-loop", action="store_true", help="with --replay: start over at the end")


def _replay_spec(args: argparse.Namespace) -> object:
    """``--replay DIR``: a ReplaySpec (None without it); ValueError naming what is wrong."""
    if args.replay is None:
        if args.replay_loop or args.replay_speed != 1.0:
            raise ValueError("--replay-speed and --replay-loop go with --replay DIR")
        return None
    from terminal.sim.replay import ReplaySpec

    return ReplaySpec(args.replay, speed=args.replay_speed, loop=args.replay_loop)


def _session_symbols(args: argparse.Namespace, mode: object) -> object:
    """Resolve ``--symbols`` and ``--replay`` for a session; returns the ReplaySpec (or None).
    ValueError: a replay outside demo, or a recording that cannot be replayed (says why)."""
    from terminal.app import Mode

    replay = _replay_spec(args)
    if replay is not None:
        if mode is not Mode.DEMO:
            raise ValueError(f"--replay runs on the demo simulator: drop --mode {mode} (demo is the default)")
        from terminal.sim.replay import check_replay_path

        recorded = check_replay_path(args.replay).symbols
        if not recorded:
            raise ValueError(
                f"--replay {args.replay}: none of its symbols is listed by the demo exchange "
                f"({', '.join(known_symbols())})"
            )
        if args.symbols is None:
            args.symbols = recorded
        missing = [s for s in args.symbols if s not in recorded]
        if missing:
            raise ValueError(
                f"--replay {args.replay} has no {', '.join(missing)}; it recorded {', '.join(recorded)}"
            )
    if args.symbols is None:
        args.symbols = ("BTCUSDT", "ETHUSDT")
    return replay


def _sim_symbols_ok(args: argparse.Namespace, mode: object) -> bool:
    """Demo (and paper on the simulator) can only stream what the simulator lists."""
    from terminal.app import Mode

    if mode is Mode.DEMO or (mode is Mode.PAPER and args.paper_data == "sim"):
        unknown = [s for s in args.symbols if s not in known_symbols()]
        if unknown:
            print(
                f"error: the demo exchange does not list {', '.join(unknown)}; known: {', '.join(known_symbols())}",
                file=sys.stderr,
            )
            return False
    return True


def _live_refusal(args: argparse.Namespace, headless: bool) -> str | None:
    """Why this command line may not trade live (None: it may, or it is not live)."""
    live = args.mode == "live"
    if not headless:
        if args.live_venue is not None or args.live_ack:
            return (
                f"--live-venue and {LIVE_FLAG} are for --headless; the window asks in its "
                "live opt-in dialog (which names the venue and account)"
            )
        return None
    if not live:
        if args.live_venue is not None or args.live_ack:
            return f"--live-venue and {LIVE_FLAG} go with --mode live"
        return None
    if args.live_venue is None or not args.live_ack:
        return (
            "headless live mode trades real money with no confirmation dialog; it needs the venue "
            f"and an explicit acknowledgement: --mode live --live-venue VENUE {LIVE_FLAG} "
            "(or use --mode demo, paper or testnet)"
        )
    if args.venue is not None and args.venue != (args.live_venue,):
        return "live mode trades exactly one venue: name it with --live-venue (not --venue)"
    return None


def _apply_config(args: argparse.Namespace) -> None:
    """``--config FILE``: load it into ``args.settings`` and fill every option the command line
    left unset: an explicit flag always wins. The file has no key for the live acknowledgement
    (``LIVE_FLAG`` stays a flag): a file alone never starts live trading. Raises
    ``SettingsError`` (a ValueError): ``FILE: key: what is wrong``."""
    from terminal.settings_file import SettingsError, load_settings

    settings = args.settings = load_settings(args.config)
    session = settings.session
    if args.mode is None and session.mode is not None:
        args.mode = session.mode.value
    if args.venue is None:
        args.venue = session.venues
    if args.symbols is None:
        args.symbols = session.symbols
    if args.data_dir is None:
        args.data_dir = session.data_dir
    if args.paper_data is None and session.paper_data is not None:
        args.paper_data = session.paper_data.value
    if session.live_venue is not None:
        if not args.headless:
            raise SettingsError(
                settings.path,
                "session.live_venue",
                "is for --headless; the window asks for the live venue in its opt-in dialog",
            )
        if args.live_venue is None:
            args.live_venue = session.live_venue
    hook = settings.webhook
    if hook is not None:  # the section turns the listener on
        if args.webhook_host is None:
            args.webhook_host = hook.host
        if args.webhook_port is None:
            args.webhook_port = hook.port if hook.port is not None else 8787
        if args.marketraker_key_file is None:
            args.marketraker_key_file = hook.marketraker_key_file
        if args.webhook_hooks is None:
            args.webhook_hooks = hook.hooks
    if args.ops_host is None:
        args.ops_host = settings.ops.host
    if args.ops_port is None:
        args.ops_port = settings.ops.port
    if args.log_level is None and settings.log.level is not None:
        args.log_level = settings.log.level.value
    if args.log_json is None:
        args.log_json = settings.log.json


def _resolve_defaults(args: argparse.Namespace) -> None:
    """Defaults of the options a ``--config`` file may set, applied after merging it: an argparse
    default would otherwise look like an explicit flag and override the file."""
    for name, default in (
        ("log_level", "INFO"),
        ("log_json", False),
        ("paper_data", "live"),
        ("webhook_host", "127.0.0.1"),
        ("ops_host", "127.0.0.1"),
    ):
        if getattr(args, name, None) is None:
            setattr(args, name, default)


def _apply_settings(args: argparse.Namespace, config: Any) -> None:
    """The risk limits onto the App's config: the ``--config`` file's [risk], else the user's
    saved ones, else none (the permissive defaults). ValueError naming the key when the file
    contradicts the session."""
    settings = args.settings
    # Risk limits: --config's [risk] > the user's saved Settings → Risk limits > none.
    from terminal.trading.risk_store import resolve_start_limits

    start = resolve_start_limits(settings.risk if settings else None, settings.path if settings else None)
    config.risk_limits, config.risk_source = start.limits, start
    if settings is None:
        return
    from terminal.settings_file import SettingsError

    hook_venue = config.automation.webhook_venue if config.automation is not None else None
    if hook_venue is not None and hook_venue not in config.venues:
        raise SettingsError(
            settings.path,
            "webhook.webhook_venue",
            f"{hook_venue} is not one of the session's venues ({', '.join(config.venues)})",
        )


def _log_settings(args: argparse.Namespace, config: Any) -> None:
    """One INFO line: which settings file, and the risk limits in force (the file holds no secrets)."""
    from terminal.settings_file import describe_limits

    source = f"settings {args.settings.path}" if args.settings is not None else "no --config"
    start = config.risk_source
    where = f" ({start.describe()})" if start is not None else ""
    logging.getLogger(__name__).info(
        "%s; risk limits: %s%s", source, describe_limits(config.risk_limits), where
    )


def _run_headless(args: argparse.Namespace) -> int:
    from terminal.app import MARKETS, AppConfig, Mode, run_headless
    from terminal.venues.base import Network

    mode = Mode(args.mode or "demo")
    refusal = _live_refusal(args, headless=True)
    if refusal is not None:  # before any App, adapter or key store exists: no network touched
        if args.settings is not None and mode is Mode.LIVE:
            refusal += f"; a --config file cannot acknowledge it: {LIVE_FLAG} goes on the command line"
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    try:
        replay = _session_symbols(args, mode)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not _sim_symbols_ok(args, mode):
        return 2
    live = mode is Mode.LIVE
    config = AppConfig(
        replay=replay,
        record_dir=args.record,
        mode=mode,
        venues=(args.live_venue,) if live else args.venue or MARKETS,
        symbols=args.symbols,
        data_dir=args.data_dir,
        paper_data=Network.CUSTOM if args.paper_data == "sim" else Network.LIVE,
        live_opt_in=live,  # the command line's explicit acknowledgement, checked above
    )
    try:
        config.automation = _automation_config(args, headless=True)
        config.notify = _notify_config(args)
        _apply_settings(args, config)
    except (OSError, ValueError) as exc:  # a bad key file or option: say which, start nothing
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _log_to_file(args)
    _log_settings(args, config)
    if live:
        logging.getLogger(__name__).warning(
            "LIVE trading on %s (acknowledged with %s)", args.live_venue, LIVE_FLAG
        )
    try:
        return asyncio.run(run_headless(config, duration_s=args.duration))
    except KeyboardInterrupt:
        return 130


def _automation_config(args: argparse.Namespace, *, headless: bool = False) -> object:
    """Strategies always; the webhook listener when a webhook option is given. /metrics and
    /healthz are served on the webhook listener, else on their own loopback listener: always
    headless (``--ops-port``, default a free port), in the window only with ``--ops-port``."""
    from dataclasses import replace

    from terminal.automation.wiring import AutomationConfig
    from terminal.ops import OpsConfig
    from terminal.ops.health import HealthPolicy
    from terminal.signals.server import WebhookConfig

    port = args.ops_port if args.ops_port is not None else (0 if headless else None)
    if port is not None and not 0 <= port <= 65535:
        raise ValueError(f"--ops-port must be within 0..65535, got {port}")
    ops = OpsConfig(listen_host=args.ops_host, listen_port=port)
    auto = AutomationConfig(ops=ops)
    settings = args.settings
    if settings is not None:  # the file's parts that have no flag
        if settings.ops.metrics_remote is not None:
            ops = replace(ops, metrics_remote=settings.ops.metrics_remote)
        if settings.ops.feed_down_after_s is not None:
            ops = replace(ops, health=HealthPolicy(feed_down_after_s=settings.ops.feed_down_after_s))
        auto.ops = ops
        if settings.sizing is not None:
            auto.sizing = settings.sizing
        if settings.max_leverage is not None:
            auto.max_leverage = settings.max_leverage
        if settings.webhook is not None:
            auto.webhook_venue = settings.webhook.webhook_venue
    wanted = args.webhook_port is not None or args.marketraker_key_file is not None or args.webhook_hooks
    if not wanted:
        return auto
    key = args.marketraker_key_file
    if key is not None and not key.is_file():
        raise ValueError(f"--marketraker-key-file {key}: no such file")
    auto.webhook = WebhookConfig(
        host=args.webhook_host,
        port=args.webhook_port if args.webhook_port is not None else 8787,
        marketraker_key=key,
        generic_hooks=tuple(args.webhook_hooks or ()),
    )
    return auto


def _notify_config(args: argparse.Namespace) -> object:
    """``--notify-config FILE``: the JSON ``notify`` settings (routes per event, telegram, email);
    secrets stay in the key store (``telegram:bot_token``, ``smtp:password``). Without it, the
    settings saved in Settings → Notifications; a broken saved file is logged (WARNING, naming
    the file) and the session runs without notifications. ``--config``'s ``[notify]`` comes
    between the two: the flag beats it, it beats the saved settings."""
    settings = getattr(args, "settings", None)
    if args.notify_config is None and settings is not None and settings.notify is not None:
        return settings.notify
    if args.notify_config is None:
        from terminal.notify.store import NotifySettingsStore

        return NotifySettingsStore().load()
    import json

    from terminal.notify import NotifyConfig, NotifyConfigError

    try:
        data = json.loads(args.notify_config.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return NotifyConfig.from_dict(data)
    except (OSError, ValueError, NotifyConfigError) as exc:
        raise ValueError(f"--notify-config {args.notify_config}: {exc}") from None


def _log_to_file(args: argparse.Namespace) -> None:
    """The session's log also goes to ``<data dir>/logs/terminal.log`` (rotated, secrets scrubbed);
    ``--log-json`` makes every line a JSON object (with the signal -> order correlation id)."""
    from terminal.app import Mode, default_data_dir
    from terminal.ops.logs import configure_logging

    data_dir = args.data_dir or default_data_dir(Mode(args.mode or "demo"))
    if args.log_json:
        for handler in list(logging.getLogger().handlers):  # basicConfig's plain console handler
            logging.getLogger().removeHandler(handler)
    try:
        configure_logging(data_dir, json=args.log_json, level=args.log_level, console=args.log_json)
    except OSError as exc:  # a read-only data dir must not stop trading: console logging still works
        logging.getLogger(__name__).warning("no log file in %s: %s", data_dir, exc)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="terminal", description="Crypto trading terminal")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML settings for the window or --headless: session, webhook, ops, risk limits, sizing, "
        "notify, log (flags given on the command line override it; no secrets in it)",
    )
    parser.add_argument(
        "--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default: INFO"
    )
    parser.add_argument(
        "--log-json",
        action="store_true",
        default=None,  # None: not given (the --config file may say)
        help="log one JSON object per line (console and log file)",
    )
    parser.add_argument(
        "--notify-config",
        type=Path,
        default=None,
        help="JSON file: which events go to tray/telegram/email (secrets stay in the key store)",
    )
    parser.add_argument(
        "--headless", action="store_true", help="run the trading core without a UI (logs feeds and books)"
    )
    parser.add_argument(
        "--mode",
        default=None,
        choices=["demo", "paper", "testnet", "live"],
        help=(
            "default: demo (the window offers the last session's mode, after asking). live: the "
            f"window asks in its opt-in dialog; --headless needs --live-venue VENUE {LIVE_FLAG}"
        ),
    )
    parser.add_argument(
        "--live-venue",
        type=_one_venue,
        default=None,
        metavar="VENUE",
        help="--headless --mode live: the one venue to trade with real money (its stored live keys)",
    )
    parser.add_argument(
        LIVE_FLAG,
        dest="live_ack",
        action="store_true",
        help="--headless --mode live: required; says you know orders go to the real exchange",
    )
    parser.add_argument(
        "--venue",
        type=_venues,
        default=None,
        help="comma-separated markets (default all): binance_spot,binance_usdm,bybit_spot,bybit_linear",
    )
    parser.add_argument(
        "--symbols",
        type=_plain_symbols,
        default=None,
        help="e.g. BTCUSDT,ETHUSDT (default: BTCUSDT,ETHUSDT; with --replay: the recorded ones)",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="journal and state (default: per mode)")
    parser.add_argument(
        "--paper-data",
        default=None,
        choices=["live", "sim"],
        help="paper mode: public data from the live venues (default) or from an in-process simulator",
    )
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="DIR",
        help="record the session's public trades, candles and order books to DIR (replay with --replay DIR)",
    )
    _add_replay_args(parser)
    parser.add_argument(
        "--webhook-host", default=None, help="webhook listener address (default: 127.0.0.1, loopback only)"
    )
    parser.add_argument(
        "--webhook-port",
        type=int,
        default=None,
        help="start the webhook listener on this port (0: a free one)",
    )
    parser.add_argument(
        "--ops-port",
        type=int,
        default=None,
        help="serve GET /metrics and /healthz here when no webhook listener runs (headless default: "
        "a free port; the URL is printed as 'ops URL')",
    )
    parser.add_argument(
        "--ops-host", default=None, help="the ops listener's address (default: 127.0.0.1, loopback only)"
    )
    parser.add_argument(
        "--marketraker-key-file",
        type=Path,
        default=None,
        help="MarketRaker's verification key (PEM); enables POST /marketraker/notification",
    )
    parser.add_argument(
        "--webhook-hooks",
        type=lambda t: tuple(x.strip() for x in t.split(",") if x.strip()),
        default=None,
        help="generic signed hooks to serve at /signal/<name> (secrets: key store 'webhook:<name>')",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="open the window in demo mode, wait for live candles and book levels, exit 0 (non-zero + reason otherwise)",
    )
    parser.add_argument(
        "--screenshot", type=Path, default=None, help="with --self-test: save the window as PNG"
    )
    parser.add_argument(
        "--self-test-timeout",
        type=float,
        default=60.0,
        help="with --self-test: give up after this many seconds",
    )
    parser.set_defaults(settings=None)  # the loaded --config (terminal.settings_file.Settings)
    sub = parser.add_subparsers(dest="command")

    sim = sub.add_parser("sim", help="run the local exchange simulator (Binance Spot/USDⓈ-M, Bybit v5)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8900, help="0 picks a free port")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument(
        "--symbols", type=_symbols, default=DEFAULT_SYMBOLS, help="comma-separated, e.g. BTCUSDT,ETHUSDT"
    )
    sim.add_argument(
        "--api-key",
        default=os.environ.get(ENV_SIM_API_KEY, ""),
        help=f"accepted API key (default: ${ENV_SIM_API_KEY}, else generated)",
    )
    sim.add_argument(
        "--api-secret",
        default=os.environ.get(ENV_SIM_API_SECRET, ""),
        help=f"its secret (default: ${ENV_SIM_API_SECRET}, else generated)",
    )
    sim.add_argument("--history-days", type=int, default=14, help="days of 1m candle history to generate")
    sim.add_argument(
        "--depth-rate", type=float, default=400.0, help="book level changes/s per symbol and market"
    )
    sim.add_argument(
        "--static", action="store_true", help="no market generator: books only move with user orders"
    )
    _add_replay_args(sim)
    sim.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="exit when stdin reaches EOF: the terminal runs its demo simulator like this, so the "
        "child never outlives it (even a killed one)",
    )
    from terminal.backtest.cli import add_parser as add_backtest

    add_backtest(sub)
    from terminal.storage.history_cli import add_parser as add_history

    add_history(sub)
    return parser


def _run_sim(args: argparse.Namespace) -> int:
    from terminal.sim.exchange import SimConfig
    from terminal.sim.server import serve_forever

    if bool(args.api_key) != bool(args.api_secret):
        print("error: --api-key and --api-secret go together", file=sys.stderr)
        return 2
    config = SimConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        symbols=args.symbols,
        api_key=args.api_key,
        api_secret=args.api_secret,
        history_days=args.history_days,
        depth_rate=args.depth_rate,
        generator=not args.static,
    )
    try:
        config.replay = _replay_spec(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.exit_with_parent:
        from terminal.sim.child import serve_child

        return serve_child(config)
    try:
        asyncio.run(serve_forever(config))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.config is not None:
        if args.command is not None:
            print(
                f"error: --config is for the window and --headless, not 'terminal {args.command}'",
                file=sys.stderr,
            )
            return 2
        try:
            _apply_config(args)
        except ValueError as exc:  # terminal.settings_file.SettingsError: FILE: key: what is wrong
            print(f"error: {exc}", file=sys.stderr)
            return 2
    _resolve_defaults(args)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "sim":
        return _run_sim(args)
    if args.command == "backtest":
        from terminal.backtest.cli import run as run_backtest

        return run_backtest(args)
    if args.command == "history":
        from terminal.storage.history_cli import run as run_history

        return run_history(args)
    if args.headless:
        return _run_headless(args)
    if args.screenshot is not None and not args.self_test:
        print("error: --screenshot goes with --self-test", file=sys.stderr)
        return 2
    return _run_gui(args)


def _run_gui(args: argparse.Namespace) -> int:
    from terminal.app import MARKETS, AppConfig, Mode
    from terminal.venues.base import Network

    try:
        from terminal.ui.run import run_gui
    except ImportError as exc:  # e.g. Qt system libraries missing
        print(f"error: the desktop UI cannot load ({exc}); try --headless", file=sys.stderr)
        return 2
    mode = Mode.DEMO if args.self_test else Mode(args.mode or "demo")
    refusal = _live_refusal(args, headless=False)
    if refusal is not None:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    try:
        replay = _session_symbols(args, mode)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not _sim_symbols_ok(args, mode):
        return 2
    config = AppConfig(
        replay=replay,
        record_dir=args.record,
        mode=mode,
        venues=args.venue or MARKETS,
        symbols=args.symbols,
        data_dir=args.data_dir,
        paper_data=Network.CUSTOM if args.paper_data == "sim" else Network.LIVE,
    )
    try:
        config.automation = _automation_config(args)
        config.notify = _notify_config(args)
        _apply_settings(args, config)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _log_to_file(args)
    _log_settings(args, config)
    return run_gui(
        config,
        self_test=args.self_test,
        screenshot=args.screenshot,
        timeout_s=args.self_test_timeout,
        remember=args.mode is None,
    )


if __name__ == "__main__":
    raise SystemExit(main())
