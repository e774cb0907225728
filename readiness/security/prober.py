"""The probe loop: every probe paced at probe_rate, under a total cap, each reply judged by
the rules, and the server checked alive after every batch (and after any probe that failed
in transport or hung). A server found dead ends the probing with what was found so far."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import orjson

from readiness.metrics.recorder import Recorder
from readiness.protocol.client import McpClient, RequestFailed
from readiness.protocol.connection import MODERN_VERSIONS, Connection
from readiness.protocol.outcome import Outcome, OversizedReply, Reply
from readiness.security.catalog import TEMPLATE_PRODUCT, HttpProbe, ProtocolProbe, Tokens
from readiness.security.findings import (
    RULES,
    SEVERITIES,
    FindingLog,
    leaks,
    reply_text,
    scrubbed,
    strings_in,
)
from readiness.security.raw import HttpAnswer, RawStdio, opening_request, post_raw
from readiness.security.schema import CallProbe

ALIVE_EVERY = 25  # probes per batch; the server is checked alive after each
PROTOCOL = "(protocol)"
HTTP = "(http)"
CALL_CLASSES = ("schema", "injection")  # the recorder's operations, in this order
DEEP_NESTING = 100_000
HUGE_INTEGER_DIGITS = 5_000
LARGE_HEADER = 64 * 1024
RECOVERY_FACTOR = 3  # a server still running gets this many probe_timeouts more to answer
REPLY_GRACE = 0.5  # after the ping behind a protocol probe was answered, for the probe's reply


@dataclass(frozen=True)
class ProbeSettings:
    rate: float
    max_probes: int
    probe_timeout: float
    huge_strings: tuple[int, ...]


@dataclass
class Cell:
    probes: int = 0
    findings: int = 0
    worst: str | None = None


@dataclass
class Prober:
    """One scenario's probing: what was sent, found and seen of the server's health."""

    settings: ProbeSettings
    tokens: Tokens
    log: FindingLog
    interrupt: anyio.Event
    recorder: Recorder = field(default_factory=lambda: Recorder(len(CALL_CLASSES)))
    sent: int = 0
    by_class: dict[str, int] = field(default_factory=dict)
    matrix: dict[str, dict[str, Cell]] = field(default_factory=dict)
    hangs: int = 0
    crashed: bool = False
    stopped: str = ""
    on_tick: Callable[[], None] = lambda: None  # about once a second, for live progress
    _started: float = field(default_factory=time.monotonic)
    _since_check: int = 0
    _last_tick: float = 0.0

    # -- budget and pace -------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.crashed or self.interrupt.is_set() or self.sent >= self.settings.max_probes

    async def _pace(self) -> None:
        due = self._started + self.sent / self.settings.rate
        delay = due - time.monotonic()
        if delay > 0:
            await anyio.sleep(delay)

    def _count(self, target: str, column: str, probe_class: str) -> None:
        now = time.monotonic()
        if now - self._last_tick >= 1.0:
            self._last_tick = now
            self.on_tick()
        self.sent += 1
        self._since_check += 1
        self.by_class[probe_class] = self.by_class.get(probe_class, 0) + 1
        self.matrix.setdefault(target, {}).setdefault(column, Cell()).probes += 1

    def _find(
        self, rule: str, target: str, column: str, probe_class: str, probe: Any, evidence: Any
    ) -> None:
        self.log.add(rule, target, probe_class, probe, evidence, RULES[rule].description)
        cell = self.matrix.setdefault(target, {}).setdefault(column, Cell())
        cell.findings += 1
        severity = RULES[rule].severity
        if cell.worst is None or SEVERITIES.index(severity) < SEVERITIES.index(cell.worst):
            cell.worst = severity

    def _leaks(
        self, text: str, sent: Iterable[str], target: str, column: str, cls: str, probe: Any
    ) -> None:
        own = (self.tokens.file_path, self.tokens.file_path.lstrip("/"))
        for rule, evidence in leaks(scrubbed(text, [*sent, *own])):
            self._find(rule, target, column, cls, probe, evidence)

    # -- tool, prompt and resource probes ----------------------------------------------------

    async def run_calls(self, conn: Connection, probes: Iterable[CallProbe]) -> None:
        for probe in probes:
            if self.done:
                return
            await self._pace()
            op = CALL_CLASSES.index(probe.probe_class)
            self.recorder.on_sent(op)
            column = probe.injection or probe.probe_class
            self._count(probe.target, column, probe.probe_class)
            started = time.perf_counter_ns()
            reply = await conn.request(
                probe.method, probe.params, timeout=self.settings.probe_timeout
            )
            done = time.perf_counter_ns()
            self.recorder.record(op, reply.outcome, started, started, done, reply.error_code)
            self._judge_call(probe, reply, column)
            troubled = reply.outcome in (Outcome.TIMEOUT, Outcome.TRANSPORT) and not isinstance(
                reply, OversizedReply
            )
            if troubled or self._since_check >= ALIVE_EVERY:
                await self._check_alive(
                    conn, probe.target, column, probe.probe_class, probe.payload
                )

    def _judge_call(self, probe: CallProbe, reply: Reply, column: str) -> None:
        cls, target, payload = probe.probe_class, probe.target, probe.payload
        if reply.outcome is Outcome.TIMEOUT:
            self.hangs += 1
            evidence = f"no answer within {self.settings.probe_timeout:g} s"
            self._find("RDY-HANG", target, column, cls, payload, evidence)
            return
        body = reply.result if reply.result is not None else reply.error
        text = reply_text(body) if body is not None else reply.detail
        shown = body if body is not None else text
        if probe.injection == "traversal" and self.tokens.file_token in text:
            self._find("RDY-TRAVERSAL", target, column, cls, payload, shown)
        elif probe.injection == "shell" and self.tokens.shell_canary in text:
            self._find("RDY-CANARY", target, column, cls, payload, shown)
        elif probe.injection == "template" and TEMPLATE_PRODUCT in scrubbed(
            text, strings_in(payload)
        ):
            self._find("RDY-TEMPLATE", target, column, cls, payload, shown)
        self._leaks(text, strings_in(payload), target, column, cls, payload)
        if reply.outcome is Outcome.OK and probe.forbidden:
            self._find("RDY-ACCEPTED", target, column, cls, payload, shown)

    async def _check_alive(
        self, conn: Connection, target: str, column: str, cls: str, payload: Any
    ) -> None:
        """Ping the server (tools/list in 2026-07-28). One that does not answer within
        probe_timeout but still runs gets RECOVERY_FACTOR times longer before it counts as
        stopped: a slow recovery from a probe is a hang (found on the probe), not a crash."""
        self._since_check = 0
        timeout = self.settings.probe_timeout
        failure = await self.ping(conn, timeout)
        if failure == "timeout":
            failure = await self.ping(conn, timeout * RECOVERY_FACTOR)
            waited = timeout * (1 + RECOVERY_FACTOR)
            if failure == "timeout":
                failure = f"did not answer ping within {waited:g} s"
        if failure is None:
            return
        self.crashed = True
        self.stopped = f"the server stopped answering after a probe of {target}"
        evidence = f"after this probe the server {failure}"
        self._find("RDY-CRASH", target, column, cls, payload, evidence)

    @staticmethod
    async def ping(conn: Connection, timeout: float) -> str | None:
        """None when the server answered; "timeout"; or how it failed."""
        client = McpClient(conn)
        try:
            with anyio.fail_after(timeout):
                if conn.protocol_version in MODERN_VERSIONS:
                    await client.list_tools()
                else:
                    await client.ping()
        except TimeoutError:
            return "timeout"
        except RequestFailed as exc:
            if exc.reply is not None and exc.reply.outcome is Outcome.TIMEOUT:
                return "timeout"
            return f"failed: {exc}"
        return None

    # -- protocol probes ---------------------------------------------------------------------

    def _frames(self, probe: ProtocolProbe, ids: Sequence[int]) -> bytes:
        big = max(self.settings.huge_strings, default=1024 * 1024)
        text = probe.frame
        for request_id in ids:
            text = text.replace("@ID@", str(request_id), 1)
        text = text.replace("@ID@", str(ids[-1]))
        text = text.replace("@DEEP@", "[" * DEEP_NESTING + "]" * DEEP_NESTING)
        text = text.replace("@ZEROS@", "0" * HUGE_INTEGER_DIGITS)
        text = text.replace("@PAD@", "A" * big)
        return text.encode().replace(b"@OVERLONG@", b"\xc0\xaf")

    async def run_protocol_stdio(self, raw: RawStdio, probes: Sequence[ProtocolProbe]) -> None:
        """Each probe on the raw session; the session must answer ping after each."""
        timeout = self.settings.probe_timeout
        initialized = False
        for probe in sorted(probes, key=lambda p: not p.before_init):
            if self.done:
                return
            if not probe.before_init and not initialized:
                initialized = await raw.initialize(timeout)
                if not initialized:
                    self.stopped = "the raw protocol session could not be initialised"
                    return
            await self._pace()
            self._count(PROTOCOL, probe.id, "protocol")
            request_id = raw.new_id()
            frame = self._frames(probe, [request_id, request_id])
            for _ in range(probe.repeat):
                raw.send(frame)
            shown = frame if len(frame) < 4096 else frame[:4096]
            # A ping right behind the probe: once it is answered the probe was read, so its
            # reply (when it has one) is in or close behind; no full timeout per silent probe.
            alive = await raw.alive(timeout)
            if not alive and not raw.exited:
                # Still running: as for tool probes, a slow recovery is a hang on this probe,
                # and only a server that stays silent RECOVERY_FACTOR times longer stopped.
                alive = await raw.alive(timeout * RECOVERY_FACTOR)
                if alive:
                    self.hangs += 1
                    evidence = f"the ping behind it was not answered within {timeout:g} s"
                    self._find("RDY-HANG", PROTOCOL, probe.id, "protocol", shown, evidence)
            if alive and "@ID@" in probe.frame:
                reply = await raw.wait_reply(request_id, REPLY_GRACE)
                self._judge_protocol(probe, reply, shown.decode("utf-8", "replace"))
            if not alive:
                self.crashed = True
                self.stopped = f"the server stopped answering after protocol probe {probe.id}"
                waited = timeout * (1 + RECOVERY_FACTOR)
                cause = "exited" if raw.exited else f"did not answer ping within {waited:g} s"
                self._find("RDY-CRASH", PROTOCOL, probe.id, "protocol", shown, cause)
                return

    def _judge_protocol(self, probe: ProtocolProbe, reply: Any, frame: str) -> None:
        if not isinstance(reply, dict):
            return
        text = reply_text(reply)
        self._leaks(text, [frame], PROTOCOL, probe.id, "protocol", frame)
        if probe.accepted and "result" in reply:
            self._find("RDY-ACCEPTED", PROTOCOL, probe.id, "protocol", frame, reply)

    async def run_protocol_http(
        self,
        conn: Connection,
        url: str,
        headers: Mapping[str, str],
        probes: Sequence[ProtocolProbe],
    ) -> None:
        """The same probes as raw POSTs on the connection's session; alive checks go
        through the connection itself."""
        timeout = self.settings.probe_timeout
        for probe in probes:
            if self.done:
                return
            await self._pace()
            self._count(PROTOCOL, probe.id, "protocol")
            request_id = 2_000_000 + self.sent
            frame = self._frames(probe, [request_id, request_id])
            sent_headers = dict(headers)
            if probe.before_init:
                sent_headers = {k: v for k, v in headers.items() if k.lower() != "mcp-session-id"}
            answer = await post_raw(url, frame, sent_headers, timeout)
            shown = frame[:4096].decode("utf-8", "replace")
            for message in answer.messages:
                if isinstance(message, dict) and message.get("id") == request_id:
                    self._judge_protocol(probe, message, shown)
            if answer.status is not None and not answer.messages:
                self._leaks(answer.body, [shown], PROTOCOL, probe.id, "protocol", shown)
            if answer.status is None and "no answer" in answer.error:
                self.hangs += 1
                self._find("RDY-HANG", PROTOCOL, probe.id, "protocol", shown, answer.error)
            await self._check_alive(conn, PROTOCOL, probe.id, "protocol", shown)

    # -- HTTP probes -------------------------------------------------------------------------

    @staticmethod
    def http_plan(
        url: str, headers: Mapping[str, str], session_id: str | None, probes: Sequence[HttpProbe]
    ) -> list[HttpProbe]:
        """The HTTP probes that apply to this target: auth probes when it sends credentials,
        the session probe when the server issued a session, Host and Origin on loopback."""
        has_auth = any(k.lower() == "authorization" for k in headers)
        host = urlsplit(url).hostname or ""
        loopback = host in ("localhost", "::1") or host.startswith("127.")
        met = {"": True, "auth": has_auth, "session": session_id is not None, "loopback": loopback}
        return [p for p in probes if met[p.needs]]

    async def run_http(
        self, conn: Connection, url: str, headers: Mapping[str, str], probes: Sequence[HttpProbe]
    ) -> None:
        """Each probe (see http_plan) as a raw POST; the server checked alive after each."""
        for probe in probes:
            if self.done:
                return
            await self._pace()
            self._count(HTTP, probe.id, "http")
            body, sent, changed = self._http_request(probe, headers, conn.protocol_version)
            answer = await post_raw(url, body, sent, self.settings.probe_timeout)
            self._judge_http(probe, answer, changed)
            await self._check_alive(conn, HTTP, probe.id, "http", changed)

    def _http_request(
        self, probe: HttpProbe, headers: Mapping[str, str], version: str
    ) -> tuple[bytes, dict[str, str], dict[str, str]]:
        """The body and headers of an HTTP probe, and what it changed (all a finding shows:
        the target's own headers may hold secrets)."""
        removed = {d.lower() for d in probe.drop}
        sent = {k: v for k, v in headers.items() if k.lower() not in removed}
        changed = {name: "(removed)" for name in probe.drop}
        for name, template in probe.set.items():
            value = template.replace("@NONCE@", self.tokens.nonce)
            value = value.replace("@PAD64K@", "A" * LARGE_HEADER)
            sent = {k: v for k, v in sent.items() if k.lower() != name.lower()}
            sent[name] = value
            changed[name] = value if len(value) < 80 else f"{value[:40]}... ({len(value)} bytes)"
        if probe.needs == "session":
            body = orjson.dumps({"jsonrpc": "2.0", "id": 3_000_000, "method": "tools/list"})
            return body, sent, changed
        body, routing = opening_request(version, 3_000_000)
        stale = {"mcp-session-id", "mcp-protocol-version", *(k.lower() for k in routing)}
        sent = {k: v for k, v in sent.items() if k.lower() not in stale or k in probe.set}
        return body, sent | routing, changed

    def _judge_http(self, probe: HttpProbe, answer: HttpAnswer, headers: dict[str, str]) -> None:
        evidence = f"HTTP {answer.status}: {answer.body[:200]}" if answer.status else answer.error
        if probe.refused is not None and answer.served and probe.rule:
            self._find(probe.rule, HTTP, probe.id, "http", headers, evidence)
        if answer.status is None and "no answer" in answer.error:
            self.hangs += 1
            self._find("RDY-HANG", HTTP, probe.id, "http", headers, answer.error)
        self._leaks(answer.body, list(headers.values()), HTTP, probe.id, "http", headers)
