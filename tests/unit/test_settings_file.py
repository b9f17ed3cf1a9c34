"""``terminal --config FILE``: the TOML settings file read into typed settings, every bad input
named by its key, and the command line's explicit flags winning over the file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from terminal.app import Mode
from terminal.automation.wiring import AutomationConfig
from terminal.cli import _apply_config, _automation_config, _build_parser, _resolve_defaults, main
from terminal.model import Venue
from terminal.notify import EmailConfig, NotifyConfig, RetryPolicy, SmtpSecurity, TelegramConfig
from terminal.notify.model import ChannelKind, NoticeKind
from terminal.ops.health import HealthPolicy
from terminal.settings_file import (
    SECRETS_HINT,
    LogLevel,
    LogSettings,
    OpsSettings,
    PaperData,
    SessionSettings,
    Settings,
    SettingsError,
    WebhookSettings,
    describe_limits,
    load_settings,
)
from terminal.trading.risk import LossLimits, RiskLimits, StrategyLimits
from terminal.trading.sizing import SizingConfig, SizingMode

pytestmark = pytest.mark.timeout(30)

FULL = """
[session]
mode = "paper"
venues = ["binance_usdm", "BYBIT_LINEAR"]
symbols = ["BTCUSDT", "ethusdt"]
data_dir = "state"            # relative: next to this file
paper_data = "sim"

[webhook]
host = "0.0.0.0"
port = 8788
marketraker_key_file = "mr.pem"
hooks = ["tv", "alerts-2"]
webhook_venue = "bybit_linear"

[ops]
host = "127.0.0.2"
port = 9100
metrics_remote = true
feed_down_after_s = 45

[risk]
max_order_notional = "1000.50"
max_position_qty = { BTCUSDT = "0.5", ethusdt = 5 }
max_position_notional = 0.1           # a TOML float: exact through str()
max_open_orders = 20
max_orders_per_second = 5
max_orders_per_minute = 60
duplicate_window_s = 0

[risk.loss]
daily_loss_reduce = "200"
daily_loss_halt = "400"
drawdown_reduce = "0.05"
drawdown_halt = 0.1
day_start_hour_utc = 8
resume_next_day = true

[risk.strategy_default]
max_open_positions = 3
max_notional = "2000"
daily_loss = "100"
one_position_per_symbol = true

[risk.strategies.macd_cross]
max_notional = "500"
one_position_per_symbol = false

[risk.strategies."webhook:tv"]
max_open_positions = 1

[sizing]
mode = "risk_pct"
quote_notional = "250"
risk_fraction = "0.005"
atr_multiple = 1.5
max_position_qty = "0.2"
max_position_notional = "5000"
balance_reserve = "0"
max_leverage = 3

[notify]
queue_size = 50
coalesce_s = 2.5
[notify.routes]
fill = ["tray", "telegram"]
risk_state = ["tray", "telegram", "email"]
[notify.retry]
attempts = 3
base_s = 0.5
max_s = 10.0
[notify.telegram]
chat_id = "-100123"
[notify.email]
host = "smtp.example.org"
port = 465
security = "tls"
username = "bot@example.org"
sender = "bot@example.org"
recipients = ["me@example.org"]

