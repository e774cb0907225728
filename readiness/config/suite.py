"""scenarios.toml as a whole: the suite model (run, targets, workload, scenarios) and loading it,
with errors that name the file, the key path and the line.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from readiness.chaos.faults import unsupported
from readiness.config import errors as config_errors
from readiness.config.errors import did_you_mean
from readiness.config.gate import GateConfig
from readiness.config.scenario import SUITE_REPLAYS, ScenarioConfig
from readiness.config.scoring import ScoringConfig
from readiness.config.target import TargetConfig
from readiness.config.types import ConfigModel, Integer, Name, invalid
from readiness.config.workload import WorkloadConfig
from readiness.errors import ConfigError

DEFAULT_SUITE_SOURCE = "<built-in default suite>"


class RunConfig(ConfigModel):
    name: Name = "readiness"
    # Of the values templated arguments draw; a run without one draws a seed and records it.
    seed: Annotated[Integer, Field(ge=0)] | None = None

    @field_validator("name")
    @classmethod
    def _usable_in_a_folder_name(cls, name: str) -> str:
        if "/" in name or "\\" in name:
            raise invalid("the run name becomes part of a folder name; leave out / and \\")
        return name


class Suite(ConfigModel):
    """A whole configuration file: who to test, with what mix, under which scenarios."""

    run: RunConfig = Field(default_factory=RunConfig)
    targets: Annotated[tuple[TargetConfig, ...], Field(min_length=1)]
    workload: WorkloadConfig = Field(default_factory=WorkloadConfig)
    scenarios: Annotated[tuple[ScenarioConfig, ...], Field(min_length=1)]
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    source: str = "<memory>"  # the file it came from; not a key of the file

    @field_validator("workload")
    @classmethod
    def _tell_scenarios(cls, workload: WorkloadConfig, info: ValidationInfo) -> WorkloadConfig:
        # Validated before the scenarios (field order): a scenario without load may replay it.
        if isinstance(info.context, dict):
            info.context[SUITE_REPLAYS] = workload.replay is not None
        return workload

    @model_validator(mode="after")
    def _references(self) -> Suite:
        _require_unique([t.name for t in self.targets], "targets", "target")
        _require_unique([s.name for s in self.scenarios], "scenarios", "scenario")
        names = [t.name for t in self.targets]
        for i, scenario in enumerate(self.scenarios):
            _check_replay_load(scenario, self.workload_for(scenario), i)
            _check_target_names(scenario, names, i)
            two_way = [
                op.name
                for op in self.workload_for(scenario).operations
                if op.progress or op.cancel_after is not None or op.task
            ]
            for target in self.targets_for(scenario):
                if two_way and target.client is None:
                    raise invalid(
                        f"operation {two_way[0]!r} asks for progress, cancel_after or a task, which"
                        f" target {target.name!r} tracks only with a [targets.client] table"
                        " (it may be empty)",
                        "scenarios",
                        i,
                        "target" if scenario.target is not None else "kind",
                    )
                pooled = target.resilience is not None and target.resilience.pool is not None
                if pooled and scenario.kind in ("failure", "recovery"):
                    raise invalid(
                        f"target {target.name!r} has a pool ([targets.resilience.pool]), and"
                        " faults act on one session's channel: give this scenario a target"
                        " without a pool",
                        "scenarios",
                        i,
                        "kind" if scenario.target_names() is None else _names_key(scenario),
                    )
                for j, fault in enumerate(scenario.faults):
                    # A URL readiness did not start cannot be killed; a command it starts can.
                    owns = target.command is not None
                    reason = unsupported(fault, target.transport, owns_process=owns)
                    if reason is not None:
                        raise invalid(
                            f"target {target.name!r}: {reason}", "scenarios", i, "faults", j, "type"
                        )
        self._scored_names()
        return self

    def _scored_names(self) -> None:
        """Every [scoring.categories] key names a scenario, or a check as "scenario: check"."""
        by_name = {s.name: s for s in self.scenarios}
        for key in self.scoring.categories:
            name, _, expression = key.partition(": ")
            scenario = by_name.get(name)
            if scenario is None:
                raise invalid(
                    f"no scenario is named {name!r}{did_you_mean(name, by_name)}"
                    ' (a key is a scenario name, or a check as "scenario: expression")',
                    "scoring",
                    "categories",
                    key,
                )
            # A scenario with no thresholds of its own is judged by its kind's defaults.
            written = [t.expression for t in scenario.thresholds]
            if expression and written and expression not in written:
                raise invalid(
                    f"scenario {name!r} has no check {expression!r}"
                    f"{did_you_mean(expression, written)} (its checks: {', '.join(written)})",
                    "scoring",
                    "categories",
                    key,
                )

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
        """The targets a scenario runs against, in the suite's order."""
        names = scenario.target_names()
        if names is None:
            return self.targets
        return tuple(t for t in self.targets if t.name in names)

    def workload_for(self, scenario: ScenarioConfig) -> WorkloadConfig:
        return scenario.workload or self.workload

    def select(
        self, scenarios: Iterable[str] = (), target: str | Sequence[str] | None = None
    ) -> Suite:
        """The suite narrowed to the named scenarios (all when none) and to the named
        targets (one name or several; all when None)."""
        chosen = tuple(self.scenario(name) for name in dict.fromkeys(scenarios)) or self.scenarios
        targets = self.targets
        if target is not None:
            wanted = (target,) if isinstance(target, str) else tuple(dict.fromkeys(target))
            for name in wanted:
                self.target(name)  # an unknown name is an error
            targets = tuple(t for t in self.targets if t.name in wanted)
            chosen = tuple(
                s
                for s in chosen
                if s.target_names() is None or set(s.target_names() or ()) & set(wanted)
            )
            if not chosen:
                shown = ", ".join(repr(name) for name in wanted)
                raise ConfigError(
                    f"no selected scenario runs against target {shown}", file=self.source
                )
        return self.model_copy(update={"targets": targets, "scenarios": chosen})


