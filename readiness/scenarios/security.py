"""The security scenario: discover what the server offers, then send it hostile but harmless
probes (schema, injection, protocol, HTTP) one at a time, judging every reply and checking
after each batch that the server still answers."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from readiness.engine.progress import Progress
from readiness.engine.workload import Operation, Workload
from readiness.process import ProcessSpec
from readiness.protocol.client import McpClient, RequestFailed
from readiness.protocol.connection import Connection
from readiness.results import Method, ScenarioResult, SecurityCell, SecurityFinding, SecurityResult
from readiness.scenarios.base import ScenarioContext, assemble, judge, now_iso
from readiness.scenarios.instruments import watch
from readiness.security.catalog import Catalog, HttpProbe, Tokens, load_catalog
from readiness.security.findings import RULES, SEVERITIES, FindingLog
from readiness.security.prober import CALL_CLASSES, Prober, ProbeSettings
from readiness.security.raw import RawStdio
from readiness.security.schema import CallProbe, ToolProbes, prompt_probes, resource_probes
from readiness.target import log_path, log_redaction, open_target

LISTS = (
    ("tools/list", "tools"),
    ("resources/list", "resources"),
    ("resources/templates/list", "resourceTemplates"),
    ("prompts/list", "prompts"),
)


@dataclass
class Discovery:
    """What the server listed, every page of it."""

    items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


async def discover(conn: Connection) -> Discovery:
    """Tools, resources, resource templates and prompts, paginated (with the repeated-cursor
    guard of McpClient.pages). A list the server does not offer is empty; a broken one keeps
    the pages that came before the break, and a note says so."""
    found = Discovery()
    client = McpClient(conn)
    for method, key in LISTS:
        items: list[dict[str, Any]] = []
        try:
            async with aclosing(client.pages(method, key)) as pages:
                async for page in pages:
                    items.extend(page)
        except RequestFailed as exc:
            if exc.reply is None or method == "tools/list":
                found.notes.append(f"{exc}; probed what was listed before that")
        found.items[key] = items
    return found


def _round_robin(groups: Iterable[Iterator[CallProbe]]) -> Iterator[CallProbe]:
    """One probe of each target in turn, so a cap cuts every target's share alike."""
    active = list(groups)
    while active:
        still = []
        for group in active:
            probe = next(group, None)
            if probe is not None:
                still.append(group)
                yield probe
        active = still


def _is_destructive(tool: dict[str, Any]) -> bool:
    annotations = tool.get("annotations")
    return isinstance(annotations, dict) and annotations.get("destructiveHint") is True


def _call_probes(
    ctx: ScenarioContext, found: Discovery, catalog: Catalog, tokens: Tokens
) -> tuple[list[Iterator[CallProbe]], dict[str, str]]:
    """A fresh iterator of probes per target, and the tools left out (destructive)."""
    scenario = ctx.scenario
    skipped: dict[str, str] = {}
    groups: list[Iterator[CallProbe]] = []
    for tool in found.items.get("tools", []):
        if _is_destructive(tool) and not scenario.allow_destructive:
            skipped[str(tool.get("name"))] = "destructiveHint = true (allow_destructive = false)"
            continue
        groups.append(
            iter(
                ToolProbes(
                    tool,
                    catalog,
                    tokens,
                    huge_strings=scenario.huge_strings,
                    classes=scenario.probe_classes,
                )
            )
        )
    if "injection" in scenario.probe_classes:
        for prompt in found.items.get("prompts", []):
            groups.append(prompt_probes(prompt, catalog, tokens))
        for template in found.items.get("resourceTemplates", []):
            groups.append(resource_probes(template, catalog, tokens))
    return groups, skipped


