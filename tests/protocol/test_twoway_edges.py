"""What a misbehaving server does to the simulated client's figures: a server request sent
twice, and progress a server goes on sending after its call was cancelled."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from readiness.protocol.client import open_connection
from readiness.protocol.connection import ConnectOptions
from readiness.protocol.outcome import Outcome
from readiness.protocol.responder import ClientSimulation
from readiness.protocol.twoway import TwoWayConnection, two_way_meta
from tests.protocol.conftest import rogue_stdio

pytestmark = pytest.mark.anyio

OPTIONS = ConnectOptions(protocol="2025-11-25", client=ClientSimulation(roots=("file:///p",)))


async def test_a_server_request_sent_twice_is_answered_and_counted() -> None:
    with anyio.fail_after(30):
        async with open_connection(rogue_stdio(), OPTIONS) as connection:
            assert connection.responder is not None
            conn = TwoWayConnection(connection, connection.responder)
            reply = await conn.request("tools/call", {"name": "twice", "arguments": {}})
            stats = connection.responder.statistics()
    assert reply.outcome is Outcome.OK
    assert reply.result is not None
    assert reply.result["content"][0]["text"] == "answered 2"
    assert stats.duplicates == 1
    assert stats.requests == {"ping": 2}


async def test_progress_after_a_cancel_says_how_long_the_server_worked_on() -> None:
    with anyio.fail_after(30):
        async with open_connection(rogue_stdio(), OPTIONS) as connection:
            assert connection.responder is not None
            done = anyio.Event()

            def on_notification(message: dict[str, Any]) -> None:
                if message.get("method") == "notifications/message":
                    done.set()

            connection.tap_notifications(on_notification)
            conn = TwoWayConnection(connection, connection.responder)
            meta = two_way_meta("stubborn", progress=True, cancel_after=0.05)
            params = {"name": "stubborn", "arguments": {}, "_meta": meta}
            reply = await conn.request("tools/call", params)
            await done.wait()  # sent after both progress notifications
            stats = connection.responder.statistics()
    assert reply.outcome is Outcome.OK  # cut on purpose: not a server failure
    assert conn.calls["stubborn"].cancelled == 1
    # Both notifications came after the cancel; the later one is how long it kept working.
    [worked_on] = stats.after_cancel_s
    assert worked_on > 0
    assert stats.stray_progress == 0
