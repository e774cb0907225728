"""The demo's health endpoints over HTTP, honest about its own state: `/healthz` (alive unless
it fails every call on purpose), `/readyz` (not ready while it fails most calls on purpose, or
is about to crash), `/metrics` (its call and error counters and process memory, Prometheus)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from readiness.demo.gate import CallGate

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

# /readyz says not ready from this injected error rate up: most calls fail on purpose.
NOT_READY_ERROR_RATE = 0.5


def liveness(gate: CallGate) -> str | None:
    """Why the server is not alive, or None when it is."""
    if gate.knobs.error_rate >= 1.0:
        return "every tool call fails on purpose (error rate 1)"
    return None


def readiness(gate: CallGate) -> str | None:
    """Why the server is not ready to serve, or None when it is."""
    knobs = gate.knobs
    if knobs.error_rate >= NOT_READY_ERROR_RATE:
        return f"failing on purpose: error rate {knobs.error_rate:g}"
    if knobs.crash_after is not None and gate.statistics().calls_served >= knobs.crash_after:
        return f"the next tool call crashes the server (crash-after {knobs.crash_after})"
    return None


class _GateCollector:
    """The gate's counters as Prometheus metrics, read at each scrape."""

    def __init__(self, gate: CallGate) -> None:
        self._gate = gate

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        stats = self._gate.statistics()
        yield CounterMetricFamily(
            "mcp_tool_calls", "Tool calls the demo server received.", value=stats.calls_served
        )
        yield CounterMetricFamily(
            "mcp_tool_errors",
            "Tool calls the demo server failed on purpose (--error-rate).",
            value=stats.errors_injected,
        )
        yield GaugeMetricFamily(
            "mcp_ready", "1 when /readyz says ready.", value=0.0 if readiness(self._gate) else 1.0
        )


def health_routes(gate: CallGate) -> list[Route]:
    """/healthz, /readyz and /metrics for the server behind `gate`."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST
    from prometheus_client.process_collector import ProcessCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_GateCollector(gate))
    ProcessCollector(registry=registry)

    async def healthz(_: Request) -> Response:
        why = liveness(gate)
        return PlainTextResponse(why or "ok", status_code=503 if why else 200)

    async def readyz(_: Request) -> Response:
        why = readiness(gate)
        return PlainTextResponse(why or "ready", status_code=503 if why else 200)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
