"""The score: the credit rule, categories, status, deductions, and its laws (hypothesis)."""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from readiness.config.scoring import CATEGORIES, KIND_CATEGORIES, ScoringConfig, Weights
from readiness.config.thresholds import parse_threshold
from readiness.results import CheckResult, ScenarioResult
from readiness.scoring import (
    FAILED_CHECK_MAX_CREDIT,
    attach_scores,
    check_credit,
    config_of,
    score_run,
    settings_of,
)
from tests.reports import load_sample

TEMPLATE = load_sample()["scenarios"][0]


def scenario(
    name: str,
    kind: str,
    checks: list[CheckResult],
    *,
    target: str = "demo",
    status: str | None = None,
    error: str | None = None,
) -> ScenarioResult:
    result = copy.deepcopy(TEMPLATE)
    result["name"] = name
    result["kind"] = kind
    result["target"] = target
    result["checks"] = checks
    result["error"] = error
    result["generator"]["saturated"] = False
    passed = all(c["passed"] for c in checks)
    result["status"] = status or ("passed" if passed else "failed")  # type: ignore[typeddict-item]
    return result


def check(
    expression: str, observed: float | None, *, critical: bool = False, weight: float = 1.0
) -> CheckResult:
    threshold = parse_threshold(expression)
    return CheckResult(
        name=expression,
        expression=expression,
        metric=threshold.metric,
        unit=threshold.unit,
        observed=observed,
        passed=observed is not None and threshold.evaluate(observed),
        op=threshold.op,
        limit=threshold.value,
        critical=critical,
        weight=weight,
    )


def credit_of(expression: str, observed: float | None) -> float:
    c = check(expression, observed)
    return check_credit(
        passed=c["passed"], op=c["op"], limit=c["limit"], observed=observed, unit=c["unit"]
    )


# --- the credit rule -----------------------------------------------------------------------


def test_a_latency_over_its_limit_keeps_points_linearly_until_twice_the_limit() -> None:
    assert credit_of("p99 < 300ms", 0.2) == 1.0
    assert credit_of("p99 < 300ms", 0.33) == pytest.approx(0.9)
    assert credit_of("p99 < 300ms", 0.45) == pytest.approx(0.5)
    assert credit_of("p99 < 300ms", 0.6) == 0.0
    assert credit_of("p99 < 300ms", 5.0) == 0.0


def test_a_throughput_under_its_limit_keeps_nothing_at_half_of_it() -> None:
    assert credit_of("throughput > 100/s", 80.0) == pytest.approx(2 - 100 / 80)
    assert credit_of("throughput > 100/s", 50.0) == 0.0
    assert credit_of("throughput > 100/s", 0.0) == 0.0


def test_a_success_rate_is_judged_on_its_error_budget() -> None:
    assert credit_of("success_rate >= 99%", 0.985) == pytest.approx(0.5)
    assert credit_of("success_rate >= 99%", 0.98) == 0.0
    assert credit_of("success_rate >= 100%", 0.9999) == 0.0


def test_booleans_equalities_and_unmeasured_figures_score_all_or_nothing() -> None:
    assert credit_of("leak == false", 1.0) == 0.0
    assert credit_of("leak == false", 0.0) == 1.0
    assert credit_of("lost == 0", 1.0) == 0.0
    assert credit_of("p99 < 300ms", None) == 0.0


def test_a_failed_check_never_keeps_all_its_points() -> None:
    assert credit_of("p99 < 300ms", 0.3) == FAILED_CHECK_MAX_CREDIT
    assert credit_of("throughput > 100/s", 100.0) == FAILED_CHECK_MAX_CREDIT


# --- categories, status, deductions --------------------------------------------------------


def test_every_check_passing_scores_exactly_100_and_ready() -> None:
    score = score_run([scenario("t", "throughput", [check("p99 < 300ms", 0.1)])], ScoringConfig())
    assert score["value"] == 100.0
    assert score["status"] == "ready"
    assert score["label"] == "READY"
    assert score["deductions"] == []


