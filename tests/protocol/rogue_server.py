"""A raw JSON-RPC stdio server that misbehaves on request, for the client's edge cases.

Run as `python tests/protocol/rogue_server.py [--legacy] [--choose VERSION] [flags]`. It
speaks just enough MCP to get through the handshake. Flags make the whole server misbehave:

    --pid-file PATH      write its pid there first (so a test can check it is gone)
    --call-log PATH      append a line there for every tool call it receives, and one
                         (`stdin closed`) when its input ends: what a test waits for
    --stubborn           ignore SIGTERM and the end of its input: only SIGKILL ends it
    --silent-list        never answer tools/list (logging `tools/list` when asked)
    --silent-start       never answer the handshake (logging `handshake` when asked)
    --noise N            write N lines that are not JSON to stdout, one before each of its
                         first N replies (log lines printed to stdout, as many servers do)
    --flood-stderr N     write N bytes of log lines to stderr before serving (all of it
                         read by the client before the handshake is answered)
    --after-calls N ACT  after answering N tool calls: `close-stdout` (and keep running),
                         `close-stdin` (and keep running), or `stop-reading` (never read stdin
                         again; its pipe fills)

and each tool name picks one behaviour:

    echo         a normal result
    chatty       a notification and two server-to-client requests (ping, roots/list) first;
                 the reply carries the client's answers, so a client that does not answer stalls
    garbage      a line that is not JSON, then the reply
    no_result    a reply with neither result nor error
    big_id_last  a reply of `size` bytes whose "id" is its last key
    huge         a reply of `size` bytes whose "id" is its first key, written in 1 MiB pieces
    hang         no reply at all
    slow         a reply after `ms` milliseconds (the server reads nothing meanwhile)
    held         no reply until the client's next request arrives; then this reply, then that
                 request's: a reply that comes late on any machine, without a sleep
    twice        the same server-to-client request (ping, id "s1") sent twice, then the reply
                 once both were answered
    stubborn     no reply; once the client cancels the call, two progress notifications for
                 its progressToken (the server worked on), then a log notification (`done`)
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

LEGACY = "--legacy" in sys.argv


def flag(name: str, index: int = 1) -> str | None:
    return sys.argv[sys.argv.index(name) + index] if name in sys.argv else None


CHOOSE = flag("--choose")
PID_FILE = flag("--pid-file")
CALL_LOG = flag("--call-log")
SILENT_LIST = "--silent-list" in sys.argv
SILENT_START = "--silent-start" in sys.argv
STUBBORN = "--stubborn" in sys.argv
NOISE = int(flag("--noise") or 0)
FLOOD = int(flag("--flood-stderr") or 0)
AFTER_CALLS = int(flag("--after-calls") or 0)
ACTION = flag("--after-calls", 2)
state = {"noise_left": NOISE, "calls": 0}

SERVER_INFO = {"name": "rogue", "version": "1"}

stdin = sys.stdin.buffer
stdout = sys.stdout.buffer


def send(message: dict[str, object]) -> None:
    if state["noise_left"] > 0 and "id" in message:
        state["noise_left"] -= 1
        stdout.write(f"INFO handling request {message['id']} (a log line on stdout)\n".encode())
    stdout.write(json.dumps(message).encode() + b"\n")
    stdout.flush()


def read() -> dict[str, object] | None:
    line = stdin.readline()
    return json.loads(line) if line else None


def result(request_id: object, value: dict[str, object]) -> None:
    send({"jsonrpc": "2.0", "id": request_id, "result": value})


def text(value: str) -> dict[str, object]:
    return {"content": [{"type": "text", "text": value}], "isError": False}


def call_tool(
    request_id: object, name: str, arguments: dict[str, object], token: object = None
) -> None:
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
    elif name == "huge":
        size = int(str(arguments.get("size", 100_000)))
        stdout.write(f'{{"jsonrpc":"2.0","id":{request_id},"result":{{"pad":"'.encode())
        piece = b"x" * (1024 * 1024)
        for _ in range(size // len(piece)):
            stdout.write(piece)
        stdout.write(b'"}}\n')
        stdout.flush()
    elif name == "hang":
        pass
    elif name == "twice":
        for _ in range(2):
            send({"jsonrpc": "2.0", "id": "s1", "method": "ping"})
        answered = 0
        while answered < 2 and (message := read()) is not None:
            answered += "method" not in message
        result(request_id, text(f"answered {answered}"))
    elif name == "stubborn":
        while (message := read()) is not None:
            if message.get("method") == "notifications/cancelled":
                break
        for step in (1, 2):
            progress = {"progressToken": token, "progress": step}
            send({"jsonrpc": "2.0", "method": "notifications/progress", "params": progress})
        done = {"level": "info", "data": "done"}
        send({"jsonrpc": "2.0", "method": "notifications/message", "params": done})
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
    if SILENT_START and method in ("server/discover", "initialize"):
        log("handshake")
    elif SILENT_LIST and method == "tools/list":
        log("tools/list")
    elif method == "server/discover" and LEGACY:
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
        log("call")
        arguments = params.get("arguments") or {}
        assert isinstance(arguments, dict)
        meta = params.get("_meta") or {}
        assert isinstance(meta, dict)
        call_tool(request_id, str(params.get("name")), arguments, meta.get("progressToken"))
        state["calls"] += 1
        if state["calls"] == AFTER_CALLS:
            misbehave(str(ACTION))
    else:
        error = {"code": -32601, "message": "Method not found"}
        send({"jsonrpc": "2.0", "id": request_id, "error": error})


def log(line: str) -> None:
    if CALL_LOG:
        with open(CALL_LOG, "a") as call_log:
            call_log.write(line + "\n")


def misbehave(action: str) -> None:
    """Break one pipe, or stop reading, and keep running until a signal ends the process."""
    if action == "close-stdout":
        os.close(1)
        while read() is not None:  # keeps reading, never answers
            pass
    elif action == "close-stdin":
        os.close(0)
    elif action != "stop-reading":
        raise SystemExit(f"unknown action {action}")
    while True:
        time.sleep(3600)


def flood(size: int) -> None:
    line = b"DEBUG " + b"y" * 100 + b"\n"
    err = sys.stderr.buffer
    for _ in range(size // len(line)):
        err.write(line)
    err.flush()


def main() -> None:
    if PID_FILE:
        with open(PID_FILE, "w") as pid_file:
            pid_file.write(str(os.getpid()))
    sys.stderr.write("rogue server ready\n")
    sys.stderr.flush()
    if FLOOD:
        flood(FLOOD)
    if STUBBORN:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while (message := read()) is not None:
        handle(message)
    log("stdin closed")
    while STUBBORN:
        time.sleep(3600)


if __name__ == "__main__":
    main()
