"""A raw JSON-RPC stdio server that misbehaves on request, for the client's edge cases.

Run as `python tests/protocol/rogue_server.py [--legacy] [--choose VERSION]`. It speaks just
enough MCP to get through the handshake; each tool name picks one behaviour:

    echo         a normal result
    chatty       a notification and two server-to-client requests (ping, roots/list) first;
                 the reply carries the client's answers, so a client that does not answer stalls
    garbage      a line that is not JSON, then the reply
    no_result    a reply with neither result nor error
    big_id_last  a reply of `size` bytes whose "id" is its last key
    hang         no reply at all
    slow         a reply after `ms` milliseconds (the server reads nothing meanwhile)
    held         no reply until the client's next request arrives; then this reply, then that
                 request's: a reply that comes late on any machine, without a sleep
"""

from __future__ import annotations

import json
import sys
import time

LEGACY = "--legacy" in sys.argv
CHOOSE = sys.argv[sys.argv.index("--choose") + 1] if "--choose" in sys.argv else None

SERVER_INFO = {"name": "rogue", "version": "1"}

stdin = sys.stdin.buffer
stdout = sys.stdout.buffer


def send(message: dict[str, object]) -> None:
    stdout.write(json.dumps(message).encode() + b"\n")
    stdout.flush()


def read() -> dict[str, object] | None:
    line = stdin.readline()
    return json.loads(line) if line else None


def result(request_id: object, value: dict[str, object]) -> None:
    send({"jsonrpc": "2.0", "id": request_id, "result": value})


def text(value: str) -> dict[str, object]:
    return {"content": [{"type": "text", "text": value}], "isError": False}


def call_tool(request_id: object, name: str, arguments: dict[str, object]) -> None:
    if name == "echo":
        result(request_id, text(str(arguments.get("text", ""))))
    elif name == "chatty":
        send({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info"}})
        send({"jsonrpc": "2.0", "id": "s1", "method": "ping"})
        send({"jsonrpc": "2.0", "id": "s2", "method": "roots/list"})
        answers: dict[str, object] = {}
        while len(answers) < 2:
            message = read()
            if message is None:
                return
            answers[str(message.get("id"))] = message.get("result", message.get("error"))
        result(request_id, {**text("chatty"), "answers": answers})
    elif name == "garbage":
        stdout.write(b"this is not json\n")
        result(request_id, text("after garbage"))
    elif name == "no_result":
        send({"jsonrpc": "2.0", "id": request_id})
    elif name == "big_id_last":
        size = int(str(arguments.get("size", 100_000)))
        payload = "x" * size
        stdout.write(
            f'{{"jsonrpc":"2.0","result":{{"pad":"{payload}"}},"id":{request_id}}}\n'.encode()
        )
        stdout.flush()
    elif name == "hang":
        pass
    elif name == "held":
        following = read()
        result(request_id, text("held"))
        if following is not None:
            handle(following)
    elif name == "slow":
        time.sleep(float(str(arguments.get("ms", 100))) / 1000)
        result(request_id, text("slow"))
    else:
        result(request_id, {**text(f"unknown tool {name}"), "isError": True})


def handle(message: dict[str, object]) -> None:
    request_id = message.get("id")
    method = message.get("method")
    params = message.get("params") or {}
    assert isinstance(params, dict)
    if request_id is None:
        return
    if method == "server/discover" and LEGACY:
        error = {"code": -32601, "message": "Method not found"}
        send({"jsonrpc": "2.0", "id": request_id, "error": error})
    elif method == "server/discover":
        result(
            request_id,
            {
                "supportedVersions": ["2026-07-28"],
                "capabilities": {"tools": {}},
                "resultType": "complete",
                "ttlMs": 0,
                "cacheScope": "public",
                "_meta": {"io.modelcontextprotocol/serverInfo": SERVER_INFO},
            },
        )
    elif method == "initialize":
        version = CHOOSE or params.get("protocolVersion")
        result(
            request_id,
            {
                "protocolVersion": version,
                "capabilities": {"tools": {}},
                "serverInfo": SERVER_INFO,
            },
        )
    elif method == "tools/call":
        arguments = params.get("arguments") or {}
        assert isinstance(arguments, dict)
        call_tool(request_id, str(params.get("name")), arguments)
    else:
        error = {"code": -32601, "message": "Method not found"}
        send({"jsonrpc": "2.0", "id": request_id, "error": error})


def main() -> None:
    sys.stderr.write("rogue server ready\n")
    sys.stderr.flush()
    while (message := read()) is not None:
        handle(message)


if __name__ == "__main__":
    main()