def test_a_deduction_names_its_check_with_observed_required_and_points() -> None:
    scenarios = [
        scenario("t", "throughput", [check("p99 < 300ms", 0.412), check("errors == 0", 0.0)]),
        scenario("m", "memory", [check("leak == false", 0.0)]),
    ]
    score = score_run(scenarios, ScoringConfig())
    [deduction] = score["deductions"]
    assert deduction["scenario"] == "t"
    assert deduction["target"] == "demo"
    assert deduction["check"] == "p99 < 300ms"
    assert deduction["category"] == "performance"
    assert deduction["observed"] == "412.0 ms"
    assert deduction["required"] == "< 300 ms"
    # performance is 25 of 45 assessed weight, the check half of it, and it kept 62.7%
    expected = 25 / 45 * 0.5 * (1 - (2 - 0.412 / 0.3)) * 100
    assert deduction["points"] == pytest.approx(expected, abs=0.01)
    assert score["value"] == pytest.approx(100 - expected, abs=0.05)


def test_a_check_not_proven_is_worded_as_not_proven_not_as_failed() -> None:
    from readiness.reports.markdown import deduction_line

    unproven = check("success_rate >= 99%", 1.0)
    unproven["passed"] = False  # as stored: not proven does not pass
    unproven["verdict"] = "inconclusive"
    unproven["interval"] = [0.9874, 1.0]
    score = score_run([scenario("t", "throughput", [unproven])], ScoringConfig())
    [deduction] = score["deductions"]
    assert deduction["reason"] == "inconclusive: not proven"
    assert 0 < deduction["points"] < 100
    line = deduction_line(deduction)
    assert line.startswith("t: success_rate 100.00% (95%: 98.74%–100.00%) does not prove >= 99%")
    [said] = [text for text in score["limitations"] if text.startswith("t (target demo)")]
    assert "(95%: 98.74%–100.00%), which does not prove >= 99%" in said
    assert "required" not in said


def test_deductions_are_sorted_largest_first_and_add_up_to_what_was_lost() -> None:
    scenarios = [
        scenario("t", "throughput", [check("p99 < 300ms", 0.33), check("p50 < 10ms", 0.019)]),
        scenario("r", "recovery", [check("recovered == true", 0.0)]),
    ]
    score = score_run(scenarios, ScoringConfig())
    points = [d["points"] for d in score["deductions"]]
    assert points == sorted(points, reverse=True)
    assert score["value"] is not None
    assert sum(points) == pytest.approx(100 - score["value"], abs=0.1)


def test_a_category_without_checks_is_not_assessed_and_listed_as_a_limitation() -> None:
    score = score_run([scenario("t", "throughput", [check("p99 < 300ms", 0.1)])], ScoringConfig())
    assessed = {c["name"]: c["assessed"] for c in score["categories"]}
    assert assessed == {c: c == "performance" for c in CATEGORIES}
    security = next(c for c in score["categories"] if c["name"] == "security")
    assert security["value"] is None
    assert security["share"] == 0
    assert any(line.startswith("Security was not assessed") for line in score["limitations"])


def test_a_scenario_that_ended_in_error_scores_0_in_its_category() -> None:
    errored = scenario(
        "r", "recovery", [check("recovered == true", None)], status="error", error="boom\nmore"
    )
    healthy = scenario("t", "throughput", [check("p99 < 1s", 0.1)])
    score = score_run([errored, healthy], ScoringConfig())
    recovery = next(c for c in score["categories"] if c["name"] == "recovery")
    assert recovery["assessed"]
    assert recovery["value"] == 0.0
    assert score["deductions"][0]["reason"] == "scenario ended in error"
    assert any("ended in error (boom)" in line for line in score["limitations"])


def test_an_errored_scenario_without_checks_still_counts_as_failed() -> None:
    errored = scenario("f", "failure", [], status="error", error="internal error")
    score = score_run([errored], ScoringConfig())
    assert score["value"] == 0.0
    assert score["status"] == "not_ready"
    assert score["deductions"][0]["check"] == "scenario completed"


def test_a_failed_critical_check_keeps_the_run_from_ready() -> None:
    checks = [check("p99 < 1s", 0.1)] * 20 + [check("errors == 0", 3.0, critical=True)]
    score = score_run([scenario("t", "throughput", checks)], ScoringConfig())
    assert score["value"] is not None
    assert score["value"] >= 90
    assert score["status"] == "conditional"
    assert score["critical_failed"] == ["demo.t: errors == 0"]


