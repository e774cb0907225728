"""[scoring] in scenarios.toml: the categories' weights, the status thresholds, and which
category a scenario or a single check counts towards (overriding its scenario kind's).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from readiness.config.types import ConfigModel, invalid

Category = Literal[
    "performance", "scalability", "stability", "fault_tolerance", "recovery", "security"
]
CATEGORIES: tuple[Category, ...] = (
    "performance",
    "scalability",
    "stability",
    "fault_tolerance",
    "recovery",
    "security",
)
CATEGORY_LABELS: dict[str, str] = {
    "performance": "Performance",
    "scalability": "Scalability",
    "stability": "Stability",
    "fault_tolerance": "Fault tolerance",
    "recovery": "Recovery",
    "security": "Security",
}
# Where a scenario kind's checks count unless [scoring.categories] says otherwise.
KIND_CATEGORIES: dict[str, Category] = {
    "throughput": "performance",
    "scaling": "scalability",
    "overload": "scalability",
    "pool": "scalability",
    "memory": "stability",
    "payload": "stability",
    "failure": "fault_tolerance",
    "recovery": "recovery",
    "security": "security",
    "subscriptions": "performance",
}

Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Level = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class Weights(ConfigModel):
    """Relative weights; only assessed categories count, so they need not add up to 100."""

    performance: Weight = 25.0
    scalability: Weight = 15.0
    stability: Weight = 20.0
    fault_tolerance: Weight = 15.0
    recovery: Weight = 15.0
    security: Weight = 10.0

    def of(self, category: Category) -> float:
        weight: float = getattr(self, category)
        return weight

    @model_validator(mode="after")
    def _some_weight(self) -> Weights:
        if not any(self.of(c) > 0 for c in CATEGORIES):
            raise invalid("at least one category needs a weight above 0")
        return self


class ScoringConfig(ConfigModel):
    """`ready` and `conditional` are the lowest scores (0–100) of those statuses; `categories`
    maps a scenario name, or a check as "scenario: expression", to the category it counts in.
    """

    weights: Weights = Field(default_factory=Weights)
    ready: Level = 90.0
    conditional: Level = 75.0
    categories: dict[str, Category] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _ordered(self) -> ScoringConfig:
        if self.conditional > self.ready:
            raise invalid(
                f"conditional ({self.conditional:g}) must not be above ready ({self.ready:g})",
                "conditional",
            )
        return self

    def category_of(self, scenario: str, expression: str, kind: str) -> Category:
        """A check's category: its own entry, else its scenario's, else its kind's."""
        chosen = self.categories.get(f"{scenario}: {expression}") or self.categories.get(scenario)
        if chosen is not None:
            return chosen
        return KIND_CATEGORIES.get(kind, "performance")


class _ScoringFile(BaseModel):
    """A file read only for its [scoring] table: a whole suite, or [scoring] alone."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)


def load_scoring(path: str | Path) -> ScoringConfig:
    """The [scoring] of a TOML file (the defaults when it has none); errors name file, key
    and line, as for a suite."""
    from readiness.config import errors as config_errors

    source = str(path)
    text = config_errors.read_config(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise config_errors.syntax_error(exc, text, source) from None
    try:
        return _ScoringFile.model_validate(data).scoring
    except ValidationError as exc:
        keys_at = config_errors.keys_in(_ScoringFile)
        raise config_errors.from_validation(exc, data, text, source, keys_at) from None
