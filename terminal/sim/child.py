"""The demo exchange simulator in a child process: to the terminal it is "another machine".

In-process, the simulator's generator, matching and websocket fan-out share the GUI's event loop
and GIL, and that alone costs the window ~5 ms of loop lag at 5k market messages/s. A child
process has its own interpreter (and core); the adapters reach it over loopback exactly as they
reach a real venue.

Parent side: ``SimChild`` runs ``terminal sim --port 0 --exit-with-parent ...`` (in a frozen
build ``sys.executable`` is the terminal binary itself, which takes ``sim`` as its subcommand),
reads its ``ready http://HOST:PORT`` line, fetches the generated demo keys from
``/sim/credentials`` and, should the child die while in use, restarts it on the same port with
the same keys so the feeds reconnect on their own.

Child side: ``serve_child`` (what ``--exit-with-parent`` runs) serves until its stdin reaches
EOF. The parent holds the only write end of that pipe and never writes, so EOF means the parent
stopped it or died, however it died (SIGKILL included): the kernel closes a dead process's
descriptors on Linux, macOS and Windows alike. ``prctl(PR_SET_PDEATHSIG)`` was not chosen: it is
Linux-only, fires when the spawning *thread* (not process) exits, and needs a ``preexec_fn``
(unsafe with threads) or a ``getppid()`` race check in the child.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from terminal.cli import ENV_SIM_API_KEY as ENV_API_KEY
from terminal.cli import ENV_SIM_API_SECRET as ENV_API_SECRET
from terminal.sim.exchange import Credentials

if TYPE_CHECKING:
    from terminal.sim.exchange import SimConfig

__all__ = [
    "ENV_API_KEY",
    "ENV_API_SECRET",
    "SimChild",
    "SimChildConfig",
    "SimChildError",
    "serve_child",
    "sim_command",
]

log = logging.getLogger(__name__)

READY_PREFIX = "ready "  # what `terminal sim` prints once it serves (terminal.sim.server)
_STDERR_TAIL_LINES = 30
_ORPHAN_GRACE_S = 5.0  # the child's graceful stop after its parent went; then it exits hard


class SimChildError(RuntimeError):
    """The simulator's child process could not start (the message says why, with its stderr tail)."""


@dataclass(frozen=True, slots=True)
class SimChildConfig:
    symbols: tuple[str, ...]
    seed: int = 1
    history_days: int = 1
    depth_rate: float | None = None  # None: the simulator's default
    # terminal.sim.replay.ReplaySpec: replay a recording (a restarted child replays from its start)
    replay: Any = None
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port; a restart reuses the one it got
    ready_timeout_s: float = 30.0
    stop_timeout_s: float = 5.0
    max_restarts: int = 3  # within restart_window_s; a child dying faster than that stays down
    restart_window_s: float = 60.0


def sim_command(
    config: SimChildConfig,
    port: int,
    *,
    executable: str | None = None,
    frozen: bool | None = None,
) -> list[str]:
    """The child's command line: ``python -m terminal sim ...``, or ``terminal sim ...`` frozen."""
    exe = executable or sys.executable
    is_frozen = getattr(sys, "frozen", False) if frozen is None else frozen
    head = [exe] if is_frozen else [exe, "-m", "terminal"]
    args = [
        "--log-level", "WARNING",
        "sim",
        "--host", config.host,
        "--port", str(port),
        "--seed", str(config.seed),
        "--symbols", ",".join(config.symbols),
        "--history-days", str(config.history_days),
        "--exit-with-parent",
    ]  # fmt: skip
    if config.depth_rate is not None:
        args += ["--depth-rate", repr(config.depth_rate)]
    if config.replay is not None:
        args += ["--replay", str(config.replay.path), "--replay-speed", repr(config.replay.speed)]
        if config.replay.loop:
            args.append("--replay-loop")
    return head + args


def _child_env(credentials: Credentials | None) -> dict[str, str]:
    # A restart must accept the keys the adapters already sign with. The environment (readable by
    # the same user only), not argv (world-readable in ps), carries them to the new child.
    env = dict(os.environ)
    env.pop(ENV_API_KEY, None)
    env.pop(ENV_API_SECRET, None)
    if credentials is not None:
        env[ENV_API_KEY], env[ENV_API_SECRET] = credentials.api_key, credentials.api_secret
    if not getattr(sys, "frozen", False):
        # `-m terminal` must find this very package even when it is not installed (a checkout).
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _popen_kwargs() -> dict[str, object]:
    if sys.platform == "win32":
        flags = subprocess.CREATE_NO_WINDOW | subprocess.CREATE_NEW_PROCESS_GROUP
        return {"creationflags": flags}
    # Its own session: a Ctrl-C in the user's terminal reaches the parent only, which then stops
    # the child itself (a child dying first would look like a crash and be restarted).
    return {"start_new_session": True}


