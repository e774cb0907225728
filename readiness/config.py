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
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from readiness import config_errors
from readiness.chaos.faults import unsupported
from readiness.config_errors import Key, did_you_mean
from readiness.config_scenario import LoadConfig, ScenarioConfig, ScenarioKind, Stage
from readiness.config_types import ConfigModel, Duration, Name, Size, invalid
from readiness.config_workload import OperationConfig, WorkloadConfig
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

DEFAULT_SUITE_SOURCE = "<built-in default suite>"
PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")
DEFAULT_MAX_REPLY_BYTES = 16 * 1024 * 1024

__all__ = [
    "LoadConfig",
    "OperationConfig",
    "RunConfig",
    "ScenarioConfig",
    "ScenarioKind",
    "Stage",
    "Suite",
    "TargetConfig",
    "WorkloadConfig",
    "default_suite",
    "find_suite",
    "load_suite",
    "parse_suite",
]


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
            if self.resilience is not None and self.resilience.batch is not None:
                raise invalid(
                    "batching applies to stdio targets only (one pipe write for many frames)",
                    "resilience",
                    "batch",
                )
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
            for target in self.targets_for(scenario):
                for j, fault in enumerate(scenario.faults):
                    # A URL readiness did not start cannot be killed; a command it starts can.
                    owns = target.command is not None
                    reason = unsupported(fault, target.transport, owns_process=owns)
                    if reason is not None:
                        raise invalid(
                            f"target {target.name!r}: {reason}", "scenarios", i, "faults", j, "type"
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
