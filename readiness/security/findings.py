"""Findings: the rules that judge a probe's reply, their severities, and the log that keeps
one finding per rule and tool (counting repeats), with probe and evidence shown escaped."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["critical", "high", "medium", "low"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low")
SHOWN_CHARS = 240  # probe and evidence are cut to this many characters, escaped


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: Severity
    category: str
    description: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("RDY-CRASH", "server-crashed", "critical", "availability",
             "The server exited or stopped answering ping after a probe."),
        Rule("RDY-TRAVERSAL", "path-traversal", "critical", "injection",
             "A path probe returned the content of the canary file readiness created."),
        Rule("RDY-CANARY", "command-executed", "critical", "injection",
             "A shell probe's canary came back: the argument reached a shell."),
        Rule("RDY-TEMPLATE", "template-evaluated", "critical", "injection",
             "A template probe came back evaluated: the argument reached a template engine."),
        Rule("RDY-HANG", "probe-hung", "high", "availability",
             "A probe got no answer within probe_timeout."),
        Rule("RDY-AUTH", "auth-not-enforced", "high", "http",
             "A request without valid credentials was served."),
        Rule("RDY-HOST", "host-not-checked", "high", "http",
             "A request with a foreign Host header was served (DNS rebinding)."),
        Rule("RDY-ORIGIN", "origin-not-checked", "high", "http",
             "A request with a foreign Origin header was served (DNS rebinding)."),
        Rule("RDY-SESSION", "session-not-checked", "high", "http",
             "A request on a session id the server never issued was served."),
        Rule("RDY-STACK", "stack-trace-leaked", "medium", "leak",
             "A reply contained a stack trace."),
        Rule("RDY-PATH", "path-leaked", "medium", "leak",
             "A reply contained an absolute file path the probe did not send."),
        Rule("RDY-ENV", "environment-leaked", "medium", "leak",
             "A reply contained an environment variable assignment."),
        Rule("RDY-SECRET", "secret-leaked", "medium", "leak",
             "A reply contained a string that looks like a credential."),
        Rule("RDY-SQL", "sql-error-leaked", "medium", "leak",
             "A reply contained a database error message."),
        Rule("RDY-ACCEPTED", "invalid-input-accepted", "low", "validation",
             "Input the schema or the protocol forbids was answered as a success."),
    )
}  # fmt: skip

_LEAKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "RDY-STACK",
        re.compile(
            r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+"
            r"|\bat [\w.$<>]+(?: \[as \w+\])? \((?:[\w./\\:-]+|<anonymous>):\d+:\d+\)"
            r"|\bat [\w.$]+\([\w]+\.java:\d+\)|goroutine \d+ \[running\]"
        ),
    ),
    (
        "RDY-SECRET",
        re.compile(
            r"\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bsk-[A-Za-z0-9_-]{20,}\b"
            r"|\bxox[abprs]-[A-Za-z0-9-]{10,}|-----BEGIN [A-Z ]*PRIVATE KEY-----"
            r"|\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"
        ),
    ),
    (
        "RDY-ENV",
        re.compile(
            r"\b(?:PATH|HOME|USER|PWD|SHELL|VIRTUAL_ENV|PYTHONPATH|AWS_[A-Z_]+"
            r"|[A-Z][A-Z0-9_]*(?:_KEY|_TOKEN|_SECRET|_PASSWORD))=[^\s\"',;]{2,}"
        ),
    ),
    (
        "RDY-SQL",
        re.compile(
            r"SQL syntax|sqlite3\.\w+Error|OperationalError|syntax error at or near"
            r"|ORA-\d{5}|unterminated quoted string|SQLSTATE\[",
            re.IGNORECASE,
        ),
    ),
    (
        "RDY-PATH",
        re.compile(
            r"(?<![\w.:/%-])/(?:home|root|usr|opt|var|srv|tmp|etc|Users|private|mnt|app|work"
            r"|workspace|proc|lib|nix)(?:/[\w.@+-]+)+"
            r"|\b[A-Za-z]:\\\\?(?:[\w .-]+\\\\?)+"
        ),
    ),
)


def reply_text(obj: Any) -> str:
    """The reply as the text the rules read: JSON without ASCII escaping."""
    if isinstance(obj, str):
        return obj
    try:
        return json.dumps(obj, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(obj)


def scrubbed(text: str, sent: Iterable[str]) -> str:
    """`text` with everything the probe itself sent removed, so an echo is not a leak."""
    for value in sorted(set(sent), key=len, reverse=True):
        if len(value) < 4:
            continue
        text = text.replace(value, " ")
        escaped = json.dumps(value, ensure_ascii=False)[1:-1]
        if escaped != value:
            text = text.replace(escaped, " ")
    return text


def leaks(text: str) -> list[tuple[str, str]]:
    """(rule id, matched text) for each kind of leak found in `text`."""
    found = []
    for rule, pattern in _LEAKS:
        match = pattern.search(text)
        if match is not None:
            found.append((rule, match.group(0)))
    return found


def strings_in(value: Any) -> list[str]:
    """Every string inside a JSON value (keys included)."""
    out: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            out.extend(str(k) for k in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A probe or evidence as printable ASCII (a string escaped, anything else as JSON), cut
    to `limit` characters with its full size in bytes."""
    if isinstance(value, str):
        escaped = json.dumps(value)[1:-1]  # control, RTL and NUL characters escaped
        size = len(value.encode("utf-8", "surrogatepass"))
    else:
        try:
            escaped = json.dumps(value, default=str)
        except (TypeError, ValueError):
            escaped = json.dumps(repr(value))[1:-1]
        size = len(escaped)
    if len(escaped) <= limit:
        return escaped
    return f"{escaped[:limit]}... ({size:,} bytes)"


@dataclass
class Finding:
    id: str
    rule: str
    tool: str
    probe_class: str
    probe: str
    evidence: str
    message: str
    count: int = 1

    @property
    def severity(self) -> Severity:
        return RULES[self.rule].severity

    @property
    def category(self) -> str:
        return RULES[self.rule].category


class FindingLog:
    """The scenario's findings: one per (rule, tool), the first probe and evidence kept, later
    occurrences counted. A finding's id is stable within the run: its rule and its number."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], Finding] = {}

    def add(
        self, rule: str, tool: str, probe_class: str, probe: Any, evidence: Any, message: str
    ) -> Finding:
        key = (rule, tool)
        existing = self._by_key.get(key)
        if existing is not None:
            existing.count += 1
            return existing
        finding = Finding(
            id=f"{rule}-{len(self._by_key) + 1:03d}",
            rule=rule,
            tool=tool,
            probe_class=probe_class,
            probe=shown(probe),
            evidence=shown(evidence),
            message=message,
        )
        self._by_key[key] = finding
        return finding

    @property
    def findings(self) -> list[Finding]:
        order = {s: i for i, s in enumerate(SEVERITIES)}
        found = list(self._by_key.values())  # in the order first found
        return sorted(found, key=lambda f: order[f.severity])

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self._by_key.values() if f.severity == severity)

    def __len__(self) -> int:
        return len(self._by_key)

    def __repr__(self) -> str:
        counts = ", ".join(f"{s} {self.count(s)}" for s in SEVERITIES)
        return f"<FindingLog {counts}>"
