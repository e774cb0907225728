"""[gate] in scenarios.toml: tolerances by figure, defaults for the rest, errors that name the
key and its line."""

from __future__ import annotations

from importlib import resources

import pytest

from readiness.config import parse_suite
from readiness.config.gate import DEFAULT_MAX_REGRESSION
from readiness.errors import ConfigError

SUITE = resources.files("readiness").joinpath("default_suite.toml").read_text()


def test_a_suite_without_a_gate_gets_the_default_tolerances() -> None:
    gate = parse_suite(SUITE, "s.toml").gate
    assert gate.tolerance("p99") == 0.10
    assert gate.tolerance("throughput") == 0.05
    assert gate.tolerance("success_rate") == 0.005
    assert dict(gate.max_regression) == dict(DEFAULT_MAX_REGRESSION)


def test_named_tolerances_replace_their_defaults_only() -> None:
    gate = parse_suite(SUITE + '\n[gate]\nmax_regression = { p99 = "25%" }\n', "s.toml").gate
    assert gate.tolerance("p99") == 0.25
    assert gate.tolerance("p50") == DEFAULT_MAX_REGRESSION["p50"]


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        ('max_regression = { p98 = "10%" }', "gate.max_regression.p98", "did you mean 'p99'"),
        ('max_regression = { p99 = "fast" }', "gate.max_regression.p99", "invalid percentage"),
        ("max_regresion = {}", "gate.max_regresion", "did you mean 'max_regression'"),
    ],
)
def test_a_bad_gate_names_the_key_and_the_line(body: str, key: str, words: str) -> None:
    text = SUITE + "\n[gate]\n" + body + "\n"
    line = text.splitlines().index(body) + 1
    with pytest.raises(ConfigError) as caught:
        parse_suite(text, "s.toml")
    assert caught.value.key == key
    assert caught.value.line == line
    assert words in str(caught.value)
