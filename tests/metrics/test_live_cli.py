"""`readiness run --metrics-port 0 --pushgateway URL` against the demo server, over stdio and
HTTP: /metrics shows the run's series while it runs, and the final push agrees with
results.json request for request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from readiness.metrics.exposition import SERIES
from tests.clirun import READINESS, results, run_cli, suite
from tests.metrics.pushgateway import pushgateway
from tests.servers import demo_http_server, free_port

pytestmark = pytest.mark.slow

SCRAPE_DEADLINE_S = 60.0
POLL_S = 0.1  # between scrapes while waiting for the first counts

WORKLOAD = """
[[workload.operations]]
call = "tools/call"
tool = "echo"
arguments = { text = "hello" }
weight = 3

[[workload.operations]]
call = "tools/call"
tool = "add"
arguments = { a = 1, b = 2 }
weight = 1

[[scenarios]]
name = "steady"
kind = "throughput"
load = { model = "closed", concurrency = 2, duration = "3s" }
"""


def stdio_suite(tmp_path: Path) -> Path:
    target = f"""
[[targets]]
name = "demo"
transport = "stdio"
command = {json.dumps(sys.executable)}
args = ["-m", "readiness.demo"]
connect_timeout = "30s"

[targets.resilience.breaker]
consecutive_failures = 5
"""
    return suite(tmp_path, target + WORKLOAD)


def http_suite(tmp_path: Path, url: str) -> Path:
    target = f"""
[[targets]]
name = "demo-http"
transport = "http"
url = "{url}"
connect_timeout = "30s"
"""
    return suite(tmp_path, target + WORKLOAD)


Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse(text: str) -> Samples:
    samples: Samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append((dict(sample.labels), sample.value))
    return samples


def scrape(url: str) -> Samples | None:
    """The endpoint's series; None once the run has closed it."""
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            assert reply.headers["Content-Type"].startswith("text/plain")
            return parse(reply.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return None


def requests_by_outcome(samples: Samples, scenario: str) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for labels, value in samples.get("readiness_requests_total", []):
        if labels["scenario"] == scenario:
            counts[labels["outcome"]] += int(value)
    return dict(counts)


def result_by_outcome(entry: dict[str, Any]) -> dict[str, int]:
    totals = entry["totals"]
    return {"ok": totals["ok"], "rejected": totals["rejected"], **totals["errors"]}


@contextmanager
def running(args: list[str], cwd: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start `readiness run ARGS` and yield it with its metrics URL (read from its stderr)."""
    proc = subprocess.Popen(
        [*READINESS, "run", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        url = None
        for line in proc.stderr:  # ends when the process does
            if line.startswith("metrics: "):
                url = line.removeprefix("metrics: ").strip()
                break
        assert url is not None, "the run printed no metrics URL"
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


def scrape_during_run(url: str) -> Samples:
    """Scrape until a scrape shows the measured load running with requests counted."""
    deadline = time.monotonic() + SCRAPE_DEADLINE_S
    while time.monotonic() < deadline:
        samples = scrape(url)
        assert samples is not None, "the run ended before a scrape saw its load"
        running_now = [v for _, v in samples.get("readiness_scenario_running", [])]
        if running_now == [1.0] and sum(requests_by_outcome(samples, "steady").values()) > 0:
            return samples
        time.sleep(POLL_S)
    raise AssertionError(f"no scrape showed requests within {SCRAPE_DEADLINE_S:g} s")


def check_run(tmp_path: Path, config: Path, target: str) -> None:
    out = tmp_path / "out"
    with pushgateway() as gateway:
        args = ["-c", str(config), "--out", str(out), "-q", "--metrics-port", "0"]
        with running([*args, "--pushgateway", gateway.url], tmp_path) as (proc, url):
            assert url.startswith("http://127.0.0.1:")
            assert url.endswith("/metrics")
            live = scrape_during_run(url)
            stdout, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 0, stdout + stderr
        pushes = list(gateway.pushes)
    data = results(out)
    info = data["run"]["metrics"]
    assert info["url"] == url
    assert info["push_errors"] == []
    assert info["pushes"] == len(pushes) >= 2  # after the scenario, and the final one
    (entry,) = data["scenarios"]
    final = result_by_outcome(entry)
    # While it ran: every counter at most the final count, the load's series all there.
    during = requests_by_outcome(live, "steady")
    assert set(during) == set(final)
    assert all(during[k] <= final[k] for k in final)
    assert sum(during.values()) > 0
    ((labels, in_flight),) = live["readiness_requests_in_flight"]
    assert labels == {"target": target, "scenario": "steady"}
    assert 0 <= in_flight <= 2  # two virtual users
    assert {name for name in live} <= {
        f"{name}{suffix}" for name in SERIES for suffix in ("", "_bucket", "_count", "_sum")
    }
    # The final push: requests by outcome equal to results.json, per operation too.
    assert pushes[-1].method == "PUT"
    assert pushes[-1].path == f"/metrics/job/readiness/run/{out.name}"
    pushed = parse(pushes[-1].body)
    assert requests_by_outcome(pushed, "steady") == final
    for op in entry["operations"]:
        mine = {"target": target, "scenario": "steady", "operation": op["name"]}
        counted = {
            labels["outcome"]: int(v)
            for labels, v in pushed["readiness_requests_total"]
            if {k: labels[k] for k in mine} == mine
        }
        assert counted == result_by_outcome(op)
        (in_histogram,) = [
            v for labels, v in pushed["readiness_request_duration_seconds_count"] if labels == mine
        ]
        assert in_histogram == op["totals"]["ok"]  # every ok request's latency, no other
    assert "readiness_scenario_running" not in pushed  # nothing runs any more


def test_metrics_endpoint_shows_a_stdio_run_live_and_the_final_push_equals_results(
    tmp_path: Path,
) -> None:
    check_run(tmp_path, stdio_suite(tmp_path), "demo")


def test_metrics_endpoint_shows_an_http_run_live_and_the_final_push_equals_results(
    tmp_path: Path,
) -> None:
    with demo_http_server() as server:
        check_run(tmp_path, http_suite(tmp_path, server.url), "demo-http")


def test_a_failed_push_is_a_warning_and_the_results_are_kept(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "out"
    config = stdio_suite(tmp_path)
    text = config.read_text().replace('duration = "3s"', "requests = 40")
    config.write_text(text)
    proc = run_cli(
        "run", "-c", str(config), "--out", str(out), "-q", "--pushgateway", dead, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"warning: push to {dead} failed" in proc.stderr
    data = results(out)
    assert data["run"]["metrics"]["pushes"] == 0
    assert data["run"]["metrics"]["push_errors"]
    assert data["run"]["metrics"]["url"] is None  # no --metrics-port: nothing served
    assert data["scenarios"][0]["totals"]["ok"] == 40


def test_metrics_port_with_workers_is_refused_with_one_line(tmp_path: Path) -> None:
    config = http_suite(tmp_path, f"http://127.0.0.1:{free_port()}/mcp")  # never reached
    proc = run_cli("run", "-c", str(config), "--workers", "2", "--metrics-port", "0", cwd=tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "--workers" in proc.stderr


def test_a_metrics_port_in_use_is_a_usage_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_cli(
            "run",
            "-c",
            str(stdio_suite(tmp_path)),
            "--out",
            str(tmp_path / "out"),
            "--metrics-port",
            str(port),
            cwd=tmp_path,
        )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"cannot serve metrics on 127.0.0.1:{port}" in proc.stderr
