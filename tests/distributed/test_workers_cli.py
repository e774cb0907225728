"""`run --workers`, `run --segment` and `merge` against the demo server over HTTP: merged
results shaped like a single run's, counts that add up, and a killed worker that fails the run."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from readiness.metrics.histogram import LatencyHistogram
from tests.clirun import READINESS, results, run_cli, suite
from tests.servers import RunningServer

RATE, SECONDS = 60, 1.5


def _suite(tmp_path: Path, url: str, *, seconds: float = SECONDS) -> Path:
    return suite(
        tmp_path,
        f"""
        [run]
        name = "workers"

        [[targets]]
        name = "demo"
        transport = "http"
        url = "{url}"
        request_timeout = "5s"

        [[workload.operations]]
        call = "tools/call"
        tool = "echo"
        arguments = {{ text = "hi" }}

        [[scenarios]]
        name = "users"
        kind = "throughput"
        warmup = "0.2s"
        load = {{ model = "closed", concurrency = 3, requests = 150 }}

        [[scenarios]]
        name = "arrivals"
        kind = "throughput"
        warmup = "0.2s"
        load = {{ model = "open", rate = "{RATE}/s", duration = "{seconds}s" }}

        [[scenarios]]
        name = "leaks"
        kind = "memory"
        load = {{ model = "closed", concurrency = 2, duration = "1s" }}
        """,
    )


def _keys(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON value (lists by their first element)."""
    if isinstance(value, dict):
        out = set()
        for k, v in value.items():
            if k == "rpc_error_codes":  # keyed by the codes seen: data, not shape
                out.add(f"{prefix}.{k}")
                continue
            out.add(f"{prefix}.{k}")
            out |= _keys(v, f"{prefix}.{k}")
        return out
    if isinstance(value, list) and value:
        return _keys(value[0], f"{prefix}[]")
    return set()


def _scenario(data: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in data["scenarios"] if s["name"] == name)
    return found


def test_two_workers_merge_into_a_run_shaped_like_a_single_one(
    tmp_path: Path, demo_http: RunningServer
) -> None:
    config = _suite(tmp_path, demo_http.url)
    single = run_cli("run", "-c", str(config), "--quiet", "--out", "one", cwd=tmp_path)
    assert single.returncode in (0, 1), single.stderr
    double = run_cli(
        "run", "-c", str(config), "--quiet", "--workers", "2", "--out", "two", cwd=tmp_path
    )
    assert double.returncode in (0, 1), double.stderr
    one, two = results(tmp_path / "one"), results(tmp_path / "two")
    assert two["run"]["workers"] == 2
    for name in ("users", "arrivals", "leaks"):
        a, b = _scenario(one, name), _scenario(two, name)
        assert _keys(b) - {".workers"} - {k for k in _keys(b) if k.startswith(".workers.")} == (
            _keys(a)
        ), name
    shards = [results(tmp_path / "two" / "workers" / str(i)) for i in range(2)]
    for name in ("users", "arrivals"):
        merged = _scenario(two, name)
        parts = [_scenario(s, name) for s in shards]
        assert merged["workers"]["count"] == 2
        assert merged["totals"]["sent"] == sum(p["totals"]["sent"] for p in parts)
        assert [s["sent"] for s in merged["workers"]["shards"]] == [
            p["totals"]["sent"] for p in parts
        ]
        hist = LatencyHistogram.decode(merged["histograms"]["corrected"])
        assert hist == LatencyHistogram.merged(
            LatencyHistogram.decode(p["histograms"]["corrected"]) for p in parts
        )
    # The budget and the schedule are split, not multiplied: exactly the configured load.
    assert _scenario(two, "users")["totals"]["sent"] == 150
    arrivals = _scenario(two, "arrivals")["totals"]
    assert arrivals["sent"] + arrivals["dropped"] == int(RATE * SECONDS)
    leaks = _scenario(two, "leaks")
    assert leaks["workers"]["note"].startswith("ran in 1 worker: ")
    assert all(not any(s["name"] == "leaks" for s in shard["scenarios"]) for shard in shards[1:])
    report = (tmp_path / "two" / "report.md").read_text()
    assert "### Workers" in report
    assert "This scenario ran in 1 worker: " in report


def test_segments_merge_into_one_run(tmp_path: Path, demo_http: RunningServer) -> None:
    config = _suite(tmp_path, demo_http.url)
    for i in range(2):
        shard = run_cli(
            "run", "-c", str(config), "--quiet", "-s", "users", "-s", "arrivals",
            "--segment", f"{i}/2", "--out", f"shard{i}", cwd=tmp_path,
        )  # fmt: skip
        assert shard.returncode in (0, 1), shard.stderr
        assert results(tmp_path / f"shard{i}")["run"]["segment"] == f"{i}/2"
    merged = run_cli("merge", "shard1", "shard0/results.json", "--out", "merged", cwd=tmp_path)
    assert merged.returncode in (0, 1), merged.stderr
    data = results(tmp_path / "merged")
    assert (tmp_path / "merged" / "report.md").exists()
    users = _scenario(data, "users")
    assert users["totals"]["sent"] == 150
    assert users["totals"]["ok"] == sum(
        _scenario(results(tmp_path / f"shard{i}"), "users")["totals"]["ok"] for i in range(2)
    )


