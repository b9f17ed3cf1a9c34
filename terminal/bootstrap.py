"""Set up and run the project from a bare checkout: ``python3 -m terminal.bootstrap run|test``.

Standard library only: this runs before anything is installed. Steps:

1. On Debian/Ubuntu, install the system libraries Qt needs if they are missing (as root or
   with passwordless sudo; otherwise say what is missing and how to install it, and go on);
   for ``test`` also gnome-keyring + dbus-x11 (the real Secret Service test) and binutils
   (the PyInstaller build test).
2. Create ``.venv`` in the repo root if needed and ``pip install -e .[test]`` into it, but
   only when pyproject.toml changed since the last successful install.
3. ``run``: exec the ``terminal`` entry point (demo mode by default).
   ``test``: run pytest headless (QT_QPA_PLATFORM=offscreen) under a wall-clock timeout and
   fail when pytest fails, times out, or runs no tests.

Environment: TERMINAL_TEST_TIMEOUT (seconds, default 1500), TERMINAL_BOOTSTRAP_SKIP_APT=1
(never touch system packages).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv"
HASH_FILE = VENV / ".installed-hash"
DEFAULT_TEST_TIMEOUT = 1500
MIN_PYTHON = (3, 11)

# soname -> Debian package, for the offscreen platform (what tests need).
BASE_LIBS: dict[str, str] = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libX11.so.6": "libx11-6",
    "libxcb.so.1": "libxcb1",
}
BASE_PACKAGES = [
    "libegl1",
    "libgl1",
    "libglib2.0-0",
    "libfontconfig1",
    "libfreetype6",
    "libxkbcommon0",
    "libdbus-1-3",
    "libx11-6",
    "libxcb1",
    "fonts-dejavu-core",
]
# Extra for a real window through Qt's xcb platform plugin (``run``).
XCB_LIBS: dict[str, str] = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libX11-xcb.so.1": "libx11-xcb1",
}
# Without any display, a virtual X server lets the window run (xvfb-run -a terminal).
HEADLESS_X_PACKAGES = ["xvfb", "xauth"]
# Programs the test suite needs, program -> Debian package: the real Secret Service keyring
# test (gnome-keyring on a private D-Bus session) and the frozen-build test (PyInstaller reads
# binaries with objdump).
TEST_TOOLS: dict[str, str] = {
    "gnome-keyring-daemon": "gnome-keyring",
    "dbus-run-session": "dbus-x11",  # dbus-x11 pulls in dbus-daemon, which has dbus-run-session
    "objdump": "binutils",
}


def say(msg: str) -> None:
    print(f"[bootstrap] {msg}", flush=True)


def fail(msg: str, code: int = 1) -> int:
    print(f"[bootstrap] ERROR: {msg}", file=sys.stderr, flush=True)
    return code


# --------------------------------------------------------------------------- system packages


def _is_debian_like() -> bool:
    if not shutil.which("apt-get"):
        return False
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8")
    except OSError:
        return Path("/etc/debian_version").exists()
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    ids = (fields.get("ID", "") + " " + fields.get("ID_LIKE", "")).replace('"', "").split()
    return "debian" in ids or "ubuntu" in ids


def _known_sonames() -> set[str] | None:
    """Shared libraries the dynamic linker knows about; None if ldconfig is unavailable."""
    for cand in (shutil.which("ldconfig"), "/sbin/ldconfig", "/usr/sbin/ldconfig"):
        if cand and Path(cand).exists():
            try:
                out = subprocess.run([cand, "-p"], capture_output=True, text=True, timeout=30, check=False)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if out.returncode == 0:
                return {line.split()[0] for line in out.stdout.splitlines()[1:] if line.strip()}
    return None


def _root_prefix() -> list[str] | None:
    """[] as root, ["sudo", "-n"] with passwordless sudo, None if we cannot install."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return []
    if shutil.which("sudo"):
        ok = subprocess.run(["sudo", "-n", "true"], capture_output=True, timeout=30, check=False)
        if ok.returncode == 0:
            return ["sudo", "-n"]
    return None


def _apt_install(packages: list[str], prefix: list[str]) -> bool:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    steps = [
        [*prefix, "apt-get", "update"],
        [*prefix, "apt-get", "install", "-y", "--no-install-recommends", *packages],
    ]
    for cmd in steps:
        say("$ " + " ".join(cmd))
        try:
            rc = subprocess.run(cmd, env=env, timeout=900, check=False).returncode
        except (OSError, subprocess.TimeoutExpired) as exc:
            say(f"apt-get failed: {exc}")
            return False
        if rc != 0:
            say(f"apt-get exited {rc}")
            return False
    return True


