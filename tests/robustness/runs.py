"""Run a suite in-process as `readiness run` does, reports and all, and check a pid is gone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import psutil

from readiness.reports.writer import write_reports
from readiness.results import as_stored
from tests.suites import run_all


@dataclass
class Run:
    results: dict[str, Any]  # results.json as written
    markdown: str
    html: str

    @property
    def scenario(self) -> dict[str, Any]:
        [scenario] = self.results["scenarios"]
        return scenario  # type: ignore[no-any-return]


async def run_suite_text(folder: Path, text: str) -> Run:
    """Every scenario of the suite, then the reports, as the CLI writes them."""
    await anyio.Path(folder).mkdir(parents=True, exist_ok=True)
    state = await run_all(folder, text)
    write_reports(as_stored(state.result), folder)
    return written(folder)


def written(folder: Path) -> Run:
    return Run(
        results=json.loads((folder / "results.json").read_text()),
        markdown=(folder / "report.md").read_text(),
        html=(folder / "report.html").read_text(),
    )


def gone(pid: int) -> bool:
    """The process has ended (a zombie waiting to be reaped counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
