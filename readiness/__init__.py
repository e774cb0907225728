"""readiness: load- and chaos-test MCP servers and write honest readiness reports."""

from readiness.errors import (
    ConfigError,
    ExitCode,
    ProtocolError,
    ReadinessError,
    RunInterrupted,
    TargetError,
    TargetStartFailed,
    TargetUnreachable,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ExitCode",
    "ProtocolError",
    "ReadinessError",
    "RunInterrupted",
    "TargetError",
    "TargetStartFailed",
    "TargetUnreachable",
    "__version__",
]