def ensure_system_libs(for_gui: bool, for_tests: bool = False) -> None:
    """Install missing Qt runtime libraries (and, for tests, ``TEST_TOOLS``) when we can;
    never fatal (Qt may still work, and the tests that need a tool say so)."""
    if not sys.platform.startswith("linux") or os.environ.get("TERMINAL_BOOTSTRAP_SKIP_APT") == "1":
        return
    sonames = _known_sonames()
    if sonames is None:
        say("ldconfig not available: skipping the system library check")
        return
    wanted = dict(BASE_LIBS)
    packages = list(BASE_PACKAGES)
    if for_gui:
        wanted.update(XCB_LIBS)
        packages += list(XCB_LIBS.values())
    missing = {so: pkg for so, pkg in wanted.items() if so not in sonames}
    if for_tests:
        missing.update({prog: pkg for prog, pkg in TEST_TOOLS.items() if not shutil.which(prog)})
        packages += sorted(set(TEST_TOOLS.values()))
    no_display = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    headless_x = for_gui and no_display and not shutil.which("xvfb-run")
    if not missing and not headless_x:
        return
    if headless_x:
        packages += HEADLESS_X_PACKAGES
    missing_pkgs = sorted(set(missing.values()) | (set(HEADLESS_X_PACKAGES) if headless_x else set()))
    if missing:
        say("missing system libraries/programs: " + ", ".join(sorted(missing)))
    hint = "apt-get install -y --no-install-recommends " + " ".join(packages)
    if not _is_debian_like():
        say(f"not a Debian/Ubuntu system: install the equivalents of: {' '.join(missing_pkgs)}")
        return
    prefix = _root_prefix()
    if prefix is None:
        say(f"cannot install them without root; run:\n    sudo {hint}")
        return
    if _apt_install(packages, prefix):
        say("system libraries installed")
    else:
        say(f"installing system libraries failed; continuing. To retry by hand:\n    sudo {hint}")


# --------------------------------------------------------------------------- venv


def _venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def _venv_script(name: str) -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / f"{name}.exe"
    return VENV / "bin" / name


def _venv_module_available() -> str | None:
    """None when ``python -m venv`` can work, else a reason."""
    try:
        import ensurepip  # noqa: F401
        import venv  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


def ensure_venv() -> int:
    py = _venv_python()
    if py.exists():
        return 0
    if VENV.exists():
        say(f"{VENV} is incomplete (no {py.name}): recreating it")
        shutil.rmtree(VENV)
    problem = _venv_module_available()
    if problem and _is_debian_like():
        prefix = _root_prefix()
        if prefix is not None:
            pkg = f"python3.{sys.version_info.minor}-venv"
            say(f"python venv support is missing ({problem}); installing {pkg}")
            _apt_install([pkg], prefix)
            problem = None  # let the real attempt below report what is still wrong
    if problem:
        return fail(
            f"python's venv module is not usable ({problem}).\n"
            f"    On Debian/Ubuntu: sudo apt-get install python3-venv "
            f"(or python3.{sys.version_info.minor}-venv), then run this again."
        )
    say(f"creating virtual environment {VENV}")
    rc = subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=False).returncode
    if rc != 0 or not py.exists():
        shutil.rmtree(VENV, ignore_errors=True)
        return fail(
            "creating the virtual environment failed; on Debian/Ubuntu install python3-venv "
            f"(sudo apt-get install python3.{sys.version_info.minor}-venv) and retry"
        )
    return 0


def _install_hash() -> str:
    h = hashlib.sha256()
    h.update((REPO / "pyproject.toml").read_bytes())
    h.update(f"{sys.version_info[:2]}".encode())
    return h.hexdigest()


def ensure_installed() -> int:
    want = _install_hash()
    try:
        have = HASH_FILE.read_text(encoding="utf-8").strip()
    except OSError:
        have = ""
    if have == want:
        return 0
    say("installing the project and its dependencies (pip install -e .[test])")
    cmd = [
        str(_venv_python()),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "-e",
        ".[test]",
    ]
    started = time.monotonic()
    rc = subprocess.run(cmd, cwd=REPO, check=False).returncode
    if rc != 0:
        return fail(f"pip install failed (exit {rc}); see the output above")
    HASH_FILE.write_text(want + "\n", encoding="utf-8")
    say(f"installed in {time.monotonic() - started:.0f} s")
    return 0


def prepare(for_gui: bool, for_tests: bool = False) -> int:
    if sys.version_info < MIN_PYTHON:
        return fail(f"Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]}+ is required, this is {sys.version.split()[0]}")
    ensure_system_libs(for_gui, for_tests)
    return ensure_venv() or ensure_installed()


# --------------------------------------------------------------------------- commands


