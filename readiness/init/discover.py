"""What `readiness init` learns from a server: everything it lists (following pagination), each
operation it would write tried once, and a short sequential calibration of their latency.

Tools marked `destructiveHint: true` (and, read-only, those not marked `readOnlyHint: true`)
are never called. Every request is bounded by the target's request timeout, and the whole
calibration by a count and a time.
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readiness.init.synth import example

if TYPE_CHECKING:
    from readiness.config import TargetConfig
    from readiness.protocol.connection import Connection

MAX_OPERATIONS = 50  # tried at most, each once
MAX_PER_LIST = 1000  # items kept of each list
CALIBRATION_REQUESTS = 30
CALIBRATION_SECONDS = 3.0
_TEMPLATE_VAR = re.compile(r"\{[+#./;?&]?([^}]*)\}")


@dataclass
class Tried:
    """One candidate operation of the workload and what trying it once showed."""

    call: str  # tools/call, resources/read, prompts/get, ping, tools/list, …
    subject: str = ""  # the tool, URI or prompt
    arguments: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"  # ok | failed | skipped
    reason: str = ""  # why it failed or was not tried
    latency_s: float | None = None
    description: str = ""

    @property
    def params(self) -> dict[str, Any] | None:
        if self.call == "tools/call":
            return {"name": self.subject, "arguments": self.arguments}
        if self.call == "resources/read":
            return {"uri": self.subject}
        if self.call == "prompts/get":
            return (
                {"name": self.subject, "arguments": self.arguments}
                if self.arguments
                else {"name": self.subject}
            )
        return None


@dataclass
class Discovery:
    protocol_version: str
    server_name: str
    tools: list[dict[str, Any]] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    prompts: list[dict[str, Any]] = field(default_factory=list)
    list_errors: dict[str, str] = field(default_factory=dict)  # method → why it failed
    operations: list[Tried] = field(default_factory=list)
    median_latency_s: float | None = None
    calibration_requests: int = 0


async def discover(cfg: TargetConfig, *, read_only: bool = False) -> Discovery:
    """Connect to the target, list what it offers, try each candidate operation once."""
    from readiness.target import open_target

    with tempfile.TemporaryDirectory(prefix="readiness-init-") as logs:
        async with open_target(cfg, Path(logs), "init") as session:
            conn = session.conn
            found = Discovery(conn.protocol_version, str(conn.server_info.get("name", "")))
            await _list_all(conn, found)
            found.operations = candidates(found, read_only=read_only)[:MAX_OPERATIONS]
            for op in found.operations:
                if op.status == "ok":
                    await _try(conn, op, cfg.request_timeout)
            if not any(op.status == "ok" for op in found.operations):
                for fallback in _fallbacks(found):
                    await _try(conn, fallback, cfg.request_timeout)
                    found.operations.append(fallback)
                    if fallback.status == "ok":
                        break
            await _calibrate(conn, found, cfg.request_timeout)
    return found


async def _list_all(conn: Connection, found: Discovery) -> None:
    from readiness.protocol.client import McpClient, RequestFailed

    client = McpClient(conn)
    lists = (
        ("tools/list", "tools", found.tools),
        ("resources/list", "resources", found.resources),
        ("resources/templates/list", "resourceTemplates", found.templates),
        ("prompts/list", "prompts", found.prompts),
    )
    for method, key, into in lists:
        try:
            async with aclosing(client.pages(method, key)) as pages:
                async for page in pages:
                    into.extend(page[: MAX_PER_LIST - len(into)])
                    if len(into) >= MAX_PER_LIST:
                        break
        except RequestFailed as exc:
            found.list_errors[method] = str(exc)


def candidates(found: Discovery, *, read_only: bool = False) -> list[Tried]:
    """The operations to try, in order: tools, resources, resource templates, prompts. Those
    that must not be called are `skipped` with the reason."""
    out: list[Tried] = []
    for tool in found.tools:
        name = str(tool.get("name", ""))
        if not name:
            continue
        op = Tried("tools/call", name, description=_first_line(tool.get("description")))
        annotations = tool.get("annotations")
        hints = annotations if isinstance(annotations, dict) else {}
        schema = tool.get("inputSchema")
        if hints.get("destructiveHint") is True:
            op.status, op.reason = (
                "skipped",
                "not called: its annotations say destructiveHint = true",
            )
        elif read_only and hints.get("readOnlyHint") is not True:
            op.status, op.reason = (
                "skipped",
                "not called (--read-only): it is not marked readOnlyHint = true",
            )
        else:
            arguments = example(schema if isinstance(schema, dict) else {"type": "object"})
            if not isinstance(arguments, dict):
                arguments = {}
            op.arguments = arguments
            if _has_null(arguments):
                op.status, op.reason = (
                    "skipped",
                    "its example arguments need null, which TOML cannot write",
                )
        if op.status == "skipped" and not op.arguments and isinstance(schema, dict):
            synthesised = example(schema)
            op.arguments = (
                synthesised if isinstance(synthesised, dict) and not _has_null(synthesised) else {}
            )
        out.append(op)
    for resource in found.resources[:10]:
        uri = resource.get("uri")
        if isinstance(uri, str) and uri:
            out.append(Tried("resources/read", uri, description=_first_line(resource.get("name"))))
    for template in found.templates[:10]:
        pattern = template.get("uriTemplate")
        if isinstance(pattern, str) and pattern:
            uri = _TEMPLATE_VAR.sub(lambda m: "example", pattern)
            out.append(Tried("resources/read", uri, description=f"from template {pattern}"))
    for prompt in found.prompts[:10]:
        prompt_name = prompt.get("name")
        if not isinstance(prompt_name, str) or not prompt_name:
            continue
        args = prompt.get("arguments")
        arguments = {
            str(a["name"]): "example"
            for a in (args if isinstance(args, list) else [])
            if isinstance(a, dict) and a.get("required") and isinstance(a.get("name"), str)
        }
        out.append(
            Tried(
                "prompts/get",
                prompt_name,
                arguments,
                description=_first_line(prompt.get("description")),
            )
        )
    return out


def _fallbacks(found: Discovery) -> list[Tried]:
    from readiness.protocol.connection import MODERN_VERSIONS

    out = [] if found.protocol_version in MODERN_VERSIONS else [Tried("ping")]
    out += [Tried("tools/list"), Tried("resources/list"), Tried("prompts/list")]
    return out


async def _try(conn: Connection, op: Tried, timeout: float) -> None:
    from readiness.protocol.outcome import Outcome

    started = time.perf_counter()
    reply = await conn.request(op.call, op.params, timeout=timeout)
    elapsed = time.perf_counter() - started
    if reply.outcome is Outcome.OK:
        op.status, op.latency_s = "ok", elapsed
        return
    op.status = "failed"
    code = f" {reply.error_code}" if reply.error_code is not None else ""
    detail = reply.detail or _content_text(reply.result)
    op.reason = _first_line(f"{reply.outcome.name.lower()}{code}: {detail}".rstrip(": "))


def _content_text(result: dict[str, Any] | None) -> str:
    """The text a tool error carries in its content."""
    content = (result or {}).get("content")
    texts = [
        str(c.get("text"))
        for c in (content if isinstance(content, list) else [])
        if isinstance(c, dict) and c.get("type") == "text"
    ]
    return " ".join(texts)


async def _calibrate(conn: Connection, found: Discovery, timeout: float) -> None:
    """Send the working operations one after another, bounded by count and time, for the
    median latency the scenarios are sized by."""
    from readiness.protocol.outcome import Outcome

    working = [op for op in found.operations if op.status == "ok"]
    if not working:
        return
    samples = [op.latency_s for op in working if op.latency_s is not None]
    deadline = time.perf_counter() + CALIBRATION_SECONDS
    for i in range(CALIBRATION_REQUESTS):
        if time.perf_counter() >= deadline:
            break
        op = working[i % len(working)]
        started = time.perf_counter()
        reply = await conn.request(op.call, op.params, timeout=timeout)
        if reply.outcome is Outcome.OK:
            samples.append(time.perf_counter() - started)
    found.calibration_requests = len(samples)
    if samples:
        found.median_latency_s = statistics.median(samples)


def _has_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return False


def _first_line(text: Any) -> str:
    if not isinstance(text, str):
        return ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 160 else line[:157] + "…"