[log]
level = "debug"
json = true
"""


def write(tmp_path: Path, text: str, name: str = "terminal.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_file_reads_into_the_right_dataclasses(tmp_path: Path) -> None:
    (tmp_path / "mr.pem").write_text("-----BEGIN PUBLIC KEY-----\n", encoding="utf-8")
    path = write(tmp_path, FULL)
    s = load_settings(path)
    assert isinstance(s, Settings) and s.path == path
    assert s.session == SessionSettings(
        mode=Mode.PAPER,
        venues=(Venue.BINANCE_USDM, Venue.BYBIT_LINEAR),
        symbols=("BTCUSDT", "ETHUSDT"),
        data_dir=tmp_path / "state",
        paper_data=PaperData.SIM,
    )
    assert s.webhook == WebhookSettings(
        host="0.0.0.0",
        port=8788,
        marketraker_key_file=tmp_path / "mr.pem",
        hooks=("tv", "alerts-2"),
        webhook_venue=Venue.BYBIT_LINEAR,
    )
    assert s.ops == OpsSettings(host="127.0.0.2", port=9100, metrics_remote=True, feed_down_after_s=45.0)
    assert s.risk == RiskLimits(
        max_order_notional=Decimal("1000.50"),
        max_position_qty={"BTCUSDT": Decimal("0.5"), "ETHUSDT": Decimal(5)},
        max_position_notional=Decimal("0.1"),
        max_open_orders=20,
        max_orders_per_second=5,
        max_orders_per_minute=60,
        duplicate_window_s=0.0,
        loss=LossLimits(
            daily_loss_reduce=Decimal(200),
            daily_loss_halt=Decimal(400),
            drawdown_reduce=Decimal("0.05"),
            drawdown_halt=Decimal("0.1"),
            day_start_hour_utc=8,
            resume_next_day=True,
        ),
        strategies={
            "macd_cross": StrategyLimits(max_notional=Decimal(500), one_position_per_symbol=False),
            "webhook:tv": StrategyLimits(max_open_positions=1),
        },
        strategy_default=StrategyLimits(
            max_open_positions=3, max_notional=Decimal(2000), daily_loss=Decimal(100)
        ),
    )
    # Exact decimals: the float 0.1 is 0.1, not 0.1000000000000000055511151231257827.
    assert str(s.risk.max_position_notional) == "0.1" and str(s.risk.loss.drawdown_halt) == "0.1"
    assert s.sizing == SizingConfig(
        mode=SizingMode.RISK_PCT,
        quote_notional=Decimal(250),
        risk_fraction=Decimal("0.005"),
        atr_multiple=Decimal("1.5"),
        max_position_qty=Decimal("0.2"),
        max_position_notional=Decimal(5000),
        max_leverage=Decimal(3),
        balance_reserve=Decimal(0),
    )
    assert s.max_leverage == 3
    assert s.notify == NotifyConfig(
        routes={
            **{kind: frozenset({ChannelKind.TRAY}) for kind in NoticeKind},
            NoticeKind.FILL: frozenset({ChannelKind.TRAY, ChannelKind.TELEGRAM}),
            NoticeKind.RISK_STATE: frozenset({ChannelKind.TRAY, ChannelKind.TELEGRAM, ChannelKind.EMAIL}),
        },
        queue_size=50,
        coalesce_s=2.5,
        retry=RetryPolicy(attempts=3, base_s=0.5, max_s=10.0),
        telegram=TelegramConfig(chat_id="-100123"),
        email=EmailConfig(
            host="smtp.example.org",
            sender="bot@example.org",
            recipients=("me@example.org",),
            port=465,
            security=SmtpSecurity.TLS,
            username="bot@example.org",
        ),
    )
    assert s.log == LogSettings(level=LogLevel.DEBUG, json=True)


def test_an_empty_file_sets_nothing(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, "# nothing\n"))
    assert s == Settings(path=tmp_path / "terminal.toml")
    assert s.risk is None and s.webhook is None and s.sizing is None and s.notify is None


def test_the_notify_section_is_the_notify_config_json_format(tmp_path: Path) -> None:
    config = NotifyConfig(
        telegram=TelegramConfig(chat_id="42"),
        routes={NoticeKind.FILL: frozenset({ChannelKind.TELEGRAM})},
    )
    doc = config.to_dict()  # what --notify-config FILE holds (JSON), written as TOML by hand here
    routes = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in doc["routes"].items())
    text = f'[notify.routes]\n{routes}\n[notify.telegram]\nchat_id = "42"\n'
    loaded = load_settings(write(tmp_path, text)).notify
    assert loaded == NotifyConfig.from_dict(doc)  # exactly what --notify-config reads
    assert loaded is not None and loaded.to_dict() == doc


# Each class of bad input: (file text, the key the error names, words of the problem).
BAD = [
    pytest.param('[sesion]\nmode = "demo"\n', "sesion", "unknown section", id="unknown-section"),
    pytest.param('[risk]\nmax_notional = "5"\n', "risk.max_notional", "unknown setting", id="unknown-key"),
    pytest.param("[risk.loss]\nhalt = 5\n", "risk.loss.halt", "unknown setting", id="unknown-nested-key"),
    pytest.param('session = "demo"\n', "session", "must be a table", id="section-not-a-table"),
    pytest.param('[session]\nmode = "production"\n', "session.mode", "unknown value", id="bad-mode"),
    pytest.param('[session]\nvenues = ["kraken"]\n', "session.venues", "unknown value", id="bad-venue"),
    pytest.param(
        '[session]\nvenues = "binance_usdm"\n', "session.venues", "list of strings", id="venues-str"
    ),
    pytest.param("[session]\nvenues = []\n", "session.venues", "is empty", id="no-venues"),
    pytest.param('[session]\nsymbols = ["BTC/USDT"]\n', "session.symbols", "not a symbol", id="bad-symbol"),
    pytest.param(
        '[session]\nsymbols = ["BTCUSDT", "btcusdt"]\n', "session.symbols", "twice", id="duplicate-symbol"
    ),
    pytest.param(
        '[session]\nmode = "demo"\nsymbols = ["PEPEUSDT"]\n',
        "session.symbols",
        "demo exchange does not list PEPEUSDT",
        id="symbol-not-on-the-simulator",
    ),
    pytest.param('[session]\npaper_data = "csv"\n', "session.paper_data", "unknown value", id="paper-data"),
    pytest.param("[session]\ndata_dir = 5\n", "session.data_dir", "must be a path", id="data-dir-type"),
    pytest.param(
        '[session]\nmode = "demo"\nlive_venue = "bybit_spot"\n',
        "session.live_venue",
        'goes with mode = "live"',
        id="live-venue-outside-live",
    ),
    pytest.param(
        '[session]\nmode = "live"\nvenues = ["bybit_spot", "binance_spot"]\n',
        "session.venues",
        "exactly one venue",
        id="live-with-venues",
    ),
    pytest.param("[webhook]\nport = 70000\n", "webhook.port", "0..65535", id="port-range"),
    pytest.param('[webhook]\nport = "8787"\n', "webhook.port", "must be an integer", id="port-type"),
    pytest.param('[webhook]\nhost = "a b"\n', "webhook.host", "host name", id="host"),
    pytest.param('[webhook]\nhooks = ["a/b"]\n', "webhook.hooks", "hook names", id="hook-name"),
    pytest.param('[webhook]\nhooks = ["marketraker"]\n', "webhook.hooks", "marketraker", id="hook-reserved"),
    pytest.param(
        '[webhook]\nmarketraker_key_file = "missing.pem"\n',
        "webhook.marketraker_key_file",
        "no such file",
        id="key-file-missing",
    ),
    pytest.param(
        '[webhook]\nwebhook_venue = "ftx"\n', "webhook.webhook_venue", "unknown value", id="hook-venue"
    ),
    pytest.param("[ops]\nport = -1\n", "ops.port", "0..65535", id="ops-port"),
    pytest.param('[ops]\nmetrics_remote = "yes"\n', "ops.metrics_remote", "true or false", id="ops-bool"),
    pytest.param("[ops]\nfeed_down_after_s = -5\n", "ops.feed_down_after_s", "negative", id="ops-negative"),
    pytest.param(
        '[risk]\nmax_order_notional = "-100"\n',
        "risk.max_order_notional",
        "must not be negative",
        id="negative",
    ),
    pytest.param(
        "[risk]\nmax_order_notional = 0\n", "risk.max_order_notional", "must be positive", id="zero"
    ),
    pytest.param(
        '[risk]\nmax_order_notional = "lots"\n', "risk.max_order_notional", "not a number", id="not-decimal"
    ),
    pytest.param('[risk]\nmax_order_notional = "NaN"\n', "risk.max_order_notional", "finite", id="nan"),
    pytest.param("[risk]\nmax_order_notional = inf\n", "risk.max_order_notional", "finite", id="inf"),
    pytest.param(
        "[risk]\nmax_order_notional = true\n", "risk.max_order_notional", "got a boolean", id="bool"
    ),
    pytest.param(
        "[risk]\nmax_open_orders = 2.5\n", "risk.max_open_orders", "must be an integer", id="int-float"
    ),
    pytest.param("[risk]\nmax_open_orders = -1\n", "risk.max_open_orders", "negative", id="negative-int"),
    pytest.param("[risk]\nmax_open_orders = true\n", "risk.max_open_orders", "got a boolean", id="int-bool"),
    pytest.param(
        "[risk]\nduplicate_window_s = -2\n", "risk.duplicate_window_s", "must not be negative", id="float-neg"
    ),
    pytest.param(
        "[risk]\nmax_position_qty = { BTCUSDT = -1 }\n",
        "risk.max_position_qty.BTCUSDT",
        "negative",
        id="per-symbol-negative",
    ),
    pytest.param(
        '[risk]\nmax_position_qty = { "BTC USDT" = 1 }\n',
        "risk.max_position_qty",
        "not a symbol",
        id="qty-sym",
    ),
    pytest.param(
        "[risk]\nmax_position_qty = 1\n", "risk.max_position_qty", "must be a table", id="qty-table"
    ),
    pytest.param(
        '[risk.loss]\ndrawdown_halt = "1.5"\n',
        "risk.loss.drawdown_halt",
        "fraction below 1",
        id="drawdown>=1",
    ),
    pytest.param(
        "[risk.loss]\nday_start_hour_utc = 24\n", "risk.loss.day_start_hour_utc", "0..23", id="day-start-hour"
    ),
    pytest.param(
        '[risk.loss]\nresume_next_day = "yes"\n', "risk.loss.resume_next_day", "true or false", id="loss-bool"
    ),
    pytest.param(
        "[risk.strategies.macd]\nmax_notional = 5\n",
        "risk.strategies.macd",
        "unknown strategy",
        id="strategy",
    ),
    pytest.param(
        '[risk.strategies."webhook:a b"]\nmax_notional = 5\n',
        "risk.strategies.webhook:a b",
        "not a webhook hook name",
        id="strategy-hook",
    ),
    pytest.param(
        "[risk.strategies.rsi_sma]\nmax_open_positions = 0\n",
        "risk.strategies.rsi_sma.max_open_positions",
        "positive",
        id="strategy-zero",
    ),
    pytest.param(
        '[risk.strategy_default]\ndaily_loss = "-1"\n',
        "risk.strategy_default.daily_loss",
        "negative",
        id="default",
    ),
    pytest.param('[sizing]\nmode = "kelly"\n', "sizing.mode", "unknown value", id="sizing-mode"),
    pytest.param('[sizing]\nrisk_fraction = "1.5"\n', "sizing.risk_fraction", "below 1", id="risk-fraction"),
    pytest.param('[sizing]\nbalance_reserve = "-0.1"\n', "sizing.balance_reserve", "negative", id="reserve"),
    pytest.param("[sizing]\nmax_leverage = 2.5\n", "sizing.max_leverage", "integer", id="leverage-float"),
    pytest.param("[sizing]\nmax_leverage = 500\n", "sizing.max_leverage", "at most 125", id="leverage-max"),
    pytest.param("[notify]\nqueue = 5\n", "notify", "unknown setting", id="notify-unknown"),
    pytest.param(
        '[notify.email]\nhost = "h"\nsender = "a@b"\nrecipients = ["c@d"]\nport = 0\n',
        "notify.email.port",
        "1..65535",
        id="notify-email-port",
    ),
    pytest.param(
        '[notify.routes]\nfill = ["sms"]\n', "notify.routes.fill", "unknown value", id="notify-channel"
    ),
    pytest.param('[log]\nlevel = "loud"\n', "log.level", "unknown value", id="log-level"),
    pytest.param("[log]\njson = 1\n", "log.json", "true or false", id="log-json"),
]


@pytest.mark.parametrize(("text", "key", "problem"), BAD)
def test_bad_input_names_the_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{path}: {key}: ")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[session]\napi_key = "AKIA-very-secret-1"\n', "session.api_key"),
        ('[binance]\nsecret = "AKIA-very-secret-1"\n', "binance.secret"),
        ('[notify.email]\npassword = "AKIA-very-secret-1"\n', "notify.email.password"),
        ('[notify.telegram]\nbot_token = "AKIA-very-secret-1"\n', "notify.telegram.bot_token"),
        ('[webhook]\nhmac_secret = "AKIA-very-secret-1"\n', "webhook.hmac_secret"),
        ('[risk]\nAPI-KEY = "AKIA-very-secret-1"\n', "risk.API-KEY"),
    ],
)
def test_secrets_are_refused_with_where_they_go(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, text))
    assert caught.value.key == key and caught.value.problem == SECRETS_HINT
    assert "key store" in str(caught.value) and "AKIA-very-secret-1" not in str(caught.value)


def test_unreadable_and_malformed_files_say_so(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read: No such file"):
        load_settings(tmp_path / "missing.toml")
    with pytest.raises(SettingsError, match=r"not valid TOML: .*line 2"):
        load_settings(write(tmp_path, "[session]\nmode = demo\n"))
    (tmp_path / "latin1.toml").write_bytes(b'[log]\nlevel = "\xe9"\n')
    with pytest.raises(SettingsError, match="not UTF-8"):
        load_settings(tmp_path / "latin1.toml")


def test_absolute_and_home_paths_are_kept(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, f'[session]\ndata_dir = "{tmp_path / "abs"}"\n'))
    assert s.session.data_dir == tmp_path / "abs"
    s = load_settings(write(tmp_path, '[session]\ndata_dir = "~/trading"\n'))
    assert s.session.data_dir == Path.home() / "trading"


def test_describe_limits_is_one_line_of_what_is_set(tmp_path: Path) -> None:
    (tmp_path / "mr.pem").write_text("x", encoding="utf-8")
    text = describe_limits(load_settings(write(tmp_path, FULL)).risk)
    assert "\n" not in text
    for part in (
        "max_order_notional=1000.50",
        "max_position_qty={BTCUSDT: 0.5, ETHUSDT: 5}",
        "max_position_notional=0.1",
        "loss.daily_loss_halt=400",
        "loss.day_start_hour_utc=8",
        "strategies.macd_cross.max_notional=500",
        "strategies.macd_cross.one_position_per_symbol=False",
        "strategies.webhook:tv.max_open_positions=1",
        "strategy_default.max_open_positions=3",
    ):
        assert part in text, text
    assert "max_orders_per_second=5" in text and "None" not in text
    assert describe_limits(None).startswith("none")


# ---------------------------------------------------------------------- merging with the command line

SESSION_FILE = """
[session]
mode = "paper"
venues = ["bybit_linear"]
symbols = ["SOLUSDT"]
data_dir = "from-file"
paper_data = "sim"
[webhook]
host = "0.0.0.0"
hooks = ["tv"]
webhook_venue = "bybit_linear"
[ops]
host = "127.0.0.3"
port = 9200
feed_down_after_s = 12
[sizing]
quote_notional = "42"
max_leverage = 2
[log]
level = "warning"
json = true
"""


def merged(*argv: str):
    args = _build_parser().parse_args(list(argv))
    _apply_config(args)
    _resolve_defaults(args)
    return args


def test_the_file_fills_what_the_command_line_left_unset(tmp_path: Path) -> None:
    path = write(tmp_path, SESSION_FILE)
    args = merged("--headless", "--config", str(path))
    assert args.mode == "paper" and args.venue == (Venue.BYBIT_LINEAR,) and args.symbols == ("SOLUSDT",)
    assert args.data_dir == tmp_path / "from-file" and args.paper_data == "sim"
    # argparse defaults must not beat the file
    assert (args.log_level, args.log_json, args.ops_host, args.webhook_host) == (
        "WARNING",
        True,
        "127.0.0.3",
        "0.0.0.0",
    )
    auto = _automation_config(args, headless=True)
    assert isinstance(auto, AutomationConfig)
    assert auto.webhook is not None and auto.webhook.port == 8787  # the section turns the listener on
    assert auto.webhook.host == "0.0.0.0" and auto.webhook.generic_hooks == ("tv",)
    assert auto.webhook_venue is Venue.BYBIT_LINEAR
    assert auto.sizing == SizingConfig(quote_notional=Decimal(42), max_leverage=Decimal(2))
    assert auto.max_leverage == 2
    assert (auto.ops.listen_host, auto.ops.listen_port) == ("127.0.0.3", 9200)
    assert auto.ops.health == HealthPolicy(feed_down_after_s=12.0)


def test_explicit_flags_override_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, SESSION_FILE)
    args = merged(
        "--headless", "--config", str(path), "--mode", "demo", "--venue", "binance_spot",
        "--symbols", "BTCUSDT", "--data-dir", str(tmp_path / "cli"), "--paper-data", "live",
        "--log-level", "ERROR", "--ops-host", "127.0.0.9", "--ops-port", "0",
        "--webhook-host", "127.0.0.1", "--webhook-port", "0", "--webhook-hooks", "other",
    )  # fmt: skip
    assert args.mode == "demo" and args.venue == (Venue.BINANCE_SPOT,) and args.symbols == ("BTCUSDT",)
    assert args.data_dir == tmp_path / "cli" and args.paper_data == "live" and args.log_level == "ERROR"
    auto = _automation_config(args, headless=True)
    assert (auto.ops.listen_host, auto.ops.listen_port) == ("127.0.0.9", 0)
    assert auto.webhook is not None
    assert (auto.webhook.host, auto.webhook.port, auto.webhook.generic_hooks) == ("127.0.0.1", 0, ("other",))


def test_without_a_file_the_defaults_are_the_old_ones() -> None:
    args = _build_parser().parse_args(["--headless"])
    _resolve_defaults(args)
    assert (args.log_level, args.log_json, args.paper_data) == ("INFO", False, "live")
    assert (args.webhook_host, args.ops_host, args.settings) == ("127.0.0.1", "127.0.0.1", None)
    auto = _automation_config(args, headless=True)
    assert auto == AutomationConfig(ops=auto.ops) and auto.ops.listen_port == 0


def test_a_bad_file_exits_2_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, f'[session]\ndata_dir = "{tmp_path / "data"}"\n[risk]\nmax_open_orders = -3\n')
    assert main(["--headless", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {path}: risk.max_open_orders: must not be negative, got -3\n"
    assert not (tmp_path / "data").exists()


def test_config_is_refused_for_subcommands_and_live_venue_in_the_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[session]\nmode = "live"\nlive_venue = "bybit_spot"\n')
    assert main(["--config", str(path), "history", "list"]) == 2
    assert "--config is for the window and --headless" in capsys.readouterr().err
    assert main(["--config", str(path)]) == 2  # the window: before Qt loads
    assert f"{path}: session.live_venue: is for --headless" in capsys.readouterr().err


def test_webhook_venue_outside_the_session_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = '[session]\nmode = "demo"\nvenues = ["binance_spot"]\n[webhook]\nport = 0\nwebhook_venue = "bybit_linear"\n'
    path = write(tmp_path, text)
    assert main(["--headless", "--config", str(path), "--data-dir", str(tmp_path / "d")]) == 2
    assert (
        f"{path}: webhook.webhook_venue: bybit_linear is not one of the session's venues"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "d").exists()


def test_the_readme_example_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Running headless on a server", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "marketraker.pem").write_text("-----BEGIN PUBLIC KEY-----\n", encoding="utf-8")
    s = load_settings(write(tmp_path, example))
    assert s.session.venues == (Venue.BINANCE_USDM,) and s.risk is not None and s.notify is not None
    assert s.risk.max_order_notional == Decimal(500) and s.risk.loss.drawdown_halt == Decimal("0.1")
