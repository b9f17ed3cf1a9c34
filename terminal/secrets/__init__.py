"""API keys: the OS keyring, or an opt-in passphrase-encrypted file; never plaintext.

``probe`` (test a key pair against its venue) is imported on its own: it pulls in the adapters.
"""

from terminal.secrets.errors import KeyStoreError, NoKeyringBackend, VaultLocked, WrongPassphrase
from terminal.secrets.keystore import (
    KEY_NETWORKS,
    SERVICE,
    KeyringStatus,
    KeyStore,
    StoreBackend,
    default_keystore,
    default_secrets_dir,
    keyring_status,
)

__all__ = [
    "KEY_NETWORKS",
    "SERVICE",
    "KeyStore",
    "KeyStoreError",
    "KeyringStatus",
    "NoKeyringBackend",
    "StoreBackend",
    "VaultLocked",
    "WrongPassphrase",
    "default_keystore",
    "default_secrets_dir",
    "keyring_status",
]
