"""The corpus through the command line: a refused mutant exits 2 with the error first, no
traceback, and no server started (the target's command would leave a marker file)."""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path

from readiness.config import load_suite
from readiness.errors import ConfigError
from tests.clirun import run_cli
from tests.config_mutants import Mutant, corpus

CLI_MUTANTS = 20
CONTEXT = re.compile(r"\s+\d+ \| |\s+\| +\^$|also:$|  \S+(?::\d+)?: |  … and \d+ more$")


def marking_python(folder: Path, marker: Path) -> Path:
    """A stand-in for ${PYTHON} that leaves `marker` behind when any target is started."""
    script = folder / "marking-python"
    script.write_text(f'#!/bin/sh\ntouch "{marker}"\nexec "{sys.executable}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def refused(mutants: list[Mutant], path: Path, environ: dict[str, str]) -> list[Mutant]:
    chosen = []
    for mutant in mutants:
        path.write_bytes(mutant.data)
        try:
            load_suite(path, environ=environ)
        except ConfigError:
            chosen.append(mutant)
    return chosen


def test_a_refused_mutant_exits_2_with_its_error_first_and_starts_nothing(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "a-target-was-started"
    env = {**os.environ, "PYTHON": str(marking_python(tmp_path, marker))}
    path = tmp_path / "suite.toml"
    # Every family and every base, spread over the corpus.
    pool = refused(corpus(400, seed=1414), path, env)
    chosen = pool[:: max(1, len(pool) // CLI_MUTANTS)][:CLI_MUTANTS]
    assert len(chosen) == CLI_MUTANTS
    failures = []
    for mutant in chosen:
        path.write_bytes(mutant.data)
        out = tmp_path / "out"
        proc = run_cli(
            "run", "-c", str(path), "--out", str(out), "-q", cwd=tmp_path, timeout=60, env=env
        )  # fmt: skip
        first, *rest = proc.stderr.splitlines() or [""]
        # After the line that says it all: only the quoted source line, its caret, and the
        # other problems found ("also:"), each naming its file and line.
        extra = [line for line in rest if not CONTEXT.match(line)]
        problems = [
            f"exit {proc.returncode}" if proc.returncode != 2 else "",
            "a traceback" if "Traceback" in proc.stderr else "",
            f"more than the error: {extra}" if extra else "",
            f"first line {first!r}" if not first.startswith(f"ConfigError: {path}") else "",
            "a target was started" if marker.exists() else "",
            "a report folder was written" if out.exists() else "",
        ]
        if any(problems):
            failures.append(f"{mutant.id}: {', '.join(p for p in problems if p)}\n{proc.stderr}")
    assert not failures, "\n".join(failures)
