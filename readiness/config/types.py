"""The building blocks every configuration model shares: the located validation error and the
lenient unit types ("5s", "16MiB", "100/s", "99%") that read TOML values into SI units.

Kept apart from readiness.config so the models embedded in it (resilience, faults) can use
them without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic_core import PydanticCustomError

from readiness.config.units import parse_duration, parse_percentage, parse_rate, parse_size


def invalid(message: str, *key: str | int) -> PydanticCustomError:
    """A validation error; `key` (relative to the model raising it) sharpens its key path.

    readiness.config.errors reads this error type to name the key and its line.
    """
    return PydanticCustomError("readiness", "{message}", {"message": message, "key": key})


def lenient(parse: Callable[[object], object]) -> Callable[[object], object]:
    """A before-validator from a unit parser, its ValueError turned into a located error."""

    def validate(value: object) -> object:
        try:
            return parse(value)
        except ValueError as exc:
            raise invalid(str(exc)) from None

    return validate


Name = Annotated[str, Field(min_length=1)]
Integer = Annotated[int, Strict()]
Number = Annotated[float, Strict()]
Duration = Annotated[float, BeforeValidator(lenient(parse_duration))]
Size = Annotated[int, BeforeValidator(lenient(parse_size))]
Rate = Annotated[float, BeforeValidator(lenient(parse_rate))]
Percentage = Annotated[float, BeforeValidator(lenient(parse_percentage))]  # 0..1
Ratio = Annotated[
    float, BeforeValidator(lenient(lambda v: parse_percentage(v, allow_above_one=True)))
]


class ConfigModel(BaseModel):
    """Frozen, and unknown keys are errors (with a did-you-mean from config_errors)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
