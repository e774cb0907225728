"""Checks → category scores → a 0–100 score and a status, with every lost point explained.

A pure function of the scenarios' results and the [scoring] settings: the same results score
the same way whenever they are scored, so `readiness report` can score a stored run again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from readiness.config.scoring import (
    CATEGORIES,
    CATEGORY_LABELS,
    Category,
    ScoringConfig,
)
from readiness.config.thresholds import METRICS
from readiness.fleet import fleet_summary
from readiness.reports.format import observed as shown
from readiness.results import (
    CategoryScore,
    CheckResult,
    FleetMode,
    RunResult,
    ScenarioResult,
    Score,
    ScoredCheck,
    ScoreStatus,
    ScoringSettings,
)

# A failed check never keeps all its points, however close it came.
FAILED_CHECK_MAX_CREDIT = 0.99
STATUS_LABELS: dict[ScoreStatus, str] = {
    "ready": "READY",
    "conditional": "CONDITIONALLY READY",
    "not_ready": "NOT READY",
}
_STATUS_ORDER: tuple[ScoreStatus, ...] = ("ready", "conditional", "not_ready")


def check_credit(
    *, passed: bool, op: str, limit: float | None, observed: float | None, unit: str
) -> float:
    """The share of its points a check keeps: 1 when it passes; when it fails, 2 − f for a
    miss by a factor f (linear from the limit down to nothing at twice or half of it), at most
    FAILED_CHECK_MAX_CREDIT; 0 for true/false and equality checks and unmeasured figures."""
    if passed:
        return 1.0
    if observed is None or limit is None or unit == "bool" or op not in ("<", "<=", ">", ">="):
        return 0.0
    factor = miss_factor(op, limit, observed, unit)
    if factor is None or not math.isfinite(factor):
        return 0.0
    return min(FAILED_CHECK_MAX_CREDIT, max(0.0, 2.0 - factor))


def interval_credit(op: str, limit: float | None, interval: Sequence[float | None]) -> float:
    """An inconclusive check's credit: the share of its 95% interval on the passing side of
    the limit (an interval open above gets half: as much above the limit as below), at most
    FAILED_CHECK_MAX_CREDIT — not proven is never full marks."""
    low, high = interval[0], interval[1]
    if limit is None or low is None or op not in ("<", "<=", ">", ">="):
        return 0.0
    if high is None:
        high = low + 2 * max(limit - low, 0.0) + 1e-12
    width = high - low
    if width <= 0:
        return 0.0
    passing = (limit - low) if op in ("<", "<=") else (high - limit)
    return min(FAILED_CHECK_MAX_CREDIT, max(0.0, passing / width))


def miss_factor(op: str, limit: float, observed: float, unit: str) -> float | None:
    """How many times over its limit a figure is (1: on the limit); None when no ratio makes
    sense (a limit of 0, a lower limit missed by a figure of 0 or less)."""
    if not (math.isfinite(limit) and math.isfinite(observed)):
        return None
    if op in ("<", "<="):
        return observed / limit if limit > 0 else None
    if unit == "ratio":
        # A success rate misses on its error budget: 98.5% against ≥ 99% spends 1.5 budgets;
        # against 100% there is no budget to spend.
        return (1.0 - observed) / (1.0 - limit) if limit < 1 else None
    if limit <= 0 or observed <= 0:
        return None
    return limit / observed


def settings_of(config: ScoringConfig) -> ScoringSettings:
    return ScoringSettings(
        weights={c: config.weights.of(c) for c in CATEGORIES},
        ready=config.ready,
        conditional=config.conditional,
        categories=dict(config.categories),
    )


def config_of(settings: ScoringSettings) -> ScoringConfig:
    """The ScoringConfig a results.json was scored with (raises pydantic's ValidationError)."""
    return ScoringConfig.model_validate(settings)


def attach_scores(
    result: RunResult, config: ScoringConfig, fleet_mode: FleetMode | None = None
) -> None:
    """Set result["score"]; with several targets, each target's own score and the fleet
    summary too (run as `fleet_mode`; None: as the stored summary says, else sequential)."""
    scenarios = result["scenarios"]
    score = result["score"] = score_run(scenarios, config)
    several = len(result["targets"]) > 1
    for target in result["targets"]:
        if several:
            mine = [s for s in scenarios if s["target"] == target["name"]]
            target["score"] = score_run(mine, config)
        else:
            target.pop("score", None)
    if several:
        by_target = {t["name"]: t["score"] for t in result["targets"] if "score" in t}
        _worst_target_status(score, by_target)
    stored = result.get("fleet")
    mode = fleet_mode or (stored["mode"] if stored is not None else "sequential")
    fleet = fleet_summary(result, mode)
    if fleet is None:
        result.pop("fleet", None)
    else:
        result["fleet"] = fleet


def _worst_target_status(score: Score, targets: dict[str, Score]) -> None:
    """A fleet is as ready as its least ready target: the run's status is the worst target's
    (its value stays the score over all the fleet's checks)."""
    statuses = [t["status"] for t in targets.values()]
    worst = max(statuses, key=_STATUS_ORDER.index, default=score["status"])
    if _STATUS_ORDER.index(worst) > _STATUS_ORDER.index(score["status"]):
        names = ", ".join(name for name, t in targets.items() if t["status"] == worst)
        score["status"] = worst
        score["label"] = STATUS_LABELS[worst]
        score["limitations"].insert(
            0,
            f"A fleet is as ready as its least ready target: the run is {STATUS_LABELS[worst]}"
            f" because {names} is, whatever the score over all the targets' checks.",
        )


def score_of(result: RunResult) -> Score:
    """The stored score; a result of schema 1 (none stored) scored with the default [scoring]."""
    stored = result.get("score")
    if stored is not None:
        return stored
    return score_run(result["scenarios"], ScoringConfig())


@dataclass(frozen=True)
class _Item:
    scenario: ScenarioResult
    check: CheckResult
    category: Category
    credit: float
    reason: str


def score_run(scenarios: Sequence[ScenarioResult], config: ScoringConfig) -> Score:
    """The score of these scenarios' checks under `config`."""
    items = [item for s in scenarios for item in _items(s, config)]
    by_category = {c: [i for i in items if i.category == c] for c in CATEGORIES}
    assessed = {c: sum(_weight(i) for i in found) > 0 for c, found in by_category.items()}
    total_weight = sum(config.weights.of(c) for c in CATEGORIES if assessed[c])
    categories: list[CategoryScore] = []
    scored: list[ScoredCheck] = []
    run_sum = 0.0
    for category in CATEGORIES:
        found = by_category[category]
        # Every assessed category may weigh 0 ([scoring.weights]): then nothing is scored.
        counts = assessed[category] and total_weight > 0
        share = config.weights.of(category) / total_weight if counts else 0.0
        check_weights = sum(_weight(i) for i in found)
        checks = [
            _scored(i, share * _weight(i) / check_weights if check_weights else 0.0) for i in found
        ]
        scored += checks
        fraction = (
            sum(_weight(i) * i.credit for i in found) / check_weights if assessed[category] else 0.0
        )
        run_sum += config.weights.of(category) * fraction if assessed[category] else 0.0
        categories.append(
            CategoryScore(
                name=category,
                label=CATEGORY_LABELS[category],
                weight=config.weights.of(category),
                share=round(share, 6),
                assessed=assessed[category],
                value=_percent(fraction, found) if assessed[category] else None,
                scenarios=list(dict.fromkeys(_where(i.scenario) for i in found)),
                checks=checks,
            )
        )
    counted = [i for i in items if assessed[i.category] and config.weights.of(i.category) > 0]
    value = _percent(run_sum / total_weight, counted) if total_weight > 0 else None
    critical = [
        f"{_where(i.scenario)}: {i.check['expression']}"
        for i in items
        if i.check.get("critical", False) and i.credit < 1
    ]
    status = _status(value, critical, config)
    deductions = sorted((c for c in scored if c["points"] > 0), key=lambda c: -c["points"])
    return Score(
        value=value,
        status=status,
        label=STATUS_LABELS[status],
        rule=rule_text(config),
        checks_total=len([i for i in items if not _is_placeholder(i)]),
        checks_passed=sum(1 for i in items if i.credit >= 1),
        scenarios_total=len(scenarios),
        scenarios_passed=sum(1 for s in scenarios if s["status"] == "passed"),
        critical_failed=critical,
        categories=categories,
        deductions=deductions,
        limitations=_limitations(scenarios, scored, categories),
        warnings=_warnings(scenarios),
        config=settings_of(config),
    )


def status_at_least(status: ScoreStatus, worst_allowed: ScoreStatus) -> bool:
    """Whether `status` is `worst_allowed` or worse (ready < conditional < not_ready)."""
    return _STATUS_ORDER.index(status) >= _STATUS_ORDER.index(worst_allowed)


def rule_text(config: ScoringConfig) -> str:
    weights = ", ".join(f"{CATEGORY_LABELS[c]} {config.weights.of(c):g}" for c in CATEGORIES)
    cap = round(FAILED_CHECK_MAX_CREDIT * 100)
    return (
        "A check that passes keeps all its points. A check that fails by a factor f between 1"
        " and 2 keeps 2 − f of them, linearly (p99 at 110% of its limit keeps 90%, at 200%"
        " none; below a lower limit the factor is limit ÷ observed, so half the required"
        " throughput keeps none; a success rate is measured on its error budget, so 98.5%"
        f" against ≥ 99% spends 1.5 budgets and keeps 50%), and never more than {cap}%. A"
        " true/false or equality check that fails, a figure that was not measured, and every"
        " check of a scenario that ended in error keep nothing. A category's value is the"
        " weighted mean of its checks (weight 1 unless the threshold sets one); the score is"
        f" the mean of the assessed categories, weighted {weights}. A category no check counts"
        " in is not assessed: it is left out of the score, not counted as passed. READY:"
        f" score ≥ {config.ready:g} and no critical check failed; CONDITIONALLY READY:"
        f" score ≥ {config.conditional:g}; NOT READY below."
    )


def _items(scenario: ScenarioResult, config: ScoringConfig) -> list[_Item]:
    errored = scenario["status"] == "error"
    checks = list(scenario["checks"])
    if errored and not checks:
        # Nothing was judged, yet its category must not look passed (or unassessed).
        checks = [_placeholder(scenario)]
    items = []
    for check in checks:
        category = config.category_of(scenario["name"], check["expression"], scenario["kind"])
        if errored:
            credit, reason = 0.0, "scenario ended in error"
        else:
            op, limit = _op_and_limit(check)
            credit = check_credit(
                passed=check["passed"],
                op=op,
                limit=limit,
                observed=check["observed"],
                unit=check["unit"],
            )
            interval = check.get("interval")
            if (
                check.get("verdict") == "inconclusive"
                and interval
                and check["observed"] is not None
            ):
                # Not proven either way: the share of its interval on the passing side.
                credit = interval_credit(op, limit, interval)
            if check["passed"]:
                reason = "passed"
            elif check.get("verdict") == "inconclusive" and check["observed"] is not None:
                reason = "inconclusive: not proven"
            elif check["observed"] is None:
                reason = "not measured"
            else:
                reason = "failed"
        items.append(_Item(scenario, check, category, credit, reason))
    return items


_PLACEHOLDER = "scenario completed"


def _placeholder(scenario: ScenarioResult) -> CheckResult:
    return CheckResult(
        name=f"{scenario['name']}: {_PLACEHOLDER}",
        expression=_PLACEHOLDER,
        metric="completed",
        unit="bool",
        observed=None,
        passed=False,
        op="==",
        limit=1.0,
    )


def _is_placeholder(item: _Item) -> bool:
    return item.check["metric"] == "completed" and item.check["expression"] == _PLACEHOLDER


def _op_and_limit(check: CheckResult) -> tuple[str, float | None]:
    """From the check; results of schema 1 did not store them, so read the expression."""
    if "op" in check and "limit" in check:
        return check["op"], check["limit"]
    from readiness.config.thresholds import parse_threshold
    from readiness.errors import ConfigError

    try:
        threshold = parse_threshold(check["expression"])
    except ConfigError:
        return "", None
    return threshold.op, threshold.value


def _weight(item: _Item) -> float:
    return float(item.check.get("weight", 1.0))


def _scored(item: _Item, share: float) -> ScoredCheck:
    check = item.check
    op, limit = _op_and_limit(check)
    observed = check["observed"]
    return ScoredCheck(
        scenario=item.scenario["name"],
        target=item.scenario["target"],
        check=check["expression"],
        category=item.category,
        passed=item.credit >= 1,
        critical=bool(check.get("critical", False)),
        weight=_weight(item),
        credit=round(item.credit, 4),
        points=round(share * (1.0 - item.credit) * 100.0, 2),
        observed=_observed_text(item),
        interval=interval_text(item.check),
        required=_required_text(op, limit, check["unit"], check["expression"]),
        reason=item.reason,
        metric=check["metric"],
        unit=check["unit"],
        op=op,
        observed_value=observed,
        limit=limit,
    )


def _required_text(op: str, limit: float | None, unit: str, expression: str) -> str:
    """The limit as written in a threshold: "< 300 ms", ">= 99%", "> 100/s"."""
    if limit is None or not op:
        return expression
    if unit == "seconds":
        if limit < 0.001:
            text = f"{limit * 1e6:g} µs"
        else:
            text = f"{limit * 1000:g} ms" if limit < 1 else f"{limit:g} s"
    elif unit == "ratio":
        text = f"{limit * 100:g}%"
    elif unit == "per_second":
        text = f"{limit:g}/s"
    else:
        text = shown(limit, unit)
    return f"{op} {text}"


def _observed_text(item: _Item) -> str:
    if item.reason == "scenario ended in error":
        return "not run (error)"
    if item.check["observed"] is None:
        return "not measured"
    return shown(item.check["observed"], item.check["unit"])


def interval_text(check: CheckResult) -> str:
    """ "95%: 10.6 ms–12.9 ms" for a check with an interval, else ""."""
    interval = check.get("interval")
    if not interval or interval[0] is None:
        return ""
    high = "unbounded" if interval[1] is None else shown(interval[1], check["unit"])
    return f"95%: {shown(interval[0], check['unit'])}–{high}"


def _percent(fraction: float, items: Sequence[_Item]) -> float:
    """0–100 to one decimal, never rounded up to 100 while a check lost points."""
    if all(i.credit >= 1 for i in items):
        return 100.0
    value = round(fraction * 100.0, 1)
    return min(value, 99.9)


def _status(value: float | None, critical: list[str], config: ScoringConfig) -> ScoreStatus:
    if value is None:
        return "not_ready"
    if value >= config.ready and not critical:
        return "ready"
    if value >= config.conditional:
        return "conditional"
    return "not_ready"


def _where(scenario: ScenarioResult) -> str:
    return f"{scenario['target']}.{scenario['name']}"


def _limitations(
    scenarios: Sequence[ScenarioResult],
    scored: Sequence[ScoredCheck],
    categories: Sequence[CategoryScore],
) -> list[str]:
    """What the score cannot vouch for, derived from what failed, erred or was not assessed."""
    found: list[str] = []
    for s in scenarios:
        where = f"{s['name']} (target {s['target']})"
        if s["status"] == "error":
            first = (s["error"] or "no message").strip().splitlines()[0]
            found.append(
                f"Scenario {where} ended in error ({first}): none of its checks could be"
                " judged, so its category scores 0 for it."
            )
        elif s["partial"]:
            why = s.get("stopped") or "by its deadline or an interruption"
            found.append(
                f"Scenario {where} ended before its load finished ({why}): its figures"
                " cover only what completed."
            )
    failed = sorted(
        (c for c in scored if not c["passed"] and c["reason"] != "scenario ended in error"),
        key=lambda c: -c["points"],
    )
    for c in failed:
        metric = METRICS.get(c["metric"])
        meaning = f" ({metric.description})" if metric else ""
        critical = ", a critical check" if c["critical"] else ""
        where = f"{c['scenario']} (target {c['target']}{critical})"
        if c["reason"] == "not measured":
            found.append(
                f"{where}: {c['metric']}{meaning} could not be measured, so {c['check']} failed."
            )
        elif c["reason"].startswith("inconclusive"):
            interval = f" ({c.get('interval')})" if c.get("interval") else ""
            found.append(
                f"{where}: {c['metric']}{meaning} was {c['observed']}{interval}, which does not"
                f" prove {c['required']}: not failed, not proven; a longer run would decide it."
            )
        else:
            found.append(
                f"{where}: {c['metric']}{meaning} was {c['observed']}; required {c['required']}."
            )
    for category in categories:
        if not category["assessed"]:
            found.append(
                f"{category['label']} was not assessed: no check of this run counts towards"
                " it, so the score says nothing about it."
            )
    return found


def _warnings(scenarios: Sequence[ScenarioResult]) -> list[str]:
    """The scenarios whose load generator may have been the bottleneck, in one warning: the
    same sentence once, not once per scenario."""
    found = []
    for s in scenarios:
        generator = s["generator"]
        if generator["saturated"]:
            reason = generator["saturation_reason"].strip().rstrip(".")
            found.append((f"{s['name']} (target {s['target']})", reason))
    if len(found) == 1:
        [(where, reason)] = found
        tail = f" ({reason})" if reason else ""
        return [
            f"In {where} the load generator, not the server, may have been the"
            f" bottleneck{tail}: its throughput and latency may understate the server."
        ]
    if not found:
        return []
    each = "; ".join(f"{where}: {reason}" if reason else where for where, reason in found)
    return [
        f"In {len(found)} scenarios the load generator, not the server, may have been the"
        f" bottleneck, so their throughput and latency may understate the server — {each}."
    ]
