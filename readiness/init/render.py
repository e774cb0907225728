"""The scenarios.toml `readiness init` writes: pure text from what discovery found.

Working operations go into a weighted workload; failed and not-called ones are written
commented out with the server's error or the reason. Scenarios are the default suite's,
sized by the server's measured latency. Header values are written as ${VAR} references.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from readiness.init.discover import Discovery, Tried

# Weights of the mix: tool calls are what a server is for; reads and prompts are lighter.
WEIGHTS = {"tools/call": 5, "resources/read": 2, "prompts/get": 1}
MAX_RATE = 200.0
MIN_RATE = 5.0
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Header:
    name: str
    variable: str  # written as ${variable}; the value itself is never written


@dataclass(frozen=True)
class InitSpec:
    """How to reach the target, as it is to be written."""

    name: str
    transport: str  # stdio | http
    command: str | None = None  # as written (${PYTHON} for this interpreter)
    args: tuple[str, ...] = ()
    url: str | None = None
    headers: tuple[Header, ...] = ()
    read_only: bool = False
    invocation: str = ""  # the init command line, for the file's header
    notes: tuple[str, ...] = field(default_factory=tuple)


def header_variable(name: str) -> str:
    """The environment variable a header's value is read from: READINESS_<NAME>."""
    return "READINESS_" + (re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "HEADER")


