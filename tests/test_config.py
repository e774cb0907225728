from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readiness.chaos.faults import Window
from readiness.config import (
    DEFAULT_SUITE_SOURCE,
    LoadConfig,
    OperationConfig,
    ScenarioConfig,
    Suite,
    TargetConfig,
    default_suite,
    find_suite,
    load_suite,
    parse_suite,
)
from readiness.config.errors import TomlLocator
from readiness.errors import ConfigError, ExitCode

REPO = Path(__file__).resolve().parents[1]

# Line numbers matter: the error tests below name them.
BASE = """\
[run]
name = "t"

[[targets]]
name = "demo"
transport = "stdio"
command = "${PYTHON}"
args = ["-m", "readiness.demo"]

[[scenarios]]
name = "throughput"
kind = "throughput"
load = { model = "closed", concurrency = 5, requests = 50 }
thresholds = ["success_rate >= 99%", "p99 < 500ms"]

[[scenarios]]
name = "scaling"
kind = "scaling"
steps = [1, 2, 4]
step_duration = "1s"
"""


def parse(text: str, **environ: str) -> Suite:
    return parse_suite(text, "suite.toml", environ=environ)


def error_of(text: str, **environ: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(text, **environ)
    return caught.value


# --- valid files --------------------------------------------------------------------------


def test_a_minimal_file_parses_into_frozen_models_with_defaults() -> None:
    suite = parse(BASE)
    target = suite.targets[0]
    assert target.command == sys.executable
    assert target.args == ("-m", "readiness.demo")
    assert (target.request_timeout, target.connect_timeout) == (10.0, 30.0)
    assert target.max_reply_bytes == 16 * 1024 * 1024
    throughput, scaling = suite.scenarios
    assert throughput.load == LoadConfig(model="closed", concurrency=5, requests=50)
    assert [t.expression for t in throughput.thresholds] == ["success_rate >= 99%", "p99 < 500ms"]
    assert scaling.steps == (1.0, 2.0, 4.0)
    assert scaling.step_duration == 1.0
    assert [op.name for op in suite.workload.operations] == ["tools/call echo"]
    assert suite.workload.operations[0].arguments == {"text": "hello"}
    assert suite.source == "suite.toml"
    with pytest.raises(ValueError, match="frozen"):
        target.name = "other"


def test_the_built_in_suite_tests_the_demo_with_the_running_python() -> None:
    suite = default_suite(environ={})
    assert suite.source == DEFAULT_SUITE_SOURCE
    (target,) = suite.targets
    assert (target.transport, target.command) == ("stdio", sys.executable)
    assert target.args == ("-m", "readiness.demo")
    throughput, scaling, memory, failure, recovery, security = suite.scenarios
    assert security.kind == "security"
    assert throughput.load == LoadConfig(concurrency=50, requests=1000)
    # The chaos pair: isolation (echo is hit, the status read is not) and a kill + restart.
    assert (failure.kind, recovery.kind) == ("failure", "recovery")
    assert failure.injection_window() == Window(3.0, 6.0)
    assert recovery.injection_window().start > 0
    total = sum(s.planned_duration() or 0.0 for s in suite.scenarios)
    assert total <= 90  # planned load; with start-ups the whole suite stays under two minutes
    assert memory.kind == "memory"
    assert memory.load is not None
    assert memory.load.duration is not None
    assert memory.load.duration - memory.warmup >= 12  # the leak fit needs 12 s of samples
    assert [str(t) for t in throughput.thresholds] == [
        "success_rate >= 99%",
        "p99 < 500ms",
        "throughput > 100/s",
    ]
    assert scaling.steps == (1.0, 5.0, 10.0, 25.0, 50.0)
    mix = {op.name: op.weight for op in suite.workload.operations}
    assert mix == {"tools/call echo": 9, "resources/read demo://status": 1}


def test_the_repository_suite_matches_the_built_in_one() -> None:
    repo = load_suite(REPO / "scenarios.toml", environ={})
    built_in = default_suite(environ={})
    assert repo.model_dump(exclude={"source"}) == built_in.model_dump(exclude={"source"})


def test_the_commented_examples_in_scenarios_toml_are_valid() -> None:
    lines = (REPO / "scenarios.toml").read_text().splitlines()
    uncommented: list[str] = []
    inside = False
    for line in lines:
        inside = (inside or line.startswith("# [[")) and line.startswith("# ")
        uncommented.append(line[2:] if inside else line)
    suite = parse("\n".join(uncommented), MCP_TOKEN="s3cret")
    assert [t.name for t in suite.targets] == ["demo", "remote"]
    assert [s.name for s in suite.scenarios] == [
        "throughput",
        "steady",
        "ramp",
        "scaling",
        "memory",
        "failure",
        "recovery",
        "security",
    ]
    (fault,) = suite.scenario("failure").faults
    assert fault.describe() == "error:tool=echo,probability=0.1"
    assert suite.scenario("ramp").load is not None
    assert len(suite.scenario("ramp").load.stages) == 3  # type: ignore[union-attr]


def test_the_ci_suite_plans_a_short_bounded_load() -> None:
    suite = load_suite(REPO / "scenarios" / "ci.toml", environ={})
    planned = 0.0
    for scenario in suite.scenarios:
        if scenario.load is not None and scenario.load.requests is not None:
            assert scenario.load.requests <= 1000
        planned += scenario.planned_duration() or 0.0
    # About 45 s of wall time in all: the loads, plus a server start per scenario.
    assert planned <= 30
    kinds = {scenario.kind for scenario in suite.scenarios}
    assert {"throughput", "scaling", "memory", "failure", "recovery"} <= kinds


def test_operations_are_named_after_their_call_unless_named() -> None:
    assert OperationConfig(call="tools/list").name == "tools/list"
    assert OperationConfig(call="resources/read", uri="demo://status").name == (
        "resources/read demo://status"
    )
    assert OperationConfig(call="prompts/get", prompt="p", name="greeting").name == "greeting"


def test_quantities_accept_units_or_bare_numbers() -> None:
    text = BASE.replace(
        'args = ["-m", "readiness.demo"]',
        'args = []\nrequest_timeout = 2.5\nconnect_timeout = "1m"\nmax_reply_bytes = "512KiB"',
    ).replace("step_duration", 'knee_growth = "25%"\nknee_p95 = "200ms"\nstep_duration')
    suite = parse(text)
    target = suite.targets[0]
    assert (target.request_timeout, target.connect_timeout) == (2.5, 60.0)
    assert target.max_reply_bytes == 512 * 1024
    assert suite.scenarios[1].knee_growth == pytest.approx(0.25)
    assert suite.scenarios[1].knee_p95 == pytest.approx(0.2)


def test_open_load_with_stages_parses() -> None:
    text = BASE.replace(
        'load = { model = "closed", concurrency = 5, requests = 50 }',
        '[scenarios.load]\nmodel = "open"\nrate = "10/s"\narrivals = "poisson"\n'
        'stages = [{ duration = "2s", target = 20 }, { duration = 3, target = 0 }]',
    ).replace('thresholds = ["success_rate >= 99%", "p99 < 500ms"]\n', "")
    load = parse(text).scenarios[0].load
    assert load is not None
    assert (load.model, load.rate, load.arrivals) == ("open", 10.0, "poisson")
    assert [(s.duration, s.target) for s in load.stages] == [(2.0, 20.0), (3.0, 0.0)]
    assert load.planned_duration() == 5.0


# --- bad files: every error names the file, the key and the line ---------------------------


@pytest.mark.parametrize(
    ("old", "new", "key", "line", "message"),
    [
        pytest.param(
            'kind = "scaling"', "kind scaling", None, 18, "invalid TOML", id="syntax error"
        ),
        pytest.param(
            "concurrency = 5",
            "concurency = 5",
            'scenarios[0] (name="throughput").load.concurency',
            13,
            "unknown key 'concurency'; did you mean 'concurrency'?",
            id="unknown key",
        ),
        pytest.param(
            'kind = "throughput"',
            'kind = "throughput"\nrequests = 5',
            'scenarios[0] (name="throughput").requests',
            13,
            "belongs inside 'load'",
            id="key in the wrong table",
        ),
        pytest.param(
            "concurrency = 5",
            'concurrency = "5"',
            'scenarios[0] (name="throughput").load.concurrency',
            13,
            'expected an integer, got "5"',
            id="wrong type",
        ),
        pytest.param(
            'transport = "stdio"\n',
            "",
            'targets[0] (name="demo").transport',
            4,
            "required key 'transport' is missing",
            id="missing required key",
        ),
        pytest.param(
            'step_duration = "1s"',
            'step_duration = "1 sec"',
            'scenarios[1] (name="scaling").step_duration',
            20,
            "invalid duration '1 sec'",
            id="bad duration",
        ),
        pytest.param(
            '"p99 < 500ms"',
            '"p99 < 50%"',
            'scenarios[0] (name="throughput").thresholds[1]',
            14,
            "p99 is measured as a duration",
            id="bad threshold",
        ),
        pytest.param(
            'kind = "scaling"',
            'kind = "scaling"\ntarget = "dmeo"',
            'scenarios[1] (name="scaling").target',
            19,
            "no target is named 'dmeo'; did you mean 'demo'?",
            id="unknown target",
        ),
        pytest.param(
            'name = "scaling"',
            'name = "throughput"',
            'scenarios[1] (name="throughput").name',
            17,
            "another scenario is already named 'throughput'",
            id="duplicate scenario names",
        ),
        pytest.param(
            'args = ["-m", "readiness.demo"]',
            'args = ["-m", "readiness.demo", "--token", "${NOT_SET_ANYWHERE}"]',
            'targets[0] (name="demo").args[3]',
            8,
            "environment variable NOT_SET_ANYWHERE is not set",
            id="unset variable",
        ),
        pytest.param(
            'model = "closed"',
            'model = "clsoed"',
            'scenarios[0] (name="throughput").load.model',
            13,
            "expected 'closed' or 'open', got \"clsoed\"; did you mean 'closed'?",
            id="misspelt choice",
        ),
        pytest.param(
            "concurrency = 5",
            "concurrency = 0",
            'scenarios[0] (name="throughput").load.concurrency',
            13,
            "must be at least 1, got 0",
            id="out of range",
        ),
        pytest.param(
            "concurrency = 5, requests = 50",
            "concurrency = 5",
            'scenarios[0] (name="throughput").load.requests',
            13,
            "unbounded",
            id="unbounded load",
        ),
        pytest.param(
            "concurrency = 5",
            "concurrency = 5, rate = 10",
            'scenarios[0] (name="throughput").load.rate',
            13,
            'rate applies to model = "open" only',
            id="open-model key in a closed load",
        ),
        pytest.param(
            'transport = "stdio"',
            'transport = "http"',
            'targets[0] (name="demo").url',
            4,
            "an http target needs a url",
            id="http target without url",
        ),
        pytest.param(
            "steps = [1, 2, 4]",
            "steps = [\n  1,\n  4,\n  2,\n]",
            'scenarios[1] (name="scaling").steps[2]',
            22,
            "steps must increase",
            id="item of a multi-line array",
        ),
        pytest.param(
            "[run]",
            "[rnu]",
            "rnu",
            1,
            "did you mean 'run'?",
            id="unknown table",
        ),
    ],
)
def test_a_bad_file_is_reported_with_file_key_and_line(
    old: str, new: str, key: str | None, line: int, message: str
) -> None:
    assert old in BASE
    error = error_of(BASE.replace(old, new, 1))
    assert (error.file, error.key, error.line) == ("suite.toml", key, line)
    assert message in error.message
    assert error.exit_code == ExitCode.USAGE
    assert str(error).startswith(f"suite.toml:{line}: ")


def test_a_syntax_error_points_at_the_column() -> None:
    error = error_of(BASE.replace('kind = "scaling"', "kind scaling"))
    assert "kind scaling" in error.message
    assert re.search(r"\n\s+\|\s+\^", error.message)


def test_keys_after_a_table_header_are_explained() -> None:
    text = BASE.replace(
        'load = { model = "closed", concurrency = 5, requests = 50 }',
        "[scenarios.load]\nconcurrency = 5\nrequests = 50",
    )
    error = error_of(text)
    assert error.key == 'scenarios[0] (name="throughput").load.thresholds'
    assert error.line == 16
    assert "move it above the header" in error.message


def test_every_problem_is_listed_but_the_first_by_line_leads() -> None:
    text = BASE.replace("concurrency = 5", "concurrency = -1").replace('"1s"', '"soon"')
    error = error_of(text)
    assert (error.line, error.key) == (13, 'scenarios[0] (name="throughput").load.concurrency')
    assert 'suite.toml:20: scenarios[1] (name="scaling").step_duration' in error.message


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("", "targets", "required key 'targets' is missing"),
        (BASE.replace('name = "t"', 'name = "a/b"'), "run.name", "folder name"),
        ("source = 'x'\n" + BASE, "source", "unknown key 'source'"),
        (BASE.replace("[[targets]]", "[targets]"), "targets", "expected an array, got a table"),
    ],
)
def test_whole_file_mistakes_are_reported(text: str, key: str, message: str) -> None:
    error = error_of(text)
    assert error.key == key
    assert message in error.message


