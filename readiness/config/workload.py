"""The workload of a suite: the weighted mix of MCP operations each request is drawn from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, model_validator

from readiness.chaos.capture import Capture, CaptureError, read_capture
from readiness.config.datafile import DataFileError, DataTable, read_data
from readiness.config.templates import RESERVED, SavePathError, check_templates, parse_save_path
from readiness.config.types import ConfigModel, Duration, Name, Number, invalid

_DATA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

Call = Literal[
    "tools/call",
    "tools/list",
    "resources/read",
    "resources/list",
    "prompts/list",
    "prompts/get",
    "ping",
]
# Which call needs (and alone accepts) which field.
_CALL_SUBJECT: dict[str, str] = {
    "tools/call": "tool",
    "resources/read": "uri",
    "prompts/get": "prompt",
}


class OperationConfig(ConfigModel):
    """One weighted entry of the workload mix."""

    call: Call
    tool: str | None = None
    uri: str | None = None
    prompt: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    weight: Annotated[Number, Field(gt=0)] = 1.0
    name: Name = ""  # display name; derived from the call when not given
    # Two-way (targets with [targets.client]): ask for progress notifications (a
    # progressToken), and cancel the call (notifications/cancelled) after this long.
    progress: bool = False
    cancel_after: Annotated[Duration, Field(gt=0)] | None = None
    # Run a tools/call as a task (2025-11-25): create, poll tasks/get every poll_interval (the
    # server's pollInterval when not given), fetch tasks/result.
    task: bool = False
    poll_interval: Annotated[Duration, Field(gt=0)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _derive_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "name" not in data and isinstance(data.get("call"), str):
            subject = data.get(_CALL_SUBJECT.get(data["call"], ""))
            data = {
                **data,
                "name": f"{data['call']} {subject}" if isinstance(subject, str) else data["call"],
            }
        return data

    @model_validator(mode="after")
    def _call_needs(self) -> OperationConfig:
        needed = _CALL_SUBJECT.get(self.call)
        for field in ("tool", "uri", "prompt"):
            if field == needed and not getattr(self, field):
                raise invalid(f"call = {self.call!r} needs {field}", field)
            if field != needed and getattr(self, field) is not None:
                raise invalid(f"{field} applies only to call = {_call_of(field)!r}", field)
        if self.arguments and self.call not in ("tools/call", "prompts/get"):
            raise invalid("arguments apply only to tools/call and prompts/get", "arguments")
        for key, value in self.arguments.items():
            if not _is_json(value):
                raise invalid(
                    "expected JSON values (a TOML date or time is not one)", "arguments", key
                )
        if self.call == "prompts/get":
            for key, value in self.arguments.items():
                if not isinstance(value, str):
                    raise invalid("prompt arguments must be strings", "arguments", key)
        return self


def _is_json(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_is_json(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool)


def _call_of(field: str) -> str:
    return next(call for call, subject in _CALL_SUBJECT.items() if subject == field)


def _default_operations() -> tuple[OperationConfig, ...]:
    return (OperationConfig(call="tools/call", tool="echo", arguments={"text": "hello"}),)


def _relative(file: str, info: ValidationInfo) -> Path:
    """`file` relative to the suite file's folder (the current directory without one)."""
    path = Path(file)
    if path.is_absolute():
        return path
    base = (info.context or {}).get("base_dir")
    return (Path(base) if base is not None else Path.cwd()) / path


class DataConfig(ConfigModel):
    """A data set templated arguments draw rows from: `{{ name.field }}`."""

    name: Name
    file: Name  # JSON Lines or CSV, relative to the suite file
    pick: Literal["random", "sequential", "unique"] = "random"
    _table: DataTable | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _read(self, info: ValidationInfo) -> DataConfig:
        if not _DATA_NAME.fullmatch(self.name):
            raise invalid(
                "a data set's name is letters, digits, _ and - (as in {{ name.field }})", "name"
            )
        if self.name in RESERVED:
            raise invalid(
                f"{self.name!r} is a placeholder of its own; name the data set otherwise", "name"
            )
        try:
            self._table = read_data(_relative(self.file, info), self.file)
        except DataFileError as exc:
            raise invalid(str(exc), "file") from None
        return self

    @property
    def table(self) -> DataTable:
        assert self._table is not None
        return self._table