class _Process:
    """One child process: its pipes drained by two daemon threads (a full pipe would block it)."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        on_exit: Callable[[_Process, int], None],
    ) -> None:
        self.argv = argv
        self.ready: concurrent.futures.Future[str] = concurrent.futures.Future()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self.became_ready = False  # set by the stdout thread: an exit after this is a crash
        self._on_exit = on_exit
        try:
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,  # never written: its EOF tells the child we are gone
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                **_popen_kwargs(),  # type: ignore[arg-type]
            )
        except OSError as exc:
            raise SimChildError(f"cannot run the demo exchange simulator ({argv[0]}): {exc}") from None
        self.pid = self.popen.pid
        assert self.popen.stdout is not None and self.popen.stderr is not None
        self._threads = [
            threading.Thread(target=read, args=(pipe,), name=f"sim-child-{self.pid}-{tag}", daemon=True)
            for read, pipe, tag in (
                (self._read_stdout, self.popen.stdout, "out"),
                (self._read_stderr, self.popen.stderr, "err"),
            )
        ]
        for t in self._threads:
            t.start()

    def _read_stdout(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").strip()
            if not self.became_ready and line.startswith(READY_PREFIX):
                self.became_ready = True
                # InvalidStateError: the waiter gave up (timed out) just now.
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    self.ready.set_result(line[len(READY_PREFIX) :].strip())
        rc = self.popen.wait()
        self._threads[1].join(2.0)  # the stderr tail is complete before anyone reports it
        if not self.became_ready:
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                self.ready.set_exception(SimChildError(f"exited with code {rc} before it was ready"))
        self._on_exit(self, rc)

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            if not line:
                continue
            self.stderr_tail.append(line)
            # The child logs at WARNING and above; the log dock shows what it says.
            level = logging.ERROR if (" ERROR " in line or " CRITICAL " in line) else logging.WARNING
            log.log(level, "simulator[%d]: %s", self.pid, line)

    def tail(self, lines: int = 8) -> str:
        return "\n".join(list(self.stderr_tail)[-lines:]) or "(no output on stderr)"

    def alive(self) -> bool:
        return self.popen.poll() is None

    async def stop(self, timeout_s: float) -> int:
        """terminate -> wait -> kill -> wait; polled, so the (GUI) loop never blocks on it."""
        for step in (self.popen.terminate, self.popen.kill):
            if self.popen.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError, OSError):
                step()
            deadline = time.monotonic() + timeout_s
            while self.popen.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        if self.popen.poll() is None:  # killed but not yet reaped: it will be, without us waiting
            log.warning(
                "the simulator child %d did not exit after SIGKILL within %.0f s", self.pid, timeout_s
            )
        for pipe in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        return self.popen.returncode if self.popen.returncode is not None else -9


class SimChild:
    """The demo simulator as a child process. Stands where ``RunningSim`` stands in demo mode:
    ``url`` / ``ws_url``, ``credentials`` (its generated demo keys) and ``stop()``.

    ``spawn()`` (sync, non-blocking) starts the process: call it as early as possible so the
    child boots while the window is built; ``start()`` spawns if needed, waits for the ready
    line and fetches the keys. A child that dies while running is restarted on the same port
    (``max_restarts`` per ``restart_window_s``) with the same keys.
    """

    def __init__(self, config: SimChildConfig) -> None:
        self.config = config
        self.port = config.port
        self.credentials: Credentials | None = None
        self.restarts = 0
        self._proc: _Process | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False
        self._stopping = False
        self._restart_times: collections.deque[float] = collections.deque()
        self._restart_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ public
    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.alive()

    @property
    def exchange(self) -> object:
        raise AttributeError(
            "the demo simulator runs in a child process (AppConfig.sim_process=CHILD): there is no "
            "in-process exchange; use its HTTP control plane (/sim/*) or SimProcess.INPROCESS"
        )

    def spawn(self) -> None:
        """Start the process now unless it runs already (raises ``SimChildError`` if it cannot)."""
        if self._stopping:
            raise SimChildError("the simulator child was stopped")
        if self._proc is None:
            self._proc = self._spawn(self.port, None)

    async def start(self) -> None:
        if self._started:
            raise RuntimeError("SimChild.start() called twice")
        self._started = True
        self._loop = asyncio.get_running_loop()
        self.spawn()
        assert self._proc is not None
        try:
            await self._until_ready(self._proc)
            self.credentials = await self._fetch_credentials()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop the child (and any restart in flight); safe to call twice."""
        self._stopping = True
        if self._restart_task is not None:
            self._restart_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._restart_task
            self._restart_task = None
        proc, self._proc = self._proc, None
        if proc is not None:
            rc = await proc.stop(self.config.stop_timeout_s)
            log.info("demo exchange simulator (child process %d) stopped (exit code %s)", proc.pid, rc)

    # ------------------------------------------------------------------ internals
    def _spawn(self, port: int, credentials: Credentials | None) -> _Process:
        argv = sim_command(self.config, port)
        return _Process(argv, _child_env(credentials), self._exited)

    async def _until_ready(self, proc: _Process) -> None:
        timeout = self.config.ready_timeout_s
        try:
            url = await asyncio.wait_for(asyncio.wrap_future(proc.ready), timeout)
        except TimeoutError:
            await proc.stop(self.config.stop_timeout_s)
            raise SimChildError(
                f"the demo exchange simulator (child process {proc.pid}) did not print its ready line "
                f"within {timeout:g} s; its stderr ends with:\n{proc.tail()}"
            ) from None
        except SimChildError as exc:
            raise SimChildError(
                f"the demo exchange simulator (child process {proc.pid}) {exc}; "
                f"its stderr ends with:\n{proc.tail()}"
            ) from None
        self.port = int(url.rsplit(":", 1)[1])

    async def _fetch_credentials(self) -> Credentials:
        import aiohttp

        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
                session.get(f"{self.url}/sim/credentials") as resp,
            ):
                resp.raise_for_status()
                body = await resp.json()
            return Credentials(str(body["api_key"]), str(body["api_secret"]), str(body["account"]))
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
            raise SimChildError(
                f"the demo exchange simulator at {self.url} did not hand out its demo keys "
                f"(GET /sim/credentials): {exc!r}"
            ) from None

    def _exited(self, proc: _Process, rc: int) -> None:
        """Called from the process's reader thread when it has exited."""
        loop = self._loop
        if loop is None or proc is not self._proc or self._stopping or not proc.became_ready:
            return  # not started yet / an old process / our own stop / a failed start (reported there)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to restart for
            loop.call_soon_threadsafe(self._on_died, proc, rc)

    def _on_died(self, proc: _Process, rc: int) -> None:
        if proc is not self._proc or self._stopping:
            return
        now = time.monotonic()
        while self._restart_times and now - self._restart_times[0] > self.config.restart_window_s:
            self._restart_times.popleft()
        if len(self._restart_times) >= self.config.max_restarts:
            log.error(
                "the demo exchange simulator (child process %d) exited with code %s, the %d. time within "
                "%.0f s: not restarting it again; the demo feeds stay down until the terminal is "
                "restarted. Its stderr ends with:\n%s",
                proc.pid,
                rc,
                len(self._restart_times) + 1,
                self.config.restart_window_s,
                proc.tail(),
            )
            return
        log.error(
            "the demo exchange simulator (child process %d) exited unexpectedly with code %s; "
            "restarting it on port %d (demo orders and balances start afresh). Its stderr ends with:\n%s",
            proc.pid,
            rc,
            self.port,
            proc.tail(),
        )
        self._restart_times.append(now)
        self._restart_task = asyncio.ensure_future(self._restart())

    async def _restart(self) -> None:
        try:
            proc = self._proc = self._spawn(self.port, self.credentials)
            await self._until_ready(proc)
            creds = await self._fetch_credentials()
        except SimChildError as exc:
            log.error("could not restart the demo exchange simulator on port %d: %s", self.port, exc)
            return
        if creds != self.credentials:  # cannot happen with the env keys; never sign with wrong ones
            log.error("the restarted demo exchange simulator has other keys: stopping it")
            await self.stop()
            return
        self.restarts += 1
        log.warning(
            "demo exchange simulator restarted (child process %d) at %s; the feeds reconnect",
            proc.pid,
            self.url,
        )


