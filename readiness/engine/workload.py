"""The operation mix: which MCP requests the load sends, and in what proportion."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from readiness.engine.arguments import Draw, Render

# Picking from a precomputed table costs one index per request; the table holds the exact
# configured proportions (largest-remainder rounding), shuffled with a fixed seed.
_TABLE_SIZE = 4096


@dataclass(frozen=True)
class Operation:
    index: int
    name: str
    method: str
    params: dict[str, Any] | None
    weight: float
    # The params per request when the arguments are templated (then `params` holds the
    # templates as written, for what reads the tool name).
    render: Render | None = None

    def params_for(self, draw: Draw) -> dict[str, Any] | None:
        """This request's params; may raise DataExhausted or MissingSaved."""
        if self.render is None:
            return self.params
        result: dict[str, Any] | None = self.render(draw)
        return result


@dataclass(frozen=True)
class Step:
    """One step of a journey: its operation (recorded under its own index), the think time
    before it, and the values it saves from its reply: (name, path into the result)."""

    op: Operation
    think_s: float = 0.0
    save: tuple[tuple[str, tuple[str | int, ...]], ...] = ()


@dataclass(frozen=True)
class Journey:
    index: int
    name: str
    weight: float
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Replayed:
    """One captured request to send again: when (seconds from the first, speed applied), as
    which operation, with which params."""

    offset_s: float
    op: int
    params: dict[str, Any] | None
    session: int = 0  # the captured session, numbered from 0 in order of appearance


def operation_params(
    call: str,
    *,
    tool: str | None = None,
    uri: str | None = None,
    prompt: str | None = None,
    arguments: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """The JSON-RPC params for one configured operation."""
    args = dict(arguments or {})
    if call == "tools/call":
        return {"name": tool, "arguments": args}
    if call == "resources/read":
        return {"uri": uri}
    if call == "prompts/get":
        return {"name": prompt, "arguments": {k: str(v) for k, v in args.items()}}
    return None


class Workload:
    """A weighted mix of operations with a cheap deterministic picker."""

    def __init__(
        self,
        operations: Sequence[Operation],
        *,
        seed: int = 0,
        data_seed: int = 0,
        journeys: Sequence[Journey] = (),
        replay: Sequence[Replayed] = (),
    ) -> None:
        if not operations:
            raise ValueError("a workload needs at least one operation")
        self.operations = tuple(operations)
        # With journeys, `operations` are their steps, in order, and users walk journeys.
        self.journeys = tuple(journeys)
        # With a replay, `operations` are one per captured method/tool and this is the capture.
        self.replay = tuple(replay)
        self._journey_table = _proportional_table([j.weight for j in journeys], seed)
        self._journey_cursor = 0
        self.data_seed = data_seed
        self.templated = any(op.render is not None for op in self.operations)
        self._table = _proportional_table([op.weight for op in operations], seed)
        self._cursor = 0

    def next_journey(self) -> Journey:
        cursor = self._journey_cursor
        self._journey_cursor = (cursor + 1) % len(self._journey_table)
        return self.journeys[self._journey_table[cursor]]

    def draw(self, vu: int, shard: int = 0) -> Draw:
        """A virtual user's own seeded state for templated arguments (`shard`: the worker's,
        so the open model's one draw per process differs between workers)."""
        return Draw(self.data_seed if shard == 0 else f"{self.data_seed}/shard{shard}", vu)

    def next(self) -> Operation:
        cursor = self._cursor
        self._cursor = (cursor + 1) % len(self._table)
        return self.operations[self._table[cursor]]

    def __repr__(self) -> str:
        mix = ", ".join(f"{op.name}×{op.weight:g}" for op in self.operations)
        return f"<Workload [{mix}]>"


def _proportional_table(weights: Sequence[float], seed: int) -> list[int]:
    if not weights:
        return []
    total = sum(weights)
    exact = [w / total * _TABLE_SIZE for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: _TABLE_SIZE - sum(counts)]:
        counts[i] += 1
    for i, w in enumerate(weights):  # every configured operation is sent at least sometimes
        if w > 0 and counts[i] == 0:
            counts[i] = 1
    table = [i for i, n in enumerate(counts) for _ in range(n)]
    random.Random(seed).shuffle(table)
    return table
