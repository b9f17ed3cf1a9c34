"""Writing a small file so that a crash never leaves half of it: temp file, fsync, rename.

Shared by every settings and state file (preferences, armed strategies, notification settings,
risk limits, the encrypted key file).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: Path, text: str, *, private: bool = False) -> None:
    """Replace ``path`` with ``text`` atomically (the parent directory is created).

    ``private``: the file is 0600 from its creation, never readable by others even for a moment
    (a stale temp file is removed first, so its old mode cannot carry over)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        if private:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            fh = os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8")
        else:
            fh = open(tmp, "w", encoding="utf-8")  # noqa: SIM115 - closed by the with below
        with fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if private:
            os.chmod(tmp, 0o600)  # in case a umask or ACL widened it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
