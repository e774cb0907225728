"""scenarios.toml: the frozen models of a suite (targets, workload, scenarios) and loading them,
with errors that name the file, the key path and the line.
"""

from __future__ import annotations

import os
import shlex
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from readiness import config_errors
from readiness.config_errors import Key, did_you_mean
from readiness.config_types import (
    ConfigModel,
    Duration,
    Integer,
    Number,
    Rate,
    Size,
    invalid,
)
from readiness.config_types import Ratio as Fraction
from readiness.errors import ConfigError
from readiness.placeholders import (
    BUILTIN_VARIABLES,
    display_mapping,
    display_template,
    expand,
    redact_args,
    redact_url,
)
from readiness.resilience.config import ResilienceConfig
from readiness.thresholds import Threshold, parse_threshold

DEFAULT_SUITE_SOURCE = "<built-in default suite>"
PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")
DEFAULT_MAX_REPLY_BYTES = 16 * 1024 * 1024


Name = Annotated[str, Field(min_length=1)]


def _threshold(value: object) -> Threshold:
    if isinstance(value, Threshold):
        return value
    try:
        return parse_threshold(value)  # type: ignore[arg-type]  # it reports non-strings itself
    except ConfigError as exc:
        raise invalid(exc.message) from None


class RunConfig(ConfigModel):
    name: Name = "readiness"

    @field_validator("name")
    @classmethod
    def _usable_in_a_folder_name(cls, name: str) -> str:
        if "/" in name or "\\" in name:
            raise invalid("the run name becomes part of a folder name; leave out / and \\")
        return name


# --- targets -------------------------------------------------------------------------------

_EXPANDED_FIELDS = ("command", "args", "env", "cwd", "url", "headers")


