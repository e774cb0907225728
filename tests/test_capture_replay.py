"""Capture and replay: traffic recorded through `readiness proxy --record` (stdio relay and
HTTP proxy) holds no header secret, and replaying it sends the same sequence of calls."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from readiness.config import parse_suite
from readiness.errors import ConfigError
from readiness.reports.markdown import render_markdown
from tests.clirun import run_cli
from tests.servers import demo_http_server, kill_tree
from tests.suites import run_all

ARGS_LOG_SERVER = Path(__file__).with_name("args_log_server.py")
SECRET = "s3cr3t-token-never-written"

RECORDED = """
[[targets]]
name = "through-proxy"
transport = "stdio"
command = "${{PYTHON}}"
args = ["-m", "readiness.cli", "proxy", "--record", "{capture}", "--", "${{PYTHON}}", "{server}"]
env = {{ ARGS_LOG = "{log}" }}

[[workload.data]]
name = "q"
file = "{data}"
pick = "sequential"

[[workload.operations]]
call = "tools/call"
tool = "search"
arguments = {{ query = "{{{{ q.text }}}}", limit = "{{{{ iteration }}}}" }}
weight = 3

[[workload.operations]]
call = "tools/list"
weight = 1

[[scenarios]]
name = "record"
kind = "throughput"
load = {{ model = "closed", concurrency = 1, requests = 16 }}
"""

REPLAYED = """
[[targets]]
name = "direct"
transport = "stdio"
command = "${{PYTHON}}"
args = ["{server}"]
env = {{ ARGS_LOG = "{log}" }}

[workload]
replay = "{capture}"
{speed}

