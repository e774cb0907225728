"""Run as a script: connect to a server, ask for replies far over the 16 MiB cap, and print
how each ended and how far this process's peak RSS grew meanwhile (ru_maxrss is a peak, so
the figure is this generator's own, nothing else's).

    python tests/robustness/memory_probe.py stdio PATH-TO-ROGUE-SERVER
    python tests/robustness/memory_probe.py http URL
"""

from __future__ import annotations

import resource
import sys

import anyio

from readiness.protocol.client import open_connection
from readiness.protocol.connection import ConnectOptions, HttpParams, StdioParams

CAP = 16 * 1024 * 1024
HUGE = 64 * 1024 * 1024


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


async def main(transport: str, where: str) -> None:
    params: StdioParams | HttpParams
    if transport == "stdio":
        params, tools = StdioParams(sys.executable, (where,)), ["huge", "huge"]
    else:
        params, tools = HttpParams(where), ["huge_json", "huge_sized", "huge_sse"]
    options = ConnectOptions(max_reply_bytes=CAP, request_timeout=60, protocol="2025-11-25")
    async with open_connection(params, options) as connection:
        echo = {"name": "echo", "arguments": {"text": "warm"}}
        assert (await connection.request("tools/call", echo)).outcome.name == "OK"
        before = peak_bytes()
        ended = []
        for tool in tools:
            reply = await connection.request(
                "tools/call", {"name": tool, "arguments": {"size": HUGE}}
            )
            ended.append(f"{type(reply).__name__}:{reply.outcome.name}")
        after = await connection.request("tools/call", echo)
        ended.append(after.outcome.name)
        growth = peak_bytes() - before
    print(" ".join(ended))
    print(growth)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2])
