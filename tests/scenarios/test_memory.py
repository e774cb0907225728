"""The memory scenario against real servers: it flags a real leak with the right slope, does
not cry wolf on a healthy server, catches a file-descriptor leak, and survives a crash."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from readiness.results import ScenarioResult, dump_json
from readiness.scenarios.memory import run_memory
from tests.suites import scenario_context

ROOT = Path(__file__).resolve().parents[2]


def memory_suite(args: list[str], *, rate: int, duration: str, warmup: str = "2s") -> str:
    quoted = ", ".join(f'"{a}"' for a in args)
    return textwrap.dedent(
        f"""
        [[targets]]
        name = "server"
        transport = "stdio"
        command = "{sys.executable}"
        args = [{quoted}]
        cwd = "{ROOT}"

        [[scenarios]]
        name = "memory"
        kind = "memory"
        load = {{ model = "open", rate = {rate}, duration = "{duration}" }}
        warmup = "{warmup}"
        settle = "1s"
        thresholds = ["leak == false", "fd_leak == false"]
        """
    )


async def soak(tmp_path: Path, text: str) -> ScenarioResult:
    ctx = scenario_context(tmp_path, text)
    with anyio.fail_after(120):
        result = await run_memory(ctx)
    dump_json({"scenario": result})  # type: ignore[arg-type]  # it serialises
    return result


@pytest.mark.anyio
async def test_a_leaking_server_is_flagged_with_a_slope_within_30_percent(tmp_path: Path) -> None:
    leak_kib = 20
    text = memory_suite(
        ["-m", "readiness.demo", "--leak-kb-per-call", str(leak_kib)], rate=100, duration="14s"
    )
    result = await soak(tmp_path, text)
    memory = result["memory"]
    assert memory["measured"]
    assert memory["rss"] is not None
    assert memory["rss"]["verdict"] == "leak"
    slope = memory["rss"]["per_1k_requests"]
    assert slope is not None
    assert slope["slope"] == pytest.approx(leak_kib * 1024 * 1000, rel=0.3)
    assert result["status"] == "failed"
    [leak_check, _] = result["checks"]
    assert leak_check["observed"] == 1.0
    assert not leak_check["passed"]


@pytest.mark.anyio
async def test_a_healthy_server_is_never_flagged_across_repeated_short_runs(
    tmp_path: Path,
) -> None:
    text = memory_suite(["-m", "readiness.demo"], rate=100, duration="13s")
    verdicts: list[str] = []

    async def one(i: int) -> None:
        folder = tmp_path / str(i)
        folder.mkdir()
        result = await soak(folder, text)
        assert result["memory"]["rss"] is not None
        verdicts.append(result["memory"]["rss"]["verdict"])

    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(one, i)
    assert len(verdicts) == 3
    assert "leak" not in verdicts


@pytest.mark.anyio
async def test_a_file_descriptor_leak_is_flagged(tmp_path: Path) -> None:
    text = memory_suite(["tests/fd_leak_server.py"], rate=50, duration="14s", warmup="1s")
    result = await soak(tmp_path, text)
    memory = result["memory"]
    assert memory["fds"] is not None
    assert memory["fds"]["verdict"] == "leak"
    assert memory["fd_initial"] is not None
    assert memory["fd_final"] is not None
    assert memory["fd_final"] - memory["fd_initial"] >= 500
    assert any(c["metric"] == "fd_leak" and not c["passed"] for c in result["checks"])


@pytest.mark.anyio
async def test_a_server_that_dies_mid_soak_gets_an_inconclusive_verdict_and_its_history(
    tmp_path: Path,
) -> None:
    text = memory_suite(
        ["-m", "readiness.demo", "--crash-after", "400"], rate=100, duration="8s", warmup="1s"
    )
    result = await soak(tmp_path, text)
    memory = result["memory"]
    assert memory["server_exited_at_s"] is not None
    assert memory["rss"] is not None
    assert memory["rss"]["verdict"] == "inconclusive"
    assert "exited" in memory["rss"]["reason"]
    assert len(memory["samples"]) > 4
    assert result["totals"]["errors"]["transport"] > 0
