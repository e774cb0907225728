"""The demo MCP server: seven tools, a status resource and a prompt on the SDK's MCPServer.

Every tool call passes the server's CallGate first, which applies the knobs.
"""

import json
from collections import OrderedDict
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ConfigDict, Field

import readiness
from readiness.demo.corpus import NOTES, SearchResults, search
from readiness.demo.gate import CallGate
from readiness.demo.knobs import Knobs
from readiness.demo.subscriptions import add_subscriptions
from readiness.demo.twoway import add_two_way_tools

STATUS_URI = "demo://status"
# Bounds a hostile client cannot get past (the security scenario tries): no call sleeps or
# allocates without limit, and no number is NaN or infinite.
MAX_WORK_MS = 60_000.0
MAX_BLOB_KB = 1024 * 1024
_Finite = Annotated[int | float, Field(allow_inf_nan=False)]
MAX_CREATED_NOTES = 10_000  # create_note keeps the newest this many
MAX_NOTE_CHARS = 10_000


class CreatedNote(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    chars: int


_BLOB_LINE = (
    "readiness demo blob: 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
)


class DemoTools:
    """The tools, resource and prompt of one demo server, sharing its CallGate."""

    def __init__(self, gate: CallGate) -> None:
        self.gate = gate
        # Notes made by create_note, newest last; bounded so a long run cannot grow it forever.
        self._created: OrderedDict[str, str] = OrderedDict()
        self._next_id = 1

    async def echo(self, text: str) -> str:
        """Return the text unchanged."""
        await self.gate.enter("echo")
        return text

    async def add(self, a: _Finite, b: _Finite) -> int | float:
        """Return the sum of two numbers."""
        await self.gate.enter("add")
        return a + b

    async def work(
        self,
        ms: Annotated[
            float, Field(ge=0, le=MAX_WORK_MS, description="how long to work, in milliseconds")
        ],
    ) -> str:
        """Wait for `ms` milliseconds, then return."""
        await self.gate.enter("work")
        await anyio.sleep(ms / 1000)
        return f"worked {ms:g} ms"

    async def search(
        self,
        query: Annotated[str, Field(description="words that must all appear in a result")],
        limit: Annotated[int, Field(ge=1, le=100, description="most results to return")] = 5,
    ) -> SearchResults:
        """Search a small fixed corpus; the same query always gives the same results."""
        await self.gate.enter("search")
        return search(query, limit)

    async def create_note(
        self, text: Annotated[str, Field(max_length=MAX_NOTE_CHARS, description="the note")]
    ) -> CreatedNote:
        """Store a note in memory and return its id (read it back with read_note(id=…))."""
        await self.gate.enter("create_note")
        note_id = f"note-{self._next_id}"
        self._next_id += 1
        self._created[note_id] = text
        if len(self._created) > MAX_CREATED_NOTES:
            self._created.popitem(last=False)
        return CreatedNote(id=note_id, chars=len(text))

    async def read_note(self, name: str = "", id: str = "") -> str:
        """Read a note by name from the fixed note store, or by the id create_note returned."""
        await self.gate.enter("read_note")
        if id:
            try:
                return self._created[id]
            except KeyError:
                raise ToolError(f"no note has id {id!r}") from None
        if "/" in name or "\\" in name or ".." in name:
            raise ToolError(f"invalid note name {name!r}: path separators and '..' are not allowed")
        try:
            return NOTES[name]
        except KeyError:
            raise ToolError(f"no such note: {name!r} (notes: {', '.join(NOTES)})") from None

    async def blob(
        self, kb: Annotated[int, Field(ge=0, le=MAX_BLOB_KB, description="payload size in KiB")]
    ) -> str:
        """Return a text payload of exactly `kb` KiB (ASCII, so bytes equal characters)."""
        await self.gate.enter("blob")
        cap = self.gate.knobs.max_blob_kb
        if cap is not None and kb > cap:
            raise ToolError(f"blob of {kb} KiB is over the limit of {cap} KiB (--max-blob-kb)")
        size = kb * 1024
        return (_BLOB_LINE * (size // len(_BLOB_LINE) + 1))[:size]

    async def status(self) -> str:
        """Tool calls served, what the knobs injected so far, uptime and the knobs, as JSON."""
        stats = self.gate.statistics()
        return json.dumps(
            {
                "calls_served": stats.calls_served,
                "errors_injected": stats.errors_injected,
                "leaked_kib": stats.leaked_kib,
                "latency_injected_s": round(stats.latency_injected_s, 6),
                "uptime_s": round(stats.uptime_s, 3),
                "knobs": self.gate.knobs.as_json(),
            }
        )

    async def summarize(self, topic: str) -> str:
        """Ask for a short summary of a topic."""
        return f"Summarize what is known about {topic} in three short sentences."


def build_server(knobs: Knobs | None = None, *, gate: CallGate | None = None) -> MCPServer[Any]:
    """A new demo server with its own counters (or `gate`'s, to read them from outside, as
    the HTTP health endpoints do); nothing is shared between servers."""
    tools = DemoTools(gate or CallGate(knobs or Knobs()))
    server: MCPServer[Any] = MCPServer(
        name="readiness-demo",
        version=readiness.__version__,
        instructions=(
            "A demo server for readiness: echo, add, work, search, create_note, read_note, blob."
        ),
        log_level="WARNING",
    )
    # Text tools stay unstructured: a structured copy would double every payload (blob!).
    for tool, structured in (
        (tools.echo, False),
        (tools.add, True),
        (tools.work, False),
        (tools.search, True),
        (tools.create_note, True),
        (tools.read_note, False),
        (tools.blob, False),
    ):
        server.add_tool(tool, structured_output=structured)
    add_two_way_tools(server)
    add_subscriptions(server)
    server.resource(STATUS_URI, name="status", mime_type="application/json")(tools.status)
    server.prompt()(tools.summarize)
    return server