def toml_value(value: Any) -> str:
    """A JSON value as a one-line TOML value (inline tables for objects)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("TOML from JSON: no infinite or NaN numbers")
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }"
    raise ValueError(f"TOML cannot write {type(value).__name__}")


def toml_string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\\uFFFD")  # a lone surrogate is no TOML character
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else toml_string(key)


def _comment(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Sizing:
    """The loads, from the median latency of one request sent alone."""

    rate: float  # per second, for the open-model scenarios
    concurrency: int
    requests: int
    p99_s: float
    latency_s: float | None


def size_for(latency_s: float | None) -> Sizing:
    """Half of what one connection sends back to back, capped at the default suite's 200/s;
    p99 allowed at 20 × the median, at least 500 ms."""
    if latency_s is None or latency_s <= 0:
        return Sizing(MIN_RATE * 4, 10, 200, 1.0, latency_s)
    rate = _nice(min(MAX_RATE, max(MIN_RATE, 0.5 / latency_s)))
    concurrency = 50 if latency_s < 0.01 else 10
    requests = int(min(1000, max(200, concurrency * 20)))
    p99 = _nice(max(0.5, 20 * latency_s))
    return Sizing(rate, concurrency, requests, p99, latency_s)


def _nice(value: float) -> float:
    """Down to 1, 2 or 5 times a power of ten."""
    power = 10 ** math.floor(math.log10(value))
    for step in (5, 2, 1):
        if value >= step * power:
            return float(step * power)
    return float(power)


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


def _rate(rate: float) -> str:
    return f"{rate:g}/s"


def render(spec: InitSpec, found: Discovery) -> str:
    """The whole scenarios.toml."""
    working = [op for op in found.operations if op.status == "ok"]
    sizing = size_for(found.median_latency_s)
    lines: list[str] = []
    lines += _header(spec, found, sizing)
    lines += _target(spec)
    lines += _workload(found.operations, working)
    lines += _scenarios(spec, working, sizing)
    return "\n".join(lines).rstrip("\n") + "\n"


def _header(spec: InitSpec, found: Discovery, sizing: Sizing) -> list[str]:
    server = found.server_name or spec.name
    counts = (
        f"{len(found.tools)} tool(s), {len(found.resources)} resource(s),"
        f" {len(found.templates)} resource template(s), {len(found.prompts)} prompt(s)"
    )
    lines = [
        f"# Written by `{_comment(spec.invocation)}`."
        if spec.invocation
        else "# Written by readiness init.",
        f"# Server {server!r} (protocol {found.protocol_version}) lists {counts}.",
        "# Each operation below was tried once before it was written; those that failed or must",
        "# not be called are commented out with the reason. Edit freely; `readiness validate",
        "# --connect` checks the file against the server without load.",
    ]
    for method, error in found.list_errors.items():
        lines.append(f"# {method} failed: {_comment(error)}")
    if sizing.latency_s is not None:
        lines.append(
            f"# Loads are sized from {found.calibration_requests} requests sent one at a time"
            f" (median {sizing.latency_s * 1000:.1f} ms): open-model rates at"
            f" {_rate(sizing.rate)}; raise them to find the server's limits."
        )
    lines += [f"# {_comment(n)}" for n in spec.notes]
    lines += ["", "[run]", f"name = {toml_string(spec.name)}", ""]
    return lines


def _target(spec: InitSpec) -> list[str]:
    lines = [
        "[[targets]]",
        f"name = {toml_string(spec.name)}",
        f"transport = {toml_string(spec.transport)}",
    ]
    if spec.command is not None:
        lines.append(f"command = {toml_string(spec.command)}")
        lines.append(f"args = {toml_value(list(spec.args))}")
    if spec.url is not None:
        lines.append(f"url = {toml_string(spec.url)}")
    lines.append('request_timeout = "10s"')
    if spec.headers:
        names = ", ".join(h.variable for h in spec.headers)
        lines.append(
            f"# Header values are read from the environment ({names}): set them before a run;"
            " they are never written here and readiness redacts them in reports."
        )
        lines.append("[targets.headers]")
        lines += [
            f"{toml_key(h.name)} = {toml_string('${' + h.variable + '}')}" for h in spec.headers
        ]
    lines.append("")
    return lines


def _workload(operations: Sequence[Tried], working: Sequence[Tried]) -> list[str]:
    lines = ["# The mix each request is drawn from (weights are relative)."]
    for op in operations:
        if op.status != "ok" and op.call not in WEIGHTS:
            continue  # a fallback that did not work: nothing to offer
        block = _operation(op)
        if op.status == "ok":
            if op.description:
                lines.append(f"# {_comment(op.description)}")
            lines += block
        else:
            verdict = "failed when tried" if op.status == "failed" else "skipped"
            lines.append(f"# {op.call} {op.subject}: {verdict} — {_comment(op.reason)}")
            lines += [f"# {line}" for line in block]
        lines.append("")
    if not working:
        lines.append("# Nothing the server offers answered; this placeholder keeps the file valid.")
        lines += ["[[workload.operations]]", 'call = "tools/list"', ""]
    return lines


def _operation(op: Tried) -> list[str]:
    lines = ["[[workload.operations]]", f"call = {toml_string(op.call)}"]
    key = {"tools/call": "tool", "resources/read": "uri", "prompts/get": "prompt"}.get(op.call)
    if key is not None:
        lines.append(f"{key} = {toml_string(op.subject)}")
    if op.arguments:
        try:
            lines.append(f"arguments = {toml_value(op.arguments)}")
        except ValueError:
            lines.append("# arguments: not expressible in TOML")
    lines.append(f"weight = {WEIGHTS.get(op.call, 1)}")
    return lines


def _scenarios(spec: InitSpec, working: Sequence[Tried], sizing: Sizing) -> list[str]:
    rate = sizing.rate
    started = spec.command is not None
    lines = [
        "# The default suite's scenarios, sized for this server.",
        "[[scenarios]]",
        'name = "throughput"',
        'kind = "throughput"',
        f'load = {{ model = "closed", concurrency = {sizing.concurrency},'
        f" requests = {sizing.requests} }}",
        f'thresholds = ["success_rate >= 99%", "p99 < {_duration(sizing.p99_s)}"]',
        "",
        "[[scenarios]]",
        'name = "scaling"',
        'kind = "scaling"',
        "steps = [1, 5, 10, 25, 50]",
        'step_duration = "3s"',
        "",
    ]
    memory = [
        "[[scenarios]]",
        'name = "memory"',
        'kind = "memory"',
        f'load = {{ model = "open", rate = "{_rate(rate)}", duration = "15s" }}',
        'warmup = "3s"',
        'settle = "2s"',
        'thresholds = ["success_rate >= 99%", "leak == false", "fd_leak == false"]',
        "",
    ]
    if started:
        lines += ['# A short soak: run a longer one (duration = "10m") before a release.', *memory]
    else:
        lines.append(
            "# memory: needs the server's process to sample; readiness does not start this one."
            " Set pid = N (or process_name) in [[targets]] and uncomment:"
        )
        lines += [f"# {line}" if line else "" for line in memory]
    faulted = next((op.subject for op in working if op.call == "tools/call"), None)
    unaffected = [op for op in working if not (op.call == "tools/call" and op.subject == faulted)]
    failure = [
        "[[scenarios]]",
        'name = "failure"',
        'kind = "failure"',
        f'load = {{ model = "open", rate = "{_rate(max(MIN_RATE, rate / 2))}", duration = "9s" }}',
        "",
    ]
    if faulted is None or unaffected:
        what = f"the {faulted} tool" if faulted else "the first operation"
        lines += [
            f"# 10% JSON-RPC errors on {what} in the middle third; the rest must stay healthy."
        ]
        lines += failure
    else:
        lines.append(
            "# failure: faults hit the workload's first tool while the other operations must stay"
            " healthy; this workload has no other operation. Add one and uncomment:"
        )
        lines += [f"# {line}" if line else "" for line in failure]
    lines += [
        (
            "# The server is killed a third of the way in and restarted 2 s later."
            if started
            else "# The server hangs for 5 s a third of the way in (readiness did not start it)."
        ),
        "[[scenarios]]",
        'name = "recovery"',
        'kind = "recovery"',
        f'load = {{ model = "open", rate = "{_rate(max(MIN_RATE, rate / 4))}", duration = "14s" }}',
        "",
        "# Hostile but harmless probes of every tool, prompt and resource template (tools marked",
        "# destructiveHint = true are left out).",
        "[[scenarios]]",
        'name = "security"',
        'kind = "security"',
        f'probe_rate = "{_rate(min(100.0, rate))}"',
        'huge_strings = ["1MiB"]',
    ]
    return lines
