"""Reading a Prometheus page with prometheus-client's parser: selected series summed over
labels, and a counter's increase across a restart."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from readiness.health.prometheus import increase, select_series

PAGE = """\
# HELP mcp_tool_calls_total Tool calls.
# TYPE mcp_tool_calls_total counter
mcp_tool_calls_total{tool="echo"} 30
mcp_tool_calls_total{tool="add"} 12
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 7.25e+07
"""

NAMES = {
    "requests": "mcp_tool_calls_total",
    "errors": "mcp_tool_errors_total",
    "memory": "process_resident_memory_bytes",
}


def test_selected_series_are_summed_over_their_labels_and_missing_ones_are_none() -> None:
    assert select_series(PAGE, NAMES) == {"requests": 42.0, "errors": None, "memory": 7.25e7}


def test_a_page_the_parser_cannot_read_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid metric name"):
        select_series("<html>not metrics</html>\n", NAMES)


def test_a_counter_that_drops_was_reset_and_counts_what_it_counted_since() -> None:
    assert increase([0, 10, 25, 3, 8]) == (25 + 3 + 5, 1)


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=50))
def test_the_increase_of_a_counter_that_never_drops_is_last_minus_first(steps: list[int]) -> None:
    values = [float(sum(steps[: i + 1])) for i in range(len(steps))]
    assert increase(values) == (values[-1] - values[0], 0)