def test_a_missing_file_and_a_folder_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file") as missing:
        load_suite(tmp_path / "nope.toml")
    assert missing.value.file == str(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_suite(tmp_path)
    (tmp_path / "latin1.toml").write_bytes(b'[run]\nname = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_suite(tmp_path / "latin1.toml")


_KEYS = [
    "name",
    "transport",
    "command",
    "args",
    "kind",
    "load",
    "thresholds",
    "steps",
    "step_duration",
]
_VALUES = ['""', '"x"', "0", "-1", "1.5", "true", "[]", '["a", 1]', "{}", "{ a = 1 }", '"5s"']


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_KEYS), st.sampled_from(_VALUES), st.integers(0, 3))
def test_any_wrong_value_becomes_a_config_error_never_a_crash(
    key: str, value: str, nth: int
) -> None:
    lines = BASE.splitlines()
    matching = [i for i, line in enumerate(lines) if line.startswith(f"{key} = ")]
    index = matching[nth % len(matching)]
    lines[index] = f"{key} = {value}"
    try:
        parse("\n".join(lines))
    except ConfigError as error:
        problem = error
    else:
        return
    assert problem.line is not None
    assert problem.key


# --- the environment, and what reports may show ----------------------------------------------

HTTP = """\
[[targets]]
name = "remote"
transport = "http"
url = "${SCHEME:-http}://user:hunter3@127.0.0.1:${PORT}/mcp?api_key=k1&x=1"
command = "${PYTHON}"
args = ["-m", "server", "--token", "${MCP_TOKEN}", "--password=hunter2",
        "--name", "$${NOT_EXPANDED}"]
env = { API_TOKEN = "${MCP_TOKEN}", DB_PASSWORD = "plain", MODE = "${MODE:-fast}" }

[targets.headers]
Proxy-Authorization = "Bearer ${MCP_TOKEN}"
X-Static-Token = "literal-secret"
Accept-Language = "en"

[[scenarios]]
name = "t"
kind = "throughput"
load = { concurrency = 1, requests = 1 }
"""


