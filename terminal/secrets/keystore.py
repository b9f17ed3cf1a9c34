"""API keys per (venue, network), kept in the OS keyring — or, by explicit opt-in, an encrypted file.

Policy (README "Modes", ENVIRONMENT.md "OS keyring on a headless machine"):

* the OS keyring (service ``crypto-terminal``, usernames ``<venue>:<network>:key`` and
  ``...:secret``) whenever a real backend exists;
* without one (keyring's ``fail`` backend, ``NoKeyringError``) saving raises
  ``NoKeyringBackend`` with a plain explanation — nothing is written anywhere — until the user
  opts in to the passphrase-encrypted key file (``use_encrypted_file``);
* never plaintext: keyrings.alt's plaintext/prompting backends count as "no backend".

Secrets never reach logs, exception messages or reprs: messages name venue and network only,
and backend errors are scrubbed of the values being stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import keyring
import keyring.errors

from terminal.model import Venue
from terminal.secrets.errors import KeyStoreError, NoKeyringBackend, VaultLocked
from terminal.secrets.vault import VAULT_FILENAME, EncryptedVault
from terminal.venues.base import ApiCredentials, Network

__all__ = [
    "KEY_NETWORKS",
    "SERVICE",
    "KeyStore",
    "KeyringStatus",
    "StoreBackend",
    "default_keystore",
    "default_secrets_dir",
    "keyring_status",
]

log = logging.getLogger(__name__)

SERVICE = "crypto-terminal"
KEY_NETWORKS: tuple[Network, ...] = (Network.LIVE, Network.TESTNET)  # CUSTOM (the simulator) has its own keys


class StoreBackend(StrEnum):
    KEYRING = "keyring"  # the OS keyring
    ENCRYPTED_FILE = "encrypted_file"  # opted in and unlocked this session
    LOCKED_FILE = "locked_file"  # no keyring; an encrypted file exists but is not unlocked
    NONE = "none"  # no keyring and no opt-in: keys cannot be stored


@dataclass(frozen=True, slots=True)
class KeyringStatus:
    usable: bool
    backend: str  # the keyring backend's class, e.g. "keyring.backends.SecretService.Keyring"
    reason: str = ""  # why it is not usable (empty when usable)


# Backends that exist but must not hold keys: plaintext on disk, or a terminal prompt that
# hangs a GUI (ENVIRONMENT.md).
_REFUSED_MODULES = ("keyrings.alt",)
_NO_BACKEND = (
    "No OS keyring backend is available on this machine ({backend}): on Linux this needs a "
    "Secret Service (gnome-keyring or KWallet) on the D-Bus session."
)


def keyring_status() -> KeyringStatus:
    """Whether the keyring library found a real backend to store secrets in."""
    from keyring.backends import chainer, fail

    kr = keyring.get_keyring()
    name = f"{type(kr).__module__}.{type(kr).__qualname__}"
    backends = list(kr.backends) if isinstance(kr, chainer.ChainerBackend) else [kr]
    real = [
        b
        for b in backends
        if not isinstance(b, fail.Keyring)
        and not type(b).__module__.startswith(_REFUSED_MODULES)
        and type(b).__module__ != "keyring.backends.null"
        and b.priority > 0
    ]
    if real:
        return KeyringStatus(True, name)
    if any(type(b).__module__.startswith(_REFUSED_MODULES) for b in backends):
        return KeyringStatus(
            False, name, f"the only keyring backend ({name}) is plaintext or prompts on a terminal"
        )
    return KeyringStatus(False, name, _NO_BACKEND.format(backend=name))


def default_secrets_dir() -> Path:
    """Where the opt-in encrypted key file lives: the app's data root, shared by every mode."""
    from platformdirs import user_data_path

    return user_data_path("crypto-terminal")


def _username(venue: Venue, network: Network, part: str) -> str:
    return f"{venue.value}:{network.value}:{part}"


def _check_network(network: Network) -> Network:
    network = Network(network)
    if network not in KEY_NETWORKS:
        raise ValueError(f"keys are stored for {', '.join(KEY_NETWORKS)} only, not {network}")
    return network


