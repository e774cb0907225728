"""How long `readiness --help` takes to start, as a ratio to `python -c "import typer"`.

Run: `python benchmarks/bench_startup.py [--runs 15]`. Each command runs in a fresh interpreter,
alternating, `--runs` times; the medians and their ratio are printed, with the number of modules
each leaves in `sys.modules`. The budget is a ratio of at most 2.0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 2.0

# What the console script does, with `--help`; then how many modules that left loaded.
HELP = (
    "import sys\n"
    "sys.argv = ['readiness', '--help']\n"
    "from readiness.cli import main\n"
    "try:\n"
    "    main()\n"
    "except SystemExit:\n"
    "    pass\n"
)
TYPER = "import typer\n"
COUNT = "import sys\nsys.stdout = sys.__stdout__\nprint(len(sys.modules), file=sys.stderr)\n"


def timed(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def modules(code: str, env: dict[str, str]) -> int:
    done = subprocess.run(
        [sys.executable, "-c", code + COUNT], env=env, check=True, capture_output=True, text=True
    )
    return int(done.stderr.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs of each command (default 15)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    timed(HELP, env)  # warm the file cache and the bytecode
    help_times: list[float] = []
    typer_times: list[float] = []
    for _ in range(args.runs):
        typer_times.append(timed(TYPER, env))
        help_times.append(timed(HELP, env))
    help_median = statistics.median(help_times)
    typer_median = statistics.median(typer_times)
    ratio = help_median / typer_median
    print(f"{'command':28} {'median ms':>10} {'modules':>8}")
    typer_label = 'python -c "import typer"'
    print(f"{typer_label:28} {typer_median * 1000:10.1f} {modules(TYPER, env):8}")
    print(f"{'readiness --help':28} {help_median * 1000:10.1f} {modules(HELP, env):8}")
    verdict = "within" if ratio <= BUDGET else "OVER"
    print(f"ratio {ratio:.2f} ({verdict} the budget of {BUDGET:g}x), {args.runs} runs each")
    return 0 if ratio <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
