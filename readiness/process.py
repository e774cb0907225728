"""The one process supervisor: every server readiness runs — a stdio target, an HTTP target's
command, the server behind the fault relay, the fault proxy's upstream — starts and ends here.

The idea, once: a server is a process *tree*, not a pid. It starts in a process group of its
own, with the configured cwd and env, its stderr captured to the run's log (bounded), and on
Linux it dies with us. Whoever started it ends it, in steps that never block the event loop:
close its stdin and let it exit on its own; SIGTERM to every process of the tree (its group,
and every descendant found, even one that left the group) and a grace period; SIGKILL to
whatever is left; reap. A kill fault skips to SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, BinaryIO, Literal
from urllib.parse import urlsplit

import anyio

from readiness.errors import OutputError, TargetStartFailed, TargetUnreachable

if TYPE_CHECKING:
    import psutil

EXIT_GRACE = 2.0  # after closing stdin, for a server that exits when its input ends
TERM_GRACE = 2.0  # after SIGTERM
KILL_WAIT = 5.0  # after SIGKILL, for the kernel to take the tree down
PIPES_WAIT = 1.0  # for the last of its output to arrive once it is gone
POLL_INTERVAL = 0.05  # how often a descendant (not our child: no exit callback) is looked at
HEAD_BYTES = 256 * 1024
TAIL_BYTES = 768 * 1024
TAIL_LINES = 50
_STDERR_FD = 2


@dataclass(frozen=True)
class ProcessSpec:
    """What to run: no shell; `env` is added to the inherited environment."""

    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    # Its stderr (and its stdout, when nobody reads that) is captured to a bounded log, kept
    # at `log_path` when given, its tail in memory for error messages either way; "inherit"
    # passes it through to our own stderr instead.
    stderr: Literal["capture", "inherit"] = "capture"
    log_path: str | None = None
    append_log: bool = False  # a restart adds to the log of the earlier run
    # Secret values (every form of them) and what the log shows instead, e.g. their ${NAME}:
    # a server that prints its token or its argv must not put the value in the run's files.
    redact: Mapping[bytes, bytes] = field(default_factory=dict)
    name: str | None = None  # names it in errors; default: the command

    @property
    def label(self) -> str:
        return self.name or self.command


class ChildProcess:
    """One run of a server process. `start()` it, and always `stop()` it (or `kill()` it).

    With a `protocol`, the server's stdin and stdout are pipes and that protocol receives
    what asyncio's SubprocessProtocol would (stdout data, end of stdout, exit, flow control);
    stderr is the log's either way. Without one, stdin is /dev/null and stdout goes to the log.
    """

    def __init__(
        self, spec: ProcessSpec, protocol: asyncio.SubprocessProtocol | None = None
    ) -> None:
        self.spec = spec
        self._protocol = protocol
        self.transport: asyncio.SubprocessTransport | None = None
        self.returncode: int | None = None
        self.exited = anyio.Event()
        self.pipes_closed = anyio.Event()
        # On disk once start() opens it.
        self._log = StderrLog(None, tail_bytes=64 * 1024, redact=spec.redact)
        self._tree: dict[int, psutil.Process] = {}  # descendants seen so far, by pid

    @property
    def pid(self) -> int | None:
        return self.transport.get_pid() if self.transport is not None else None

    @property
    def stdin(self) -> asyncio.WriteTransport | None:
        if self.transport is None or self._protocol is None:
            return None
        return self.transport.get_pipe_transport(0)  # type: ignore[return-value]

    @property
    def stdout(self) -> asyncio.ReadTransport | None:
        if self.transport is None or self._protocol is None:
            return None
        return self.transport.get_pipe_transport(1)  # type: ignore[return-value]

    def stderr_tail(self, lines: int = TAIL_LINES) -> str:
        return self._log.tail_lines(lines)

    def __repr__(self) -> str:
        state = "running" if self.returncode is None else f"exited {self.returncode}"
        return f"<ChildProcess {self.spec.label!r} pid={self.pid} {state}>"

    async def start(self) -> None:
        """Start it. Raises OSError, as the OS reported it, when it cannot be started, and
        TargetStartFailed when its log cannot be written."""
        spec = self.spec
        if spec.log_path is not None:
            try:
                self._log = StderrLog(spec.log_path, append=spec.append_log, redact=spec.redact)
            except OSError as exc:
                cause = f"cannot write the server's stderr log {spec.log_path}: {exc.strerror}"
                raise TargetStartFailed(spec.label, cause) from None
        piped = self._protocol is not None
        logged = spec.stderr == "capture"
        env = {**os.environ, **spec.env} if spec.env else None
        loop = asyncio.get_running_loop()
        try:
            # A half-started child must not escape us.
            with anyio.CancelScope(shield=True):
                await loop.subprocess_exec(
                    lambda: _Protocol(self, self._protocol),
                    spec.command,
                    *spec.args,
                    stdin=subprocess.PIPE if piped else subprocess.DEVNULL,
                    stdout=subprocess.PIPE if piped or logged else _STDERR_FD,
                    stderr=subprocess.PIPE if logged else None,
                    env=env,
                    cwd=spec.cwd,
                    process_group=0,  # its own group: a signal reaches the whole of it
                    preexec_fn=_death_signal(),
                )
        except BaseException:
            self._log.close()
            raise

    def signal_group(self, signum: int) -> None:
        """Signal its process group now (from a callback; no descendant search)."""
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signum)

    async def signal_tree(self, signum: int) -> None:
        """Signal its group and every descendant found, including any that left the group."""
        await self._find_descendants()
        self.signal_group(signum)
        for proc in list(self._tree.values()):
            with contextlib.suppress(Exception):  # gone, or reused: psutil checks
                proc.send_signal(signum)

    async def kill(self) -> None:
        """SIGKILL the whole tree at once and reap it (a kill fault)."""
        await self.stop(exit_grace=0.0, term_grace=0.0)

    async def stop(
        self,
        *,
        exit_grace: float = 0.0,
        term_grace: float = TERM_GRACE,
        kill_wait: float = KILL_WAIT,
    ) -> None:
        """End the tree: close stdin and wait `exit_grace`; SIGTERM and wait `term_grace`;
        SIGKILL and wait `kill_wait`. Shielded, so a cancelled caller leaves nothing behind;
        safe to call again, and after the process ended by itself."""
        with anyio.CancelScope(shield=True):
            if self.transport is None:
                self._log.close()
                return  # never started: nothing was written
            try:
                stdin = self.stdin
                if stdin is not None and not stdin.is_closing():
                    stdin.close()
                if exit_grace > 0 and self.returncode is None:
                    with anyio.move_on_after(exit_grace):
                        await self.exited.wait()
                if term_grace > 0 and not await self._gone():
                    await self.signal_tree(signal.SIGTERM)
                    await self._wait_gone(term_grace)
                if not await self._gone():
                    await self.signal_tree(signal.SIGKILL)
                    await self._wait_gone(kill_wait)
                self.signal_group(signal.SIGKILL)  # whatever it left in its group
                self.transport.close()
                with anyio.move_on_after(PIPES_WAIT):
                    await self.pipes_closed.wait()
            finally:
                self._log.close()
        self._raise_log_failure()

    def _raise_log_failure(self) -> None:
        """A log the disk would not take ends the run like a results.json it would not take."""
        failure, self._log.failure = self._log.failure, None
        if failure is not None:
            raise OutputError(self._log.path or "the server's stderr log", failure)

    # -- the tree ---------------------------------------------------------------------------

    async def _find_descendants(self) -> None:
        pid = self.pid
        if pid is None or self.returncode is not None:
            return  # an exited root's children were handed to init: only what we saw before
        found = await anyio.to_thread.run_sync(_descendants, pid)
        for proc in found:
            self._tree.setdefault(proc.pid, proc)

    async def _gone(self) -> bool:
        if self.returncode is None:
            return False
        if not self._tree:
            return True
        alive = await anyio.to_thread.run_sync(_still_alive, list(self._tree.values()))
        self._tree = {proc.pid: proc for proc in alive}
        return not alive

    async def _wait_gone(self, within: float) -> None:
        with anyio.move_on_after(within):
            await self.exited.wait()
            # Descendants are not our children: no exit callback tells when they are gone.
            while not await self._gone():  # noqa: ASYNC110
                await anyio.sleep(POLL_INTERVAL)

    # -- callbacks --------------------------------------------------------------------------

    def _exited(self, returncode: int) -> None:
        self.returncode = returncode
        self.exited.set()


class _Protocol(asyncio.SubprocessProtocol):
    """Captures stderr to the log and notes the exit; passes the rest to the caller's protocol."""

    def __init__(self, process: ChildProcess, inner: asyncio.SubprocessProtocol | None) -> None:
        self._process = process
        self._inner = inner
        self._on_stdout = inner.pipe_data_received if inner is not None else None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        # Set here, not after subprocess_exec returns: the process may exit before that.
        self._process.transport = transport
        if self._inner is not None:
            self._inner.connection_made(transport)

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        if fd == 1 and self._on_stdout is not None:
            self._on_stdout(fd, data)
        else:
            self._process._log.feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if self._inner is not None and fd != 2:
            self._inner.pipe_connection_lost(fd, exc)

    def process_exited(self) -> None:
        transport = self._process.transport
        returncode = transport.get_returncode() if transport is not None else None
        self._process._exited(-1 if returncode is None else returncode)
        if self._inner is not None:
            self._inner.process_exited()

    def connection_lost(self, exc: Exception | None) -> None:
        self._process.pipes_closed.set()
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


