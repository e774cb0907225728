"""`run --dask` against a LocalCluster on 127.0.0.1 (two worker processes, one `shard` slot
each) and the demo server over HTTP: merged results shaped like a single run's with exactly
the configured load, an interrupt that keeps what was measured, a killed worker that fails the
run naming it, and one-line refusals of what cannot run on Dask."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from readiness.metrics.histogram import LatencyHistogram
from tests.clirun import READINESS, results, run_cli, suite
from tests.distributed.test_workers_cli import RATE, SECONDS, _keys, _scenario, _suite
from tests.servers import RunningServer

distributed = pytest.importorskip("distributed")

WORKERS = 2
LONG_S = 30  # the long suite's load, in seconds


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.Client]:
    """One cluster for the module (it takes seconds to start); every test gets it whole."""
    with (
        distributed.LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            resources={"shard": 1},
            dashboard_address="127.0.0.1:0",  # its /metrics page: loopback, any free port
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


@pytest.fixture
def scheduler(cluster: distributed.Client) -> str:
    cluster.wait_for_workers(WORKERS, timeout=60)  # a killed worker's nanny starts another
    address: str = cluster.scheduler.address
    return address


def _long_suite(tmp_path: Path, url: str) -> Path:
    return suite(
        tmp_path,
        f"""
        [run]
        name = "dask-long"

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
        name = "arrivals"
        kind = "throughput"
        warmup = "0.2s"
        load = {{ model = "open", rate = "40/s", duration = "{LONG_S}s" }}
        """,
        name="long.toml",
    )


def _end(proc: subprocess.Popen[str]) -> None:
    """Stop the run (if it still runs), reap it and close its pipes."""
    proc.kill()
    proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _start(config: Path, scheduler: str, out: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*READINESS, "run", "-c", str(config), "--quiet", "--dask", scheduler, "--out", out],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _wait_for_load(proc: subprocess.Popen[str]) -> None:
    """Read the run's stderr up to the line that says every shard started its load."""
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("dask: started arrivals"):
            return
    raise AssertionError("the run ended before its load started:\n" + "".join(seen))


def _rest_of_stderr(proc: subprocess.Popen[str]) -> str:
    """The run's remaining stderr, once it ended (the test's timeout bounds the wait)."""
    assert proc.stderr is not None
    rest = proc.stderr.read()  # through the same buffer the lines above were read from
    proc.wait(timeout=60)
    return rest


def test_a_dask_run_merges_into_a_run_shaped_like_a_single_one(
    tmp_path: Path, demo_http: RunningServer, scheduler: str
) -> None:
    config = _suite(tmp_path, demo_http.url)
    single = run_cli("run", "-c", str(config), "--quiet", "--out", "one", cwd=tmp_path)
    assert single.returncode in (0, 1), single.stderr
    shared = run_cli(
        "run", "-c", str(config), "--quiet", "--dask", scheduler, "--out", "dask", cwd=tmp_path
    )
    assert shared.returncode in (0, 1), shared.stderr
    one, dask = results(tmp_path / "one"), results(tmp_path / "dask")
    assert dask["run"]["workers"] == WORKERS
    assert dask["run"]["dask"]["scheduler"] == scheduler
    assert len(set(dask["run"]["dask"]["shards"])) == WORKERS  # one shard per worker
    assert dask["run"]["status"] != "error", dask["run"]
    for name in ("users", "arrivals", "leaks"):
        a, b = _scenario(one, name), _scenario(dask, name)
        assert {k for k in _keys(b) if not k.startswith(".workers")} == _keys(a), name
    for name in ("users", "arrivals"):
        merged = _scenario(dask, name)
        assert merged["workers"]["count"] == WORKERS
        shards = merged["workers"]["shards"]
        assert merged["totals"]["sent"] == sum(s["sent"] for s in shards)
        assert all(s["sent"] > 0 for s in shards), shards
        # One histogram of every shard's samples: each successful request counted once.
        hist = LatencyHistogram.decode(merged["histograms"]["corrected"])
        assert hist.count == merged["totals"]["ok"]
    # The budget and the schedule are split, not multiplied: exactly the configured load.
    assert _scenario(dask, "users")["totals"]["sent"] == 150
    arrivals = _scenario(dask, "arrivals")["totals"]
    assert arrivals["sent"] + arrivals["dropped"] == int(RATE * SECONDS)
    assert _scenario(dask, "leaks")["workers"]["note"].startswith("ran in 1 worker: ")
    report = (tmp_path / "dask" / "report.md").read_text()
    assert "### Workers" in report
    assert f"The shards ran on the Dask cluster at `{scheduler}`: shard 0 on `tcp://" in report
    assert f"at <code>{scheduler}</code>" in (tmp_path / "dask" / "report.html").read_text()


def test_an_interrupted_dask_run_keeps_what_every_shard_measured(
    tmp_path: Path, demo_http: RunningServer, scheduler: str
) -> None:
    proc = _start(_long_suite(tmp_path, demo_http.url), scheduler, "stopped", tmp_path)
    try:
        _wait_for_load(proc)
        proc.send_signal(signal.SIGINT)
        stderr = _rest_of_stderr(proc)
    finally:
        _end(proc)
    assert proc.returncode == 130, stderr
    data = results(tmp_path / "stopped")
    assert data["run"]["status"] == "interrupted"
    arrivals = _scenario(data, "arrivals")
    assert arrivals["partial"]
    assert len(arrivals["workers"]["shards"]) == WORKERS
    assert arrivals["totals"]["sent"] < 40 * LONG_S  # stopped, not run to its end


