"""Data-driven arguments end to end: data files read at load time (errors name file, key and
line), values varied and typed as the server received them, `unique` ending the scenario."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from readiness.config import parse_suite
from readiness.errors import ConfigError
from readiness.reports.html import render_html
from readiness.reports.markdown import render_markdown
from tests.clirun import run_cli
from tests.suites import run_all

ARGS_LOG_SERVER = Path(__file__).with_name("args_log_server.py")


def suite_text(log: Path, operation: str, data: str, load: str) -> str:
    return (
        textwrap.dedent(
            f"""\
        [run]
        seed = 42

        [[targets]]
        name = "logger"
        transport = "stdio"
        command = "${{PYTHON}}"
        args = ["{ARGS_LOG_SERVER}"]
        env = {{ ARGS_LOG = "{log}" }}
        """
        )
        + data
        + operation
        + textwrap.dedent(
            f"""
        [[scenarios]]
        name = "t"
        kind = "throughput"
        load = {load}
        """
        )
    )


DATA = """
[[workload.data]]
name = "queries"
file = "queries.jsonl"
pick = "%s"
"""
SEARCH = """
[[workload.operations]]
call = "tools/call"
tool = "search"
arguments = { query = "{{ queries.text }}", limit = "%s", label = "vu{{ vu }}-{{ uuid }}" }
"""


def write_queries(folder: Path, count: int) -> None:
    rows = [json.dumps({"text": f"query {i}", "id": i}) for i in range(count)]
    (folder / "queries.jsonl").write_text("\n".join(rows) + "\n")


def received(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.mark.anyio
async def test_templated_arguments_reach_the_server_varied_and_typed(tmp_path: Path) -> None:
    write_queries(tmp_path, 20)
    log = tmp_path / "args.log"
    text = suite_text(
        log,
        SEARCH % "{{ random.int(1, 50) }}",
        DATA % "random",
        '{ model = "closed", concurrency = 2, requests = 60 }',
    )
    state = await run_all(tmp_path, text)
    calls = received(log)
    assert len(calls) == 60
    assert state.result["run"].get("seed") == 42
    assert all(isinstance(c["limit"], int) and 1 <= c["limit"] <= 50 for c in calls)  # type: ignore[operator]
    assert len({c["limit"] for c in calls}) > 10
    assert len({c["query"] for c in calls}) > 5
    assert {str(c["label"])[:3] for c in calls} == {"vu1", "vu2"}
    assert len({c["label"] for c in calls}) == 60


@pytest.mark.anyio
async def test_a_unique_data_set_ends_the_scenario_when_its_rows_run_out(tmp_path: Path) -> None:
    write_queries(tmp_path, 7)
    log = tmp_path / "args.log"
    text = suite_text(
        log, SEARCH % "{{ queries.id }}", DATA % "unique",
        '{ model = "closed", concurrency = 3, requests = 1000 }',
    )  # fmt: skip
    state = await run_all(tmp_path, text)
    calls = received(log)
    assert sorted(c["query"] for c in calls) == sorted(f"query {i}" for i in range(7))  # type: ignore[type-var]
    assert all(c["query"] == f"query {c['limit']}" for c in calls)
    (scenario,) = state.result["scenarios"]
    assert scenario["totals"]["sent"] == 7
    assert "ran out" in scenario.get("stopped", "")
    # The report says why the load ended short of its 1,000 requests.
    assert "the load ended when data set 'queries' ran out of rows" in render_markdown(state.result)
    assert "<strong>Ended early:</strong>" in render_html(state.result)


@pytest.mark.anyio
async def test_a_warm_up_draws_from_its_own_copy_of_a_unique_data_set(tmp_path: Path) -> None:
    write_queries(tmp_path, 5)
    log = tmp_path / "args.log"
    text = suite_text(
        log, SEARCH % "{{ queries.id }}", DATA % "unique",
        '{ model = "closed", concurrency = 1, requests = 1000 }\nwarmup = "0.5s"',
    )  # fmt: skip
    state = await run_all(tmp_path, text)
    (scenario,) = state.result["scenarios"]
    assert scenario["totals"]["sent"] == 5  # every row, though the warm-up used them too
    assert len(received(log)) > 5


@pytest.mark.anyio
async def test_an_open_load_draws_templated_values_too(tmp_path: Path) -> None:
    write_queries(tmp_path, 3)
    log = tmp_path / "args.log"
    text = suite_text(
        log, SEARCH % "{{ iteration }}", DATA % "sequential",
        '{ model = "open", rate = "200/s", requests = 12 }',
    )  # fmt: skip
    await run_all(tmp_path, text)
    calls = received(log)
    assert sorted(c["limit"] for c in calls) == list(range(12))  # type: ignore[type-var]
    assert all(c["query"] == f"query {int(c['limit']) % 3}" for c in calls)  # type: ignore[call-overload]


BAD = [
    ("missing.jsonl", None, "missing.jsonl: no such file", "workload.data[0]"),
    ("q.jsonl", '{"text": "a"}\n{"text": \n', "q.jsonl line 2: not JSON", "workload.data[0]"),
    (
        "q.jsonl",
        '{"text": "a"}\n[1, 2]\n',
        "q.jsonl line 2: expected a JSON object",
        "workload.data[0]",
    ),
    ("q.csv", "text,id\na,1\nb\n", "q.csv line 3: 1 values for 2 columns", "workload.data[0]"),
    ("q.txt", "a\n", "expected a JSON Lines (.jsonl, .ndjson) or CSV", "workload.data[0]"),
    ("q.csv", "", "q.csv: has no rows", "workload.data[0]"),
]


@pytest.mark.parametrize(("name", "content", "message", "key"), BAD)
def test_a_bad_data_file_is_a_config_error_naming_both_files_and_lines(
    tmp_path: Path, name: str, content: str | None, message: str, key: str
) -> None:
    if content is not None:
        (tmp_path / name).write_text(content)
    data = DATA.replace("queries.jsonl", name) % "random"
    text = suite_text(
        tmp_path / "log", SEARCH % "1", data, '{ model = "closed", concurrency = 1, requests = 1 }'
    )
    with pytest.raises(ConfigError) as info:
        parse_suite(text, str(tmp_path / "suite.toml"))
    error = info.value
    assert message in error.message
    assert error.file == str(tmp_path / "suite.toml")
    assert error.key is not None
    assert error.key.startswith(key)
    assert error.key.endswith("file")
    assert error.line == text.splitlines().index(f'file = "{name}"') + 1


PLACEHOLDERS = [
    ("{{ nosuch.text }}", "no data set is named 'nosuch'"),
    ("{{ queries.txt }}", "has no field 'txt'; did you mean 'text'?"),
    ("{{ random.int(5, 1) }}", "low bound is above the high bound"),
    ("{{ random.integer(1, 5) }}", "unknown placeholder"),
    ("{{ queries.text ", "never closed"),
    ("{{ queries.text {{ vu }}", "'{{' at character 1 is never closed"),
    ("{{ saved.id }}", "needs an earlier journey step"),
]


@pytest.mark.parametrize(("placeholder", "message"), PLACEHOLDERS)
def test_a_bad_placeholder_is_a_config_error_naming_the_argument_and_its_line(
    tmp_path: Path, placeholder: str, message: str
) -> None:
    write_queries(tmp_path, 2)
    text = suite_text(
        tmp_path / "log",
        SEARCH.replace('"%s"', json.dumps(placeholder)),
        DATA % "random",
        '{ model = "closed", concurrency = 1, requests = 1 }',
    )
    with pytest.raises(ConfigError) as info:
        parse_suite(text, str(tmp_path / "suite.toml"))
    error = info.value
    assert message in error.message
    assert error.key == "workload.operations[0].arguments.limit"
    assert error.line == next(i for i, ln in enumerate(text.splitlines(), 1) if "arguments" in ln)


def test_the_cli_exits_2_on_a_bad_data_file_naming_file_key_and_line(tmp_path: Path) -> None:
    (tmp_path / "queries.jsonl").write_text('{"text": "a"}\nnot json\n')
    text = suite_text(
        tmp_path / "log", SEARCH % "1", DATA % "random",
        '{ model = "closed", concurrency = 1, requests = 1 }',
    )  # fmt: skip
    (tmp_path / "suite.toml").write_text(text)
    proc = run_cli("run", "-c", "suite.toml", "--out", "out", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    line = text.splitlines().index('file = "queries.jsonl"') + 1
    assert f"suite.toml:{line}" in proc.stderr
    assert "workload.data[0]" in proc.stderr
    assert "queries.jsonl line 2: not JSON" in proc.stderr


def test_the_workloads_suite_reads_its_data_journeys_and_capture_beside_it() -> None:
    from readiness.config import load_suite

    suite = load_suite(Path(__file__).parents[1] / "scenarios" / "workloads.toml", environ={})
    assert suite.run.seed == 1
    assert len(suite.workload.data[0].table.rows) == 20
    journeys = suite.workload_for(suite.scenario("journeys")).journeys
    assert [j.name for j in journeys] == ["create-then-read", "search-only"]
    capture = suite.workload_for(suite.scenario("replay")).capture
    assert capture is not None
    assert len(capture.requests) > 10
    assert suite.scenario("replay").load is None


@pytest.mark.anyio
async def test_a_prompt_argument_from_a_number_placeholder_is_sent_as_text(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """
        [[targets]]
        name = "demo"
        transport = "stdio"
        command = "${PYTHON}"
        args = ["-m", "readiness.demo"]

        [[workload.operations]]
        call = "prompts/get"
        prompt = "summarize"
        arguments = { topic = "{{ random.int(1, 9) }}" }

        [[scenarios]]
        name = "t"
        kind = "throughput"
        load = { model = "closed", concurrency = 1, requests = 5 }
        """
    )
    state = await run_all(tmp_path, text)
    assert state.result["scenarios"][0]["totals"]["ok"] == 5
