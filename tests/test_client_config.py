"""`[targets.client]` in scenarios.toml: what it accepts, what it refuses, and what it becomes."""

from __future__ import annotations

import pytest

from readiness.config import parse_suite
from readiness.config.latency import LognormalLatency
from readiness.errors import ConfigError
from readiness.target import client_simulation, connect_options

SUITE = """
[[targets]]
name = "demo"
transport = "stdio"
command = "python"
{client}

[[workload.operations]]
call = "tools/call"
tool = "slow"
{operation}

[[scenarios]]
name = "s"
kind = "throughput"
load = {{ model = "closed", concurrency = 1, requests = 1 }}
"""

CLIENT = """
[targets.client]
elicitation = { action = "decline" }
roots = ["file:///srv/project"]

[targets.client.sampling]
reply = "Paris."
latency = "lognormal:median=800ms,p99=3s"
model = "sim-1"
reply_from = "echo"
"""


def test_a_client_table_becomes_the_simulation_and_its_declared_capabilities() -> None:
    suite = parse_suite(SUITE.format(client=CLIENT, operation=""), "suite.toml")
    options = connect_options(suite.targets[0])
    simulation = options.client
    assert simulation is not None
    assert simulation.capabilities() == {
        "sampling": {},
        "elicitation": {"form": {}},
        "roots": {"listChanged": False},
    }
    assert simulation.sampling is not None
    assert simulation.sampling.latency == LognormalLatency(0.8, 3.0)
    assert simulation.sampling.reply_from == "echo"
    assert simulation.elicitation is not None
    assert simulation.elicitation.action == "decline"
    assert simulation.roots == ("file:///srv/project",)


def test_no_client_table_declares_nothing() -> None:
    suite = parse_suite(SUITE.format(client="", operation=""), "suite.toml")
    assert connect_options(suite.targets[0]).client is None


def test_an_empty_client_table_declares_nothing_but_is_a_simulation() -> None:
    suite = parse_suite(SUITE.format(client="[targets.client]", operation=""), "suite.toml")
    client = suite.targets[0].client
    assert client is not None
    assert client_simulation(client).capabilities() == {}


@pytest.mark.parametrize(
    ("client", "message"),
    [
        ('[targets.client]\nsampling = { latency = "gaussian:1ms" }', "unknown distribution"),
        ('[targets.client]\nroots = ["/srv/project"]', "file:// URIs"),
        ('[targets.client]\nelicitation = { action = "maybe" }', "action"),
        ('[targets.client]\nsamplin = { reply = "x" }', "samplin"),
    ],
)
def test_a_bad_client_table_is_a_config_error_naming_the_key(client: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_suite(SUITE.format(client=client, operation=""), "suite.toml")


def test_progress_and_cancel_after_need_a_client_table() -> None:
    with pytest.raises(ConfigError, match=r"\[targets.client\]"):
        parse_suite(SUITE.format(client="", operation="progress = true"), "suite.toml")
    suite = parse_suite(
        SUITE.format(client="[targets.client]", operation='cancel_after = "2s"'), "suite.toml"
    )
    assert suite.workload.operations[0].cancel_after == 2.0
