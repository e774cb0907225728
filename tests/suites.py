"""Run scenarios from suite text in tests, as `readiness run` would: one scenario on its own
through a ScenarioContext, or the whole suite through the runner."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from readiness.config import parse_suite
from readiness.engine.progress import ProgressSink, ignore_progress
from readiness.runner import RunState, new_state, plan_pairs, run_suite
from readiness.scenarios.base import ScenarioContext


def scenario_context(
    tmp_path: Path,
    text: str,
    *,
    environ: Mapping[str, str] | None = None,
    on_progress: ProgressSink = ignore_progress,
) -> ScenarioContext:
    """The context of the suite's first scenario against its first target."""
    suite = parse_suite(text, str(tmp_path / "suite.toml"), environ=environ)
    return ScenarioContext(
        suite=suite,
        scenario=suite.scenarios[0],
        target=suite.targets[0],
        run_dir=tmp_path,
        on_progress=on_progress,
        on_connected=lambda _: None,
    )


async def run_all(folder: Path, text: str) -> RunState:
    """Every scenario of the suite against its targets, results written to `folder`."""
    suite = parse_suite(text, str(folder / "suite.toml"))
    state = new_state(suite, folder, ["readiness", "run"])
    return await run_suite(suite, state, plan_pairs(suite))