def test_placeholders_expand_from_the_environment_with_defaults() -> None:
    target = parse(HTTP, MCP_TOKEN="s3cret", PORT="8123").targets[0]
    assert target.url == "http://user:hunter3@127.0.0.1:8123/mcp?api_key=k1&x=1"
    assert target.headers["Proxy-Authorization"] == "Bearer s3cret"
    assert target.command == sys.executable
    assert target.args[3] == "s3cret"
    assert target.args[-1] == "${NOT_EXPANDED}"
    assert target.env == {"API_TOKEN": "s3cret", "DB_PASSWORD": "plain", "MODE": "fast"}


def test_an_environment_value_overrides_a_built_in_placeholder() -> None:
    target = parse(HTTP, MCP_TOKEN="t", PORT="1", PYTHON="/opt/py").targets[0]
    assert target.command == "/opt/py"


def test_an_unset_variable_names_the_first_key_that_uses_it() -> None:
    error = error_of(HTTP, PORT="1")
    assert error.key == 'targets[0] (name="remote").args[3]'
    assert error.line == 6
    assert "MCP_TOKEN is not set" in error.message
    without = HTTP.replace('"--token", "${MCP_TOKEN}", ', "").replace("${MCP_TOKEN}", "x", 1)
    error = error_of(without, PORT="1")
    assert error.key == 'targets[0] (name="remote").headers.Proxy-Authorization'
    assert error.line == 11
    assert "MCP_TOKEN is not set" in error.message


