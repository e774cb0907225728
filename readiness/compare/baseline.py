"""Saving a run as the baseline later runs compare against: a copy of its results.json."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from readiness.compare.inputs import load_run
from readiness.config.suite import DEFAULT_SUITE_SOURCE
from readiness.errors import ConfigError
from readiness.results import RunResult, write_atomic

BASELINE_NAME = "baseline.json"


@dataclass(frozen=True)
class SavedBaseline:
    path: Path
    run: str
    started_at: str
    targets: tuple[str, ...]
    scenarios: tuple[str, ...]


def default_baseline_path(result: RunResult, cwd: Path) -> Path:
    """baseline.json beside the suite file the run came from (the working folder for the
    built-in suite, or when that file is gone)."""
    config = result["run"]["config"]
    if config and config != DEFAULT_SUITE_SOURCE:
        folder = (cwd / config).parent
        if folder.is_dir():
            return folder / BASELINE_NAME
    return cwd / BASELINE_NAME


def save_baseline(run: Path, dest: Path | None, cwd: Path) -> SavedBaseline:
    """Copy the run's results.json (checked first) to `dest`, or the default place."""
    result, file = load_run(run)
    path = dest if dest is not None else default_baseline_path(result, cwd)
    try:
        write_atomic(path, file.read_bytes())
    except OSError as exc:
        raise ConfigError(
            f"cannot save the baseline: {exc.strerror or exc}", file=str(path)
        ) from None
    return SavedBaseline(
        path=path,
        run=result["run"]["name"],
        started_at=result["run"]["started_at"],
        targets=tuple(t["name"] for t in result["targets"]),
        scenarios=tuple(dict.fromkeys(s["name"] for s in result["scenarios"])),
    )