def kill_our_descendants() -> int:
    """SIGKILL every live process descended from this one, now: a second Ctrl-C's way of
    skipping every grace period. The supervisors still reap what they started. Returns how
    many were signalled."""
    killed = 0
    for proc in _descendants(os.getpid()):
        with contextlib.suppress(Exception):  # gone, or reused: psutil checks
            proc.kill()
            killed += 1
    return killed


def _descendants(pid: int) -> list[psutil.Process]:
    import psutil

    try:
        found: list[psutil.Process] = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    return found


def _still_alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    import psutil

    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.Error:
            pass
    return alive


def _death_signal() -> Callable[[], None] | None:
    """In the child before exec: be SIGKILLed if we die without ending it (Linux only).

    Looked up here, in the parent: the child between fork and exec must not import."""
    if sys.platform != "linux":
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return preexec


# -- a server that listens ------------------------------------------------------------------


class ServerSupervisor:
    """A server process that listens at `url` (an HTTP target's command, the fault proxy's
    upstream): started and waited for until the port accepts connections, killed and
    restarted by kill faults, and ended by `aclose()`, which its starter must always call."""

    def __init__(self, spec: ProcessSpec, url: str, *, start_timeout: float = 30.0) -> None:
        self.spec = spec
        self.url = url
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._start_timeout = start_timeout
        self._process: ChildProcess | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def __repr__(self) -> str:
        state = "stopped" if self._process is None else f"pid={self._process.pid}"
        return f"<ServerSupervisor {self.spec.label!r} {self.url} {state}>"

    async def start(self) -> None:
        """Start the server and return once its port accepts connections; TargetStartFailed
        or TargetUnreachable (with its stderr's tail) when it does not."""
        spec, label = self.spec, self.spec.label
        if spec.cwd is not None and not await anyio.Path(spec.cwd).is_dir():
            raise TargetStartFailed(label, f"working directory does not exist: {spec.cwd}")
        if self.starts:
            spec = replace(spec, append_log=True)
        process = ChildProcess(spec)
        try:
            await process.start()
        except FileNotFoundError:
            raise TargetStartFailed(label, f"command not found: {spec.command}") from None
        except PermissionError:
            raise TargetStartFailed(label, f"command is not executable: {spec.command}") from None
        except OSError as exc:
            cause = f"could not start {spec.command}: {exc.strerror or exc}"
            raise TargetStartFailed(label, cause) from None
        self._process = process
        self.starts += 1
        try:
            with anyio.move_on_after(self._start_timeout):
                await self._wait_listening(process)
                return
        except TargetStartFailed:
            await self.aclose()
            raise
        tail = process.stderr_tail()
        await self.aclose()
        raise TargetUnreachable(
            label,
            f"nothing listened at {self.url} within {self._start_timeout:g}s of starting it",
            stderr_tail=tail,
        )

    async def _wait_listening(self, process: ChildProcess) -> None:
        while True:
            if process.returncode is not None:
                with anyio.move_on_after(PIPES_WAIT):
                    await process.pipes_closed.wait()  # its last words, for the message
                raise TargetStartFailed(
                    self.spec.label,
                    f"exited with code {process.returncode} before {self.url} answered",
                    stderr_tail=process.stderr_tail(),
                )
            try:
                stream = await anyio.connect_tcp(self._host, self._port)
            except OSError:
                await anyio.sleep(POLL_INTERVAL)
                continue
            await stream.aclose()
            return

    async def kill(self) -> None:
        """SIGKILL the server's whole tree and reap it."""
        process, self._process = self._process, None
        if process is not None:
            await process.kill()

    async def restart(self) -> None:
        await self.kill()
        await self.start()

    async def aclose(self) -> None:
        """End the server: SIGTERM, then SIGKILL after a grace period; always reaps it."""
        process, self._process = self._process, None
        if process is not None:
            await process.stop()


