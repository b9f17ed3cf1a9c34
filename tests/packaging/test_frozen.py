"""The one-folder PyInstaller build runs: build ``terminal.spec``, then the frozen
``terminal --self-test --screenshot`` under the offscreen platform must exit 0 with a PNG.

Slow (a full build, ~1–3 min on 2 cores). It fails — never skips — when PyInstaller is missing
(it is in the ``test`` extra) or when the frozen binary cannot self-test. Build time and dist
size are printed (``pytest -s``) and attached to the junit report as properties.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _tail(text: str, n: int = 4000) -> str:
    return text[-n:]


def _source_modules() -> list[str]:
    names = []
    for path in (REPO / "terminal").rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return [n for n in names if n != "terminal.__main__"]  # the entry script, not a PYZ module


def _dir_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def test_frozen_binary_self_test(tmp_path: Path, record_property: pytest.RecordProperty) -> None:
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.fail("PyInstaller is not installed: `pip install -e .[test]` (the test extra pins it)")
    dist, work = tmp_path / "dist", tmp_path / "build"

    started = time.monotonic()
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            str(dist),
            "--workpath",
            str(work),
            str(REPO / "terminal.spec"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=480,
    )
    build_s = time.monotonic() - started
    assert build.returncode == 0, f"pyinstaller failed (exit {build.returncode}):\n{_tail(build.stderr)}"
    exe = dist / "terminal" / "terminal"
    assert exe.is_file() and os.access(exe, os.X_OK), f"no executable at {exe}"
    size_mb = _dir_size(dist / "terminal") / 1e6
    record_property("build_s", round(build_s, 1))
    record_property("dist_mb", round(size_mb, 1))
    print(f"\nfrozen build: {build_s:.1f} s, dist/terminal {size_mb:.0f} MB")

    # Every module of the package is in the bundle: app.py and the main window import some by
    # name, and collect_submodules (the spec) silently skips a module that fails to import.
    bundled = set(re.findall(r"'(terminal(?:\.\w+)*)'", (work / "terminal" / "PYZ-00.toc").read_text()))
    missing = sorted(set(_source_modules()) - bundled)
    assert not missing, f"modules missing from the frozen build: {missing}"

    # The host's GTK must not leak into the bundle (the spec drops the platform-theme plugin).
    leaked = [p.name for p in (dist / "terminal").rglob("*") if "gtk" in p.name.lower()]
    assert not leaked, f"host GTK files in the bundle: {leaked[:10]}"

    screenshot = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    # Keep the frozen app's per-user files (layout, prefs, data) out of the developer's home.
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_STATE_HOME", "state")):
        env[var] = str(tmp_path / sub)
    env.pop("PYTHONPATH", None)  # the bundle must be self-contained
    started = time.monotonic()
    run = subprocess.run(
        [str(exe), "--self-test", "--screenshot", str(screenshot)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    run_s = time.monotonic() - started
    record_property("self_test_s", round(run_s, 1))
    last = (run.stdout + run.stderr).strip().splitlines()[-1:] or [""]
    print(f"frozen --self-test: exit {run.returncode} in {run_s:.1f} s: {last[0][-300:]}")
    assert run.returncode == 0, (
        f"frozen `terminal --self-test` exited {run.returncode}:\n"
        f"stdout:\n{_tail(run.stdout)}\nstderr:\n{_tail(run.stderr)}"
    )
    assert screenshot.is_file(), f"no screenshot at {screenshot}:\n{_tail(run.stdout + run.stderr)}"
    data = screenshot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000, f"not a real PNG ({len(data)} bytes)"
