"""The error tree every layer raises, and the exit codes the CLI maps them to.

ReadinessError
├── ConfigError            bad scenarios.toml or command-line input     → exit 2
├── OutputError            a report folder or file could not be written → exit 2
├── TargetError            the server could not be reached or started   → exit 3
│   ├── TargetStartFailed  the command is missing or exited during start-up
│   └── TargetUnreachable  nothing answers at the URL, or the handshake failed
├── ProtocolError          the server broke the MCP/JSON-RPC contract
├── ClusterError           no Dask scheduler (run --dask) answers, or it has no shard slot → exit 3
└── WorkerFailed           a worker (run --workers) or Dask shard died or fell behind → exit 1

An interrupted run (Ctrl-C) is no error: the run ends early, keeps what it measured, exits 130.
A regression against a baseline is no error either: the run is complete and exits 4.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    CHECKS_FAILED = 1
    USAGE = 2
    TARGET_UNREACHABLE = 3
    REGRESSION = 4
    INTERRUPTED = 130


class ReadinessError(Exception):
    """Root of every error readiness raises on purpose."""

    exit_code: ExitCode = ExitCode.USAGE


class ConfigError(ReadinessError):
    """A configuration file or option is wrong; the message names file, key and line."""

    exit_code = ExitCode.USAGE

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.key = key
        self.line = line
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        parts = [p for p in (where, self.key) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class OutputError(ReadinessError):
    """A run's folder or one of its files could not be written (no such folder, read-only,
    disk full). The run stops; what was written before stays."""

    exit_code = ExitCode.USAGE

    def __init__(self, path: str, exc: OSError) -> None:
        # The folder when creating it failed; the file otherwise (not its temporary twin).
        failed = str(exc.filename or "")
        self.path = failed if failed and path.startswith(failed.rstrip("/") + "/") else path
        self.reason = exc.strerror or str(exc)
        if isinstance(exc, FileExistsError | NotADirectoryError):
            self.reason = "a file stands where a folder is needed"
        super().__init__(f"cannot write {self.path}: {self.reason}")


class TargetError(ReadinessError):
    """The target server could not be used at all."""

    exit_code = ExitCode.TARGET_UNREACHABLE

    def __init__(self, target: str, cause: str, *, stderr_tail: str = "") -> None:
        self.target = target
        self.cause = cause
        self.stderr_tail = stderr_tail
        message = f"target {target!r}: {cause}"
        if stderr_tail:
            message += "\n--- server stderr (last lines) ---\n" + stderr_tail.rstrip()
        super().__init__(message)


class TargetStartFailed(TargetError):
    """The server command is missing, or exited before it answered."""


class TargetUnreachable(TargetError):
    """Nothing answered at the URL, or the MCP handshake failed."""


class ProtocolError(ReadinessError):
    """The server answered with something that is not valid MCP/JSON-RPC."""

    exit_code = ExitCode.TARGET_UNREACHABLE


def sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception inside nested single-member groups, else the group itself."""
    inner: BaseException = group
    while isinstance(inner, BaseExceptionGroup) and len(inner.exceptions) == 1:
        inner = inner.exceptions[0]
    return inner


@contextmanager
def unwrapped_groups() -> Iterator[None]:
    """Raise what a task group wrapped as itself when it is alone; several stay a group.

    A task group wraps even a lone error from its body in an ExceptionGroup. Around a group
    whose own tasks never raise, this hands callers the error they would expect to catch.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        inner = sole_exception(group)
        if inner is group:
            raise
        raise inner from None


class ClusterError(ReadinessError):
    """The Dask scheduler of `run --dask` did not answer, or no worker offers a shard slot."""

    exit_code = ExitCode.TARGET_UNREACHABLE


class WorkerFailed(ReadinessError):
    """A worker process of `run --workers` died or fell behind: the run's figures are partial."""

    exit_code = ExitCode.CHECKS_FAILED
