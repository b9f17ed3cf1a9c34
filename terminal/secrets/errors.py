"""Key store errors. Messages name the venue/network and what to do, never a key or secret."""

from __future__ import annotations

__all__ = ["KeyStoreError", "NoKeyringBackend", "VaultLocked", "WrongPassphrase"]


class KeyStoreError(RuntimeError):
    """Storing or reading API keys failed."""


class NoKeyringBackend(KeyStoreError):
    """No usable OS keyring backend (headless Linux without Secret Service, for example)."""


class VaultLocked(KeyStoreError):
    """Keys are kept in the encrypted key file and it has not been unlocked this session."""


class WrongPassphrase(KeyStoreError):
    """The passphrase does not open the encrypted key file."""
