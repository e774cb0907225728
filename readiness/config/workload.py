"""The workload of a suite: the weighted mix of MCP operations each request is drawn from."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from readiness.config.types import ConfigModel, Name, Number, invalid

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


class WorkloadConfig(ConfigModel):
    """The weighted mix of operations each request is drawn from."""

    operations: Annotated[tuple[OperationConfig, ...], Field(min_length=1)] = Field(
        default_factory=_default_operations
    )

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