def _canary(folder: Path) -> Tokens:
    """The run's tokens, and the harmless file traversal probes try to reach."""
    folder.mkdir(parents=True, exist_ok=True)
    nonce = secrets.token_hex(8)
    file_token = f"rdy-file-{secrets.token_hex(8)}"
    path = folder / f"rdy-canary-{nonce}.txt"
    path.write_text(f"{file_token}\n", encoding="utf-8")
    return Tokens(nonce=nonce, file_path=str(path.resolve()), file_token=file_token)


def _http_headers(ctx: ScenarioContext, conn: Connection) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        **dict(ctx.target.headers),
        "MCP-Protocol-Version": conn.protocol_version,
    }
    session_id = getattr(conn, "session_id", None)
    if isinstance(session_id, str):
        headers["Mcp-Session-Id"] = session_id
    return headers


async def run_security(ctx: ScenarioContext) -> ScenarioResult:
    scenario = ctx.scenario
    target = ctx.target
    catalog = load_catalog()
    classes = list(scenario.probe_classes)
    if target.transport != "http" and "http" in classes:
        classes.remove("http")
    settings = ProbeSettings(
        rate=scenario.probe_rate,
        max_probes=scenario.max_probes,
        probe_timeout=scenario.probe_timeout,
        huge_strings=tuple(scenario.huge_strings),
    )
    work = ctx.run_dir / "security" / scenario.name
    tokens = _canary(work)
    prober = Prober(settings, tokens, FindingLog(), ctx.interrupt)
    started_at = now_iso()
    started = time.perf_counter()
    planned = 0

    def tick() -> None:
        rec = prober.recorder
        ctx.on_progress(
            Progress(
                scenario=scenario.name,
                kind=scenario.kind,
                target=target.name,
                phase=f"probes ({len(prober.log)} findings)",
                elapsed_s=time.perf_counter() - started,
                planned_s=None,
                planned_requests=planned or None,
                sent=prober.sent,
                ok=rec.completed - rec.errors - rec.rejected,
                errors=rec.errors,
                in_flight=0,
                rps=0.0,
                p50_ms=None,
                p99_ms=None,
            )
        )

    prober.on_tick = tick
    skipped: dict[str, str] = {}
    logs = ctx.run_dir / "logs"
    try:
        async with open_target(target, logs, scenario.name) as session:
            ctx.on_connected(session)
            conn = session.conn
            async with watch(session.pid, live=ctx.exposed) as instruments:
                found = await discover(conn)
                groups, skipped = _call_probes(ctx, found, catalog, tokens)
                planned = sum(1 for _ in _round_robin(_call_probes(ctx, found, catalog, tokens)[0]))
                planned += len(catalog.protocol) if "protocol" in classes else 0
                http_probes: list[HttpProbe] = []
                if "http" in classes:
                    assert target.url is not None
                    session_id = getattr(conn, "session_id", None)
                    http_probes = Prober.http_plan(
                        target.url,
                        ctx.target.headers,
                        session_id if isinstance(session_id, str) else None,
                        catalog.http,
                    )
                planned += len(http_probes)
                if "protocol" in classes:
                    await _protocol_probes(ctx, prober, conn, catalog, logs)
                if http_probes:
                    assert target.url is not None
                    headers = _http_headers(ctx, conn)
                    await prober.run_http(conn, target.url, headers, http_probes)
                if not prober.crashed:
                    await prober.run_calls(conn, _round_robin(groups))
    finally:
        await anyio.Path(tokens.file_path).unlink(missing_ok=True)
        for folder in (work, work.parent):  # the folders too, when nothing else is in them
            with contextlib.suppress(OSError):
                await anyio.Path(folder).rmdir()
    recording = prober.recorder.finish()
    workload = Workload(
        [
            Operation(index=i, name=name, method="tools/call", params=None, weight=1.0)
            for i, name in enumerate(CALL_CLASSES)
        ]
    )
    duration = time.perf_counter() - started
    if prober.sent >= scenario.max_probes and planned > prober.sent:
        prober.stopped = prober.stopped or f"the cap of {scenario.max_probes} probes was reached"
    partial = bool(prober.crashed or ctx.interrupt.is_set())
    result = assemble(
        ctx,
        recording,
        workload,
        started_at=started_at,
        duration_s=duration,
        partial=partial,
        load={
            "probe_rate": scenario.probe_rate,
            "max_probes": scenario.max_probes,
            "probe_timeout_s": scenario.probe_timeout,
        },
        method=Method(
            model="open",
            corrected=False,
            note=(
                f"Security probes were sent one at a time, paced at {scenario.probe_rate:g}/s;"
                " hostile input is meant to fail, so the success rate says little here. The"
                " findings below are the result. Latency is of tool, prompt and resource"
                " probes the server answered successfully."
            ),
        ),
        generator=instruments.generator_stats(recording.sent),
        server=instruments.server_resources(),
    )
    result["security"] = _security_result(
        prober, found, classes, planned, skipped, duration, scenario.probe_rate
    )
    counts = result["security"]["counts"]
    extra: dict[str, float | None] = {f"findings_{s}": float(counts[s]) for s in SEVERITIES}
    extra["crashed"] = 1.0 if result["security"]["crashed"] else 0.0
    extra["hangs"] = float(prober.hangs)
    return judge(result, scenario, extra)