def test_status_thresholds_are_configurable() -> None:
    scenarios = [scenario("t", "throughput", [check("p99 < 300ms", 0.33)])]
    assert score_run(scenarios, ScoringConfig())["status"] == "ready"  # 90.0
    assert score_run(scenarios, ScoringConfig(ready=95))["status"] == "conditional"
    strict = ScoringConfig(ready=99, conditional=95)
    assert score_run(scenarios, strict)["status"] == "not_ready"
    assert score_run(scenarios, strict)["label"] == "NOT READY"


def test_scoring_moves_a_scenario_or_one_check_to_another_category() -> None:
    scenarios = [
        scenario("t", "throughput", [check("p99 < 300ms", 0.1), check("errors == 0", 0.0)])
    ]
    moved = ScoringConfig(categories={"t: errors == 0": "stability"})
    by_name = {c["name"]: c for c in score_run(scenarios, moved)["categories"]}
    assert [c["check"] for c in by_name["stability"]["checks"]] == ["errors == 0"]
    assert [c["check"] for c in by_name["performance"]["checks"]] == ["p99 < 300ms"]
    whole = ScoringConfig(categories={"t": "recovery"})
    by_name = {c["name"]: c for c in score_run(scenarios, whole)["categories"]}
    assert len(by_name["recovery"]["checks"]) == 2
    assert not by_name["performance"]["assessed"]


def test_a_check_weight_is_its_share_within_the_category() -> None:
    checks = [check("p99 < 300ms", 0.6, weight=3), check("p50 < 10ms", 0.001)]
    score = score_run([scenario("t", "throughput", checks)], ScoringConfig())
    assert score["value"] == 25.0


def test_several_targets_get_a_score_each_and_one_overall() -> None:
    result = load_sample()
    result["targets"].append(copy.deepcopy(result["targets"][0]))
    result["targets"][1]["name"] = "other"
    result["scenarios"] = [
        scenario("t", "throughput", [check("p99 < 300ms", 0.1)]),
        scenario("t", "throughput", [check("p99 < 300ms", 0.45)], target="other"),
    ]
    attach_scores(result, ScoringConfig())
    assert result["targets"][0]["score"]["value"] == 100.0
    assert result["targets"][1]["score"]["value"] == 50.0
    assert result["score"]["value"] == 75.0
    assert result["score"]["deductions"][0]["target"] == "other"


def test_a_category_weighted_0_costs_no_points_but_is_still_a_limitation() -> None:
    scenarios = [
        scenario("t", "throughput", [check("p99 < 300ms", 0.1)]),
        scenario("m", "memory", [check("leak == false", 1.0)]),
    ]
    score = score_run(scenarios, ScoringConfig(weights=Weights(stability=0)))
    assert score["value"] == 100.0
    assert score["deductions"] == []
    assert any("leak" in line for line in score["limitations"])


def test_the_stored_settings_give_back_the_same_config() -> None:
    config = ScoringConfig(
        weights=Weights(security=0), ready=80, conditional=60, categories={"t": "stability"}
    )
    assert config_of(settings_of(config)) == config


def test_every_kind_has_a_category() -> None:
    from typing import get_args

    from readiness.config.scenario import ScenarioKind

    assert set(get_args(ScenarioKind)) <= set(KIND_CATEGORIES)


# --- laws ------------------------------------------------------------------------------------

EXPRESSIONS = [
    "p99 < 300ms",
    "p50 <= 20ms",
    "throughput > 100/s",
    "success_rate >= 99%",
    "error_rate < 1%",
    "max_sustainable_rate >= 50/s",
    "rss_growth < 50MB",
    "leak == false",
    "lost == 0",
    "recovered == true",
]
KINDS = sorted(KIND_CATEGORIES)


@st.composite
def checks_strategy(draw: st.DrawFn) -> CheckResult:
    expression = draw(st.sampled_from(EXPRESSIONS))
    limit = parse_threshold(expression).value
    observed = draw(
        st.one_of(
            st.none(),
            st.floats(min_value=0, max_value=max(3 * limit, 2.0), allow_nan=False),
        )
    )
    weight = draw(st.sampled_from([0.5, 1.0, 2.0]))
    return check(expression, observed, critical=draw(st.booleans()), weight=weight)


