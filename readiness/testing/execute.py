"""Runs some of a suite's (scenario, target) pairs into a folder, as `readiness run` does —
the same runner, results.json and reports — and reads the outcome back from results.json."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from readiness.config import Suite, find_suite
from readiness.errors import OutputError
from readiness.reports.writer import write_reports
from readiness.results import as_stored
from readiness.runner import RunState, finish, new_state, plan_pairs, run_suite
from readiness.testing.outcome import RunOutcome

if TYPE_CHECKING:
    from readiness.config import ScenarioConfig, TargetConfig

Pairs = Sequence[tuple["ScenarioConfig", "TargetConfig"]]


def load(suite: Suite | str | Path) -> Suite:
    """A loaded suite as it is; a path read as `readiness run -c PATH` reads it."""
    if isinstance(suite, Suite):
        return suite
    return find_suite(str(suite), Path.cwd())


def run_selected(
    suite: Suite | str | Path,
    folder: Path,
    argv: Sequence[str],
    *,
    only: Sequence[str] = (),
    target: str | None = None,
) -> RunOutcome:
    """Run the suite's scenarios named in `only` (all when empty) against `target` (all when
    None). A fatal error of the run (a target that would not start, an unwritable folder) is
    raised after what was measured has been written."""
    loaded = load(suite)
    state = run_pairs(loaded, plan_pairs(loaded, only, target), folder, argv)
    if state.fatal is not None:
        raise state.fatal
    return RunOutcome.load(folder)


def pairs_named(
    suite: Suite, wanted: Collection[tuple[str, str]]
) -> list[tuple[ScenarioConfig, TargetConfig]]:
    """The suite's pairs whose (target name, scenario name) is wanted, in suite order."""
    return [(s, t) for s, t in plan_pairs(suite) if (t.name, s.name) in wanted]


def run_pairs(suite: Suite, pairs: Pairs, folder: Path, argv: Sequence[str]) -> RunState:
    """Run the pairs in order and write results.json and the reports into `folder`; the state
    says how it ended (`fatal`). An interrupt (Ctrl-C) still writes what was measured."""
    state = new_state(suite, folder, argv, pairs=pairs)
    try:
        state.save()  # an unwritable folder fails before any load is sent
    except OutputError as exc:
        state.fatal = exc
        return state
    try:
        anyio.run(partial(run_suite, suite, state, pairs))
    except KeyboardInterrupt:
        state.interrupt.set()
        finish(state)
        _write_reports(state)
        raise
    _write_reports(state)
    _keep_internal_errors(state)
    return state


def _write_reports(state: RunState) -> None:
    if isinstance(state.fatal, OutputError):
        return  # the reports would fail the same way
    try:
        write_reports(as_stored(state.result), state.folder)
    except OSError as exc:
        state.fatal = OutputError(str(state.folder), exc)


def _keep_internal_errors(state: RunState) -> None:
    """Tracebacks of our own bugs go to logs/internal-errors.txt, as with `readiness run`."""
    if not state.internal_errors:
        return
    log = state.folder / "logs" / "internal-errors.txt"
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as handle:
            handle.writelines(state.redact(trace) + "\n" for trace in state.internal_errors)
    except OSError:
        pass  # the scenario's own error already says an internal error happened
