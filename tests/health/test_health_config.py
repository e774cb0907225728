"""[targets.health] in scenarios.toml: paths on the target's origin, loopback URLs, and errors
that name the key and its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from readiness.config import parse_suite
from readiness.errors import ConfigError

SCENARIO = """
[[scenarios]]
name = "t"
kind = "throughput"
load = { concurrency = 1, requests = 1 }
"""


def suite(target: str, tmp_path: Path) -> str:
    return textwrap.dedent(target) + SCENARIO


def test_paths_and_durations_are_read_into_a_health_config(tmp_path: Path) -> None:
    text = suite(
        """
        [[targets]]
        name = "web"
        transport = "http"
        url = "http://127.0.0.1:8000/mcp"

        [targets.health]
        liveness = "/healthz"
        readiness = "/readyz"
        metrics = "/metrics"
        interval = "250ms"
        """,
        tmp_path,
    )
    (target,) = parse_suite(text, "suite.toml").targets
    assert target.health is not None
    assert target.health.interval == 0.25
    assert target.health.probes() == {
        "liveness": "/healthz",
        "readiness": "/readyz",
        "metrics": "/metrics",
    }


def test_a_stdio_target_takes_full_loopback_urls(tmp_path: Path) -> None:
    text = suite(
        """
        [[targets]]
        name = "side"
        transport = "stdio"
        command = "server"
        health = { readiness = "http://localhost:9100/readyz" }
        """,
        tmp_path,
    )
    (target,) = parse_suite(text, "suite.toml").targets
    assert target.health is not None
    assert target.health.readiness == "http://localhost:9100/readyz"


@pytest.mark.parametrize(
    ("health", "key", "words"),
    [
        ('{ liveness = "http://example.com/healthz" }', "liveness", "loopback"),
        ('{ readiness = "readyz" }', "readiness", "a path"),
        ('{ interval = "1s" }', "health", "at least one"),
        ('{ liveness = "/healthz", interval = "0s" }', "interval", ""),
        ('{ liveness = "/healthz", lie_afte = "2s" }', "lie_afte", "lie_after"),
    ],
)
def test_a_bad_health_table_is_refused_naming_its_key_and_line(
    tmp_path: Path, health: str, key: str, words: str
) -> None:
    text = suite(
        f"""
        [[targets]]
        name = "web"
        transport = "http"
        url = "http://127.0.0.1:8000/mcp"
        health = {health}
        """,
        tmp_path,
    )
    with pytest.raises(ConfigError) as caught:
        parse_suite(text, "suite.toml")
    message = str(caught.value)
    assert key in message
    assert message.startswith("suite.toml:6: ")
    assert words in message


def test_a_stdio_target_refuses_a_bare_path_for_lack_of_an_origin(tmp_path: Path) -> None:
    text = suite(
        """
        [[targets]]
        name = "side"
        transport = "stdio"
        command = "server"
        health = { liveness = "/healthz" }
        """,
        tmp_path,
    )
    with pytest.raises(ConfigError) as caught:
        parse_suite(text, "suite.toml")
    assert "health.liveness" in str(caught.value)
    assert "loopback URL" in str(caught.value)
