"""The opt-in passphrase-encrypted key file, for machines without an OS keyring backend.

One JSON file (mode 0600): the scrypt parameters and salt in the clear, and one Fernet token
holding every stored entry. The passphrase is never stored; a wrong one fails the Fernet MAC
check (``WrongPassphrase``) instead of returning garbage. Writes are atomic (temp file with
0600 from the start, fsync, rename) so a crash never leaves a half-written or readable file.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from terminal.fileio import write_atomic
from terminal.secrets.errors import KeyStoreError, WrongPassphrase

__all__ = ["VAULT_FILENAME", "EncryptedVault"]

VAULT_FILENAME = "keys.vault"
_FORMAT = 1
# scrypt cost: ~0.1 s and 32 MiB per unlock on a laptop; slow enough to make guessing expensive.
_N, _R, _P = 2**15, 8, 1


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> Fernet:
    key = Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(key))


class EncryptedVault:
    """An unlocked vault: entries live decrypted in memory only, the file holds ciphertext."""

    def __init__(self, path: Path, fernet: Fernet, salt: bytes, params: tuple[int, int, int]) -> None:
        self.path = path
        self._fernet = fernet
        self._salt = salt
        self._params = params
        self._entries: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"EncryptedVault({str(self.path)!r}, entries={len(self._entries)})"

    # ------------------------------------------------------------------ open / create
    @classmethod
    def open(cls, path: Path, passphrase: str) -> EncryptedVault:
        """Unlock ``path``; creates an empty vault there when it does not exist yet."""
        if not passphrase:
            raise KeyStoreError("the key file needs a non-empty passphrase")
        if not path.exists():
            salt = secrets.token_bytes(16)
            vault = cls(path, _derive(passphrase, salt, _N, _R, _P), salt, (_N, _R, _P))
            vault._write()
            return vault
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != _FORMAT:
                raise ValueError(f"unknown format {doc.get('format')!r}")
            salt = base64.b64decode(doc["salt"])
            params = (int(doc["n"]), int(doc["r"]), int(doc["p"]))
            token = doc["token"].encode("ascii")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyStoreError(f"the key file {path} is unreadable or damaged ({exc})") from None
        vault = cls(path, _derive(passphrase, salt, *params), salt, params)
        try:
            plain = vault._fernet.decrypt(token)
        except InvalidToken:
            raise WrongPassphrase(f"wrong passphrase for the key file {path}") from None
        entries = json.loads(plain)
        if not isinstance(entries, dict):
            raise KeyStoreError(f"the key file {path} is damaged (no entry table)")
        vault._entries = {str(k): str(v) for k, v in entries.items()}
        return vault

    # ------------------------------------------------------------------ entries
    def get(self, name: str) -> str | None:
        return self._entries.get(name)

    def set(self, name: str, value: str) -> None:
        self._entries[name] = value
        self._write()

    def delete(self, name: str) -> bool:
        if self._entries.pop(name, None) is None:
            return False
        self._write()
        return True

    # ------------------------------------------------------------------ file
    def _write(self) -> None:
        token = self._fernet.encrypt(json.dumps(self._entries).encode("utf-8"))
        n, r, p = self._params
        doc = {
            "format": _FORMAT,
            "kdf": "scrypt",
            "n": n,
            "r": r,
            "p": p,
            "salt": base64.b64encode(self._salt).decode("ascii"),
            "cipher": "fernet",
            "token": token.decode("ascii"),
        }
        # 0600 from creation: the file is never world-readable, not even for a moment.
        write_atomic(self.path, json.dumps(doc), private=True)