def _check_target_names(scenario: ScenarioConfig, names: Sequence[str], index: int) -> None:
    """Every name in `target` / `targets` is one of the suite's targets."""
    for k, name in enumerate(scenario.target_names() or ()):
        if name not in names:
            key: tuple[str | int, ...] = ("target",) if scenario.targets is None else ("targets", k)
            raise invalid(
                f"no target is named {name!r}{did_you_mean(name, names)}"
                f" (targets: {', '.join(names)})",
                "scenarios",
                index,
                *key,
            )
        if scenario.targets is not None and name in scenario.targets[:k]:
            raise invalid(f"target {name!r} is named twice", "scenarios", index, "targets", k)


def _names_key(scenario: ScenarioConfig) -> str:
    return "target" if scenario.targets is None else "targets"


def _check_replay_load(scenario: ScenarioConfig, workload: WorkloadConfig, index: int) -> None:
    replay = workload.replay is not None
    if scenario.kind == "throughput" and scenario.load is None and not replay:
        raise invalid(
            'a throughput scenario needs load, e.g. load = { concurrency = 10, duration = "30s" }'
            " (or a workload that replays a capture)",
            "scenarios",
            index,
            "load",
        )
    if replay and scenario.kind != "throughput":
        raise invalid(
            "a replay runs in a throughput scenario; give this one a workload of its own",
            "scenarios",
            index,
            "kind",
        )
    if replay and scenario.load is not None and scenario.load.model != "closed":
        raise invalid(
            "a replay keeps the capture's own times: leave out load, or give a closed load to"
            " replay as fast as its virtual users allow",
            "scenarios",
            index,
            "load",
        )


def _require_unique(names: Sequence[str], table: str, what: str) -> None:
    for i, name in enumerate(names):
        if name in names[:i]:
            raise invalid(
                f"another {what} is already named {name!r}; names must be unique", table, i, "name"
            )


# --- loading -------------------------------------------------------------------------------

_suite_keys = config_errors.keys_in(Suite, internal=("source",))


def parse_suite(
    text: str,
    source: str,
    *,
    environ: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Suite:
    """Parse TOML text; any problem raises ConfigError naming `source`, the key and the line.

    Data files are read relative to `base_dir` (the current directory when None)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise config_errors.syntax_error(exc, text, source) from None
    if "source" in data:
        raise config_errors.unknown_key("source", _suite_keys(()) or (), text, source)
    context = {
        "environ": os.environ if environ is None else environ,
        "base_dir": base_dir if base_dir is not None else Path(source).parent,
    }
    try:
        return Suite.model_validate({**data, "source": source}, context=context)
    except ValidationError as exc:
        raise config_errors.from_validation(exc, data, text, source, _suite_keys) from None


def load_suite(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Suite:
    """Read and parse a suite file."""
    source = str(path)
    text = config_errors.read_config(path)
    return parse_suite(text, source, environ=environ, base_dir=Path(path).parent)


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
    if local.exists() or local.is_symlink():  # a folder or a broken link is an error, not absent
        return load_suite(local, environ=environ)
    return default_suite(environ=environ)