def test_reports_see_placeholders_and_stars_never_secrets() -> None:
    target = parse(HTTP, MCP_TOKEN="s3cret", PORT="8123").targets[0]
    shown = [
        target.display(),
        target.display_url() or "",
        target.display_command() or "",
        repr(target.display_headers()),
        repr(target.display_env()),
        repr(target),
    ]
    for secret in ("s3cret", "literal-secret", "hunter2", "hunter3", "k1", "plain"):
        assert not any(secret in text for text in shown), secret
    assert target.display_headers() == {
        "Proxy-Authorization": "Bearer ${MCP_TOKEN}",
        "X-Static-Token": "***",
        "Accept-Language": "en",
    }
    assert target.display_url() == "${SCHEME}://***@127.0.0.1:${PORT}/mcp?api_key=***&x=1"
    assert target.display_env() == {
        "API_TOKEN": "${MCP_TOKEN}",
        "DB_PASSWORD": "***",
        "MODE": "${MODE}",
    }
    command = target.display_command()
    assert command is not None
    assert command.startswith(f"{sys.executable} -m server --token '${{MCP_TOKEN}}'")
    assert "'--password=***'" in command


def test_a_target_built_in_code_is_redacted_too() -> None:
    target = TargetConfig(
        name="t",
        transport="http",
        url="https://me:pw@example.test/mcp",
        headers={"Proxy-Authorization": "Basic abc"},
    )
    assert target.display_url() == "https://***@example.test/mcp"
    assert target.display_headers() == {"Proxy-Authorization": "Basic ***"}


