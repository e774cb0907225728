"""The command line as tests run it: `python -m readiness.cli` in a subprocess (this checkout's
package, not an installed console script), a suite file written beside it, results read back."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

READINESS = [sys.executable, "-m", "readiness.cli"]


def run_cli(
    *args: str,
    cwd: Path,
    timeout: float = 180,
    env: dict[str, str] | None = None,
    fsize: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """`readiness ARGS` in `cwd`, output captured as text; `env` adds to this environment and
    `fsize` caps the size of any file the run writes (RLIMIT_FSIZE)."""

    def limit_file_size() -> None:  # Python ignores SIGXFSZ: a write past it fails with EFBIG
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [*READINESS, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
        preexec_fn=limit_file_size if fsize is not None else None,
    )


def suite(tmp_path: Path, body: str, name: str = "suite.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def results(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "results.json").read_text())
    return data