def test_merge_refuses_an_incomplete_set_of_shards_in_one_line(
    tmp_path: Path, demo_http: RunningServer
) -> None:
    config = _suite(tmp_path, demo_http.url)
    shard = run_cli(
        "run", "-c", str(config), "--quiet", "-s", "users", "--segment", "1/2", "--out", "s1",
        cwd=tmp_path,
    )  # fmt: skip
    assert shard.returncode in (0, 1), shard.stderr
    refused = run_cli("merge", "s1", "--out", "m", cwd=tmp_path)
    assert refused.returncode == 2
    assert "shard 0/2 is missing" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m" / "results.json").exists()


def test_workers_refuse_a_stdio_target(tmp_path: Path) -> None:
    config = suite(
        tmp_path,
        """
        [[targets]]
        name = "demo"
        transport = "stdio"
        command = "${PYTHON}"
        args = ["-m", "readiness.demo"]

        [[scenarios]]
        name = "users"
        kind = "throughput"
        load = { model = "closed", concurrency = 2, requests = 10 }
        """,
    )
    refused = run_cli("run", "-c", str(config), "--workers", "2", "--out", "x", cwd=tmp_path)
    assert refused.returncode == 2
    assert "stdio" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_a_killed_worker_fails_the_run_loudly(tmp_path: Path, demo_http: RunningServer) -> None:
    config = _suite(tmp_path, demo_http.url, seconds=2)
    proc = subprocess.Popen(
        [*READINESS, "run", "-c", str(config), "--quiet", "-s", "arrivals", "--workers", "2",
         "--out", "run"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ},
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("workers: 2 (pids "), line
        pids = [int(p) for p in line.split("(pids ")[1].split(")")[0].split(", ")]
        # Killed mid-load: once the coordinator has started the measured load everywhere.
        while "workers: started arrivals → demo load" not in line:
            line = proc.stderr.readline()
            assert line, "the run ended before its load started"
        os.kill(pids[1], signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert f"worker 1 (pid {pids[1]}) was killed by signal 9" in err
    data = results(tmp_path / "run")
    assert data["run"]["status"] == "error"
    arrivals = _scenario(data, "arrivals")
    assert arrivals["status"] == "error"
    assert "worker 1" in arrivals["error"]
    assert arrivals["partial"]
    # What worker 0 measured before it was stopped is kept.
    assert [s["index"] for s in arrivals["workers"]["shards"]] == [0]


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--workers", "2", "--parallel-targets"], "--parallel-targets with --workers"),
        (["--workers", "2", "--repeat", "2"], "--repeat with --workers"),
        (["--segment", "0/2", "--repeat", "2"], "--repeat with --workers or --segment"),
    ],
)
def test_workers_and_a_combination_they_cannot_split_are_refused_together(
    tmp_path: Path, demo_http: RunningServer, flags: list[str], named: str
) -> None:
    config = _suite(tmp_path, demo_http.url, seconds=1)
    refused = run_cli("run", "-c", str(config), *flags, "--out", "x", cwd=tmp_path)
    assert refused.returncode == 2
    assert named in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_worker_count_is_refused(tmp_path: Path, value: str) -> None:
    refused = run_cli("run", "--workers", value, "--out", "x", cwd=tmp_path)
    assert refused.returncode == 2
    assert "--workers" in refused.stderr


def test_an_interrupt_stops_every_worker_and_keeps_what_they_measured(
    tmp_path: Path, demo_http: RunningServer
) -> None:
    config = _suite(tmp_path, demo_http.url, seconds=2)
    proc = subprocess.Popen(
        [*READINESS, "run", "-c", str(config), "--quiet", "-s", "arrivals", "-s", "users",
         "--workers", "2", "--out", "run"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        while "workers: started arrivals → demo load" not in line:
            line = proc.stderr.readline()
            assert line, "the run ended before its load started"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    data = results(tmp_path / "run")
    assert data["run"]["status"] == "interrupted"
    arrivals = _scenario(data, "arrivals")
    assert arrivals["partial"]
    assert [s["index"] for s in arrivals["workers"]["shards"]] == [0, 1]
    assert arrivals["totals"]["sent"] < int(RATE * 2)
    assert _scenario(data, "users")["totals"]["sent"] == 150  # ran before, in full


def test_a_second_interrupt_ends_the_workers_and_the_run_is_still_interrupted(
    tmp_path: Path, demo_http: RunningServer
) -> None:
    config = _suite(tmp_path, demo_http.url, seconds=60)
    proc = subprocess.Popen(
        [*READINESS, "run", "-c", str(config), "--quiet", "-s", "arrivals",
         "--workers", "2", "--out", "run"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        for wanted, signum in (
            ("workers: started arrivals → demo load", signal.SIGTERM),
            ("interrupted: stopping the workers", signal.SIGTERM),
        ):
            line = proc.stderr.readline()
            while wanted not in line:
                line = proc.stderr.readline()
                assert line, f"the run ended before {wanted!r}"
            proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Workers killed before writing their final status: the run is interrupted, not an error.
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    data = results(tmp_path / "run")
    assert data["run"]["status"] == "interrupted"
    # Killed workers may not have saved the scenario at all; what was saved is partial.
    assert all(s["partial"] for s in data["scenarios"])