class StepConfig(OperationConfig):
    """One step of a journey: an operation, the think time before it, and the values it saves
    from its reply for later steps (`{{ saved.name }}`)."""

    think_time: Annotated[Duration, Field(ge=0)] = 0.0
    save: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _step(self) -> StepConfig:
        if "weight" in self.model_fields_set:
            raise invalid("a journey step has no weight; the journey has one", "weight")
        for name, path in self.save.items():
            if not _DATA_NAME.fullmatch(name):
                raise invalid("a saved name is letters, digits, _ and -", "save", name)
            try:
                parse_save_path(path)
            except SavePathError as exc:
                raise invalid(str(exc), "save", name) from None
        return self


class JourneyConfig(ConfigModel):
    """A weighted sequence of steps a virtual user walks, values carried between them."""

    name: Name
    weight: Annotated[Number, Field(gt=0)] = 1.0
    steps: Annotated[tuple[StepConfig, ...], Field(min_length=1)]


class WorkloadConfig(ConfigModel):
    """The weighted mix of operations each request is drawn from (or the journeys users walk),
    and the data sets their templated arguments draw from."""

    data: tuple[DataConfig, ...] = ()
    operations: Annotated[tuple[OperationConfig, ...], Field(min_length=1)] = Field(
        default_factory=_default_operations
    )
    journeys: tuple[JourneyConfig, ...] = ()
    # A capture from `readiness proxy --record` to replay instead of a mix: the same requests
    # in the same order, at the capture's own times divided by `speed`.
    replay: Name | None = None
    speed: Annotated[Number, Field(gt=0)] = 1.0
    _capture: Capture | None = PrivateAttr(default=None)

    @property
    def capture(self) -> Capture | None:
        return self._capture

    @model_validator(mode="after")
    def _read_replay(self, info: ValidationInfo) -> WorkloadConfig:
        if self.replay is None:
            if "speed" in self.model_fields_set:
                raise invalid("speed applies to a replay (replay = FILE)", "speed")
            return self
        for key in ("operations", "journeys", "data"):
            if key in self.model_fields_set:
                raise invalid(f"a replay sends the captured requests; leave out {key}", key)
        try:
            self._capture = read_capture(_relative(self.replay, info), self.replay)
        except CaptureError as exc:
            raise invalid(str(exc), "replay") from None
        return self

    @model_validator(mode="after")
    def _templates(self) -> WorkloadConfig:
        tables: dict[str, DataTable] = {}
        for i, data in enumerate(self.data):
            if data.name in tables:
                raise invalid(f"another data set is already named {data.name!r}", "data", i, "name")
            tables[data.name] = data.table
        for i, op in enumerate(self.operations):
            check_templates(op.arguments, tables, ("operations", i, "arguments"), saved=())
        if self.journeys and "operations" in self.model_fields_set:
            raise invalid("a workload sends operations or walks journeys, not both", "journeys")
        names: set[str] = set()
        for i, journey in enumerate(self.journeys):
            if journey.name in names:
                raise invalid(
                    f"another journey is already named {journey.name!r}", "journeys", i, "name"
                )
            names.add(journey.name)
            saved: tuple[str, ...] = ()
            for j, step in enumerate(journey.steps):
                key = ("journeys", i, "steps", j, "arguments")
                check_templates(step.arguments, tables, key, saved=saved)
                saved = (*saved, *step.save)
        return self

    @model_validator(mode="after")
    def _distinct_names(self) -> WorkloadConfig:
        seen: set[str] = set()
        for i, op in enumerate(self.operations):
            if op.name in seen:
                raise invalid(
                    f"two operations are named {op.name!r}; give this one a name",
                    "operations",
                    i,
                    "name",
                )
            seen.add(op.name)
        return self
