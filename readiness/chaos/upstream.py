"""An HTTP server the proxy starts from a command, so that a kill fault can SIGKILL it and a
supervisor-like restart can bring it back on the same URL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import anyio

from readiness.chaos.pipes import die_with_parent
from readiness.errors import TargetStartFailed, TargetUnreachable

POLL_INTERVAL = 0.05
TERM_GRACE = 2.0
KILL_WAIT = 5.0


class UpstreamProcess:
    """Runs `command` (an HTTP server that will listen at `url`) in its own process group.

    Its stdout and stderr go to our stderr, or are appended to `log_path`. `aclose()` ends it
    (SIGTERM, then SIGKILL, whole group) and must be called by whoever started it, whatever
    happened.
    """

    def __init__(
        self,
        command: Sequence[str],
        url: str,
        *,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 30.0,
        log_path: str | None = None,
    ) -> None:
        if not command:
            raise ValueError("an upstream process needs a command")
        self.command = tuple(command)
        self.url = url
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._env = {**os.environ, **env} if env is not None else None
        self._start_timeout = start_timeout
        self._log_path = log_path
        self._proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def __repr__(self) -> str:
        state = "stopped" if self._proc is None else f"pid={self._proc.pid}"
        return f"<UpstreamProcess {self.command[0]!r} {self.url} {state}>"

    async def start(self) -> None:
        """Start the server and wait until its port accepts connections."""
        label = " ".join(self.command)
        # A local append-open is quick; the child keeps its own descriptor.
        log = open(self._log_path, "ab") if self._log_path else None  # noqa: SIM115, ASYNC230
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=subprocess.DEVNULL,
                stdout=log.fileno() if log else sys.stderr.fileno(),
                stderr=subprocess.STDOUT if log else None,
                env=self._env,
                process_group=0,
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            raise TargetStartFailed(label, f"could not start: {exc.strerror or exc}") from None
        finally:
            if log is not None:
                log.close()  # the child holds its own copy
        self.starts += 1
        proc = self._proc
        with anyio.move_on_after(self._start_timeout):
            while True:
                code = proc.returncode
                if code is not None:
                    raise TargetStartFailed(
                        label, f"exited with code {code} before {self.url} answered"
                    )
                try:
                    stream = await anyio.connect_tcp(self._host, self._port)
                except OSError:
                    await anyio.sleep(POLL_INTERVAL)
                    continue
                await stream.aclose()
                return
        await self.aclose()
        raise TargetUnreachable(
            label, f"nothing listened at {self.url} within {self._start_timeout:g} s"
        )

    async def kill(self) -> None:
        """SIGKILL the server's process group and reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        _signal_group(proc, signal.SIGKILL)
        with anyio.CancelScope(shield=True):
            await _reap(proc, KILL_WAIT)

    async def restart(self) -> None:
        await self.kill()
        await self.start()

    async def aclose(self) -> None:
        """End the server: SIGTERM, then SIGKILL after a grace period; always reaps it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with anyio.CancelScope(shield=True):
            if proc.returncode is None:
                _signal_group(proc, signal.SIGTERM)
                await _reap(proc, TERM_GRACE)
            _signal_group(proc, signal.SIGKILL)  # and whatever it left in its group
            await _reap(proc, KILL_WAIT)


def _signal_group(proc: asyncio.subprocess.Process, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


async def _reap(proc: asyncio.subprocess.Process, within: float) -> None:
    with anyio.move_on_after(within):
        await proc.wait()
