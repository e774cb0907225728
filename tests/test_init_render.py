"""The TOML `readiness init` writes: any JSON argument value round-trips, and the loads are
bounded and sized by latency."""

from __future__ import annotations

import tomllib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from readiness.init.render import header_variable, size_for, toml_value

JSON = st.recursive(
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), JSON, max_size=5))
def test_any_json_arguments_round_trip_through_toml(arguments: dict[str, Any]) -> None:
    parsed = tomllib.loads(f"arguments = {toml_value(arguments)}\n")
    assert parsed["arguments"] == _without_surrogates(arguments)


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    return value


@given(st.floats(min_value=1e-5, max_value=100.0))
def test_loads_are_bounded_and_slower_servers_get_less(latency: float) -> None:
    sizing = size_for(latency)
    assert 5 <= sizing.rate <= 200
    assert 200 <= sizing.requests <= 1000
    assert sizing.p99_s >= 0.5
    assert size_for(latency * 10).rate <= sizing.rate


def test_header_variables_are_environment_names() -> None:
    assert header_variable("Authorization") == "READINESS_AUTHORIZATION"
    assert header_variable("X-Api-Key") == "READINESS_X_API_KEY"
