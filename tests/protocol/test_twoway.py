"""The simulated client against the demo server: capabilities declared, server requests
answered on both protocol generations and both transports, and the client's time measured."""

from __future__ import annotations

import random
from typing import Any

import anyio
import pytest

from readiness.config.latency import FixedLatency
from readiness.init import synth
from readiness.protocol.client import open_connection
from readiness.protocol.connection import ConnectOptions, HttpParams, StdioParams
from readiness.protocol.outcome import Outcome
from readiness.protocol.responder import ClientSimulation, ElicitationAnswer, SamplingAnswer
from readiness.protocol.twoway import TwoWayConnection
from tests.protocol.conftest import demo_stdio

pytestmark = pytest.mark.anyio

THINK = 0.05  # the simulated LLM's think time per sampling request, seconds
ROOTS = ("file:///srv/project", "file:///srv/data")
SIMULATION = ClientSimulation(
    sampling=SamplingAnswer("Paris.", FixedLatency(THINK), model="sim-1"),
    elicitation=ElicitationAnswer("accept", schemas=synth),
    roots=ROOTS,
)
PROTOCOLS = ["2025-11-25", "2026-07-28"]


def text_of(result: dict[str, Any] | None) -> str:
    assert result is not None
    return str(result["content"][0]["text"])


async def drive_every_two_way_tool(params: StdioParams | HttpParams, protocol: str) -> None:
    options = ConnectOptions(protocol=protocol, client=SIMULATION)
    async with open_connection(params, options) as connection:
        assert connection.protocol_version == protocol
        assert connection.responder is not None
        conn = TwoWayConnection(connection, connection.responder)
        sampled = await conn.request(
            "tools/call", {"name": "ask_llm", "arguments": {"question": "capital of France?"}}
        )
        assert text_of(sampled.result) == "sim-1: Paris."
        elicited = await conn.request("tools/call", {"name": "ask_user", "arguments": {}})
        # Synthesised from the requestedSchema: the format, the minimum and the default.
        assert text_of(elicited.result) == "accept: example <user@example.com> 18 free"
        roots = await conn.request("tools/call", {"name": "list_roots", "arguments": {}})
        assert text_of(roots.result).splitlines() == list(ROOTS)
        stats = connection.responder.statistics()
    assert stats.requests == {"sampling/createMessage": 1, "elicitation/create": 1, "roots/list": 1}
    assert stats.failures == {}
    sampling = conn.calls["tools/call ask_llm"]
    assert list(sampling.server_requests) == [1]
    # The think time is the client's, charged to the call that caused it, inside its time.
    assert sampling.client_us[0] >= THINK * 1e6
    assert sampling.end_to_end_us[0] >= sampling.client_us[0]
    rounds = sum(calls.input_rounds for calls in conn.calls.values())
    assert rounds == (3 if protocol == "2026-07-28" else 0)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_sampling_elicitation_and_roots_are_answered_over_stdio(protocol: str) -> None:
    with anyio.fail_after(60):
        await drive_every_two_way_tool(demo_stdio(), protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_sampling_elicitation_and_roots_are_answered_over_http(
    protocol: str, stateful_http: HttpParams
) -> None:
    with anyio.fail_after(60):
        await drive_every_two_way_tool(stateful_http, protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_capabilities_are_declared_only_when_simulated(protocol: str) -> None:
    with anyio.fail_after(60):
        async with open_connection(demo_stdio(), ConnectOptions(protocol=protocol)) as plain:
            assert plain.responder is None
            reply = await plain.request(
                "tools/call", {"name": "ask_llm", "arguments": {"question": "hi"}}
            )
    # The server refuses to sample a client that declared no sampling capability.
    assert reply.outcome in (Outcome.RPC_ERROR, Outcome.TOOL_ERROR)


class SignallingThinkTime:
    """An hour of think time that says when the simulated LLM starts thinking."""

    def __init__(self) -> None:
        self.thinking = anyio.Event()

    def sample(self, rng: random.Random) -> float:
        self.thinking.set()
        return 3600.0


async def test_a_slow_sampling_answer_does_not_hold_up_other_replies_over_stdio() -> None:
    think = SignallingThinkTime()
    slow_llm = ClientSimulation(sampling=SamplingAnswer("late", think))
    options = ConnectOptions(protocol="2025-11-25", client=slow_llm)
    with anyio.fail_after(60):
        async with open_connection(demo_stdio(), options) as connection:
            assert connection.responder is not None
            conn = TwoWayConnection(connection, connection.responder)

            async def ask() -> None:
                await conn.request(
                    "tools/call", {"name": "ask_llm", "arguments": {"question": "q"}}
                )

            async with anyio.create_task_group() as tg:
                tg.start_soon(ask)
                await think.thinking.wait()
                echoed = await conn.request(
                    "tools/call", {"name": "echo", "arguments": {"text": "still here"}}
                )
                assert text_of(echoed.result) == "still here"
                assert "tools/call ask_llm" not in conn.calls  # still thinking
                tg.cancel_scope.cancel()


@pytest.mark.parametrize("action", ["decline", "cancel"])
async def test_elicitation_can_be_declined_or_cancelled(action: str) -> None:
    simulation = ClientSimulation(elicitation=ElicitationAnswer(action))  # type: ignore[arg-type]
    options = ConnectOptions(protocol="2025-11-25", client=simulation)
    with anyio.fail_after(60):
        async with open_connection(demo_stdio(), options) as connection:
            reply = await connection.request("tools/call", {"name": "ask_user", "arguments": {}})
    assert text_of(reply.result) == action


async def test_elicitation_content_that_fails_the_schema_is_not_sent() -> None:
    bad = ClientSimulation(elicitation=ElicitationAnswer("accept", {"name": ""}, synth))
    options = ConnectOptions(protocol="2025-11-25", client=bad)
    with anyio.fail_after(60):
        async with open_connection(demo_stdio(), options) as connection:
            assert connection.responder is not None
            reply = await connection.request("tools/call", {"name": "ask_user", "arguments": {}})
            stats = connection.responder.statistics()
    assert (
        reply.outcome is not Outcome.OK
        or reply.result is None
        or "accept" not in text_of(reply.result)
    )
    assert stats.failures == {"elicitation content does not match the requestedSchema": 1}


async def test_echo_replies_with_the_last_user_message() -> None:
    echo = ClientSimulation(sampling=SamplingAnswer(reply_from="echo"))
    options = ConnectOptions(protocol="2026-07-28", client=echo)
    with anyio.fail_after(60):
        async with open_connection(demo_stdio(), options) as connection:
            assert connection.responder is not None
            conn = TwoWayConnection(connection, connection.responder)
            reply = await conn.request(
                "tools/call", {"name": "ask_llm", "arguments": {"question": "say this"}}
            )
    assert text_of(reply.result) == "readiness-sim: say this"