class TargetConfig(ConfigModel):
    """A server to test: a command to start (stdio, or http with a local server) and/or a URL.

    `command`, `args`, `env`, `cwd`, `url` and `headers` may reference the environment as
    ${VAR} or ${VAR:-default}; they hold expanded values, and `display_*` show the file's form
    with secrets hidden, for reports.
    """

    name: Name
    transport: Literal["stdio", "http"]
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict, repr=False)  # may hold secrets
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict, repr=False)  # may hold secrets
    protocol: str = "auto"
    request_timeout: Annotated[Duration, Field(gt=0)] = 10.0
    connect_timeout: Annotated[Duration, Field(gt=0)] = 30.0
    max_reply_bytes: Annotated[Size, Field(gt=0)] = DEFAULT_MAX_REPLY_BYTES
    # For an http target readiness did not start: which process to sample for resources.
    pid: Annotated[int, Field(gt=0)] | None = None
    process_name: str | None = None
    # [targets.resilience]: breaker, rate limit, retry and cache between workload and client
    resilience: ResilienceConfig | None = None

    # field → (as written, as expanded); display uses the written form while they still match
    _written: dict[str, tuple[Any, Any]] = PrivateAttr(default_factory=dict)
    _public: dict[str, str] = PrivateAttr(default_factory=dict)  # built-ins as expanded

    @model_validator(mode="wrap")
    @classmethod
    def _expand_environment(
        cls, data: Any, handler: Callable[[Any], Any], info: ValidationInfo
    ) -> Any:
        if not isinstance(data, dict):
            return handler(data)
        context = info.context if isinstance(info.context, dict) else {}
        environ: Mapping[str, str] = context.get("environ", os.environ)
        expanded = dict(data)
        written: dict[str, tuple[Any, Any]] = {}
        for field in [f for f in data if f in _EXPANDED_FIELDS]:  # file order: first error first
            expanded[field] = _expand_field(data[field], environ, (field,))
            written[field] = (data[field], expanded[field])
        target = handler(expanded)
        assert isinstance(target, TargetConfig)
        target._written = {f: (raw, getattr(target, f)) for f, (raw, _) in written.items()}
        target._public = {name: expand("${" + name + "}", environ) for name in BUILTIN_VARIABLES}
        return target

    @field_validator("protocol")
    @classmethod
    def _known_protocol(cls, protocol: str) -> str:
        choices = ("auto", *PROTOCOL_VERSIONS)
        if protocol not in choices:
            hint = did_you_mean(protocol, choices)
            raise invalid(f'expected {_alternatives(choices)}, got "{protocol}"{hint}')
        return protocol

    @model_validator(mode="after")
    def _transport_needs(self) -> TargetConfig:
        if self.transport == "stdio":
            if not self.command:
                raise invalid("a stdio target needs a command to start", "command")
            for field in ("url", "headers"):
                if getattr(self, field):
                    raise invalid(f"{field} applies to http targets only", field)
        else:
            if not self.url:
                raise invalid('an http target needs a url, e.g. "http://127.0.0.1:8000/mcp"', "url")
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise invalid(f"expected an http:// or https:// URL, got {self.url!r}", "url")
            if self.args and not self.command:
                raise invalid("args given without a command", "args")
        for field in ("pid", "process_name"):
            if getattr(self, field) is not None and self.command:
                raise invalid(
                    f"{field} names a process readiness did not start; this target's"
                    " command is started (and sampled) by readiness",
                    field,
                )
        if self.pid is not None and self.process_name is not None:
            raise invalid("give pid or process_name, not both", "process_name")
        return self

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # Reprs end up in logs and tracebacks: show the redacted forms there too.
        for name, value in super().__repr_args__():
            if name == "url" and value is not None:
                yield name, self.display_url()
            elif name == "args":
                yield (
                    name,
                    tuple(
                        redact_args(
                            [display_template(a, self._public) for a in self._shown("args")]
                        )
                    ),
                )
            else:
                yield name, value

    def _shown(self, field: str) -> Any:
        raw, expanded = self._written.get(field, (None, None))
        current = getattr(self, field)
        if raw is not None and expanded == current:
            return raw
        return current

    def display_url(self) -> str | None:
        url = self._shown("url")
        return redact_url(display_template(url, self._public)) if url else None

    def display_command(self) -> str | None:
        command = self._shown("command")
        if not command:
            return None
        args = [display_template(arg, self._public) for arg in self._shown("args")]
        return shlex.join([display_template(command, self._public), *redact_args(args)])

    def display_headers(self) -> dict[str, str]:
        return display_mapping(self._shown("headers"), self._public)

    def display_env(self) -> dict[str, str]:
        return display_mapping(self._shown("env"), self._public)

    def display(self) -> str:
        """One line for reports: the URL for http targets, else the command."""
        return (self.display_url() if self.transport == "http" else self.display_command()) or ""


