"""Misbehaving Streamable HTTP servers, run as `readiness run` runs a suite: every scenario
ends within its bounds, its results and reports are written, and what the server did is
classified, by outcome and by cause."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest

from readiness.protocol.sse import SseParser
from tests.protocol.fake_http import HTML_MARKER, serve_fake
from tests.robustness.runs import Run, run_suite_text

pytestmark = pytest.mark.anyio

REQUEST_TIMEOUT = 1.5  # seconds: the comment-only SSE stream sends one a second
REQUESTS = 3


def scenario(tool: str, requests: int = REQUESTS, concurrency: int = 1) -> str:
    return f"""
        [[scenarios]]
        name = "{tool}"
        kind = "throughput"
        load = {{ concurrency = {concurrency}, requests = {requests} }}
        grace = "1s"

        [[scenarios.workload.operations]]
        call = "tools/call"
        tool = "{tool}"
        """


@pytest.fixture(params=["auto", "aiohttp"])
def http_client(request: pytest.FixtureRequest) -> str:
    """Both clients: auto takes the fast one for a plain http:// URL; https takes aiohttp."""
    return str(request.param)


async def run_against_fake(
    tmp_path: Path, http_client: str, *scenarios: str
) -> tuple[Run, dict[str, Any]]:
    async with serve_fake() as fake:
        text = f"""
        [[targets]]
        name = "fake"
        transport = "http"
        url = "{fake.url}"
        http_client = "{http_client}"
        request_timeout = "{REQUEST_TIMEOUT}s"
        """ + "".join(scenarios)
        # Bound: each request ends within its timeout; the scenarios run one after another.
        with anyio.fail_after(30 + len(scenarios) * REQUESTS * REQUEST_TIMEOUT):
            run = await run_suite_text(tmp_path / "out", textwrap.dedent(text))
    by_name = {s["name"]: s for s in run.results["scenarios"]}
    return run, by_name


async def test_wrong_content_type_html_500_and_a_reset_are_classified_transport_errors(
    tmp_path: Path,
    http_client: str,
) -> None:
    run, found = await run_against_fake(
        tmp_path,
        http_client,
        scenario("wrong_content_type"),
        scenario("html500"),
        scenario("reset"),
    )
    for name in ("wrong_content_type", "html500", "reset"):
        totals = found[name]["totals"]
        assert totals["errors"]["transport"] == REQUESTS, name
        assert totals["ok"] == 0, name

    wrong = found["wrong_content_type"]["protocol"]
    assert wrong["bad_content_type"] == REQUESTS
    [(detail, count)] = wrong["transport_errors"].items()
    assert detail.startswith("HTTP 200 with unexpected Content-Type 'text/html")
    assert count == REQUESTS
    assert "Content-Type other than application/json or text/event-stream" in run.markdown

    # The status, not the page: the HTML body appears in no output.
    assert found["html500"]["protocol"]["transport_errors"] == {"HTTP 500": REQUESTS}
    assert found["html500"]["protocol"]["violations"] == []
    for output in (run.markdown, run.html, str(run.results)):
        assert HTML_MARKER not in output
    assert "<code>HTTP 500</code> × 3" in run.html

    assert found["reset"]["protocol"]["transport_errors"] == {
        "broken reply body: connection reset by peer mid-reply": REQUESTS
    }


async def test_sse_stream_of_comments_without_a_reply_times_out_per_request(
    tmp_path: Path,
    http_client: str,
) -> None:
    _, found = await run_against_fake(
        tmp_path, http_client, scenario("sse_comments", requests=2, concurrency=2)
    )
    totals = found["sse_comments"]["totals"]
    assert totals["errors"]["timeout"] == 2
    assert totals["sent"] == 2
    assert found["sse_comments"]["status"] != "error"


async def test_sse_event_split_into_many_chunks_is_parsed(tmp_path: Path, http_client: str) -> None:
    run, found = await run_against_fake(tmp_path, http_client, scenario("sse_split"))
    assert found["sse_split"]["totals"]["ok"] == REQUESTS
    assert "protocol" not in found["sse_split"]
    # A plain http:// target takes the fast client, and the results and report say so.
    used = "fast" if http_client == "auto" else http_client
    assert run.results["targets"][0]["http_client"] == used
    assert f"http ({used} client)" in run.markdown


def test_sse_parser_reads_an_event_fed_one_byte_at_a_time() -> None:
    stream = b': comment\r\nevent: message\r\ndata: {"a":\r\ndata: 1}\r\n\r\n'
    parser = SseParser(limit=1024)
    events: list[bytes] = []
    for i in range(len(stream)):
        got = parser.feed(stream[i : i + 1])
        assert got is not None
        events += got
    assert events == [b'{"a":\n1}']


@pytest.mark.parametrize("split", [None, 7])
def test_sse_parser_refuses_an_event_over_its_limit_however_it_arrives(split: int | None) -> None:
    event = b"data: " + b"x" * 3000 + b"\n\n"
    parser = SseParser(limit=2048)
    # whole in one read (the event completes inside the chunk), or in small pieces
    pieces = (
        [event] if split is None else [event[i : i + split] for i in range(0, len(event), split)]
    )
    results = [parser.feed(piece) for piece in pieces]
    assert None in results
    assert all(r == [] for r in results[: results.index(None)])


async def test_redirects_307_308_are_followed_within_the_origin_and_others_refused(
    tmp_path: Path,
    http_client: str,
) -> None:
    _, found = await run_against_fake(
        tmp_path,
        http_client,
        scenario("redirect307"),
        scenario("redirect308"),
        scenario("redirect302"),
        scenario("redirect_away"),
    )
    assert found["redirect307"]["totals"]["ok"] == REQUESTS
    assert found["redirect308"]["totals"]["ok"] == REQUESTS
    for name, why in (
        ("redirect302", "not followed: it would turn the POST into a GET"),
        ("redirect_away", "redirect to another origin"),
    ):
        assert found[name]["totals"]["errors"]["transport"] == REQUESTS
        [(detail, count)] = found[name]["protocol"]["transport_errors"].items()
        assert why in detail
        assert count == REQUESTS
