"""Probe generation and judging without a server: the catalog is complete and shipped, the
schema reader agrees with a real JSON Schema validator on every probe it makes, echoes are
not leaks, and what a finding shows is escaped and bounded."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from readiness.config import parse_suite
from readiness.errors import ConfigError
from readiness.security.catalog import CLIMB, Injection, Tokens, load_catalog
from readiness.security.findings import SHOWN_CHARS, FindingLog, leaks, scrubbed, shown
from readiness.security.schema import ToolProbes, allows, sample, serializable

ROOT = Path(__file__).resolve().parents[2]
TOKENS = Tokens(nonce="abc123", file_path="/tmp/run/rdy-canary.txt", file_token="rdy-file-x")

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    {
        "type": "object",
        "properties": {
            "a": {"anyOf": [{"type": "integer"}, {"type": "number"}]},
            "b": {"type": "number", "minimum": 0, "maximum": 10},
        },
        "required": ["a", "b"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "mode": {"type": "string", "enum": ["fast", "slow"]},
            "limit": {"type": "integer", "default": 5, "minimum": 1},
            "tags": {"type": "array", "items": {"type": "string"}},
            "opt": {"type": ["string", "null"], "minLength": 1},
        },
        "required": ["mode"],
    },
    {"type": "object", "properties": {}},
]


def test_every_catalog_entry_says_why_it_is_there() -> None:
    data = tomllib.loads((ROOT / "readiness/security/probes.toml").read_text())
    for section, entries in data.items():
        for entry in entries:
            assert entry.get("rationale", "").strip(), (section, entry)
    catalog = load_catalog()
    assert {"traversal", "shell", "template", "sql", "prompt"} == {
        i.kind for i in catalog.injections
    }
    assert len(catalog.protocol) >= 8
    assert {p.id for p in catalog.http} >= {"no-authorization", "foreign-host", "foreign-origin"}


def test_the_catalog_is_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "security/*.toml" in pyproject["tool"]["setuptools"]["package-data"]["readiness"]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_forbidden_probes_are_exactly_those_a_json_schema_validator_rejects(
    schema: dict[str, Any],
) -> None:
    tool = {"name": "t", "inputSchema": schema}
    probes = list(ToolProbes(tool, load_catalog(), TOKENS, huge_strings=[64], classes=["schema"]))
    assert probes
    for probe in probes:
        arguments = probe.params["arguments"]
        assert serializable(probe.params)
        valid = jsonschema.Draft202012Validator(schema).is_valid(arguments)
        assert probe.forbidden == (not valid), (probe.generator, arguments)


@given(st.sampled_from(SCHEMAS))
def test_the_sample_of_a_schema_is_valid(schema: dict[str, Any]) -> None:
    value = sample(schema)
    assert allows(schema, value)
    assert jsonschema.Draft202012Validator(schema).is_valid(value)


def test_injections_fill_the_canary_and_never_echo_it_whole() -> None:
    shell = TOKENS.fill(Injection("shell", "x; echo 'rdy-'@NONCE@", "r"))
    assert TOKENS.shell_canary not in shell  # only the shell's output joins the two halves
    assert "abc123" in shell
    climb = TOKENS.fill(Injection("traversal", "@UP@@RELFILE@", "r"))
    assert climb == "../" * CLIMB + "tmp/run/rdy-canary.txt"
    encoded = TOKENS.fill(Injection("traversal", "@UP@@RELFILE@", "r", encode="url"))
    assert "/" not in encoded
    assert ".." not in encoded
    assert "%2e%2e%2f" in encoded.lower()


def test_an_echoed_probe_is_not_a_leak() -> None:
    sent = "/home/alice/.ssh/id_rsa and PATH=/usr/bin"
    reply = f'{{"text": "you sent {sent}"}}'
    assert leaks(reply) != []
    assert leaks(scrubbed(reply, [sent])) == []


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ('Traceback (most recent call last):\n  File "x.py", line 3', "RDY-STACK"),
        ("    at Object.<anonymous> (/srv/app/index.js:10:5)", "RDY-STACK"),
        ("key AKIAABCDEFGHIJKLMNOP", "RDY-SECRET"),
        ("AWS_SECRET_ACCESS_KEY=abcdef", "RDY-ENV"),
        ("sqlite3.OperationalError: near", "RDY-SQL"),
        ("cannot open /home/bob/data.db", "RDY-PATH"),
    ],
)
def test_each_leak_rule_matches_its_kind(text: str, rule: str) -> None:
    assert rule in [r for r, _ in leaks(text)]


def test_ordinary_replies_leak_nothing() -> None:
    for text in ("hello", "3", '{"result": "worked 5 ms"}', "https://errors.pydantic.dev/2/v"):
        assert leaks(text) == []


def test_what_a_finding_shows_is_escaped_and_bounded() -> None:
    out = shown("a\u0000b\u202ec<script>" + "x" * 10_000)
    assert out.isascii()
    assert "\\u0000" in out
    assert "\\u202e" in out
    assert out.endswith("bytes)")
    assert len(out) < SHOWN_CHARS + 40


def test_repeats_of_a_rule_on_a_tool_are_one_finding_counted() -> None:
    log = FindingLog()
    for _ in range(3):
        log.add("RDY-STACK", "lookup", "schema", {"k": 1}, "Traceback", "m")
    log.add("RDY-HANG", "wait", "schema", {"k": None}, "no answer", "m")
    assert [(f.rule, f.count) for f in log.findings] == [("RDY-HANG", 1), ("RDY-STACK", 3)]
    assert log.count("medium") == 1
    assert log.count("high") == 1


def test_security_keys_belong_to_the_security_kind(tmp_path: Path) -> None:
    base = """
        [[targets]]
        name = "t"
        transport = "stdio"
        command = "x"

        [[scenarios]]
        name = "s"
    """
    with pytest.raises(ConfigError, match="probe_rate"):
        parse_suite(
            base
            + 'kind = "throughput"\nprobe_rate = "5/s"\nload = { concurrency = 1, requests = 1 }',
            str(tmp_path / "s.toml"),
        )
    with pytest.raises(ConfigError, match="probe_rate and max_probes"):
        parse_suite(
            base + 'kind = "security"\nload = { concurrency = 1, requests = 1 }',
            str(tmp_path / "s.toml"),
        )
    suite = parse_suite(base + 'kind = "security"', str(tmp_path / "s.toml"))
    [scenario] = suite.scenarios
    assert scenario.probe_rate == 50.0
    assert scenario.huge_strings == (1024 * 1024, 16 * 1024 * 1024)
    assert [t.expression for t in scenario.thresholds] in (
        [],
        ["findings_critical == 0", "findings_high == 0", "crashed == false"],
    )


def test_the_security_suite_probes_the_demo_with_the_default_checks() -> None:
    from readiness.config import load_suite

    suite = load_suite(ROOT / "scenarios" / "security.toml", environ={})
    [scenario] = suite.scenarios
    assert scenario.kind == "security"
    assert suite.targets[0].args == ("-m", "readiness.demo")
    assert [t.expression for t in scenario.thresholds] == [
        "findings_critical == 0",
        "findings_high == 0",
        "crashed == false",
    ]
