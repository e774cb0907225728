"""Templated arguments under `run --workers 2`, as the server received them (recorded through
`readiness proxy --record`): a unique row is sent once in all, users and arrivals are numbered
across workers, and no two workers draw the same random values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.clirun import results, run_cli, suite
from tests.servers import RunningServer, kill_tree

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"]


@contextmanager
def recording_proxy(upstream: str, capture: Path) -> Iterator[str]:
    """`readiness proxy --upstream … --record CAPTURE`; yields the URL it listens on."""
    proxy = subprocess.Popen(
        [sys.executable, "-m", "readiness.cli", "proxy", "--upstream", upstream,
         "--record", str(capture)],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert proxy.stderr is not None
        line = proxy.stderr.readline()
        yield line.strip().split(" listening on ")[1].split(" -> ")[0]
    finally:
        kill_tree(proxy.pid)
        proxy.wait(timeout=10)
        if proxy.stderr is not None:
            proxy.stderr.close()


def sent_texts(capture: Path) -> list[str]:
    lines = [json.loads(line) for line in capture.read_text().splitlines()[1:]]
    return [line["params"]["arguments"]["text"] for line in lines if line.get("tool") == "echo"]


def test_two_workers_send_each_unique_row_once_and_draw_values_of_their_own(
    tmp_path: Path, demo_http: RunningServer
) -> None:
    (tmp_path / "rows.csv").write_text("word\n" + "\n".join(WORDS) + "\n")
    capture = tmp_path / "capture.jsonl"
    with recording_proxy(demo_http.url, capture) as url:
        config = suite(
            tmp_path,
            f"""
            [run]
            seed = 9

            [[targets]]
            name = "demo"
            transport = "http"
            url = "{url}"
            request_timeout = "5s"

            [[scenarios]]
            name = "unique-rows"
            kind = "throughput"
            warmup = "0s"
            load = {{ model = "closed", concurrency = 3, requests = 100 }}

            [[scenarios.workload.data]]
            name = "rows"
            file = "rows.csv"
            pick = "unique"

            [[scenarios.workload.operations]]
            call = "tools/call"
            tool = "echo"
            arguments = {{ text = "row {{{{ rows.word }}}} vu {{{{ vu }}}} {{{{ uuid }}}}" }}

            [[scenarios]]
            name = "arrivals"
            kind = "throughput"
            warmup = "0s"
            load = {{ model = "open", rate = "200/s", requests = 40 }}

            [[scenarios.workload.operations]]
            call = "tools/call"
            tool = "echo"
            arguments = {{ text = "arrival {{{{ iteration }}}} {{{{ uuid }}}}" }}
            """,
        )
        done = run_cli(
            "run", "-c", str(config), "--quiet", "--workers", "2", "--out", "out", cwd=tmp_path
        )
        assert done.returncode == 0, done.stdout + done.stderr
    run = results(tmp_path / "out")
    assert [s["workers"]["count"] for s in run["scenarios"]] == [2, 2]
    assert "ran out of rows" in run["scenarios"][0]["stopped"]

    texts = sent_texts(capture)
    rows = [t.split() for t in texts if t.startswith("row ")]
    assert sorted(r[1] for r in rows) == sorted(WORDS)  # each row once, across both workers
    users = {int(r[3]) for r in rows}
    assert users <= {1, 2, 3}
    assert 2 in users  # the second worker's one user: numbered after the first worker's first

    arrivals = [t.split() for t in texts if t.startswith("arrival ")]
    assert sorted(int(a[1]) for a in arrivals) == list(range(40))  # the one schedule's numbers
    uuids = [r[4] for r in rows] + [a[2] for a in arrivals]
    assert len(set(uuids)) == len(uuids) == 47