scenarios_strategy = st.lists(
    st.tuples(st.sampled_from(KINDS), st.lists(checks_strategy(), min_size=1, max_size=4)),
    min_size=1,
    max_size=5,
).map(lambda found: [scenario(f"s{i}", kind, cs) for i, (kind, cs) in enumerate(found)])


def _worse(expression: str, observed: float, step: float) -> float:
    """The figure moved by `step` in the failing direction of the check."""
    op = parse_threshold(expression).op
    return observed + step if op in ("<", "<=") else max(observed - step, 0.0)


@settings(max_examples=200, deadline=None)
@given(
    scenarios_strategy,
    st.integers(min_value=0, max_value=100),
    st.floats(min_value=0, max_value=5, allow_nan=False),
)
def test_the_score_never_rises_when_a_checks_margin_worsens(
    scenarios: list[ScenarioResult], pick: int, step: float
) -> None:
    flat = [(s, i) for s in scenarios for i in range(len(s["checks"]))]
    s, i = flat[pick % len(flat)]
    before = score_run(scenarios, ScoringConfig())["value"]
    original = s["checks"][i]
    # A margin is a distance from a limit: equality checks have none.
    assume(original["observed"] is not None and original.get("op") in ("<", "<=", ">", ">="))
    assert original["observed"] is not None
    s["checks"][i] = check(
        original["expression"],
        _worse(original["expression"], original["observed"], step),
        critical=original.get("critical", False),
        weight=original.get("weight", 1.0),
    )
    after = score_run(scenarios, ScoringConfig())["value"]
    assert before is not None
    assert after is not None
    assert after <= before


@settings(max_examples=100, deadline=None)
@given(scenarios_strategy)
def test_the_score_is_100_exactly_when_every_check_passes(
    scenarios: list[ScenarioResult],
) -> None:
    score = score_run(scenarios, ScoringConfig())
    every = all(c["passed"] for s in scenarios for c in s["checks"])
    assert (score["value"] == 100.0) == every
    assert score["value"] is not None
    assert 0.0 <= score["value"] <= 100.0


@settings(max_examples=100, deadline=None)
@given(
    scenarios_strategy,
    st.dictionaries(
        st.sampled_from(CATEGORIES), st.floats(min_value=0, max_value=1000), max_size=6
    ),
)
def test_unassessed_categories_never_change_the_value(
    scenarios: list[ScenarioResult], changed: dict[str, float]
) -> None:
    base = ScoringConfig()
    score = score_run(scenarios, base)
    unassessed = {c["name"] for c in score["categories"] if not c["assessed"]}
    weights = base.weights.model_dump()
    weights.update({k: v for k, v in changed.items() if k in unassessed})
    other = score_run(scenarios, ScoringConfig(weights=Weights(**weights)))
    assert other["value"] == score["value"]
    assert math.isclose(sum(c["share"] for c in other["categories"]), 1.0, abs_tol=1e-5)


def test_a_generator_bottleneck_in_several_scenarios_is_one_warning_naming_each() -> None:
    scenarios = [
        scenario("a", "throughput", [check("p99 < 300ms", 0.1)]),
        scenario("b", "memory", [check("leak == false", 0.0)]),
        scenario("c", "recovery", [check("recovered == true", 1.0)]),
    ]
    for s, late in ((scenarios[0], "53"), (scenarios[2], "117")):
        s["generator"]["saturated"] = True
        s["generator"]["saturation_reason"] = f"its event loop ran {late} ms late at p99."
    [warning] = score_run(scenarios, ScoringConfig())["warnings"]
    assert warning.startswith("In 2 scenarios the load generator, not the server, may have")
    assert "a (target demo): its event loop ran 53 ms late at p99;" in warning
    assert "c (target demo): its event loop ran 117 ms late at p99." in warning
    assert "b (target demo)" not in warning
    scenarios[2]["generator"]["saturated"] = False
    [one] = score_run(scenarios, ScoringConfig())["warnings"]
    assert one.startswith("In a (target demo) the load generator, not the server, may have")
