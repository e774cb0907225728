"""`[targets.health]`: the target's own health endpoints (liveness, readiness, Prometheus
metrics) that readiness polls beside every scenario, and the rules that judge them."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from readiness.config.types import ConfigModel, Duration, Percentage, invalid
from readiness.loopback import is_loopback

PROBES = ("liveness", "readiness", "metrics")


class HealthConfig(ConfigModel):
    """Paths on the target's HTTP origin ("/healthz"), or full loopback URLs (a stdio server
    exposing them on a side port). Health is polled on the real server, never through
    readiness's fault proxy: the point is whether the server's own signals tell the truth."""

    liveness: str | None = None
    readiness: str | None = None
    metrics: str | None = None
    interval: Annotated[Duration, Field(gt=0, le=60)] = 0.5
    timeout: Annotated[Duration, Field(gt=0, le=60)] = 1.0
    # Liveness lied: it said alive through `lie_after` seconds in which every MCP call failed.
    lie_after: Annotated[Duration, Field(gt=0)] = 3.0
    # Prometheus series compared with our own measurements.
    requests_series: str = "mcp_tool_calls_total"
    errors_series: str = "mcp_tool_errors_total"
    memory_series: str = "process_resident_memory_bytes"
    # Server and readiness disagree when their error rates differ by more than this (absolute).
    disagreement: Percentage = 0.01

    @field_validator("liveness", "readiness", "metrics")
    @classmethod
    def _path_or_loopback_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.startswith("/"):
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise invalid(f'expected a path such as "/healthz" or an http:// URL, got {value!r}')
        if not is_loopback(parts.hostname):
            raise invalid(
                f"health URLs must be on loopback (127.0.0.1, ::1, localhost), got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _something_to_poll(self) -> HealthConfig:
        if self.liveness is None and self.readiness is None and self.metrics is None:
            raise invalid("give at least one of liveness, readiness or metrics")
        if self.timeout > self.interval * 10:
            raise invalid("timeout is more than ten polling intervals", "timeout")
        return self

    def probes(self) -> dict[str, str]:
        """Probe name → path or URL, for the probes given."""
        return {p: v for p in PROBES if (v := getattr(self, p)) is not None}
