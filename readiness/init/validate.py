"""`readiness validate --connect`: each target opened once, and every tool, resource and prompt
the workload names checked against what the server lists — tool arguments against the tool's
inputSchema (jsonschema), prompt arguments against the prompt's required ones."""

from __future__ import annotations

import re
import tempfile
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from readiness.config import OperationConfig, Suite, TargetConfig, WorkloadConfig


@dataclass
class Listed:
    """What one target lists; None for a list the server failed to give."""

    tools: dict[str, dict[str, Any]] | None = None
    resources: set[str] | None = None
    templates: list[re.Pattern[str]] = field(default_factory=list)
    prompts: dict[str, dict[str, Any]] | None = None


def operations_of(workload: WorkloadConfig) -> list[tuple[str, OperationConfig]]:
    """(where, operation) for every operation and journey step of a workload."""
    out: list[tuple[str, OperationConfig]] = [
        (f"workload.operations[{i}]", op) for i, op in enumerate(workload.operations)
    ]
    for i, journey in enumerate(workload.journeys):
        out += [
            (f"workload.journeys[{i}].steps[{j}]", step) for j, step in enumerate(journey.steps)
        ]
    return out


def workloads_by_target(suite: Suite) -> dict[str, list[tuple[str, WorkloadConfig]]]:
    """For each target, the workloads sent to it (the suite's, and scenarios' own) and where."""
    out: dict[str, list[tuple[str, WorkloadConfig]]] = {t.name: [] for t in suite.targets}
    for scenario in suite.scenarios:
        workload = suite.workload_for(scenario)
        if workload.replay is not None:
            continue  # a capture replays what was sent; nothing to name
        prefix = "" if scenario.workload is None else f"scenarios ({scenario.name})."
        for target in suite.targets_for(scenario):
            if all(w is not workload for _, w in out[target.name]):
                out[target.name].append((prefix, workload))
    return out


async def check_suite(suite: Suite) -> list[str]:
    """Every problem found, as one line each (none: the suite matches its servers)."""
    problems: list[str] = []
    wanted = workloads_by_target(suite)
    for target in suite.targets:
        if not wanted[target.name]:
            continue
        listed = await list_target(target)
        for prefix, workload in wanted[target.name]:
            for where, op in operations_of(workload):
                problem = check_operation(op, listed)
                if problem:
                    problems.append(
                        f"{prefix}{where} ({op.name}) on target {target.name!r}: {problem}"
                    )
    return problems


async def list_target(cfg: TargetConfig) -> Listed:
    from readiness.protocol.client import McpClient, RequestFailed
    from readiness.target import open_target

    listed = Listed()
    with tempfile.TemporaryDirectory(prefix="readiness-validate-") as logs:
        async with open_target(cfg, Path(logs), "validate") as session:
            client = McpClient(session.conn)

            async def items(method: str, key: str) -> list[dict[str, Any]] | None:
                try:
                    async with aclosing(client.pages(method, key)) as pages:
                        return [item async for page in pages for item in page]
                except RequestFailed:
                    return None

            tools = await items("tools/list", "tools")
            if tools is not None:
                listed.tools = {str(t.get("name")): t for t in tools}
            resources = await items("resources/list", "resources")
            if resources is not None:
                listed.resources = {str(r.get("uri")) for r in resources}
            templates = await items("resources/templates/list", "resourceTemplates") or []
            listed.templates = [
                template_pattern(str(t["uriTemplate"])) for t in templates if "uriTemplate" in t
            ]
            prompts = await items("prompts/list", "prompts")
            if prompts is not None:
                listed.prompts = {str(p.get("name")): p for p in prompts}
    return listed


def template_pattern(template: str) -> re.Pattern[str]:
    """A URI template (RFC 6570, simple expansions) as a regex matching its URIs."""
    parts = re.split(r"(\{[^}]*\})", template)
    body = "".join(
        (".*" if p[1:2] in ("+", "#") else "[^/]*") if p.startswith("{") else re.escape(p)
        for p in parts
    )
    return re.compile(body)


def check_operation(op: OperationConfig, listed: Listed) -> str | None:
    """Why the operation does not match what the server lists, or None."""
    if op.call == "tools/call" and listed.tools is not None:
        tool = listed.tools.get(str(op.tool))
        if tool is None:
            offered = ", ".join(sorted(listed.tools)) or "none"
            return f"no tool named {op.tool!r} (the server offers: {offered})"
        if _templated(op.arguments):
            return None  # {{ … }} values are only known per request
        schema = tool.get("inputSchema")
        if isinstance(schema, dict):
            return argument_problem(op.arguments, schema)
    if op.call == "resources/read" and listed.resources is not None:
        uri = str(op.uri)
        if _templated(uri) or uri in listed.resources:
            return None
        if any(p.fullmatch(uri) for p in listed.templates):
            return None
        return f"no resource or resource template matches {uri!r}"
    if op.call == "prompts/get" and listed.prompts is not None:
        prompt = listed.prompts.get(str(op.prompt))
        if prompt is None:
            offered = ", ".join(sorted(listed.prompts)) or "none"
            return f"no prompt named {op.prompt!r} (the server offers: {offered})"
        declared = prompt.get("arguments")
        declared = declared if isinstance(declared, list) else []
        names = {str(a.get("name")) for a in declared if isinstance(a, dict)}
        missing = [
            str(a.get("name"))
            for a in declared
            if isinstance(a, dict) and a.get("required") and str(a.get("name")) not in op.arguments
        ]
        if missing:
            return f"the prompt needs argument {missing[0]!r}"
        unknown = sorted(set(op.arguments) - names)
        if unknown and declared:
            return (
                f"the prompt has no argument {unknown[0]!r} (it takes: {', '.join(sorted(names))})"
            )
    return None


def argument_problem(arguments: dict[str, Any], schema: dict[str, Any]) -> str | None:
    """The first way the arguments break the tool's inputSchema, or None."""
    from jsonschema import exceptions, validators

    try:
        cls = validators.validator_for(schema)
        error = exceptions.best_match(cls(schema).iter_errors(arguments))
    except Exception:  # a schema jsonschema cannot read: not ours to judge
        return None
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"arguments{'.' + where.replace('/', '.') if where else ''}: {error.message}"


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    return False
