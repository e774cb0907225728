"""LiveMetrics and its Prometheus view: counters read from real recorders never drop, fault
windows and breaker state show as gauges, our histograms become cumulative buckets, and the
endpoint answers Prometheus' scrape (and nothing else)."""

from __future__ import annotations

import time

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from readiness.chaos.faults import parse_fault_spec
from readiness.metrics.endpoint import open_metrics
from readiness.metrics.exposition import SECONDS_BUCKETS, SERIES, histogram_buckets, new_registry
from readiness.metrics.exposition import render as render_registry
from readiness.metrics.histogram import LatencyHistogram
from readiness.metrics.live import LiveMetrics
from readiness.metrics.recorder import Recorder
from readiness.protocol.outcome import Outcome

OPS = ("echo", "add")


def record(recorder: Recorder, op: int, outcome: Outcome, latency_us: int = 1500) -> None:
    now = time.perf_counter_ns()
    recorder.on_sent(op)
    recorder.record(op, outcome, now - latency_us * 1000, now - latency_us * 1000, now, None)


def counts(live: LiveMetrics, op: str = "echo") -> list[int]:
    return live.snapshot().operations[("t", "s", op)].counts


def test_counters_never_drop_when_an_interval_or_a_load_is_folded() -> None:
    live = LiveMetrics()
    recorder = Recorder(len(OPS))
    with live.load("t", "s", OPS, recorder):
        record(recorder, 0, Outcome.OK)
        record(recorder, 0, Outcome.TIMEOUT)
        before_roll = counts(live)
        recorder.roll()
        assert counts(live) == before_roll
        record(recorder, 0, Outcome.OK)
        recorder.finish()
        at_finish = counts(live)
    assert counts(live) == at_finish  # folded into the totals when the load ended
    assert at_finish[Outcome.OK] == 2
    assert at_finish[Outcome.TIMEOUT] == 1
    second = Recorder(len(OPS))
    with live.load("t", "s", OPS, second):  # a scaling step: the same series go on counting
        record(second, 0, Outcome.OK)
        assert counts(live)[Outcome.OK] == 3
    assert live.snapshot().operations[("t", "s", "echo")].sent == 4


def test_in_flight_and_running_cover_only_loads_in_progress() -> None:
    live = LiveMetrics()
    recorder = Recorder(len(OPS))
    with live.load("t", "s", OPS, recorder):
        recorder.on_sent(1)
        recorder.on_sent(1)
        record(recorder, 1, Outcome.OK)
        snap = live.snapshot()
        assert snap.in_flight == {("t", "s"): 2}  # two sent and unanswered
        assert snap.running == [("t", "s")]
    snap = live.snapshot()
    assert snap.running == []
    assert snap.in_flight == {}


def test_breaker_state_is_read_at_scrape_time() -> None:
    live = LiveMetrics()
    state = ["closed"]
    with live.load("t", "s", OPS, Recorder(len(OPS)), breaker=lambda: state[0]):
        assert live.snapshot().breakers == {("t", "s"): "closed"}
        state[0] = "open"
        assert live.snapshot().breakers == {("t", "s"): "open"}
    assert live.snapshot().breakers == {}


def test_a_fault_is_active_only_inside_its_window() -> None:
    live = LiveMetrics()
    faults = [
        parse_fault_spec("error:tool=echo"),  # no window: the whole load
        parse_fault_spec('error:tool=echo,during="0s..1h"'),
        parse_fault_spec('latency:latency=5ms,during="1h.."'),
    ]
    with live.faults("t", "s", faults):
        states = live.snapshot().faults[("t", "s")]
    assert [(s.index, s.type, s.active) for s in states] == [
        (0, "error", True),
        (1, "error", True),
        (2, "latency", False),
    ]
    assert live.snapshot().faults == {}


@given(
    st.lists(st.integers(0, 120_000_000), max_size=300),
)
def test_cumulative_buckets_count_values_at_or_below_each_bound_to_the_bucket(
    values: list[int],
) -> None:
    h = LatencyHistogram()
    h.record_many(values)
    buckets, seconds = histogram_buckets([h])
    assert [le for le, _ in buckets] == [f"{b:g}" for b in SECONDS_BUCKETS] + ["+Inf"]
    assert buckets[-1][1] == len(values)
    assert seconds == pytest.approx(sum(values) / 1e6)
    for (_, n), bound in zip(buckets, SECONDS_BUCKETS, strict=False):
        b = round(bound * 1e6)
        assert sum(v <= b for v in values) <= n <= sum(v <= b + b // 1024 + 1 for v in values)
    cumulative = [n for _, n in buckets]
    assert cumulative == sorted(cumulative)


def test_the_registry_renders_only_the_documented_series() -> None:
    live = LiveMetrics()
    recorder = Recorder(len(OPS))
    with live.load("t", "s", OPS, recorder, breaker=lambda: "half_open"):
        for i in range(50):
            record(recorder, i % 2, Outcome.OK, latency_us=100 * (i + 1))
        record(recorder, 1, Outcome.RPC_ERROR)
        recorder.roll()
        with live.faults("t", "s", [parse_fault_spec("drop:tool=echo")]):
            text = render_registry(new_registry(live)).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    exported = {name.removesuffix("_total") for name in SERIES}
    assert set(families) <= exported
    duration = families["readiness_request_duration_seconds"]
    counts_by_op = {
        s.labels["operation"]: s.value for s in duration.samples if s.name.endswith("_count")
    }
    assert counts_by_op == {"echo": 25, "add": 25}
    requests = families["readiness_requests"]
    errors = [s for s in requests.samples if s.labels["outcome"] == "rpc_error" and s.value]
    assert [(s.labels["operation"], s.value) for s in errors] == [("add", 1.0)]
    breaker = {s.labels["state"]: s.value for s in families["readiness_breaker_state"].samples}
    assert breaker == {"closed": 0.0, "open": 0.0, "half_open": 1.0}
    (fault,) = families["readiness_fault_active"].samples
    assert fault.value == 1.0
    assert fault.labels["type"] == "drop"


@pytest.mark.anyio
async def test_the_endpoint_serves_metrics_and_refuses_other_paths() -> None:
    async def get(url_port: int, request: bytes) -> bytes:
        with anyio.fail_after(10):
            async with await anyio.connect_tcp("127.0.0.1", url_port) as stream:
                await stream.send(request)
                reply = b""
                try:
                    while True:
                        reply += await stream.receive()
                except anyio.EndOfStream:
                    return reply

    async with open_metrics(port=0) as export:
        assert export.url is not None
        port = int(export.url.rsplit(":", 1)[1].split("/")[0])
        recorder = Recorder(len(OPS))
        with export.live.load("t", "s", OPS, recorder):
            record(recorder, 0, Outcome.OK)
            reply = await get(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert (
            b'readiness_requests_total{operation="echo",outcome="ok",scenario="s",target="t"} 1.0'
            in body
        )
        missing = await get(port, b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
        assert missing.startswith(b"HTTP/1.1 404")
        garbage = await get(port, b"\x00\x01 not http\r\n\r\n")
        assert garbage == b""  # closed without a reply
    assert export.live.scrapes == 1
