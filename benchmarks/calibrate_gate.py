"""How often the baseline gate cries wolf, and how often it catches a real change (issue 9 §5).

    python benchmarks/calibrate_gate.py --pairs 40 --out /tmp/calib      # runs, then the table
    python benchmarks/calibrate_gate.py --out /tmp/calib --report-only    # the table again

Each run is one short open-model scenario (RATE for DURATION, latency from intended start)
against the demo server over stdio with a lognormal latency knob, `--latency
lognormal:median=M,p99=P`, scaled by a factor per condition:

    A       factor 1.00 (the base of every pair)     A2   factor 1.00 again  → A/A
    plus20  factor 1.20    minus20  factor 0.80     plus5, plus10, plus15   → sensitivity

Pair i compares run A_i with run X_i of each condition X (A2 for A/A), with the default
[gate] tolerances (p50/p99 10%) and again with every tolerance set to 0 (the interval alone).
Conditions are interleaved (A_i, A2_i, +20%_i, … then i+1) so that a slow stretch of the
machine falls on every condition alike. With `--repeat K` each run is `run --repeat K`, and the
comparison also holds the repetitions' between-run spread. The runs use the library in-process
(the same code `readiness run` calls) to save the interpreter start per run; each starts its own
demo server.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from readiness.compare.runs import compare_runs
from readiness.config import parse_suite
from readiness.config.gate import DEFAULT_MAX_REGRESSION, GateConfig
from readiness.results import RunResult, load_results
from readiness.runner import new_state, plan_pairs, run_suite

CONDITIONS = {
    "A": 1.0,
    "A2": 1.0,
    "plus20": 1.2,
    "minus20": 0.8,
    "plus5": 1.05,
    "plus10": 1.10,
    "plus15": 1.15,
}

SUITE = """
[run]
name = "calibration"

[[targets]]
name = "demo"
transport = "stdio"
command = "{python}"
args = ["-m", "readiness.demo", "--latency", "lognormal:median={median:.3f}ms,p99={p99:.3f}ms"]
request_timeout = "5s"

[[workload.operations]]
call = "tools/call"
tool = "echo"
arguments = {{ text = "hello" }}

[[scenarios]]
name = "short"
kind = "throughput"
load = {{ model = "open", rate = "{rate}/s", duration = "{duration}s" }}
"""


async def _one_run(folder: Path, factor: float, args: argparse.Namespace) -> None:
    text = SUITE.format(
        python=sys.executable,
        median=args.median_ms * factor,
        p99=args.p99_ms * factor,
        rate=args.rate,
        duration=args.duration,
    )
    suite = parse_suite(text, str(folder / "suite.toml"))
    state = new_state(suite, folder, ["calibrate_gate"])
    await run_suite(suite, state, plan_pairs(suite), repeat=args.repeat)


def run_all(args: argparse.Namespace) -> None:
    out: Path = args.out
    for i in range(args.start, args.pairs):
        for name in args.conditions:
            folder = out / name / f"{i:03d}"
            if (folder / "done").exists():
                continue
            folder.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            anyio.run(_one_run, folder, CONDITIONS[name], args)
            (folder / "done").touch()
            print(f"pair {i} {name}: {time.perf_counter() - started:.1f} s", flush=True)


def _verdicts(base: RunResult, new: RunResult, gate: GateConfig) -> dict[str, str]:
    comparison = compare_runs(base, new, gate=gate)
    return {
        r["metric"]: r["verdict"]
        for r in comparison["rows"]
        if r["operation"] == "(all)" and r["metric"]
    }


def report(args: argparse.Namespace) -> dict[str, Any]:
    out: Path = args.out
    zero = GateConfig(max_regression={k: 0.0 for k in DEFAULT_MAX_REGRESSION})
    table: dict[str, Any] = {}
    bases = sorted((out / "A").glob("*/results.json"))
    for name in [c for c in args.conditions if c != "A"]:
        rows = {"default": [], "zero": []}  # type: dict[str, list[dict[str, str]]]
        for base_file in bases:
            new_file = out / name / base_file.parent.name / "results.json"
            if not (base_file.parent / "done").exists() or not (new_file.parent / "done").exists():
                continue
            base, new = load_results(base_file), load_results(new_file)
            rows["default"].append(_verdicts(base, new, GateConfig()))
            rows["zero"].append(_verdicts(base, new, zero))
        if not rows["default"]:
            continue
        summary: dict[str, Any] = {"pairs": len(rows["default"])}
        for gate_name, found in rows.items():
            n = len(found)
            summary[gate_name] = {
                "any_regressed": sum(any(v == "regressed" for v in f.values()) for f in found) / n,
                **{
                    f"{metric}_{verdict}": sum(f.get(metric) == verdict for f in found) / n
                    for metric in ("p50", "p99", "throughput")
                    for verdict in ("regressed", "improved")
                },
            }
        table[name] = summary
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--median-ms", type=float, default=40.0)
    parser.add_argument("--p99-ms", type=float, default=120.0)
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS))
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="repetitions per run (run --repeat): compare then uses the between-run spread as well",
    )
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if not args.report_only:
        run_all(args)
    print(json.dumps(report(args), indent=2))


if __name__ == "__main__":
    main()
