"""The demo server's fixed in-memory content: a small document corpus to search and a note store.

Read-only, so every server and every run answers the same queries the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from pydantic import BaseModel, ConfigDict


class SearchHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    snippet: str


class SearchResults(BaseModel):
    model_config = ConfigDict(frozen=True)

    query: str
    total: int
    hits: list[SearchHit]


DOCUMENTS: Final[tuple[SearchHit, ...]] = tuple(
    SearchHit(id=f"doc-{index:02d}", title=title, snippet=snippet)
    for index, (title, snippet) in enumerate(
        (
            (
                "Load testing MCP servers",
                "Closed and open models, and why latency is measured from the intended start.",
            ),
            (
                "Coordinated omission",
                "A stalled server hides its own slowness unless requests keep their schedule.",
            ),
            (
                "Percentiles and histograms",
                "Merge histograms, never average percentiles across workers or intervals.",
            ),
            (
                "Circuit breakers",
                "Open after repeated failures, probe when half-open, close on recovery.",
            ),
            (
                "Token bucket rate limiting",
                "Refill tokens at a steady rate; a burst spends the bucket down.",
            ),
            (
                "Retry with backoff and jitter",
                "Spread retries out so a recovering server is not stampeded.",
            ),
            (
                "Streamable HTTP transport",
                "One POST per message; replies as JSON or as a server-sent event stream.",
            ),
            (
                "The stdio transport",
                "Newline-delimited JSON-RPC over a child process's standard input and output.",
            ),
            (
                "Session management",
                "A session id is issued on initialize and sent back on every request.",
            ),
            (
                "Memory leaks in long-running servers",
                "RSS that grows with every call is a leak, not a cache.",
            ),
            (
                "Crash recovery",
                "Restart the server, re-initialize, and measure the time to the first success.",
            ),
            (
                "Tool errors versus protocol errors",
                "isError means the tool ran and failed; a JSON-RPC error means it did not run.",
            ),
            (
                "Scaling efficiency",
                "Throughput per unit of concurrency, relative to the first step of the ladder.",
            ),
            (
                "Finding the knee",
                "The last concurrency step whose throughput still grew meaningfully.",
            ),
            (
                "Readiness scores",
                "Every deduction is explained; the score is a summary, not a verdict.",
            ),
            (
                "Baselines and regressions",
                "Compare against a saved run with confidence intervals before failing a build.",
            ),
            ("Payload sizes", "Large replies stress framing, buffering and the client's memory."),
            (
                "Latency injection",
                "Fixed, uniform or log-normal delays make a fast server behave like a real one.",
            ),
            (
                "Chaos engineering",
                "Drop, delay, duplicate or corrupt messages to see how clients and servers cope.",
            ),
            (
                "Event loop lag",
                "A busy generator measures itself so its own slowness is not blamed on the server.",
            ),
        ),
        start=1,
    )
)

NOTES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "welcome": "Welcome to the readiness demo server. Try the echo, add and search tools.",
        "todo": "1. Run readiness. 2. Read the report. 3. Fix the slowest tool.",
        "knobs": "Try the knobs: --latency, --error-rate, --leak-kb-per-call, --crash-after.",
        "limits": "blob(kb) returns exactly kb KiB of text; --max-blob-kb caps it.",
    }
)


def search(query: str, limit: int) -> SearchResults:
    """Documents whose title or snippet contains every word of `query`, in corpus order."""
    words = query.lower().split()
    matches = [
        doc
        for doc in DOCUMENTS
        if all(word in f"{doc.title} {doc.snippet}".lower() for word in words)
    ]
    return SearchResults(query=query, total=len(matches), hits=matches[:limit])
