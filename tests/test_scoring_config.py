"""[scoring] in scenarios.toml and thresholds written as tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from readiness.config import parse_suite
from readiness.config.scoring import load_scoring
from readiness.errors import ConfigError

BASE = """
[[targets]]
name = "demo"
transport = "stdio"
command = "python"

[[scenarios]]
name = "t"
kind = "throughput"
load = { concurrency = 1, requests = 10 }
thresholds = ["success_rate >= 99%", { check = "p99 < 300ms", critical = true, weight = 2 }]
"""


def test_a_threshold_table_marks_a_check_critical_and_weighs_it() -> None:
    suite = parse_suite(BASE, "s.toml")
    plain, table = suite.scenarios[0].thresholds
    assert (plain.critical, plain.weight) == (False, 1.0)
    assert (table.expression, table.critical, table.weight) == ("p99 < 300ms", True, 2.0)
    assert table.value == pytest.approx(0.3)


def test_scoring_overrides_weights_thresholds_and_categories() -> None:
    text = (
        BASE
        + """
[scoring]
weights = { performance = 50, security = 0 }
ready = 95
conditional = 80
categories = { t = "stability", "t: p99 < 300ms" = "recovery" }
"""
    )
    scoring = parse_suite(text, "s.toml").scoring
    assert scoring.weights.performance == 50
    assert scoring.weights.security == 0
    assert scoring.weights.stability == 20  # the default stays
    assert (scoring.ready, scoring.conditional) == (95, 80)
    assert scoring.category_of("t", "p99 < 300ms", "throughput") == "recovery"
    assert scoring.category_of("t", "success_rate >= 99%", "throughput") == "stability"
    assert scoring.category_of("other", "x", "memory") == "stability"


@pytest.mark.parametrize(
    ("scoring", "message"),
    [
        ("weights = { performnce = 5 }", "performnce"),
        ("weights = { performance = -1 }", "at least 0"),
        ("ready = 101", "at most 100"),
        ("ready = 70\nconditional = 80", "must not be above ready"),
        ('categories = { t = "speed" }', "speed"),
        ('categories = { nope = "stability" }', "no scenario is named 'nope'"),
        ('categories = { "t: p99 < 3ms" = "stability" }', "did you mean 'p99 < 300ms'"),
        (
            "weights = { performance = 0, scalability = 0, stability = 0,"
            " fault_tolerance = 0, recovery = 0, security = 0 }",
            "at least one category",
        ),
    ],
)
def test_a_bad_scoring_table_names_the_key_and_line(scoring: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_suite(BASE + "\n[scoring]\n" + scoring + "\n", "s.toml")
    assert message in str(caught.value)
    assert "scoring" in str(caught.value)
    assert caught.value.line is not None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('{ check = "p99 < 1s", critical = "yes" }', "critical is true or false"),
        ('{ check = "p99 < 1s", weight = 0 }', "weight is a number above 0"),
        ('{ check = "p99 < 1s", weigth = 2 }', "unknown key 'weigth'"),
        ("{ critical = true }", "needs check"),
        ('{ check = "p99 < 500" }', "has no unit"),
    ],
)
def test_a_bad_threshold_table_is_a_located_error(table: str, message: str) -> None:
    text = BASE.replace('{ check = "p99 < 300ms", critical = true, weight = 2 }', table)
    with pytest.raises(ConfigError) as caught:
        parse_suite(text, "s.toml")
    assert message in str(caught.value)
    assert "thresholds[1]" in str(caught.value)


def test_load_scoring_reads_a_suite_or_scoring_alone(tmp_path: Path) -> None:
    alone = tmp_path / "alone.toml"
    alone.write_text("[scoring]\nready = 85\n")
    assert load_scoring(alone).ready == 85
    whole = tmp_path / "whole.toml"
    whole.write_text(BASE)
    assert load_scoring(whole).ready == 90
    with pytest.raises(ConfigError, match="no such file"):
        load_scoring(tmp_path / "missing.toml")
