"""Bad input as a property: every mutant of a shipped suite either loads or is refused with a
ConfigError whose first line names the file, the key and the line — never another exception."""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest

from readiness.config import Suite, load_suite, parse_suite
from readiness.errors import ConfigError
from readiness.runner import error_result, finish, new_state, plan_pairs
from tests.config_mutants import Mutant, corpus

CORPUS_SIZE = 1000
ENVIRON = {"HOME": "/nonexistent"}  # no ${VAR} of the bases resolves by accident


def problem_with(mutant: Mutant, path: Path) -> str | None:
    """Why the mutant breaks the property, or None when it holds."""
    path.write_bytes(mutant.data)
    source = str(path)
    try:
        suite = load_suite(path, environ=ENVIRON)
    except ConfigError as exc:
        return _badly_located(exc, source, mutant.data)
    except Exception:
        return "raised " + traceback.format_exc(limit=-3)
    try:
        plan_without_load(suite, path.parent / "run")
    except Exception:
        return "loaded, then planning it raised " + traceback.format_exc(limit=-3)
    return None


def plan_without_load(suite: Suite, folder: Path) -> None:
    """What `readiness run` does before it sends anything: plan, results.json, scoring (and,
    as if every scenario failed to start, their results and the score of those)."""
    pairs = plan_pairs(suite)
    state = new_state(suite, folder, ["readiness", "run"])
    state.save()
    for scenario, target in pairs:
        state.result["scenarios"].append(error_result(scenario, target, "", "not run"))
    finish(state)


def _badly_located(exc: ConfigError, source: str, data: bytes) -> str | None:
    first = str(exc).splitlines()[0] if str(exc) else ""
    if exc.file != source or not first.startswith(source):
        return f"does not name the file first: {first!r}"
    if exc.line is not None:
        if not first.startswith(f"{source}:{exc.line}: "):
            return f"line {exc.line} not in the first line: {first!r}"
        if not 1 <= exc.line <= data.count(b"\n") + 1:
            return f"line {exc.line} is outside the file: {first!r}"
    if exc.key is not None and f": {exc.key}: " not in first:
        return f"key {exc.key!r} not in the first line: {first!r}"
    if not exc.message.strip():
        return "an empty message"
    for leak in ("Traceback", "pydantic", "Input should", "For further information", "Error("):
        if leak in str(exc):
            return f"internal wording {leak!r} in: {str(exc)!r}"
    return None


def test_every_mutant_loads_or_is_refused_with_file_key_and_line(tmp_path: Path) -> None:
    mutants = corpus(CORPUS_SIZE)
    assert len(mutants) >= 500
    path = tmp_path / "suite.toml"
    problems = [
        f"{m.id}\n    {problem}" for m in mutants if (problem := problem_with(m, path)) is not None
    ]
    assert not problems, f"{len(problems)} of {len(mutants)} mutants:\n" + "\n".join(problems)


# What the corpus found, kept as examples so each fix stays fixed.

BASE = """\
[[targets]]
name = "demo"
transport = "stdio"
command = "${PYTHON}"
args = ["-m", "readiness.demo"]

[[scenarios]]
name = "throughput"
kind = "throughput"
load = { model = "closed", concurrency = 5, requests = 50 }
"""


def refusal(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_suite(text, "suite.toml", environ=ENVIRON)
    return caught.value


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        pytest.param(
            "requests = 50",
            'duration = "1e999s"',
            'scenarios[0] (name="throughput").load.duration',
            "too large",
            id="a duration that reads as infinity",
        ),
        pytest.param(
            "[[scenarios]]",
            '[targets.resilience]\npool = { size = 2, wait_timeout = "1e999ms" }\n\n[[scenarios]]',
            'targets[0] (name="demo").resilience.pool.wait_timeout',
            "too large",
            id="a timeout that reads as infinity",
        ),
        pytest.param(
            'args = ["-m", "readiness.demo"]',
            'args = ["-m", "readiness.demo"]\nmax_reply_bytes = "1e999MiB"',
            'targets[0] (name="demo").max_reply_bytes',
            "too large",
            id="a size that overflowed an integer",
        ),
        pytest.param(
            "concurrency = 5",
            "concurrency = 1000000000000",
            'scenarios[0] (name="throughput").load.concurrency',
            "at most 100000",
            id="a trillion virtual users",
        ),
        pytest.param(
            'load = { model = "closed", concurrency = 5, requests = 50 }',
            'load = { model = "open", rate = 1e30, duration = "2s" }',
            'scenarios[0] (name="throughput").load.rate',
            "at most 100000",
            id="a rate of 1e30 per second (the load never ended, deaf to Ctrl-C)",
        ),
        pytest.param(
            'load = { model = "closed", concurrency = 5, requests = 50 }',
            'load = { model = "open", rate = 10, stages = [{ duration = "5s", target = 1e9 }] }',
            'scenarios[0] (name="throughput").load.stages[0].target',
            "at most 100000 per second",
            id="a stage ramping to a billion per second",
        ),
        pytest.param(
            "[[scenarios]]",
            "[targets.resilience]\npool = { size = 100000 }\n\n[[scenarios]]",
            'targets[0] (name="demo").resilience.pool.size',
            "at most 256",
            id="a pool of a hundred thousand server processes",
        ),
        pytest.param(
            'args = ["-m", "readiness.demo"]',
            'args = ["-m", "readiness.demo", "--token", "${TOKEN"]',
            'targets[0] (name="demo").args[3]',
            "starts no placeholder",
            id="an unclosed placeholder",
        ),
        pytest.param(
            'args = ["-m", "readiness.demo"]',
            'args = ["-m", "readiness.demo"]\nenv = { KEY = "${A:-${B}}" }',
            'targets[0] (name="demo").env.KEY',
            "do not nest",
            id="a nested placeholder",
        ),
        pytest.param(
            "[[scenarios]]",
            '[scoring.weights]\nperformance = "heavy"\n\n[[scenarios]]',
            "scoring.weights.performance",
            'expected a number, got "heavy"',
            id="pydantic's wording for an unparsable number",
        ),
        pytest.param(
            "[[scenarios]]",
            "[scoring.weights]\nperformance = nan\n\n[[scenarios]]",
            "scoring.weights.performance",
            "expected a finite number, got nan",
            id="pydantic's wording for nan",
        ),
    ],
)
def test_what_the_corpus_found_is_refused_in_the_files_terms(
    old: str, new: str, key: str, words: str
) -> None:
    assert old in BASE
    error = refusal(BASE.replace(old, new, 1))
    assert error.key == key
    assert words in error.message
    assert error.line is not None


def test_a_literal_dollar_brace_is_still_written_as_two_dollars() -> None:
    text = BASE.replace('"readiness.demo"]', '"readiness.demo", "$${NOT_A_VAR}"]')
    suite = parse_suite(text, "suite.toml", environ=ENVIRON)
    assert suite.targets[0].args[-1] == "${NOT_A_VAR}"


def test_a_run_whose_assessed_categories_all_weigh_nothing_is_not_scored(tmp_path: Path) -> None:
    text = BASE + "\n[scoring.weights]\nperformance = 0\n"
    suite = parse_suite(text, "suite.toml", environ=ENVIRON)
    plan_without_load(suite, tmp_path)  # divided by a total weight of 0
    state = new_state(suite, tmp_path, ["readiness"])
    state.save()
    assert state.result["score"]["value"] is None
