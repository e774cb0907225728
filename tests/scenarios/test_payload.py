"""The payload scenario against the real demo server: the ladder finds the size at which a
server with a blob limit starts failing and how, tells readiness's own reply cap from a
server failure, and restarts a server that died so the other direction is still measured."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import anyio
import orjson
import pytest

from readiness.errors import ConfigError
from readiness.reports.html import render_html
from readiness.reports.markdown import render_markdown
from readiness.results import ScenarioResult, dump_json, load_results
from readiness.runner import finish, new_state
from readiness.scenarios.payload import run_payload
from tests.suites import scenario_context

ROOT = Path(__file__).resolve().parents[2]
KIB = 1024
MIB = 1024 * KIB
LADDER = '["64KiB", "128KiB", "256KiB", "512KiB", "1MiB"]'


def payload_suite(
    server_flags: list[str],
    *,
    sizes: str = LADDER,
    requests: int = 4,
    scenario: str = "",
    target: str = "",
) -> str:
    args = ", ".join(f'"{a}"' for a in ["-m", "readiness.demo", *server_flags])
    return textwrap.dedent(
        f"""
        [[targets]]
        name = "server"
        transport = "stdio"
        command = "{sys.executable}"
        args = [{args}]
        cwd = "{ROOT}"
        {target}

        [[scenarios]]
        name = "payload"
        kind = "payload"
        sizes = {sizes}
        requests_per_size = {requests}
        {scenario}
        """
    )


async def climb(tmp_path: Path, text: str) -> ScenarioResult:
    with anyio.fail_after(90):
        return await run_payload(scenario_context(tmp_path, text))


def sizes_tried(result: ScenarioResult, direction: str) -> list[int]:
    return [s["size_bytes"] for s in result["payload_steps"] if s["direction"] == direction]


@pytest.mark.anyio
async def test_the_result_ladder_stops_at_the_first_size_over_the_servers_blob_limit(
    tmp_path: Path,
) -> None:
    text = payload_suite(
        ["--max-blob-kb", "256"],
        scenario='thresholds = ["max_payload >= 256KiB", "max_payload >= 1MiB"]',
    )
    result = await climb(tmp_path, text)

    payload = result["payload"]
    assert sizes_tried(result, "result") == [64 * KIB, 128 * KIB, 256 * KIB, 512 * KIB]
    assert payload["max_ok_bytes"]["result"] == 256 * KIB
    failure = payload["first_failure"]["result"]
    assert failure is not None
    assert failure["size_bytes"] == 512 * KIB
    assert failure["outcome"] == "tool_error"
    assert "over the limit of 256 KiB" in failure["detail"]
    failed_step = result["payload_steps"][3]
    assert failed_step["totals"]["errors"]["tool_error"] == 4
    assert failed_step["failure"] is not None
    assert failed_step["failure"].startswith("tool error: ")

    # The argument direction has no limit: it climbs the whole ladder.
    assert sizes_tried(result, "argument") == [64 * KIB, 128 * KIB, 256 * KIB, 512 * KIB, MIB]
    assert payload["max_ok_bytes"]["argument"] == MIB
    assert payload["first_failure"]["argument"] is None

    for step in result["payload_steps"]:
        if step["failure"] is None:
            assert step["totals"]["ok"] == 4
            assert step["mb_per_s"] is not None
            assert step["mb_per_s"] > 0
        assert step["server_rss_peak_bytes"] is not None
        assert step["server_rss_peak_bytes"] > 0
    assert [op["name"] for op in result["operations"]] == [
        "large results (tools/call blob)",
        "large arguments (tools/call echo)",
    ]
    assert result["totals"]["sent"] == 9 * 4
    assert not result["partial"]

    at_least_256k, at_least_1m = result["checks"]
    assert at_least_256k["observed"] == 256 * KIB
    assert at_least_256k["passed"]
    assert not at_least_1m["passed"]
    assert result["status"] == "failed"


@pytest.mark.anyio
async def test_a_reply_over_readinesss_own_cap_is_reported_as_the_cap_not_a_server_failure(
    tmp_path: Path,
) -> None:
    text = payload_suite([], scenario='direction = "result"', target='max_reply_bytes = "300KiB"')
    result = await climb(tmp_path, text)

    payload = result["payload"]
    assert list(payload["max_ok_bytes"]) == ["result"]
    assert payload["max_ok_bytes"]["result"] == 256 * KIB
    failure = payload["first_failure"]["result"]
    assert failure is not None
    assert failure["size_bytes"] == 512 * KIB
    assert failure["outcome"] == "reply_cap"
    assert "max_reply_bytes" in failure["detail"]
    assert "not a server failure" in failure["detail"]
    step = result["payload_steps"][-1]
    assert step["failure"] is not None
    assert step["failure"].startswith("readiness's reply cap: reply exceeds 307200 bytes")
    # The cap refuses the reply, not the connection: no restart was needed.
    assert result["server"]["reason"] == ""


@pytest.mark.anyio
async def test_a_server_that_dies_is_restarted_so_the_other_direction_is_still_measured(
    tmp_path: Path,
) -> None:
    # Each server serves 7 calls and dies on the 8th: 5 at 1 KiB, then 2 of the 2 KiB step.
    text = payload_suite(
        ["--crash-after", "7"],
        sizes='["1KiB", "2KiB", "4KiB"]',
        requests=5,
    )
    result = await climb(tmp_path, text)

    payload = result["payload"]
    for direction in ("result", "argument"):
        assert sizes_tried(result, direction) == [KIB, 2 * KIB]
        assert payload["max_ok_bytes"][direction] == KIB
        failure = payload["first_failure"][direction]
        assert failure is not None
        assert failure["size_bytes"] == 2 * KIB
        assert failure["outcome"] == "transport"
        assert "exited" in failure["detail"]
    assert "restarted" in result["server"]["reason"]
    assert (tmp_path / "logs" / "server-payload-2.stderr.log").is_file()


@pytest.mark.anyio
async def test_a_ladder_whose_tool_the_server_lacks_is_refused_naming_the_key_to_change(
    tmp_path: Path,
) -> None:
    text = payload_suite([], scenario='result_tool = "no_such_tool"')
    with pytest.raises(ConfigError) as caught:
        await climb(tmp_path, text)
    assert "'no_such_tool'" in caught.value.message
    assert caught.value.key is not None
    assert caught.value.key.endswith(".result_tool")


@pytest.mark.anyio
async def test_an_interrupted_ladder_measures_nothing_and_passes_no_check(tmp_path: Path) -> None:
    ctx = scenario_context(
        tmp_path, payload_suite([], scenario='thresholds = ["max_payload >= 1KiB"]')
    )
    ctx.interrupt.set()
    with anyio.fail_after(30):
        result = await run_payload(ctx)
    assert result["payload_steps"] == []
    assert result["payload"]["max_ok_bytes"] == {"result": None, "argument": None}
    assert result["partial"]
    assert not result["server"]["measured"]
    [check] = result["checks"]
    assert check["observed"] is None
    assert not check["passed"]


@pytest.mark.anyio
async def test_a_payload_result_round_trips_through_results_json_and_both_reports(
    tmp_path: Path,
) -> None:
    text = payload_suite(["--max-blob-kb", "128"], sizes='["64KiB", "256KiB"]')
    ctx = scenario_context(tmp_path, text)
    with anyio.fail_after(90):
        result = await run_payload(ctx)
    state = new_state(ctx.suite, tmp_path, ["readiness", "run"])
    state.result["scenarios"].append(result)
    path = finish(state)

    loaded = load_results(path)
    assert orjson.loads(dump_json(loaded)) == orjson.loads(dump_json(state.result))
    [scenario] = loaded["scenarios"]
    assert scenario["payload"] == result["payload"]
    markdown = render_markdown(loaded)
    assert "### Payload sizes" in markdown
    assert "the first failure was at 256.0 KiB — tool error:" in markdown
    assert "up to 256.0 KiB; no failure found" in markdown
    html = render_html(loaded)
    assert "<h3>Payload sizes</h3>" in html
    assert "the first failure was at 256.0 KiB — tool error:" in html
