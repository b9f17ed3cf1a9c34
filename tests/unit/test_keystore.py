"""KeyStore: OS keyring round trips, the no-keyring path, the opt-in encrypted file, no leaks.

The keyring is the in-memory backend from tests/conftest.py (``memory_keyring``) or keyring's
own ``fail`` backend (what a headless machine without Secret Service gets); one test runs the
real Secret Service (gnome-keyring under dbus-run-session) in a subprocess.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from terminal.model import Venue
from terminal.secrets import (
    SERVICE,
    KeyStore,
    KeyStoreError,
    NoKeyringBackend,
    StoreBackend,
    VaultLocked,
    WrongPassphrase,
    keyring_status,
)
from terminal.secrets.permissions import KeyPermissions, from_binance_account, from_bybit_query_api
from terminal.venues.base import ApiCredentials, Network
from tests.support.shapes import load_fixture

pytestmark = pytest.mark.timeout(60)

KEY = "k3yAAAAbbbbCCCCddddEEEE1234"
SECRET = "s3cretZZZZyyyyXXXXwwww9876"
CREDS = ApiCredentials(KEY, SECRET)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """What a headless machine without a Secret Service has: keyring's ``fail`` backend."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def assert_no_plaintext(root: Path, *values: str) -> None:
    """Grep every file under ``root`` (bytes) for each value."""
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for value in values:
                assert value.encode() not in data, f"{value[:3]}… found in plaintext in {path}"