# --- choosing the suite -----------------------------------------------------------------------


def test_without_a_file_the_built_in_suite_is_used(tmp_path: Path) -> None:
    assert find_suite(None, tmp_path).source == DEFAULT_SUITE_SOURCE


def test_a_local_scenarios_toml_wins_over_the_built_in_suite(tmp_path: Path) -> None:
    (tmp_path / "scenarios.toml").write_text(BASE)
    assert find_suite(None, tmp_path).source == str(tmp_path / "scenarios.toml")


def test_an_explicit_file_wins_over_a_local_one(tmp_path: Path) -> None:
    (tmp_path / "scenarios.toml").write_text("this is not toml")
    (tmp_path / "other.toml").write_text(BASE)
    assert find_suite("other.toml", tmp_path).source == str(tmp_path / "other.toml")
    assert find_suite(str(tmp_path / "other.toml"), Path("/")).run.name == "t"


def test_an_explicit_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "scenarios.toml").write_text(BASE)
    with pytest.raises(ConfigError, match="no such file"):
        find_suite("missing.toml", tmp_path)


# --- using a suite ---------------------------------------------------------------------------


def test_a_suite_narrows_to_named_scenarios_and_one_target() -> None:
    text = BASE + '\n[[targets]]\nname = "other"\ntransport = "stdio"\ncommand = "x"\n'
    text = text.replace('kind = "scaling"', 'kind = "scaling"\ntarget = "other"')
    suite = parse(text)
    assert [t.name for t in suite.targets_for(suite.scenario("throughput"))] == ["demo", "other"]
    assert [t.name for t in suite.targets_for(suite.scenario("scaling"))] == ["other"]
    narrowed = suite.select(target="demo")
    assert [s.name for s in narrowed.scenarios] == ["throughput"]
    assert [t.name for t in narrowed.targets] == ["demo"]
    assert [s.name for s in suite.select(["scaling"]).scenarios] == ["scaling"]
    with pytest.raises(ConfigError, match="did you mean 'scaling'"):
        suite.select(["scalling"])
    with pytest.raises(ConfigError, match="no selected scenario"):
        suite.select(["scaling"], target="demo")


