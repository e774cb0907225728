"""The rule that turns a change and its interval into a verdict.

Regressed only when the interval excludes zero on the bad side AND the point estimate is past
the tolerance; improved likewise on the good side; anything else is unchanged. Without an
interval (an old results file) the point estimate alone is held against the tolerance.
"""

from __future__ import annotations

from readiness.compare.model import Better, Verdict

_SEVERITY: dict[Verdict, int] = {"regressed": 0, "not_comparable": 1, "improved": 2, "unchanged": 3}


def severity(verdict: Verdict) -> int:
    """Sort key: regressions first, then what could not be compared, then the rest."""
    return _SEVERITY[verdict]


def signed(value: float) -> str:
    return f"{value * 100:+.1f}%"


def judge(
    better: Better,
    change: float,
    interval: tuple[float, float] | None,
    tolerance: float,
    *,
    points: bool = False,
) -> tuple[Verdict, str]:
    """`change` is what the tolerance applies to: relative, or in percentage points when
    `points`; `interval` is the relative change's confidence interval (same sign as change)."""
    bad = 1.0 if better == "lower" else -1.0
    worse_by = bad * change
    limit = f"{tolerance * 100:g}{' points' if points else '%'}"
    shown = f"{change * 100:+.2f} points" if points else signed(change)
    if interval is None:
        note = "no interval: point comparison only"
        if worse_by > tolerance:
            return "regressed", f"{shown}, past the {limit} tolerance ({note})"
        if -worse_by > tolerance:
            return "improved", f"{shown}, past the {limit} tolerance ({note})"
        return "unchanged", f"{shown}, within the {limit} tolerance ({note})"
    low, high = interval
    ci = f"95% CI {signed(low)} … {signed(high)}"
    worse_side = low > 0 if bad > 0 else high < 0
    better_side = high < 0 if bad > 0 else low > 0
    if worse_side and worse_by > tolerance:
        return "regressed", f"{shown} ({ci}), past the {limit} tolerance"
    if better_side and -worse_by > tolerance:
        return "improved", f"{shown} ({ci}), past the {limit} tolerance"
    if not (worse_side or better_side):
        return "unchanged", f"{shown}: the {ci} includes zero"
    return "unchanged", f"{shown} ({ci}): a real change, but within the {limit} tolerance"