def test_a_target_the_workers_cannot_reach_fails_the_run_naming_the_shard(
    tmp_path: Path, scheduler: str
) -> None:
    import socket

    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/mcp"
        config = _suite(tmp_path, url)
        done = run_cli(
            "run", "-c", str(config), "--quiet", "--dask", scheduler, "--out", "dead", cwd=tmp_path
        )
    assert done.returncode == 1, done.stderr
    failed = next(line for line in done.stderr.splitlines() if line.startswith("WorkerFailed"))
    # The first shard to fail stops the other, which may not get to fail on its own.
    assert "on dask worker tcp://127.0.0.1:" in failed
    assert "TargetUnreachable" in failed
    data = results(tmp_path / "dead")
    assert {s["name"] for s in data["scenarios"]} == {"users", "arrivals", "leaks"}
    assert all(s["status"] == "error" for s in data["scenarios"])


def _executing(dask_worker: distributed.Worker) -> int:
    return len(dask_worker.state.executing)


def test_shards_stop_on_their_own_when_the_coordinator_vanishes(
    tmp_path: Path, demo_http: RunningServer, scheduler: str, cluster: distributed.Client
) -> None:
    proc = _start(_long_suite(tmp_path, demo_http.url), scheduler, "orphaned", tmp_path)
    try:
        _wait_for_load(proc)
        started = time.monotonic()
        proc.kill()  # no goodbye: the lease is simply no longer renewed
        proc.wait(timeout=60)
    finally:
        _end(proc)
    # client.cancel would not stop a running shard; the lapsed lease does. Polled state, not
    # an ordering: the bound is the load's configured 30 s, which a shard never stopped by
    # its lease would run to the end.
    while sum(cluster.run(_executing).values()):
        assert time.monotonic() - started < LONG_S, "the shards ran on without a coordinator"
        time.sleep(0.2)


def test_a_killed_dask_worker_fails_the_run_naming_it(
    tmp_path: Path, demo_http: RunningServer, scheduler: str, cluster: distributed.Client
) -> None:
    pids: dict[str, int] = cluster.run(os.getpid)
    proc = _start(_long_suite(tmp_path, demo_http.url), scheduler, "killed", tmp_path)
    try:
        _wait_for_load(proc)
        victim = sorted(pids)[0]
        os.kill(pids[victim], signal.SIGKILL)
        stderr = _rest_of_stderr(proc)
    finally:
        _end(proc)
    assert proc.returncode == 1, stderr
    assert f"dask worker {victim}" in stderr
    assert "WorkerFailed" in stderr
    data = results(tmp_path / "killed")
    assert data["run"]["status"] == "error"
    arrivals = _scenario(data, "arrivals")
    assert arrivals["status"] == "error"
    assert victim in arrivals["error"]
    assert arrivals["totals"]["sent"] < 40 * LONG_S  # the other shard stopped too


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--workers", "2"], "--dask with --workers"),
        (["--segment", "0/2"], "--dask with --segment"),
        (["--repeat", "2"], "--dask with --repeat"),
        (["--parallel-targets"], "--dask with --parallel-targets"),
        (["--dask", "udp://127.0.0.1:8786"], "give the scheduler's address"),
        (["--metrics-port", "0"], "--metrics-port or --pushgateway with --dask"),
    ],
)
def test_dask_refuses_options_that_split_the_load_another_way(
    tmp_path: Path, extra: list[str], says: str
) -> None:
    config = _suite(tmp_path, "http://127.0.0.1:9/mcp")
    done = run_cli("run", "-c", str(config), "--dask", "tcp://127.0.0.1:9", *extra, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_dask_refuses_a_stdio_target(tmp_path: Path) -> None:
    config = suite(
        tmp_path,
        """
        [[targets]]
        name = "local"
        transport = "stdio"
        command = "no-such-mcp-server-here"

        [[scenarios]]
        name = "users"
        kind = "throughput"
        load = { model = "closed", concurrency = 1, requests = 1 }
        """,
    )
    done = run_cli("run", "-c", str(config), "--dask", "tcp://127.0.0.1:9", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "is a stdio server" in done.stderr


def test_dask_without_distributed_installed_is_refused_in_one_line(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "distributed"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no distributed here')\n")
    config = _suite(tmp_path, "http://127.0.0.1:9/mcp")
    path = os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")])
    done = run_cli(
        "run", "-c", str(config), "--dask", "tcp://127.0.0.1:9", cwd=tmp_path,
        env={"PYTHONPATH": path},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "pip install 'readiness[distributed]'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_unreachable_scheduler_exits_3(tmp_path: Path) -> None:
    import socket

    with socket.socket() as closed:  # a port nothing listens on: bound, never listening
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        config = _suite(tmp_path, "http://127.0.0.1:9/mcp")
        done = run_cli("run", "-c", str(config), "--dask", f"tcp://127.0.0.1:{port}", cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert "ClusterError: no Dask scheduler answers" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