def _scrub(text: str, *values: str) -> str:
    for value in values:
        if value:
            text = text.replace(value, "***")
    return text


class KeyStore:
    """Save, load and delete ``ApiCredentials`` per (venue, network)."""

    def __init__(self, data_dir: Path | None = None, *, service: str = SERVICE) -> None:
        self.data_dir = data_dir or default_secrets_dir()
        self.service = service
        self._vault: EncryptedVault | None = None

    def __repr__(self) -> str:
        return f"KeyStore(backend={self.backend}, data_dir={str(self.data_dir)!r})"

    # ------------------------------------------------------------------ backend choice
    @property
    def vault_path(self) -> Path:
        return self.data_dir / VAULT_FILENAME

    def keyring_status(self) -> KeyringStatus:
        return keyring_status()

    @property
    def backend(self) -> StoreBackend:
        if self._vault is not None:
            return StoreBackend.ENCRYPTED_FILE
        if keyring_status().usable:
            return StoreBackend.KEYRING
        return StoreBackend.LOCKED_FILE if self.vault_path.exists() else StoreBackend.NONE

    def use_encrypted_file(self, passphrase: str) -> None:
        """Opt in: unlock (or create) the encrypted key file; raises ``WrongPassphrase``."""
        self._vault = EncryptedVault.open(self.vault_path, passphrase)
        log.info("API keys: using the encrypted key file %s", self.vault_path)

    def lock(self) -> None:
        """Forget the unlocked file (its decrypted entries leave memory with it)."""
        self._vault = None

    def describe(self) -> str:
        """One line for the UI and logs: where keys go."""
        backend = self.backend
        if backend is StoreBackend.KEYRING:
            return f"OS keyring ({keyring_status().backend})"
        if backend is StoreBackend.ENCRYPTED_FILE:
            return f"encrypted key file {self.vault_path}"
        if backend is StoreBackend.LOCKED_FILE:
            return f"encrypted key file {self.vault_path} (locked: enter its passphrase)"
        return "none — " + keyring_status().reason

    # ------------------------------------------------------------------ entries
    def save(self, venue: Venue, network: Network, creds: ApiCredentials) -> None:
        network = _check_network(network)
        key, secret = creds.key.strip(), creds.secret.strip()
        if not key or not secret:
            raise KeyStoreError(f"{venue} {network}: both the API key and the secret are required")
        names = (_username(venue, network, "key"), _username(venue, network, "secret"))
        if self._vault is not None:
            self._vault.set(names[0], key)
            self._vault.set(names[1], secret)
        else:
            self._require_keyring(venue, network)
            try:
                keyring.set_password(self.service, names[0], key)
                keyring.set_password(self.service, names[1], secret)
            except Exception as exc:
                self._forget_keyring(names)  # never leave a key without its secret
                raise self._wrap(exc, venue, network, "saving", key, secret) from None
        log.info("API keys saved for %s %s in the %s", venue, network, self.backend.value.replace("_", " "))

    def load(self, venue: Venue, network: Network) -> ApiCredentials | None:
        """The stored pair, or None when nothing (or only half a pair) is stored."""
        network = _check_network(network)
        names = (_username(venue, network, "key"), _username(venue, network, "secret"))
        if self._vault is not None:
            key, secret = self._vault.get(names[0]), self._vault.get(names[1])
        else:
            self._require_keyring(venue, network)
            try:
                key = keyring.get_password(self.service, names[0])
                secret = keyring.get_password(self.service, names[1])
            except Exception as exc:
                raise self._wrap(exc, venue, network, "reading") from None
        if not key or not secret:
            if key or secret:
                log.warning(
                    "API keys for %s %s are incomplete (key or secret missing): ignored", venue, network
                )
            return None
        return ApiCredentials(key, secret)

    def has(self, venue: Venue, network: Network) -> bool:
        try:
            return self.load(venue, network) is not None
        except KeyStoreError:
            return False

    def delete(self, venue: Venue, network: Network) -> bool:
        """Remove the pair; True if anything was stored."""
        network = _check_network(network)
        names = (_username(venue, network, "key"), _username(venue, network, "secret"))
        if self._vault is not None:
            removed = [self._vault.delete(n) for n in names]
        else:
            self._require_keyring(venue, network)
            removed = self._forget_keyring(names)
        if any(removed):
            log.info("API keys deleted for %s %s", venue, network)
        return any(removed)

    # ------------------------------------------------------------------ named secrets
    # Webhook HMAC secrets, and later bot tokens and SMTP passwords: one value per name, in the
    # same backend as the API keys (never in a config file).
    def save_secret(self, name: str, value: str) -> None:
        name, value = name.strip(), value.strip()
        if not name or not value:
            raise KeyStoreError("a secret needs a name and a value")
        if self._vault is not None:
            self._vault.set(f"secret:{name}", value)
            return
        self._require_secret_backend(name)
        try:
            keyring.set_password(self.service, f"secret:{name}", value)
        except Exception as exc:
            raise KeyStoreError(f"saving secret {name!r} failed ({_scrub(str(exc), value)})") from None

    def secret(self, name: str) -> str | None:
        if self._vault is not None:
            return self._vault.get(f"secret:{name}")
        self._require_secret_backend(name)
        try:
            return keyring.get_password(self.service, f"secret:{name}")
        except Exception as exc:
            raise KeyStoreError(f"reading secret {name!r} failed ({type(exc).__name__})") from None

    def delete_secret(self, name: str) -> bool:
        if self._vault is not None:
            return self._vault.delete(f"secret:{name}")
        self._require_secret_backend(name)
        try:
            keyring.delete_password(self.service, f"secret:{name}")
            return True
        except keyring.errors.PasswordDeleteError:
            return False

    def _require_secret_backend(self, name: str) -> None:
        backend = self.backend
        if backend is StoreBackend.LOCKED_FILE:
            raise VaultLocked(f"secret {name!r} is in the locked key file {self.vault_path}: unlock it first")
        if backend is StoreBackend.NONE:
            raise NoKeyringBackend(f"{keyring_status().reason} Secret {name!r} cannot be stored or read.")

    # ------------------------------------------------------------------ helpers
    def _require_keyring(self, venue: Venue, network: Network) -> None:
        backend = self.backend
        if backend is StoreBackend.LOCKED_FILE:
            raise VaultLocked(
                f"{venue} {network}: keys are kept in the encrypted key file {self.vault_path}; "
                "unlock it with its passphrase in Settings → API keys"
            )
        if backend is StoreBackend.NONE:
            raise NoKeyringBackend(
                f"{keyring_status().reason} Keys for {venue} {network} were not stored. "
                "Opt in to a passphrase-encrypted key file in Settings → API keys instead."
            )

    def _forget_keyring(self, names: tuple[str, str]) -> list[bool]:
        removed = []
        for name in names:
            try:
                keyring.delete_password(self.service, name)
                removed.append(True)
            except keyring.errors.PasswordDeleteError:
                removed.append(False)
            except Exception as exc:
                raise self._wrap(exc, None, None, "deleting") from None
        return removed

    def _wrap(
        self, exc: Exception, venue: Venue | None, network: Network | None, action: str, *values: str
    ) -> KeyStoreError:
        where = f"{venue} {network}: " if venue is not None else ""
        detail = _scrub(f"{type(exc).__name__}: {exc}", *values)
        if isinstance(exc, keyring.errors.NoKeyringError):
            return NoKeyringBackend(f"{where}{action} API keys failed: {_NO_BACKEND.format(backend=detail)}")
        return KeyStoreError(f"{where}{action} API keys in the OS keyring failed ({detail})")


_DEFAULT: KeyStore | None = None


def default_keystore() -> KeyStore:
    """The process's one key store for the default location: an encrypted key file unlocked in
    the settings dialog is then unlocked for the app (and the next mode switch) too."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = KeyStore()
    return _DEFAULT