def cmd_run(args: list[str]) -> int:
    rc = prepare(for_gui=True)
    if rc:
        return rc
    exe = _venv_script("terminal")
    if not exe.exists():
        return fail(f"{exe} is missing; delete {HASH_FILE} and run again to reinstall")
    if (
        sys.platform.startswith("linux")
        and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        and not os.environ.get("QT_QPA_PLATFORM")
    ):
        say(
            "no display found: for a window on a headless machine use "
            "`xvfb-run -a python3 -m terminal.bootstrap run`, or set QT_QPA_PLATFORM=offscreen"
        )
    argv = [str(exe), *args]  # no arguments = demo mode (the CLI's default)
    say("$ " + " ".join(argv))
    if os.name == "nt":
        return subprocess.run(argv, check=False).returncode
    os.execv(argv[0], argv)
    return 0  # not reached


class _Terminated(Exception):
    pass


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(signum)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop pytest and everything it started (servers, Xvfb): TERM, then KILL."""
    if proc.poll() is not None:
        return
    try:
        if os.name == "nt":
            proc.terminate()
        else:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            if os.name == "nt":
                proc.kill()
            else:
                os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def _junit_counts(path: Path) -> dict[str, int] | None:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in counts:
            counts[key] += int(suite.get(key, "0") or 0)
    return counts


def _timeout_seconds() -> float:
    raw = os.environ.get("TERMINAL_TEST_TIMEOUT", "")
    try:
        value = float(raw) if raw else DEFAULT_TEST_TIMEOUT
    except ValueError:
        say(f"ignoring TERMINAL_TEST_TIMEOUT={raw!r} (not a number)")
        value = DEFAULT_TEST_TIMEOUT
    return value if value > 0 else DEFAULT_TEST_TIMEOUT


def cmd_test(args: list[str]) -> int:
    started = time.monotonic()
    rc = prepare(for_gui=False, for_tests=True)
    if rc:
        print(f"TEST SUMMARY: FAILED before running tests (setup error, exit {rc})", flush=True)
        return rc
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    timeout = _timeout_seconds()
    with tempfile.TemporaryDirectory(prefix="terminal-test-") as tmp:
        junit = Path(tmp) / "junit.xml"
        # Our --junitxml goes first so a user's own --junitxml wins; counts are then unknown.
        argv = [
            str(_venv_python()),
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            *args,
        ]
        say(f"$ {' '.join(argv)}  (timeout {timeout:.0f} s)")
        # Own session so a timeout can kill pytest's whole tree (servers it spawned, Xvfb).
        proc = subprocess.Popen(argv, cwd=REPO, env=env, start_new_session=os.name != "nt")
        timed_out = False
        # If CI kills us (timeout(1) sends TERM), take the detached session down with us.
        previous = signal.signal(signal.SIGTERM, _raise_terminated) if os.name != "nt" else None
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            code = 124
        except (KeyboardInterrupt, _Terminated) as exc:
            _kill_group(proc)
            print("TEST SUMMARY: INTERRUPTED", flush=True)
            return 143 if isinstance(exc, _Terminated) else 130
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        counts = _junit_counts(junit)
    elapsed = time.monotonic() - started

    detail = ""
    ran = None
    if counts is not None:
        passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
        ran = counts["tests"] - counts["skipped"]
        detail = (
            f"{passed} passed, {counts['failures']} failed, {counts['errors']} errors, "
            f"{counts['skipped']} skipped"
        )
    if timed_out:
        print(
            f"[bootstrap] pytest did not finish within {timeout:.0f} s "
            "(TERMINAL_TEST_TIMEOUT) and was killed",
            file=sys.stderr,
        )
        verdict, result = "FAILED (timed out)", 1
    elif code == 5 or (code == 0 and ran == 0):
        print(
            "[bootstrap] pytest collected or ran no tests: that is a failure, not a pass "
            "(check the test paths, -k/-m filters and collection errors above)",
            file=sys.stderr,
        )
        verdict, result = "FAILED (no tests ran)", 1
    elif code == 0:
        verdict, result = "PASSED", 0
    else:
        verdict, result = f"FAILED (pytest exit {code})", code if code > 0 else 1
    parts = [p for p in (detail, f"{elapsed:.1f} s") if p]
    print(f"TEST SUMMARY: {verdict} - {', '.join(parts)}", flush=True)
    return result


USAGE = """usage: python3 -m terminal.bootstrap run [terminal args...]
       python3 -m terminal.bootstrap test [pytest args...]

run   set up .venv (and system libraries if needed), then start the terminal (demo mode)
test  set up, then run the test suite headless with a wall-clock timeout
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "run":
        return cmd_run(rest)
    if command == "test":
        return cmd_test(rest)
    print(USAGE, end="", file=sys.stderr)
    return fail(f"unknown command {command!r}", 2)


if __name__ == "__main__":
    raise SystemExit(main())