# ---------------------------------------------------------------------- OS keyring
def test_round_trip_through_the_os_keyring(memory_keyring, tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    assert store.backend is StoreBackend.KEYRING
    assert store.load(Venue.BINANCE_SPOT, Network.LIVE) is None

    store.save(Venue.BINANCE_SPOT, Network.LIVE, CREDS)

    assert memory_keyring.store == {
        (SERVICE, "binance_spot:live:key"): KEY,
        (SERVICE, "binance_spot:live:secret"): SECRET,
    }
    assert store.load(Venue.BINANCE_SPOT, Network.LIVE) == CREDS
    assert KeyStore(tmp_path).load(Venue.BINANCE_SPOT, Network.LIVE) == CREDS  # a new session sees it
    # the testnet pair and other venues are separate entries
    assert store.load(Venue.BINANCE_SPOT, Network.TESTNET) is None
    assert store.load(Venue.BYBIT_LINEAR, Network.LIVE) is None
    assert list(tmp_path.iterdir()) == []  # nothing written to the data dir


def test_delete_removes_both_parts(memory_keyring, tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.save(Venue.BYBIT_LINEAR, Network.TESTNET, CREDS)
    store.save(Venue.BYBIT_LINEAR, Network.LIVE, ApiCredentials("other-key", "other-secret"))

    assert store.delete(Venue.BYBIT_LINEAR, Network.TESTNET) is True

    assert store.load(Venue.BYBIT_LINEAR, Network.TESTNET) is None
    assert not store.has(Venue.BYBIT_LINEAR, Network.TESTNET)
    assert store.has(Venue.BYBIT_LINEAR, Network.LIVE)  # untouched
    assert store.delete(Venue.BYBIT_LINEAR, Network.TESTNET) is False  # nothing left to delete
    assert all("testnet" not in user for _, user in memory_keyring.store)


def test_half_a_pair_counts_as_missing(memory_keyring, tmp_path: Path) -> None:
    memory_keyring.set_password(SERVICE, "binance_usdm:live:key", KEY)
    assert KeyStore(tmp_path).load(Venue.BINANCE_USDM, Network.LIVE) is None


def test_input_checks(memory_keyring, tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    with pytest.raises(KeyStoreError, match="both the API key and the secret"):
        store.save(Venue.BINANCE_SPOT, Network.LIVE, ApiCredentials("key", "  "))
    with pytest.raises(ValueError, match="live, testnet only"):
        store.save(Venue.BINANCE_SPOT, Network.CUSTOM, CREDS)
    assert memory_keyring.store == {}


# ---------------------------------------------------------------------- no keyring
def test_no_keyring_backend_is_said_plainly_and_nothing_is_written(no_keyring, tmp_path: Path) -> None:
    status = keyring_status()
    assert not status.usable and "fail" in status.backend
    store = KeyStore(tmp_path)
    assert store.backend is StoreBackend.NONE
    assert "No OS keyring backend" in store.describe()

    with pytest.raises(NoKeyringBackend) as err:
        store.save(Venue.BINANCE_SPOT, Network.LIVE, CREDS)

    text = str(err.value)
    assert "No OS keyring backend is available" in text
    assert "encrypted key file" in text  # says what the user can do instead
    assert KEY not in text and SECRET not in text
    assert list(tmp_path.iterdir()) == []  # never a silent fallback to a file
    with pytest.raises(NoKeyringBackend):
        store.load(Venue.BINANCE_SPOT, Network.LIVE)


def test_encrypted_file_round_trip_passphrase_and_file_mode(no_keyring, tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.use_encrypted_file("correct horse battery staple")
    assert store.backend is StoreBackend.ENCRYPTED_FILE
    store.save(Venue.BINANCE_SPOT, Network.LIVE, CREDS)
    store.save(Venue.BYBIT_SPOT, Network.TESTNET, ApiCredentials("bybit-key-0001", "bybit-secret-0002"))

    vault = store.vault_path
    assert vault.parent == tmp_path
    assert stat.S_IMODE(vault.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [vault.name]  # no temp file left behind
    assert_no_plaintext(tmp_path, KEY, SECRET, "bybit-key-0001", "bybit-secret-0002")

    # a new session: the file is there but locked until the passphrase is given
    later = KeyStore(tmp_path)
    assert later.backend is StoreBackend.LOCKED_FILE
    with pytest.raises(VaultLocked, match="unlock it with its passphrase"):
        later.load(Venue.BINANCE_SPOT, Network.LIVE)
    with pytest.raises(WrongPassphrase, match="wrong passphrase") as err:
        later.use_encrypted_file("Correct horse battery staple")
    assert "staple" not in str(err.value)
    assert later.backend is StoreBackend.LOCKED_FILE

    later.use_encrypted_file("correct horse battery staple")
    assert later.load(Venue.BINANCE_SPOT, Network.LIVE) == CREDS
    assert later.load(Venue.BYBIT_SPOT, Network.TESTNET) == ApiCredentials(
        "bybit-key-0001", "bybit-secret-0002"
    )
    assert later.delete(Venue.BINANCE_SPOT, Network.LIVE)
    assert KeyStore(tmp_path).backend is StoreBackend.LOCKED_FILE
    again = KeyStore(tmp_path)
    again.use_encrypted_file("correct horse battery staple")
    assert again.load(Venue.BINANCE_SPOT, Network.LIVE) is None
    assert stat.S_IMODE(vault.stat().st_mode) == 0o600


def test_damaged_key_file_is_a_clear_error(no_keyring, tmp_path: Path) -> None:
    (tmp_path / "keys.vault").write_text("{not json")
    with pytest.raises(KeyStoreError, match="unreadable or damaged"):
        KeyStore(tmp_path).use_encrypted_file("pw")
    with pytest.raises(KeyStoreError, match="non-empty passphrase"):
        KeyStore(tmp_path / "new").use_encrypted_file("")


# ---------------------------------------------------------------------- no leaks
class ExplodingKeyring(KeyringBackend):
    """A backend whose errors quote the value (some D-Bus errors echo their arguments)."""

    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError(f"cannot store {password!r}")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.PasswordDeleteError("not found")


def test_backend_errors_are_wrapped_and_scrubbed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(ExplodingKeyring())
    try:
        store = KeyStore(tmp_path)
        with pytest.raises(KeyStoreError) as err:
            store.save(Venue.BINANCE_SPOT, Network.LIVE, CREDS)
        assert "PasswordSetError" in str(err.value) and "***" in str(err.value)
        assert KEY not in str(err.value) and SECRET not in str(err.value)
        with pytest.raises(KeyStoreError, match="collection is locked"):
            store.load(Venue.BINANCE_SPOT, Network.LIVE)
    finally:
        keyring.set_keyring(previous)


def test_secrets_never_in_reprs_or_logs(
    memory_keyring, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = KeyStore(tmp_path)
    store.save(Venue.BINANCE_SPOT, Network.LIVE, CREDS)
    loaded = store.load(Venue.BINANCE_SPOT, Network.LIVE)
    store.delete(Venue.BINANCE_SPOT, Network.LIVE)

    for text in (repr(loaded), str(loaded), repr(store), caplog.text, f"{loaded}"):
        assert SECRET not in text
        assert KEY not in text  # ApiCredentials shows the first 4 characters of the key only
    assert "saved for binance_spot live" in caplog.text


def test_plaintext_backends_are_refused(tmp_path: Path) -> None:
    """keyrings.alt (plaintext file / terminal prompt) must not count as a keyring."""
    plaintext = type(
        "PlaintextKeyring",
        (KeyringBackend,),
        {
            "__module__": "keyrings.alt.file",
            "priority": 1,
            "get_password": lambda self, s, u: None,
            "set_password": lambda self, s, u, p: None,
            "delete_password": lambda self, s, u: None,
        },
    )
    previous = keyring.get_keyring()
    keyring.set_keyring(plaintext())
    try:
        assert not keyring_status().usable
        with pytest.raises(NoKeyringBackend, match="plaintext"):
            KeyStore(tmp_path).save(Venue.BINANCE_SPOT, Network.LIVE, CREDS)
    finally:
        keyring.set_keyring(previous)


# ---------------------------------------------------------------------- the real Secret Service
_SECRET_SERVICE_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from terminal.model import Venue
    from terminal.secrets import KeyStore, StoreBackend, keyring_status
    from terminal.venues.base import ApiCredentials, Network

    status = keyring_status()
    assert status.usable and "SecretService" in status.backend, status
    store = KeyStore(Path(sys.argv[1]))
    assert store.backend is StoreBackend.KEYRING
    creds = ApiCredentials(sys.argv[2], sys.argv[3])
    store.save(Venue.BYBIT_LINEAR, Network.TESTNET, creds)
    assert KeyStore(Path(sys.argv[1])).load(Venue.BYBIT_LINEAR, Network.TESTNET) == creds
    assert store.delete(Venue.BYBIT_LINEAR, Network.TESTNET)
    assert store.load(Venue.BYBIT_LINEAR, Network.TESTNET) is None
    print("secret-service-ok", status.backend)
    """
)


@pytest.mark.skipif(
    not (shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon")),
    reason="needs dbus-run-session and gnome-keyring-daemon (apt: dbus-x11 gnome-keyring; "
    "the bootstrap installs them)",
)
def test_real_secret_service_round_trip(tmp_path: Path) -> None:
    """Store, read and delete through the real Secret Service: gnome-keyring on a private D-Bus
    session, with HOME in tmp so a developer's own keyring is never touched."""
    home = tmp_path / "home"
    data = tmp_path / "data"
    home.mkdir()
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON_KEYRING", "DBUS_", "XDG_"))}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local/share"), XDG_RUNTIME_DIR=str(runtime))
    env["PYTHONPATH"] = str(REPO)
    script = tmp_path / "probe.py"
    script.write_text(_SECRET_SERVICE_SCRIPT)
    inner = (
        "echo -n test-login-pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null && "
        f'exec "{sys.executable}" "{script}" "{data}" "$KEY" "$SECRET"'
    )
    env.update(KEY=KEY, SECRET=SECRET)
    out = subprocess.run(
        ["dbus-run-session", "--", "sh", "-c", inner],
        env=env,
        capture_output=True,
        text=True,
        timeout=45,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "secret-service-ok keyring.backends.SecretService.Keyring" in out.stdout
    assert not data.exists() or list(data.iterdir()) == []  # the keyring, not the data dir
    # gnome-keyring keeps its own (encrypted) store under HOME: the values are not in it in clear
    assert_no_plaintext(home, KEY, SECRET)


# ---------------------------------------------------------------------- the app takes keys from the store
def test_app_takes_testnet_keys_from_the_store_and_names_the_dialog_when_missing(
    memory_keyring, tmp_path: Path
) -> None:
    """No network here: the key lookup is checked directly, the refusal through start()."""
    import asyncio

    from terminal.app import App, AppConfig, AppError, Mode

    store = KeyStore(tmp_path / "secrets")
    store.save(Venue.BINANCE_SPOT, Network.TESTNET, CREDS)
    store.save(Venue.BYBIT_SPOT, Network.LIVE, ApiCredentials("live-only-key", "live-only-secret"))
    given = ApiCredentials("given-key-1", "given-secret-1")
    config = AppConfig(
        mode=Mode.TESTNET,
        venues=(Venue.BINANCE_SPOT, Venue.BYBIT_SPOT),
        data_dir=tmp_path / "data",
        keystore=store,
        credentials={Venue.BYBIT_SPOT: given},
    )
    assert App(config)._stored_credentials() == {Venue.BINANCE_SPOT: CREDS, Venue.BYBIT_SPOT: given}

    config.credentials = {}  # Bybit has live keys only: testnet refuses, naming what to do
    with pytest.raises(AppError) as err:
        asyncio.run(App(config).start())
    text = str(err.value)
    assert "testnet mode is not available yet without API keys" in text
    assert "bybit_spot" in text and "binance_spot" not in text.split("keys for")[1].split("(")[0]
    assert "settings dialog" in text
    assert SECRET not in text and "live-only-secret" not in text


def test_app_and_dialogs_share_the_default_store(memory_keyring, tmp_path: Path) -> None:
    """One store per process: a key file unlocked in the dialog is unlocked for the app too."""
    from terminal.app import App, AppConfig, AppError, Mode
    from terminal.secrets import default_keystore

    assert default_keystore() is default_keystore()
    default_keystore().save(Venue.BYBIT_LINEAR, Network.LIVE, CREDS)  # the in-memory keyring
    config = AppConfig(mode=Mode.LIVE, venues=(Venue.BYBIT_LINEAR,), data_dir=tmp_path, live_opt_in=True)
    assert App(config)._stored_credentials() == {Venue.BYBIT_LINEAR: CREDS}

    # stored live keys alone never start live trading: the explicit opt-in is required
    config.live_opt_in = False
    with pytest.raises(AppError, match="needs the explicit live opt-in") as err:
        App(config)._stored_credentials()
    assert "bybit_linear" in str(err.value) and SECRET not in str(err.value)
    default_keystore().delete(Venue.BYBIT_LINEAR, Network.LIVE)


# ---------------------------------------------------------------------- key permissions (shared fixtures)
def test_binance_spot_account_flags() -> None:
    perms = from_binance_account(load_fixture("binance/examples/spot/http_json/account_response.json"))
    assert perms == KeyPermissions(trade=True, withdraw=True, scope="account", groups=("SPOT",))
    assert perms.summary() == "account permissions: trading allowed; withdrawals allowed; [SPOT]"


def test_binance_futures_account_flags() -> None:
    perms = from_binance_account(load_fixture("binance/examples/futures/http_json/account_info_v2.json"))
    assert (perms.trade, perms.withdraw, perms.scope, perms.groups) == (True, True, "account", ())


def test_bybit_key_permissions_warn_about_withdrawals() -> None:
    result = load_fixture("bybit/examples/http_get_user_query_api.json")["result"]
    perms = from_bybit_query_api(result)
    assert perms.trade is False  # readOnly: 1 in the fixture
    assert perms.withdraw is False  # Wallet: AccountTransfer, SubMemberTransfer — no Withdraw
    assert perms.ip_restricted is True  # three IPs listed
    assert "Spot:SpotTrade" in perms.groups and "ContractTrade:Order" in perms.groups
    text = perms.summary()
    assert text.startswith("key permissions: trading not allowed; withdrawals not allowed; IP-restricted; [")

    withdrawing = from_bybit_query_api(
        {
            **result,
            "readOnly": 0,
            "ips": ["*"],
            "permissions": {"Wallet": ["Withdraw"], "Spot": ["SpotTrade"]},
        }
    )
    assert withdrawing.trade is True and withdrawing.withdraw is True and withdrawing.ip_restricted is False
    assert "withdrawals ENABLED" in withdrawing.summary() and "no IP restriction" in withdrawing.summary()


def test_missing_fields_are_not_reported_not_guessed() -> None:
    perms = from_binance_account({})
    assert perms.trade is None and perms.withdraw is None
    assert perms.summary() == "account permissions: trading not reported; withdrawals not reported"


# ---------------------------------------------------------------------- named secrets (webhook HMAC)
def test_named_secrets_live_in_the_keyring(memory_keyring, tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    assert store.secret("webhook:tv") is None
    store.save_secret("webhook:tv", SECRET)
    assert memory_keyring.store == {(SERVICE, "secret:webhook:tv"): SECRET}
    assert KeyStore(tmp_path).secret("webhook:tv") == SECRET
    assert store.delete_secret("webhook:tv") is True
    assert store.delete_secret("webhook:tv") is False
    assert store.secret("webhook:tv") is None
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KeyStoreError, match="needs a name and a value"):
        store.save_secret("webhook:tv", " ")


def test_named_secret_without_a_backend_is_a_clear_error(no_keyring, tmp_path: Path) -> None:
    with pytest.raises(NoKeyringBackend, match="cannot be stored or read"):
        KeyStore(tmp_path).save_secret("webhook:tv", SECRET)


def test_named_secrets_in_the_encrypted_file(no_keyring, tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    store.use_encrypted_file("correct horse battery staple")
    store.save_secret("webhook:tv", SECRET)
    assert store.secret("webhook:tv") == SECRET
    assert_no_plaintext(tmp_path, SECRET)