# -- the log ----------------------------------------------------------------------------------


class StderrLog:
    """A bounded log of a server's stderr: the first `head_bytes` (written to `path` as they
    arrive) and the last `tail_bytes` (written on close), so the file never exceeds head +
    tail plus a marker. Fed from the pipe callback, so it never blocks the server. With
    `redact`, secret values are replaced before anything is kept (see _Scrubber)."""

    def __init__(
        self,
        path: str | None,
        *,
        head_bytes: int = HEAD_BYTES,
        tail_bytes: int = TAIL_BYTES,
        append: bool = False,
        redact: Mapping[bytes, bytes] | None = None,
    ) -> None:
        self._scrubber = _Scrubber(redact) if redact else None
        self.path = path
        self._file: BinaryIO | None = None
        # Why the file stopped taking writes (a full disk, say); the log goes on in memory.
        self.failure: OSError | None = None
        if path:
            self._file = open(path, "ab") if append else open(path, "wb")  # noqa: SIM115
        self._head_room = head_bytes
        self._head = bytearray()  # a copy of what went to disk, for tail_lines() before overflow
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self._tail_bytes = tail_bytes
        self.total_bytes = 0

    def feed(self, data: bytes) -> None:
        if self._scrubber is not None:
            data = self._scrubber.feed(data)
        self._keep(data)

    def _keep(self, data: bytes) -> None:
        self.total_bytes += len(data)
        if self._head_room > 0:
            head, data = data[: self._head_room], data[self._head_room :]
            self._head_room -= len(head)
            self._head += head
            if self._file is not None:
                try:
                    self._file.write(head)
                    self._file.flush()
                except OSError as exc:  # in a pipe callback: never raise there
                    self._give_up(exc)
        if not data:
            return
        self._tail.append(data)
        self._tail_size += len(data)
        excess = self._tail_size - self._tail_bytes
        while excess > 0:
            first = self._tail[0]
            if len(first) <= excess:
                self._tail.popleft()
                cut = len(first)
            else:
                self._tail[0] = first[excess:]
                cut = excess
            self._tail_size -= cut
            excess -= cut

    @property
    def skipped_bytes(self) -> int:
        return self.total_bytes - len(self._head) - self._tail_size

    def tail_lines(self, count: int = TAIL_LINES) -> str:
        """The last `count` lines seen (decoded leniently), for error messages."""
        recent = (
            b"".join(self._tail)[-64 * 1024 :] if self._tail else bytes(self._head[-64 * 1024 :])
        )
        if self._scrubber is not None:
            recent += self._scrubber.peek()
        lines = recent.decode("utf-8", errors="replace").splitlines()
        return "\n".join(lines[-count:])

    def close(self) -> None:
        """Write the tail behind a marker naming what was dropped in between, then close.
        A write that fails is noted in `failure`, not raised."""
        if self._scrubber is not None:
            self._keep(self._scrubber.flush())
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            if self._tail:
                skipped = self.skipped_bytes
                if skipped:
                    file.write(f"\n[... {skipped} bytes of stderr skipped ...]\n".encode())
                for chunk in self._tail:
                    file.write(chunk)
            file.close()
        except OSError as exc:
            self._give_up(exc, file)

    def _give_up(self, exc: OSError, file: BinaryIO | None = None) -> None:
        file, self._file = file or self._file, None
        if self.failure is None:
            self.failure = exc
        if file is not None:
            with contextlib.suppress(OSError):  # what it could not flush fails again
                file.close()


