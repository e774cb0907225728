"""The Prometheus view of a run: a prometheus-client Collector that turns one LiveSnapshot
into metric families at scrape time (prometheus-client is imported only here, when asked).

Our log-linear histograms become cumulative buckets at fixed bounds (SECONDS_BUCKETS).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from readiness.metrics.histogram import LatencyHistogram
from readiness.protocol.outcome import OUTCOME_KEYS, Outcome

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import CollectorRegistry

    from readiness.metrics.live import LiveMetrics, ScenarioKey, ServerReading

# Bucket bounds of every latency histogram we export, in seconds (Prometheus' `le`).
SECONDS_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
_BOUNDS_US = [round(b * 1e6) for b in SECONDS_BUCKETS]
BREAKER_STATES = ("closed", "open", "half_open")

# Every series this module exports (the dashboard test checks its queries against these).
SERIES = {
    "readiness_requests_total": "counter",
    "readiness_requests_sent_total": "counter",
    "readiness_requests_in_flight": "gauge",
    "readiness_request_duration_seconds": "histogram",
    "readiness_scenario_running": "gauge",
    "readiness_generator_cpu_seconds_total": "counter",
    "readiness_event_loop_lag_seconds": "histogram",
    "readiness_server_resident_memory_bytes": "gauge",
    "readiness_server_open_fds": "gauge",
    "readiness_server_cpu_seconds": "gauge",
    "readiness_fault_active": "gauge",
    "readiness_breaker_state": "gauge",
    "readiness_metrics_scrapes_total": "counter",
    "readiness_metrics_scrape_cpu_seconds_total": "counter",
}


def histogram_buckets(parts: Iterable[LatencyHistogram]) -> tuple[list[tuple[str, float]], float]:
    """Cumulative (le, count) pairs ending with +Inf, and the sum in seconds, of the parts."""
    cumulative = [0] * len(_BOUNDS_US)
    total = 0
    sum_us = 0
    for part in parts:
        if part.count == 0:
            continue
        for i, n in enumerate(part.cumulative_at(_BOUNDS_US)):
            cumulative[i] += n
        total += part.count
        sum_us += part.sum_us
    buckets = [(_le(b), float(n)) for b, n in zip(SECONDS_BUCKETS, cumulative, strict=True)]
    buckets.append(("+Inf", float(total)))
    return buckets, sum_us / 1e6


def _le(bound: float) -> str:
    return f"{bound:g}"


class LiveCollector:
    """Reads the run's LiveMetrics on every scrape; registers nothing global."""

    def __init__(self, live: LiveMetrics) -> None:
        self.live = live

    def __repr__(self) -> str:
        return f"<LiveCollector {self.live!r}>"

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: its series come and go with scenarios

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        snap = self.live.snapshot()
        op_labels = ["target", "scenario", "operation"]
        requests = CounterMetricFamily(
            "readiness_requests",
            "Finished requests by outcome (ok, tool_error, rpc_error, timeout, transport,"
            " rejected); warm-up loads are not counted.",
            labels=[*op_labels, "outcome"],
        )
        sent = CounterMetricFamily("readiness_requests_sent", "Requests sent.", labels=op_labels)
        duration = HistogramMetricFamily(
            "readiness_request_duration_seconds",
            "Latency of ok requests (corrected for coordinated omission in open models),"
            " folded once a second.",
            labels=op_labels,
        )
        for (target, scenario, operation), totals in sorted(snap.operations.items()):
            labels = [target, scenario, operation]
            for outcome in Outcome:
                requests.add_metric([*labels, OUTCOME_KEYS[outcome]], totals.counts[outcome])
            sent.add_metric(labels, totals.sent)
            buckets, seconds = histogram_buckets(totals.latency)
            duration.add_metric(labels, buckets, seconds)
        yield requests
        yield sent
        yield duration

        scenario_labels = ["target", "scenario"]
        in_flight = GaugeMetricFamily(
            "readiness_requests_in_flight",
            "Requests sent and not answered yet.",
            labels=scenario_labels,
        )
        running = GaugeMetricFamily(
            "readiness_scenario_running",
            "1 while a scenario's measured load runs.",
            labels=scenario_labels,
        )
        for key in snap.running:
            running.add_metric(list(key), 1)
            in_flight.add_metric(list(key), snap.in_flight.get(key, 0))
        yield in_flight
        yield running

        yield CounterMetricFamily(
            "readiness_generator_cpu_seconds",
            "CPU time (user + system) of the readiness process.",
            value=snap.generator_cpu_s,
        )
        buckets, seconds = histogram_buckets(snap.loop_lag)
        lag = HistogramMetricFamily(
            "readiness_event_loop_lag_seconds",
            "How late the generator's event loop woke a 50 ms sleeper.",
        )
        lag.add_metric([], buckets, seconds)
        yield lag

        yield from self._servers(snap.servers, scenario_labels)
        fault = GaugeMetricFamily(
            "readiness_fault_active",
            "1 while an injected fault is inside its window (no window: the whole load).",
            labels=[*scenario_labels, "fault", "type"],
        )
        for key, states in sorted(snap.faults.items()):
            for state in states:
                fault.add_metric([*key, str(state.index), state.type], float(state.active))
        yield fault
        breaker = GaugeMetricFamily(
            "readiness_breaker_state",
            "1 for the circuit breaker's current state (closed, open, half_open).",
            labels=[*scenario_labels, "state"],
        )
        for key, current in sorted(snap.breakers.items()):
            for name in BREAKER_STATES:
                breaker.add_metric([*key, name], float(name == current))
        yield breaker
        yield CounterMetricFamily(
            "readiness_metrics_scrapes", "Scrapes of this endpoint.", value=self.live.scrapes
        )
        yield CounterMetricFamily(
            "readiness_metrics_scrape_cpu_seconds",
            "CPU time spent rendering scrapes of this endpoint (before this one).",
            value=self.live.scrape_cpu_s,
        )

    @staticmethod
    def _servers(
        servers: dict[ScenarioKey, ServerReading], labels: Sequence[str]
    ) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        rss = GaugeMetricFamily(
            "readiness_server_resident_memory_bytes",
            "RSS of the server process tree readiness started (when the scenario samples it).",
            labels=list(labels),
        )
        fds = GaugeMetricFamily(
            "readiness_server_open_fds",
            "Open file descriptors of the server's tree.",
            labels=list(labels),
        )
        cpu = GaugeMetricFamily(
            "readiness_server_cpu_seconds",
            "CPU time of the server's tree since it started (a gauge: a restart resets it).",
            labels=list(labels),
        )
        for key, reading in sorted(servers.items()):
            rss.add_metric(list(key), reading.rss_bytes)
            cpu.add_metric(list(key), reading.cpu_s)
            if reading.fds is not None:
                fds.add_metric(list(key), reading.fds)
        yield rss
        yield fds
        yield cpu


def new_registry(live: LiveMetrics) -> CollectorRegistry:
    """A registry of its own (never the process-global one) holding the run's collector."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(LiveCollector(live))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    from prometheus_client import generate_latest

    return generate_latest(registry)
