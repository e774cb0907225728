"""[gate] of scenarios.toml: how much worse a figure may get against a baseline before the run
fails with exit 4, and what a check its interval cannot decide means for the exit code.
Tolerances are relative ("10%" of the baseline's figure), except the success rate's, which is
in percentage points ("0.5%": 99.9% → 99.4% is still within it)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

from pydantic import Field, field_validator

from readiness.config.errors import did_you_mean
from readiness.config.types import ConfigModel, Ratio, invalid

# Every figure a comparison judges, with its default tolerance.
DEFAULT_MAX_REGRESSION: Final[Mapping[str, float]] = MappingProxyType(
    {
        "throughput": 0.05,
        "success_rate": 0.005,
        "p50": 0.10,
        "p90": 0.10,
        "p95": 0.10,
        "p99": 0.10,
        "p999": 0.20,
        "recovery_time": 0.25,
        "time_to_first_success": 0.25,
        "max_sustainable_rate": 0.10,
        "score": 0.05,
    }
)


class GateConfig(ConfigModel):
    """`max_regression = { p99 = "10%", throughput = "5%" }`; unnamed figures keep defaults."""

    max_regression: dict[str, Ratio] = Field(default_factory=lambda: dict(DEFAULT_MAX_REGRESSION))
    # A check whose 95% interval straddles its limit: "fail" fails the run (exit 1), "pass"
    # and "warn" let it pass; warn (the default) still shows it as not proven in the reports.
    on_inconclusive: Literal["fail", "pass", "warn"] = "warn"

    @field_validator("max_regression", mode="before")
    @classmethod
    def _known_figures(cls, value: object) -> object:
        if not isinstance(value, Mapping):
            return value  # pydantic says what is wrong with it
        known = list(DEFAULT_MAX_REGRESSION)
        for key in value:
            if key not in DEFAULT_MAX_REGRESSION:
                raise invalid(
                    f"no figure is named {key!r}{did_you_mean(str(key), known)}"
                    f" (figures: {', '.join(known)})",
                    str(key),
                )
        return {**DEFAULT_MAX_REGRESSION, **value}

    def tolerance(self, metric: str) -> float:
        return self.max_regression.get(metric, DEFAULT_MAX_REGRESSION[metric])
