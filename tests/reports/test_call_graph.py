"""The two-way call graph drawn in the HTML report: one sequence per operation, every text
escaped."""

from __future__ import annotations

from typing import Any

from readiness.reports.call_graph import call_graph


def summary(p50: float | None) -> dict[str, Any]:
    return {"count": 1, "p50": p50, "p99": p50}


def operation(name: str, **more: Any) -> dict[str, Any]:
    return {
        "operation": name,
        "calls": 4,
        "failed": {},
        "input_rounds": 0,
        "end_to_end_ms": summary(30.0),
        "client_ms": summary(20.0),
        "server_ms": summary(10.0),
        **more,
    }


def test_each_server_request_method_is_drawn_with_its_rate_and_the_client_time() -> None:
    sampled = operation("tools/call ask_llm", methods={"sampling/createMessage": 4})
    svg = call_graph({"two_way": {"operations": [sampled]}})
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert "sampling/createMessage · 1 per call" in svg
    assert "answer · client P50 20 ms" in svg
    assert "result · end-to-end P50 30 ms, server P50 10 ms" in svg
    assert svg.count("<polygon") == 4  # call, request, answer, result


def test_input_required_rounds_are_drawn_as_a_retry() -> None:
    retried = operation("tools/call ask_user", input_rounds=4)
    svg = call_graph({"two_way": {"operations": [retried]}})
    assert "input required · 1 per call" in svg
    assert "retry with inputResponses" in svg


def test_names_from_the_server_are_escaped() -> None:
    hostile = operation("tools/call <script>alert(1)</script>", methods={'x"><b>': 1})
    svg = call_graph({"two_way": {"operations": [hostile]}})
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert '"><b>' not in svg


def test_nothing_is_drawn_without_two_way_operations() -> None:
    assert call_graph({}) == ""
    assert call_graph({"two_way": {"operations": []}}) == ""
