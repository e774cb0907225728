"""The suite file as pytest nodes: file → target → scenario → one item per check, so a node id
reads `scenarios.toml::<target>::<scenario>::<check>`.

Items are known from the suite alone (a scenario's checks are its thresholds), so `-k` and
deselection act before any load is sent. Once they are final, one run of the scenarios that
still have items is made, and every item reads its verdict from that run's results.json.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from readiness.errors import ReadinessError

if TYPE_CHECKING:
    from _pytest._code.code import ExceptionInfo, TerminalRepr

    from readiness.config import ScenarioConfig, Suite, TargetConfig
    from readiness.testing.outcome import CheckOutcome, RunOutcome, ScenarioOutcome

NO_CHECKS = "scenario completed"  # the one item of a scenario without thresholds, as in scoring


class CheckFailed(Exception):
    """A check did not pass, or its scenario could not be judged; the message says why."""


def run_suite_files(session: pytest.Session) -> None:
    """Run each suite file's selected scenarios (once; an error is kept for its items)."""
    files = {id(f): f for item in session.items if (f := item.getparent(SuiteFile)) is not None}
    for suite_file in files.values():
        suite_file.run_once()


class SuiteFile(pytest.File):
    """A readiness suite; it runs its selected scenarios once, on first demand."""

    _suite: Suite | None = None
    _ran: RunOutcome | BaseException | None = None
    fatal: str | None = None  # why the run stopped early (a target that would not start)

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        from readiness.config import load_suite
        from readiness.runner import plan_pairs

        try:
            self._suite = load_suite(self.path)
            pairs = plan_pairs(self._suite)
        except ReadinessError as exc:
            raise self.CollectError(f"{type(exc).__name__}: {exc}") from None
        by_target: dict[str, list[ScenarioConfig]] = {}
        targets: dict[str, TargetConfig] = {}
        for scenario, target in pairs:
            by_target.setdefault(target.name, []).append(scenario)
            targets[target.name] = target
        for name, scenarios in by_target.items():
            yield TargetNode.from_parent(self, name=name, scenarios=scenarios)

    @property
    def lets_unproven_pass(self) -> bool:
        """`[gate] on_inconclusive` is "warn" or "pass": a check not proven is not a failure."""
        suite = getattr(self, "_suite", None)
        return suite is None or suite.gate.on_inconclusive != "fail"

    def run_once(self) -> None:
        """Run every scenario that has a selected item, unless that was done already."""
        if self._ran is None:
            try:
                self._ran = self._run()
            except (ReadinessError, OSError) as exc:
                self._ran = exc

    def outcome(self) -> RunOutcome:
        """The run of the selected scenarios; CheckFailed when it could not be done."""
        self.run_once()
        assert self._ran is not None
        if isinstance(self._ran, BaseException):
            raise CheckFailed(f"the run failed: {type(self._ran).__name__}: {self._ran}")
        return self._ran

    def _run(self) -> RunOutcome:
        import tempfile

        from readiness.testing.execute import pairs_named, run_pairs
        from readiness.testing.outcome import RunOutcome
        from readiness.testing.plugin import RUN_FOLDER, out_folder

        assert self._suite is not None
        wanted = {
            (item.target, item.scenario)
            for item in self.session.items
            if isinstance(item, CheckItem) and item.path == self.path
        }
        config = self.config
        folder = out_folder(config)
        if folder is None:
            factory: pytest.TempPathFactory | None = getattr(config, "_tmp_path_factory", None)
            folder = (
                factory.mktemp("readiness-run")
                if factory is not None
                else Path(tempfile.mkdtemp(prefix="readiness-run-"))
            )
        config.stash[RUN_FOLDER] = folder
        argv = ["pytest", *config.invocation_params.args]
        state = run_pairs(self._suite, pairs_named(self._suite, wanted), folder, argv)
        if state.fatal is not None:
            # Scenarios after a target that would not start never ran: say why on their items.
            self.fatal = f"{type(state.fatal).__name__}: {state.fatal}"
        return RunOutcome.load(folder)


class TargetNode(pytest.Collector):
    """The scenarios run against one target."""

    def __init__(self, *, scenarios: list[ScenarioConfig], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._scenarios = scenarios

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        for scenario in self._scenarios:
            yield ScenarioNode.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioNode(pytest.Collector):
    """One scenario against one target; its items are its checks."""

    def __init__(self, *, scenario: ScenarioConfig, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._scenario = scenario

    def collect(self) -> Iterator[pytest.Item]:
        from readiness.scenarios.base import thresholds_of

        expressions = [t.expression for t in thresholds_of(self._scenario)]
        if not expressions:
            yield CheckItem.from_parent(self, name=NO_CHECKS, index=None)
            return
        seen: dict[str, int] = {}
        for index, expression in enumerate(expressions):
            seen[expression] = seen.get(expression, 0) + 1
            name = expression if seen[expression] == 1 else f"{expression} [{seen[expression]}]"
            yield CheckItem.from_parent(self, name=name, index=index)


class NotProven(UserWarning):
    """A check whose 95% interval straddles its limit, passed by `[gate] on_inconclusive`."""


class CheckItem(pytest.Item):
    """One check of one scenario against one target: passes when the check passed."""

    def __init__(self, *, index: int | None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.index = index  # in the scenario's checks; None: the scenario has none
        assert self.parent is not None
        assert self.parent.parent is not None
        self.scenario = self.parent.name
        self.target = self.parent.parent.name

    def runtest(self) -> None:
        suite_file = self.getparent(SuiteFile)
        assert suite_file is not None
        outcome = suite_file.outcome()
        scenario = _scenario_of(outcome, self.target, self.scenario, suite_file.fatal)
        if scenario.status == "error":
            raise CheckFailed(f"the scenario ended in error: {scenario.error}")
        if self.index is None:
            if scenario.status != "passed":
                raise CheckFailed(f"the scenario is {scenario.status}")
            return
        check = _check_of(scenario, self.index, self.name)
        if not check.passed and check.verdict == "inconclusive" and suite_file.lets_unproven_pass:
            # [gate] on_inconclusive = "warn" or "pass": not a failure, as for `readiness run`;
            # a warning says it is not proven ("fail" fails it below).
            message = f"{self.target}::{self.scenario}: {check.expression} not proven: "
            warnings.warn(NotProven(message + check.describe()), stacklevel=1)
            return
        if not check.passed:
            if check.observed is None:
                failed = "not measured"
            elif check.verdict == "inconclusive":  # `run --repeat`: the interval straddles
                failed = "inconclusive, which is not a pass"
            else:
                failed = "failed"
            raise CheckFailed(f"{check.expression} {failed}: {check.describe()}")

    def repr_failure(
        self,
        excinfo: ExceptionInfo[BaseException],
        style: str | None = None,
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, CheckFailed):
            return f"{self.target}::{self.scenario}: {excinfo.value}"
        return super().repr_failure(excinfo, style=style)  # type: ignore[arg-type]

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.target}::{self.scenario}::{self.name}"


def _scenario_of(outcome: RunOutcome, target: str, name: str, fatal: str | None) -> ScenarioOutcome:
    for scenario in outcome.scenarios:
        if scenario.name == name and scenario.target == target:
            return scenario
    why = fatal or f"the run ended {outcome.status} before it"
    raise CheckFailed(f"the scenario did not run: {why}")


def _check_of(scenario: ScenarioOutcome, index: int, name: str) -> CheckOutcome:
    if index < len(scenario.checks):
        return scenario.checks[index]
    raise CheckFailed(f"results.json has no check {name!r} for this scenario")