class _Scrubber:
    """Replaces secret values in a byte stream that may split one across two reads.

    The idea, once: a value up to L bytes long that starts before the last L - 1 bytes seen
    lies wholly inside what was seen, so everything before those bytes can be replaced and let
    go; the last L - 1 bytes wait for the next read (or `flush`)."""

    def __init__(self, forms: Mapping[bytes, bytes]) -> None:
        longest_first = sorted(forms, key=len, reverse=True)
        self._forms = dict(forms)
        self._pattern = re.compile(b"|".join(map(re.escape, longest_first)))
        self._hold = len(longest_first[0]) - 1
        self._pending = b""

    def feed(self, data: bytes) -> bytes:
        seen = self._pending + data
        safe = len(seen) - self._hold
        out = bytearray()
        at = 0
        for match in self._pattern.finditer(seen):
            if match.start() >= safe:
                break
            out += seen[at : match.start()]
            out += self._forms[match.group()]
            at = match.end()
        end = max(at, safe)
        out += seen[at:end]
        self._pending = seen[end:]
        return bytes(out)

    def peek(self) -> bytes:
        """What is held back, replaced as it stands (for a message; nothing is let go)."""
        return self._replace(self._pending)

    def flush(self) -> bytes:
        held, self._pending = self._pending, b""
        return self._replace(held)

    def _replace(self, data: bytes) -> bytes:
        return self._pattern.sub(lambda match: self._forms[match.group()], data)