def test_a_scenario_workload_overrides_the_suite_mix() -> None:
    text = BASE + '\n[[scenarios.workload.operations]]\ncall = "ping"\n'
    suite = parse(text)
    scaling = suite.scenario("scaling")
    assert [op.name for op in suite.workload_for(scaling).operations] == ["ping"]
    assert suite.workload_for(suite.scenario("throughput")) == suite.workload


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "open"}, "needs a rate"),
        ({"model": "open", "rate": 5, "requests": 5, "think_time": 1}, "think_time applies"),
        ({"concurrency": 2, "duration": 5, "stages": [{"duration": 1, "target": 2}]}, "not both"),
        ({"stages": [{"duration": 1, "target": 2.5}]}, "whole concurrency"),
    ],
)
def test_inconsistent_loads_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoadConfig.model_validate(kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "throughput"}, "needs load"),
        ({"kind": "scaling"}, "needs steps"),
        ({"kind": "scaling", "steps": [1, 2.5]}, "whole concurrencies"),
        (
            {"kind": "throughput", "load": {"concurrency": 1, "requests": 1}, "steps": [1]},
            "scaling",
        ),
        ({"kind": "scaling", "steps": [1], "step_duration": "2s", "warmup": "2s"}, "warmup"),
    ],
)
def test_inconsistent_scenarios_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScenarioConfig.model_validate({"name": "s", **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"call": "tools/call"}, "needs tool"),
        ({"call": "resources/read"}, "needs uri"),
        ({"call": "prompts/get"}, "needs prompt"),
        ({"call": "ping", "tool": "echo"}, "tool applies only"),
        ({"call": "tools/list", "arguments": {"a": 1}}, "arguments apply only"),
        ({"call": "prompts/get", "prompt": "p", "arguments": {"n": 1}}, "must be strings"),
    ],
)
def test_operations_need_what_their_call_needs(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OperationConfig.model_validate(kwargs)


# --- locating keys in TOML text ----------------------------------------------------------------


def test_the_locator_finds_keys_past_strings_comments_and_nested_tables() -> None:
    text = """\
title = "a # not a comment [x]"   # comment = 1
multi = \"\"\"
  [not.a.table]
  key = 1
\"\"\"
"quoted key" = 'lit'
dotted.inner = 2

[[a]]
b = [
  { c = 1 },   # first
  { c = [1,
         2] },
]

[[a]]
[[a.d]]
e = 1
[a.f]
g = 1
"""
    locator = TomlLocator(text)
    assert locator.line_for(("title",)) == 1
    assert locator.line_for(("quoted key",)) == 6
    assert locator.line_for(("dotted", "inner")) == 7
    assert locator.line_for(("a", 0)) == 9
    assert locator.line_for(("a", 0, "b", 1, "c", 1)) == 13
    assert locator.line_for(("a", 1)) == 16
    assert locator.line_for(("a", 1, "d", 0, "e")) == 18
    assert locator.line_for(("a", 1, "f", "g")) == 20
    assert locator.line_for(("a", 1, "missing")) == 16  # the enclosing table's header
    assert locator.line_for(("not",)) is None
