"""Reading what `compare` and `--baseline` are given: a results.json file or a run folder."""

from __future__ import annotations

from pathlib import Path

from readiness.errors import ConfigError
from readiness.results import RunResult, load_results

_REQUIRED = {
    "run": ("name", "started_at", "tool_version"),
    "environment": ("hostname", "cpu_count", "platform"),
}


def results_path(path: Path) -> Path:
    """A run folder means its results.json."""
    return path / "results.json" if path.is_dir() else path


def load_run(path: Path) -> tuple[RunResult, Path]:
    """The run at `path` (a results.json or its folder); ConfigError names the file and why."""
    file = results_path(path)
    if not file.exists():
        where = "no results.json in this folder" if path.is_dir() else "no such file"
        raise ConfigError(where, file=str(path))
    result = load_results(file)
    problem = _shape_problem(result)
    if problem is not None:
        raise ConfigError(f"not a readiness result: {problem}", file=str(file))
    return result, file


def _shape_problem(result: RunResult) -> str | None:
    data: dict[str, object] = dict(result)
    for table, keys in _REQUIRED.items():
        part = data.get(table)
        if not isinstance(part, dict):
            return f"no {table!r} table"
        for key in keys:
            if key not in part:
                return f"no {table}.{key}"
    if not isinstance(data.get("targets"), list):
        return "no 'targets' list"
    scenarios = data.get("scenarios")
    if not isinstance(scenarios, list):
        return "no 'scenarios' list"
    for i, scenario in enumerate(scenarios):
        if not isinstance(scenario, dict):
            return f"scenarios[{i}] is not a table"
        for key in (
            "name",
            "kind",
            "target",
            "status",
            "load",
            "totals",
            "latency_ms",
            "operations",
        ):
            if key not in scenario:
                return f"scenarios[{i}] has no {key!r}"
    return None
