"""scenarios.toml: loading a suite, the errors that name file, key and line, the building blocks
(units, ${VAR} placeholders, thresholds) and the target, workload and scenario models.

The building blocks are imported by lower layers (fault and resilience models), so this package
loads its models on first use instead of at import, which would be circular.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from readiness.config.gate import GateConfig
    from readiness.config.scenario import LoadConfig, ScenarioConfig, ScenarioKind, Stage
    from readiness.config.suite import (
        DEFAULT_SUITE_SOURCE,
        RunConfig,
        Suite,
        default_suite,
        find_suite,
        load_suite,
        parse_suite,
    )
    from readiness.config.target import DEFAULT_MAX_REPLY_BYTES, PROTOCOL_VERSIONS, TargetConfig
    from readiness.config.workload import OperationConfig, WorkloadConfig

_HOMES = {
    "GateConfig": "gate",
    "LoadConfig": "scenario",
    "ScenarioConfig": "scenario",
    "ScenarioKind": "scenario",
    "Stage": "scenario",
    "DEFAULT_SUITE_SOURCE": "suite",
    "RunConfig": "suite",
    "Suite": "suite",
    "default_suite": "suite",
    "find_suite": "suite",
    "load_suite": "suite",
    "parse_suite": "suite",
    "DEFAULT_MAX_REPLY_BYTES": "target",
    "PROTOCOL_VERSIONS": "target",
    "TargetConfig": "target",
    "OperationConfig": "workload",
    "WorkloadConfig": "workload",
}

__all__ = [
    "DEFAULT_MAX_REPLY_BYTES",
    "DEFAULT_SUITE_SOURCE",
    "PROTOCOL_VERSIONS",
    "GateConfig",
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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'readiness.config' has no attribute {name!r}")
    return getattr(importlib.import_module(f"readiness.config.{home}"), name)
