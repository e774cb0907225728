"""The pytest plugin (entry point `readiness` in the `pytest11` group): off until asked.

`pytest --readiness scenarios.toml` collects one test item per check of the suite, runs the
selected scenarios once when the first item runs, and passes or fails each item on its check.
The `readiness_suite` and `readiness_run` fixtures serve assertions written in Python.

pytest imports this module in every session of an environment where readiness is installed,
so it imports only pytest and the standard library; the rest loads when a feature is used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from readiness.config import Suite
    from readiness.testing.outcome import RunOutcome

    RunSuite = Callable[..., RunOutcome]

_SUITE = "--readiness"
_OUT = "--readiness-out"
_INI = "readiness_suite"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("readiness", "readiness: MCP server checks as tests")
    group.addoption(
        _SUITE,
        dest="readiness_suite",
        metavar="FILE",
        default=None,
        help="Run this readiness suite (scenarios.toml) once; every check becomes a test item."
        " -k selects scenarios before the load runs.",
    )
    group.addoption(
        _OUT,
        dest="readiness_out",
        metavar="DIR",
        default=None,
        help="Keep the run's folder (results.json, reports) here. Default: a temporary folder.",
    )
    parser.addini(
        _INI,
        help="The suite the readiness_suite and readiness_run fixtures use when --readiness"
        " is not given (relative to the rootdir).",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    option = config.getoption(_SUITE)
    if option is None:
        return
    path = _resolved(config, option)
    # The suite file is collected like a test file, whatever paths (or testpaths) were given.
    given = {_resolved(config, arg.split("::", 1)[0]) for arg in config.args}
    if path not in given:
        config.args.append(str(path))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    option = parent.config.getoption(_SUITE)
    if option is None or file_path.resolve() != _resolved(parent.config, option):
        return None
    from readiness.testing.collect import SuiteFile

    suite_file: pytest.Collector = SuiteFile.from_parent(parent, path=file_path)
    return suite_file


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    # The load runs here, before the first item and outside every item, so a per-test timeout
    # (pytest-timeout) does not cut the whole suite's load short on whichever item is first.
    # After collection errors, or with --co, pytest runs nothing: nor does the load.
    config = session.config
    asked = config.getoption(_SUITE) is not None
    if asked and not config.option.collectonly and not session.testsfailed:
        from readiness.testing.collect import run_suite_files

        run_suite_files(session)
    return (yield)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    folder = terminalreporter.config.stash.get(RUN_FOLDER, None)
    if folder is not None:
        terminalreporter.write_line(f"readiness: results and reports in {folder}")


RUN_FOLDER = pytest.StashKey[Path]()  # the session run's folder, once it ran


def suite_path(config: pytest.Config) -> Path | None:
    """--readiness FILE, else the readiness_suite ini option, else None."""
    option = config.getoption(_SUITE)
    if option is not None:
        return _resolved(config, option)
    ini = str(config.getini(_INI) or "").strip()
    if ini:
        base = config.inipath.parent if config.inipath is not None else config.rootpath
        return (base / ini).resolve()
    return None


def out_folder(config: pytest.Config) -> Path | None:
    option = config.getoption(_OUT)
    return None if option is None else _resolved(config, option)


def _resolved(config: pytest.Config, given: str) -> Path:
    return (config.invocation_params.dir / given).resolve()


@pytest.fixture
def readiness_suite(request: pytest.FixtureRequest) -> Suite:
    """The suite of --readiness FILE (or the readiness_suite ini option), loaded; without
    either, ./scenarios.toml or the built-in demo suite, as `readiness run` chooses."""
    from readiness.config import find_suite

    path = suite_path(request.config)
    return find_suite(None if path is None else str(path), request.config.rootpath)


@pytest.fixture
def readiness_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> RunSuite:
    """A callable that runs a suite, or some of its scenarios, and returns the RunOutcome:

        result = readiness_run(scenario="throughput")
        assert result.scenario("throughput").latency.p99 < 0.2

    `readiness_run(suite=None, *, scenario=None, scenarios=(), target=None)`: `suite` is a
    loaded Suite or a path (default: as the readiness_suite fixture). Each call runs the load
    into its own folder (under --readiness-out DIR when given). Call it from synchronous tests:
    it runs its own event loop. A target that cannot be started raises its TargetError.
    """
    from readiness.testing.execute import run_selected

    calls = 0
    out = out_folder(request.config)
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-") or "test"

    def run(
        suite: Suite | str | Path | None = None,
        *,
        scenario: str | None = None,
        scenarios: Sequence[str] = (),
        target: str | None = None,
    ) -> RunOutcome:
        nonlocal calls
        calls += 1
        if suite is None:
            suite = request.getfixturevalue("readiness_suite")
        folder = (
            tmp_path_factory.mktemp(f"readiness-{label}")
            if out is None
            else out / f"{label}-{calls}"
        )
        only = [*scenarios, *([scenario] if scenario is not None else [])]
        argv = ["pytest", *request.config.invocation_params.args]
        return run_selected(suite, folder, argv, only=only, target=target)

    return run
