"""Scenarios whose figures are one process's run in one worker: a target with a simulated
client (its two-way figures are not merged) and a subscriptions scenario."""

from __future__ import annotations

import sys
from pathlib import Path

from readiness.config import parse_suite
from readiness.distributed.policy import single_worker_reason

TARGET = f"""
[[targets]]
name = "demo"
transport = "stdio"
command = "{sys.executable}"
args = ["-m", "readiness.demo"]
"""
THROUGHPUT = """
[[scenarios]]
name = "load"
kind = "throughput"
load = { model = "closed", concurrency = 2, requests = 10 }
"""


def reason(tmp_path: Path, text: str) -> str | None:
    suite = parse_suite(text, str(tmp_path / "suite.toml"))
    return single_worker_reason(suite, suite.scenarios[0], suite.targets[0])


def test_a_target_with_a_simulated_client_runs_in_one_worker(tmp_path: Path) -> None:
    assert reason(tmp_path, TARGET + THROUGHPUT) is None
    with_client = TARGET + '[targets.client]\nroots = ["file:///p"]\n' + THROUGHPUT
    assert "two-way figures" in str(reason(tmp_path, with_client))


def test_a_subscriptions_scenario_runs_in_one_worker(tmp_path: Path) -> None:
    text = TARGET + (
        '[[scenarios]]\nname = "s"\nkind = "subscriptions"\n'
        '[scenarios.subscribe]\nuri = "demo://counter"\ntrigger = { tool = "bump_counter" }\n'
    )
    assert "subscribed sessions" in str(reason(tmp_path, text))