def _expand_field(value: Any, environ: Mapping[str, str], key: Key) -> Any:
    """Expand strings inside a field's raw value; other types are left for validation to reject."""
    if isinstance(value, str):
        try:
            return expand(value, environ)
        except KeyError as missing:
            name = missing.args[0]
            raise invalid(
                f"environment variable {name} is not set"
                f" (write ${{{name}:-default}} to give a fallback)",
                *key,
            ) from None
    if isinstance(value, list | tuple):
        return [_expand_field(item, environ, (*key, i)) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {k: _expand_field(item, environ, (*key, k)) for k, item in value.items()}
    return value


# --- workload ------------------------------------------------------------------------------

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


# --- load and scenarios --------------------------------------------------------------------


class Stage(ConfigModel):
    """Ramp linearly to `target` (concurrency, or rate per second) over `duration` seconds."""

    duration: Annotated[Duration, Field(gt=0)]
    target: Annotated[Number, Field(ge=0)]


class LoadConfig(ConfigModel):
    """How requests arrive. Closed: `concurrency` virtual users, each waits for its reply (and
    `think_time`). Open: `rate` sends per second on a schedule, never waiting on replies.
    With `stages`, `concurrency`/`rate` is the starting level the first stage ramps from.
    """

    model: Literal["closed", "open"] = "closed"
    concurrency: Annotated[Integer, Field(ge=1)] | None = None
    requests: Annotated[Integer, Field(ge=1)] | None = None
    duration: Annotated[Duration, Field(gt=0)] | None = None
    think_time: Annotated[Duration, Field(ge=0)] = 0.0
    rate: Annotated[Rate, Field(gt=0)] | None = None
    arrivals: Literal["constant", "poisson"] = "constant"
    max_in_flight: Annotated[Integer, Field(ge=1)] = 1024
    on_max_in_flight: Literal["late", "drop"] = "late"
    stages: tuple[Stage, ...] = ()

    _OPEN_ONLY: ClassVar[tuple[str, ...]] = (
        "rate",
        "arrivals",
        "max_in_flight",
        "on_max_in_flight",
    )
    _CLOSED_ONLY: ClassVar[tuple[str, ...]] = ("concurrency", "think_time")

    @model_validator(mode="after")
    def _consistent(self) -> LoadConfig:
        other, misplaced = (
            ("open", self._OPEN_ONLY) if self.model == "closed" else ("closed", self._CLOSED_ONLY)
        )
        for field in misplaced:
            if field in self.model_fields_set:
                raise invalid(f'{field} applies to model = "{other}" only', field)
        if self.model == "closed" and self.concurrency is None and not self.stages:
            raise invalid("the closed model needs concurrency (or stages)", "concurrency")
        if self.model == "open" and self.rate is None and not self.stages:
            raise invalid('the open model needs a rate such as "100/s" (or stages)', "rate")
        if self.duration is not None and self.stages:
            raise invalid("give duration or stages, not both (stages set the duration)", "duration")
        if self.requests is None and self.duration is None and not self.stages:
            raise invalid("the load is unbounded: give requests, duration or stages", "requests")
        if self.model == "closed":
            for i, stage in enumerate(self.stages):
                if not stage.target.is_integer():
                    raise invalid(
                        "a closed-model stage targets a whole concurrency", "stages", i, "target"
                    )
        return self

    def planned_duration(self) -> float | None:
        """Seconds the schedule runs for, when bounded by time rather than count."""
        if self.stages:
            return sum(stage.duration for stage in self.stages)
        return self.duration


ScenarioKind = Literal["throughput", "scaling", "memory", "payload"]
PayloadDirection = Literal["result", "argument", "both"]


class ScenarioConfig(ConfigModel):
    """A named test: `throughput` runs `load`; `scaling` climbs a ladder of `steps`."""

    name: Name
    kind: ScenarioKind
    target: str | None = None  # None: every target
    load: LoadConfig | None = None
    workload: WorkloadConfig | None = None
    thresholds: tuple[Annotated[Threshold, BeforeValidator(_threshold)], ...] = ()
    steps: tuple[Annotated[Number, Field(gt=0)], ...] = ()
    step_model: Literal["closed", "open"] = "closed"
    step_duration: Annotated[Duration, Field(gt=0)] = 5.0
    knee_growth: Annotated[Fraction, Field(ge=0)] = 0.10
    knee_p95: Annotated[Duration, Field(gt=0)] | None = None
    grace: Annotated[Duration, Field(ge=0)] = 5.0
    warmup: Annotated[Duration, Field(ge=0)] = 0.0
    # memory (soak): load is the sustained load; warmup is excluded from the verdict
    settle: Annotated[Duration, Field(ge=0)] = 5.0
    sample_interval: Annotated[Duration, Field(gt=0)] = 0.25
    leak_threshold: Annotated[Size, Field(gt=0)] = 1024  # bytes per 1,000 requests
    leak_min_growth: Annotated[Size, Field(ge=0)] = 5 * 1024 * 1024
    # payload: a ladder of sizes, as large results and/or large arguments
    sizes: tuple[Annotated[Size, Field(gt=0)], ...] = ()
    direction: PayloadDirection = "both"
    requests_per_size: Annotated[int, Field(ge=1, strict=True)] = 20
    concurrency: Annotated[int, Field(ge=1, strict=True)] = 2
    result_tool: str = "blob"  # called with {result_argument: size in KiB}
    result_argument: str = "kb"
    argument_tool: str = "echo"  # called with {argument_name: a string of the size}
    argument_name: str = "text"

    _SCALING_ONLY: ClassVar[tuple[str, ...]] = (
        "steps",
        "step_model",
        "step_duration",
        "knee_growth",
        "knee_p95",
    )
    _MEMORY_ONLY: ClassVar[tuple[str, ...]] = (
        "settle",
        "sample_interval",
        "leak_threshold",
        "leak_min_growth",
    )
    _PAYLOAD_ONLY: ClassVar[tuple[str, ...]] = (
        "sizes",
        "direction",
        "requests_per_size",
        "concurrency",
        "result_tool",
        "result_argument",
        "argument_tool",
        "argument_name",
    )
    _ONLY: ClassVar[dict[str, tuple[str, ...]]] = {
        "scaling": _SCALING_ONLY,
        "memory": _MEMORY_ONLY,
        "payload": _PAYLOAD_ONLY,
    }

    @model_validator(mode="after")
    def _kind_needs(self) -> ScenarioConfig:
        for kind, fields in self._ONLY.items():
            if kind == self.kind:
                continue
            for field in fields:
                if field in self.model_fields_set:
                    raise invalid(f'{field} applies to kind = "{kind}" only', field)
        if self.kind in ("throughput", "memory"):
            if self.load is None:
                raise invalid(
                    f"a {self.kind} scenario needs load,"
                    ' e.g. load = { concurrency = 10, duration = "30s" }',
                    "load",
                )
            planned = self.load.planned_duration()
            if planned is not None and self.warmup >= planned:
                raise invalid("warmup must be shorter than the load's duration", "warmup")
            if self.kind == "memory" and self.load.duration is None and not self.load.stages:
                raise invalid(
                    'a memory scenario runs for a time: give load.duration, e.g. "10m"',
                    "load",
                )
        elif self.kind == "payload":
            if self.load is not None:
                raise invalid(
                    "a payload scenario sets its load with sizes, requests_per_size and"
                    " concurrency",
                    "load",
                )
            if not self.sizes:
                raise invalid(
                    'a payload scenario needs sizes, e.g. sizes = ["1KiB", "1MiB"]', "sizes"
                )
            for i, (small, big) in enumerate(zip(self.sizes, self.sizes[1:], strict=False)):
                if big <= small:
                    raise invalid("sizes must increase", "sizes", i + 1)
        else:
            if self.load is not None:
                raise invalid(
                    "a scaling scenario sets its load with steps, step_model and step_duration",
                    "load",
                )
            if not self.steps:
                raise invalid(
                    "a scaling scenario needs steps, e.g. steps = [1, 5, 10, 25, 50]", "steps"
                )
            for i, (low, high) in enumerate(zip(self.steps, self.steps[1:], strict=False)):
                if high <= low:
                    raise invalid(
                        f"steps must increase, but {high:g} follows {low:g}", "steps", i + 1
                    )
            if self.step_model == "closed":
                for i, step in enumerate(self.steps):
                    if not step.is_integer():
                        raise invalid("closed-model steps are whole concurrencies", "steps", i)
            if self.warmup >= self.step_duration:
                raise invalid("warmup must be shorter than step_duration", "warmup")
        return self

    def planned_duration(self) -> float | None:
        """Seconds of load the scenario plans (warm-up included); None when bounded by count."""
        if self.kind == "scaling":
            return len(self.steps) * self.step_duration
        return self.load.planned_duration() if self.load else None


class Suite(ConfigModel):
    """A whole configuration file: who to test, with what mix, under which scenarios."""

    run: RunConfig = Field(default_factory=RunConfig)
    targets: Annotated[tuple[TargetConfig, ...], Field(min_length=1)]
    workload: WorkloadConfig = Field(default_factory=WorkloadConfig)
    scenarios: Annotated[tuple[ScenarioConfig, ...], Field(min_length=1)]
    source: str = "<memory>"  # the file it came from; not a key of the file

    @model_validator(mode="after")
    def _references(self) -> Suite:
        _require_unique([t.name for t in self.targets], "targets", "target")
        _require_unique([s.name for s in self.scenarios], "scenarios", "scenario")
        names = [t.name for t in self.targets]
        for i, scenario in enumerate(self.scenarios):
            if scenario.target is not None and scenario.target not in names:
                raise invalid(
                    f"no target is named {scenario.target!r}{did_you_mean(scenario.target, names)}"
                    f" (targets: {', '.join(names)})",
                    "scenarios",
                    i,
                    "target",
                )
        return self

    def target(self, name: str) -> TargetConfig:
        for target in self.targets:
            if target.name == name:
                return target
        names = [t.name for t in self.targets]
        raise ConfigError(
            f"no target is named {name!r}{did_you_mean(name, names)}", file=self.source
        )

    def scenario(self, name: str) -> ScenarioConfig:
        for scenario in self.scenarios:
            if scenario.name == name:
                return scenario
        names = [s.name for s in self.scenarios]
        raise ConfigError(
            f"no scenario is named {name!r}{did_you_mean(name, names)}", file=self.source
        )

    def targets_for(self, scenario: ScenarioConfig) -> tuple[TargetConfig, ...]:
        if scenario.target is None:
            return self.targets
        return (self.target(scenario.target),)

    def workload_for(self, scenario: ScenarioConfig) -> WorkloadConfig:
        return scenario.workload or self.workload

    def select(self, scenarios: Iterable[str] = (), target: str | None = None) -> Suite:
        """The suite narrowed to the named scenarios (all when none) and to one target."""
        chosen = tuple(self.scenario(name) for name in dict.fromkeys(scenarios)) or self.scenarios
        targets = self.targets
        if target is not None:
            targets = (self.target(target),)
            chosen = tuple(s for s in chosen if s.target in (None, target))
            if not chosen:
                raise ConfigError(
                    f"no selected scenario runs against target {target!r}", file=self.source
                )
        return self.model_copy(update={"targets": targets, "scenarios": chosen})


def _require_unique(names: Sequence[str], table: str, what: str) -> None:
    for i, name in enumerate(names):
        if name in names[:i]:
            raise invalid(
                f"another {what} is already named {name!r}; names must be unique", table, i, "name"
            )


def _alternatives(choices: Sequence[str]) -> str:
    quoted = [repr(c) for c in choices]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


# --- loading -------------------------------------------------------------------------------

_suite_keys = config_errors.keys_in(Suite, internal=("source",))


def parse_suite(text: str, source: str, *, environ: Mapping[str, str] | None = None) -> Suite:
    """Parse TOML text; any problem raises ConfigError naming `source`, the key and the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise config_errors.syntax_error(exc, text, source) from None
    if "source" in data:
        raise config_errors.unknown_key("source", _suite_keys(()) or (), text, source)
    context = {"environ": os.environ if environ is None else environ}
    try:
        return Suite.model_validate({**data, "source": source}, context=context)
    except ValidationError as exc:
        raise config_errors.from_validation(exc, data, text, source, _suite_keys) from None


def load_suite(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Suite:
    """Read and parse a suite file."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", file=source) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason})", file=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", file=source) from None
    return parse_suite(text, source, environ=environ)


def default_suite(*, environ: Mapping[str, str] | None = None) -> Suite:
    """The packaged suite against the demo server, used when there is no scenarios.toml."""
    text = resources.files("readiness").joinpath("default_suite.toml").read_text(encoding="utf-8")
    return parse_suite(text, DEFAULT_SUITE_SOURCE, environ=environ)


def find_suite(config: str | None, cwd: Path, *, environ: Mapping[str, str] | None = None) -> Suite:
    """`-c FILE` when given; else ./scenarios.toml when present; else the built-in suite."""
    if config is not None:
        path = Path(config)
        return load_suite(path if path.is_absolute() else cwd / path, environ=environ)
    local = cwd / "scenarios.toml"
    if local.is_file():
        return load_suite(local, environ=environ)
    return default_suite(environ=environ)