async def _protocol_probes(
    ctx: ScenarioContext, prober: Prober, conn: Connection, catalog: Catalog, logs: Path
) -> None:
    """Raw frames: over stdio to a server process of their own, over HTTP as raw POSTs to
    the target. A raw server that died is a finding; probing goes on while the target
    itself still answers."""
    target = ctx.target
    if target.transport != "stdio":
        assert target.url is not None
        await prober.run_protocol_http(conn, target.url, _http_headers(ctx, conn), catalog.protocol)
        return
    assert target.command is not None
    spec = ProcessSpec(
        target.command,
        tuple(target.args),
        env=dict(target.env),
        cwd=target.cwd,
        log_path=str(log_path(logs, target.name, ctx.scenario.name, "-raw.stderr.log")),
        name=target.name,
        redact=log_redaction(target),
    )
    raw = RawStdio(spec)
    try:
        await raw.start()
        await prober.run_protocol_stdio(raw, catalog.protocol)
    finally:
        await raw.aclose()
    if prober.crashed and await Prober.ping(conn, ctx.scenario.probe_timeout) is None:
        prober.crashed = False
        prober.stopped = ""


def _security_result(
    prober: Prober,
    found: Discovery,
    classes: Sequence[str],
    planned: int,
    skipped: dict[str, str],
    duration: float,
    rate: float,
) -> SecurityResult:
    findings = [
        SecurityFinding(
            id=f.id,
            rule=f.rule,
            rule_name=RULES[f.rule].name,
            severity=f.severity,
            category=f.category,
            tool=f.tool,
            probe_class=f.probe_class,
            probe=f.probe,
            evidence=f.evidence,
            message=f.message,
            count=f.count,
        )
        for f in prober.log.findings
    ]
    matrix = {
        target: {
            column: SecurityCell(probes=cell.probes, findings=cell.findings, worst=cell.worst)
            for column, cell in columns.items()
        }
        for target, columns in prober.matrix.items()
    }
    return SecurityResult(
        probes_sent=prober.sent,
        probes_planned=planned,
        by_class=dict(prober.by_class),
        probe_rate=rate,
        duration_s=round(duration, 3),
        tools=[str(t.get("name")) for t in found.items.get("tools", [])],
        resources=len(found.items.get("resources", [])),
        resource_templates=len(found.items.get("resourceTemplates", [])),
        prompts=len(found.items.get("prompts", [])),
        skipped=skipped,
        classes=list(classes),
        counts={s: prober.log.count(s) for s in SEVERITIES},
        crashed=any(f.rule == "RDY-CRASH" for f in prober.log.findings),
        hangs=prober.hangs,
        stopped=prober.stopped,
        notes=list(found.notes),
        findings=findings,
        matrix=matrix,
    )