# ---------------------------------------------------------------------- child side
def serve_child(config: SimConfig) -> int:
    """``terminal sim --exit-with-parent``: serve until stdin reaches EOF (the parent is gone)."""
    if sys.stdin is None:
        print("error: --exit-with-parent needs a stdin pipe from the parent process", file=sys.stderr)
        return 2
    return asyncio.run(_serve_until_orphaned(config, sys.stdin.fileno()))


def _watch_stdin(fd: int, on_eof: Callable[[], None]) -> None:
    def watch() -> None:
        with contextlib.suppress(OSError):
            while os.read(fd, 4096):
                pass  # the parent never writes; anything it did is ignored
        on_eof()
        time.sleep(_ORPHAN_GRACE_S)
        os._exit(0)  # the graceful stop hung: an orphan must not outlive this

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


async def _serve_until_orphaned(config: SimConfig, stdin_fd: int) -> int:
    from terminal.sim.server import start_sim

    loop = asyncio.get_running_loop()
    gone = asyncio.Event()
    # Watching starts before the (CPU-heavy) exchange build: a parent that dies meanwhile is seen.
    _watch_stdin(stdin_fd, lambda: loop.call_soon_threadsafe(gone.set))
    try:
        sim = await start_sim(config)
    except OSError as exc:
        print(f"error: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"{READY_PREFIX}{sim.url}", flush=True)
    try:
        await gone.wait()
    finally:
        await sim.stop()
    return 0