[[scenarios]]
name = "replay"
kind = "throughput"
{load}
"""


def calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


async def record(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    rows = [json.dumps({"text": f"query {i}"}) for i in range(5)]
    (tmp_path / "q.jsonl").write_text("\n".join(rows) + "\n")
    capture, log = tmp_path / "capture.jsonl", tmp_path / "recorded.log"
    text = RECORDED.format(
        capture=capture, server=ARGS_LOG_SERVER, log=log, data=tmp_path / "q.jsonl"
    )
    state = await run_all(tmp_path / "recording", text)
    assert state.result["scenarios"][0]["totals"]["ok"] == 16
    return capture, calls(log)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("speed", "load"),
    [
        ("speed = 1.0", ""),
        ("", 'load = { model = "closed", concurrency = 1, requests = 1000 }'),
    ],
)
async def test_a_capture_through_the_proxy_replays_to_the_same_calls(
    tmp_path: Path, speed: str, load: str
) -> None:
    capture, recorded = await record(tmp_path)
    lines = [json.loads(line) for line in capture.read_text().splitlines()]
    assert lines[0]["format"] == "readiness-capture"
    methods = [line["method"] for line in lines[1:]]
    assert methods[0] in ("initialize", "server/discover")
    replayable = [m for m in methods if m not in ("initialize", "server/discover")]
    assert methods.count("tools/call") == len(recorded) > 0
    assert methods.count("tools/list") == 16 - len(recorded) + 1  # the load's, and preflight's

    log = tmp_path / "replayed.log"
    text = REPLAYED.format(server=ARGS_LOG_SERVER, log=log, capture=capture, speed=speed, load=load)
    state = await run_all(tmp_path / "replaying", text)
    (scenario,) = state.result["scenarios"]
    assert scenario["error"] is None
    replayed = calls(log)
    if load:  # one virtual user: strictly in order
        assert replayed == recorded
    else:
        assert sorted(map(json.dumps, replayed)) == sorted(map(json.dumps, recorded))
    replay = scenario.get("replay")
    assert replay is not None
    assert replay["captured_requests"] == replay["replayed_requests"] == len(replayable)
    assert all(row["captured"] == row["replayed"] for row in replay["mix"])
    assert replay["model"] == ("closed" if load else "open")
    assert "### Replay" in render_markdown(state.result)


def record_over_http(tmp_path: Path) -> Path:
    """A data-driven load through `readiness proxy --upstream … --record` with secret headers."""
    capture = tmp_path / "http.jsonl"
    (tmp_path / "q.jsonl").write_text("".join(f'{{"text": "query {i}"}}\n' for i in range(4)))
    with demo_http_server() as server:
        proxy = subprocess.Popen(
            [sys.executable, "-m", "readiness.cli", "proxy", "--upstream", server.url,
             "--record", str(capture)],
            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            assert proxy.stderr is not None
            line = proxy.stderr.readline()
            url = line.strip().split(" listening on ")[1].split(" -> ")[0]
            suite = tmp_path / "suite.toml"
            suite.write_text(
                textwrap.dedent(f"""
                [[targets]]
                name = "via-proxy"
                transport = "http"
                url = "{url}"
                headers = {{ Authorization = "Bearer {SECRET}", X-Api-Key = "{SECRET}" }}

                [[workload.data]]
                name = "q"
                file = "q.jsonl"
                pick = "sequential"

                [[workload.operations]]
                call = "tools/call"
                tool = "search"
                arguments = {{ query = "{{{{ q.text }}}}", limit = "{{{{ random.int(1, 9) }}}}" }}

                [[scenarios]]
                name = "t"
                kind = "throughput"
                load = {{ model = "closed", concurrency = 2, requests = 10 }}
                """)
            )
            done = run_cli("run", "-c", str(suite), "--out", "out", cwd=tmp_path, timeout=120)
            assert done.returncode == 0, done.stderr
        finally:
            kill_tree(proxy.pid)
            proxy.wait(timeout=10)
            if proxy.stderr is not None:
                proxy.stderr.close()
    return capture


@pytest.mark.anyio
async def test_an_http_capture_holds_no_header_value_and_replays_to_the_same_calls(
    tmp_path: Path,
) -> None:
    capture = record_over_http(tmp_path)
    text = capture.read_text()
    assert SECRET not in text
    lines = [json.loads(line) for line in text.splitlines()[1:]]
    searches = [line["params"]["arguments"] for line in lines if line.get("tool") == "search"]
    assert len(searches) == 10
    assert all({"authorization", "x-api-key"} <= set(line["headers"]) for line in lines)
    # Session ids are labels in order of appearance, never the server's own ids.
    assert all(re.fullmatch(r"s\d+", line["session"]) for line in lines)

    # Replayed by one virtual user (a closed load needs no count: the capture bounds it), the
    # server receives the captured calls in the captured order, typed as they were.
    log = tmp_path / "replayed.log"
    replay = REPLAYED.format(
        server=ARGS_LOG_SERVER,
        log=log,
        capture=capture,
        speed="",
        load='load = { model = "closed", concurrency = 1 }',
    )
    state = await run_all(tmp_path / "replaying", replay)
    assert state.result["scenarios"][0]["error"] is None
    received = [{"query": c["query"], "limit": c["limit"]} for c in calls(log)]
    assert received == searches
    assert all(isinstance(call["limit"], int) for call in received)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "load", ["", 'load = { model = "closed", concurrency = 2, requests = 100 }']
)
async def test_captured_sessions_are_replayed_apart_each_on_a_connection_of_its_own(
    tmp_path: Path, load: str
) -> None:
    capture = tmp_path / "two-sessions.jsonl"
    header = {"format": "readiness-capture", "version": 1, "transport": "http"}
    lines = [header] + [
        {"t": i * 0.01, "session": session, "method": "tools/call", "tool": "search",
         "params": {"name": "search", "arguments": {"query": f"{session}-{i}", "limit": i}}}
        for i, session in enumerate(["s1", "s2", "s1", "s1", "s2", "s2", "s1", "s2"])
    ]  # fmt: skip
    capture.write_text("".join(json.dumps(line) + "\n" for line in lines))
    log = tmp_path / "replayed.log"
    text = REPLAYED.format(
        server=ARGS_LOG_SERVER, log=log, capture=capture, speed="", load=load
    ).replace("env = {", 'env = { ARGS_LOG_PID = "1",')
    state = await run_all(tmp_path / "replaying", text)
    (scenario,) = state.result["scenarios"]
    assert scenario["error"] is None
    pids: dict[str, set[int]] = {}
    for call in calls(log):
        pids.setdefault(str(call["query"]).split("-")[0], set()).add(int(call["pid"]))
    assert len(pids["s1"]) == len(pids["s2"]) == 1
    assert pids["s1"] != pids["s2"]
    replay = scenario.get("replay")
    assert replay is not None
    assert (replay["sessions"], replay["connections"]) == (2, 2)
    assert replay["replayed_requests"] == 8


BAD_CAPTURES = [
    (None, "no such file"),
    ('{"format": "other"}\n', "line 1: not a readiness capture"),
    ('{"format": "readiness-capture", "version": 1}\n{"t": 1, "method": "ping"}\n{"t": 0}\n',
     "line 3: expected a request"),
    ('{"format": "readiness-capture", "version": 1}\n{"t": 0, "method": "initialize"}\n',
     "holds no request to replay"),
]  # fmt: skip


@pytest.mark.parametrize(("content", "message"), BAD_CAPTURES)
def test_a_bad_capture_is_a_config_error_naming_file_key_and_line(
    tmp_path: Path, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / "cap.jsonl").write_text(content)
    text = REPLAYED.format(server="x", log="x", capture="cap.jsonl", speed="", load="")
    with pytest.raises(ConfigError) as info:
        parse_suite(text, str(tmp_path / "suite.toml"))
    assert message in info.value.message
    assert info.value.key == "workload.replay"
    assert info.value.line == text.splitlines().index('replay = "cap.jsonl"') + 1


def test_a_replay_needs_no_load_but_refuses_an_open_one(tmp_path: Path) -> None:
    (tmp_path / "cap.jsonl").write_text(
        '{"format": "readiness-capture", "version": 1}\n{"t": 0, "method": "ping"}\n'
    )
    text = REPLAYED.format(server="x", log="x", capture="cap.jsonl", speed="", load="")
    assert parse_suite(text, str(tmp_path / "suite.toml")).scenarios[0].load is None
    closed = parse_suite(
        text + 'load = { model = "closed", concurrency = 2 }\n', str(tmp_path / "suite.toml")
    )
    assert closed.scenarios[0].load is not None  # unbounded by count: the capture bounds it
    with pytest.raises(ConfigError, match="keeps the capture's own times"):
        parse_suite(
            text + 'load = { model = "open", rate = "5/s", requests = 5 }\n',
            str(tmp_path / "suite.toml"),
        )
