"""A small stdio MCP server for the security tests, with problems planted on purpose.

    python tests/vulnerable_server.py [--plant traversal,canary,stacktrace,crash,hang]

With no plant it is clean: it validates every argument against its schema and refuses bad
frames, so the security scenario must find nothing. Each plant opens exactly one hole:
traversal (read_file opens any path, URL-decoded), canary (run hands its text to a shell:
the probes only ask it to echo), stacktrace (lookup replies with a Python traceback), crash
(store exits on a string over 512 KiB), hang (wait never answers when item is null), batch
(the process exits on a JSON array: a protocol probe's crash), stall (a ping carrying the
oversize-frame probe's `_meta.rdy` stops the process for STALL_S before it goes on: slow, not
dead).
Plain Python, no SDK: it starts in milliseconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from typing import Any
from urllib.parse import unquote

PLANTS = ("traversal", "canary", "stacktrace", "crash", "hang", "batch", "stall")
STALL_S = 1.5
_STRING = {"type": "string"}
_NULLABLE = {"type": ["string", "null"]}
_ENUM = {"type": "string", "enum": ["fast", "slow"]}
_SMALL = {"type": "integer", "minimum": 0, "maximum": 10}
TOOLS: list[dict[str, Any]] = [
    {"name": "read_file", "description": "Read a note file.", "schema": {"path": _STRING}},
    {"name": "run", "description": "Format a greeting.", "schema": {"text": _STRING}},
    {"name": "lookup", "description": "Look a key up.", "schema": {"key": _STRING}},
    {"name": "store", "description": "Store a text.", "schema": {"text": _STRING}},
    {"name": "wait", "description": "Wait for an item.", "schema": {"item": _NULLABLE}},
    {"name": "mode", "description": "Pick a mode.", "schema": {"mode": _ENUM, "count": _SMALL}},
    {
        "name": "wipe",
        "description": "Never called by a non-destructive scan.",
        "schema": {"what": _STRING},
        "annotations": {"destructiveHint": True},
    },
]


def tool_list() -> list[dict[str, Any]]:
    out = []
    for tool in TOOLS:
        entry: dict[str, Any] = {
            "name": tool["name"],
            "description": tool["description"],
            "inputSchema": {
                "type": "object",
                "properties": tool["schema"],
                "required": list(tool["schema"]),
                "additionalProperties": False,
            },
        }
        if "annotations" in tool:
            entry["annotations"] = tool["annotations"]
        out.append(entry)
    return out


def valid(schema: dict[str, Any], args: Any) -> bool:
    if not isinstance(args, dict) or set(args) != set(schema):
        return False
    for name, spec in schema.items():
        value = args[name]
        types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        kind = {str: "string", type(None): "null"}.get(type(value))
        if type(value) is int:
            kind = "integer"
        if kind not in types:
            return False
        if "enum" in spec and value not in spec["enum"]:
            return False
        if kind == "integer" and not spec.get("minimum", value) <= value <= spec.get(
            "maximum", value
        ):
            return False
    return True


def text(value: str, error: bool = False) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": value}], "isError": error}


def call(name: str, args: Any, plants: set[str]) -> dict[str, Any] | None:
    tool = next((t for t in TOOLS if t["name"] == name), None)
    if tool is None:
        return text(f"unknown tool {name}", error=True)
    args_dict = args if isinstance(args, dict) else {}
    huge = len(str(args_dict.get("text", ""))) > 512 * 1024
    if "crash" in plants and name == "store" and huge:
        os._exit(3)
    if "hang" in plants and name == "wait" and "item" in args_dict and args_dict["item"] is None:
        return None  # never answered
    if not valid(tool["schema"], args):
        return text("invalid arguments", error=True)
    if name == "read_file":
        if "traversal" in plants:
            try:
                with open(unquote(unquote(args["path"])).removeprefix("file://")) as f:
                    return text(f.read(4096))
            except (OSError, ValueError):
                return text("cannot read that file", error=True)
        return text("no such note", error=True)
    if name == "run":
        if "canary" in plants:
            try:
                out = subprocess.run(
                    "echo " + args["text"], shell=True, capture_output=True, text=True, timeout=5
                )
            except (OSError, ValueError, subprocess.SubprocessError):
                return text("cannot run that", error=True)
            return text(out.stdout)
        return text("hello")
    if name == "lookup":
        if "stacktrace" in plants:
            try:
                {}[args["key"]]
            except KeyError:
                return text(traceback.format_exc(), error=True)
        return text("not found", error=True)
    if name == "store":
        return text(f"stored {len(args['text'])} characters")
    return text("ok")


def handle(message: Any, plants: set[str], state: dict[str, bool]) -> dict[str, Any] | None:
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        rid = message.get("id") if isinstance(message, dict) else None
        return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32600, "message": "invalid"}}
    method, rid = message.get("method"), message.get("id")
    if rid is None:
        return None  # a notification
    params = message.get("params", {})
    if not isinstance(params, dict):
        return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": "bad params"}}
    if method == "initialize":
        state["initialized"] = True
        result: dict[str, Any] = {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "vulnerable", "version": "0"},
        }
    elif not state.get("initialized"):
        return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32002, "message": "not ready"}}
    elif method == "ping":
        meta = params.get("_meta")
        if "stall" in plants and isinstance(meta, dict) and "rdy" in meta:
            time.sleep(STALL_S)
        result = {}
    elif method == "tools/list":
        result = {"tools": tool_list()}
    elif method == "tools/call":
        answer = call(str(params.get("name")), params.get("arguments"), plants)
        if answer is None:
            return None
        result = answer
    else:
        return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "no method"}}
    return {"jsonrpc": "2.0", "id": rid, "result": result}


def main() -> None:
    plants: set[str] = set()
    if "--plant" in sys.argv:
        plants = set(sys.argv[sys.argv.index("--plant") + 1].split(","))
        assert plants <= set(PLANTS), plants
    state: dict[str, bool] = {}
    for line in sys.stdin.buffer:
        try:
            message = json.loads(line)
        except ValueError:
            reply: dict[str, Any] | None = {
                "jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"},
            }  # fmt: skip
        except RecursionError:
            reply = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "deep"}}
        else:
            if "batch" in plants and isinstance(message, list):
                os._exit(4)
            reply = handle(message, plants, state)
        if reply is not None:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
