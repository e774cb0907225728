"""Templated arguments compiled once into closures: a request's values are one call away, drawn
from a per-user seeded generator, so the hot path never parses a template.

A compiled value is a function of (draw, rows): `draw` is the virtual user's state (its
generator, number, iteration, saved values), `rows` the row each data set gave this request —
one row per data set per request, so `{{ q.text }}` and `{{ q.id }}` come from the same row.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from readiness.config.templates import (
    Field,
    Iteration,
    Node,
    RandomChoice,
    RandomInt,
    RandomString,
    Saved,
    Template,
    Uuid,
    VirtualUser,
    parse_template,
)

_ALPHABET = string.ascii_letters + string.digits
# Random bytes mapped onto letters and digits: a table lookup per character, not a draw.
# (256 is not a multiple of 62, so the first 8 characters are drawn 5/256 rather than 4/256.)
_TO_ALPHABET = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) for b in range(256))
# RFC 4122 version 4: version nibble 4, variant bits 10.
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)

Rows = tuple[Mapping[str, Any], ...]
Value = Callable[["Draw", Rows], Any]
Render = Callable[["Draw"], Any]


class DataExhausted(Exception):
    """A `unique` data set has given every row once: the load ends."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f'data set {name!r} ran out of rows (pick = "unique")')


class MissingSaved(Exception):
    """A `{{ saved.x }}` placeholder whose value an earlier step did not save."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no saved value {name!r}")


class Draw:
    """One virtual user's state for rendering: seeded generator, number, iteration, saved."""

    __slots__ = ("iteration", "rng", "saved", "vu")

    def __init__(self, seed: int | str, vu: int) -> None:
        self.rng = random.Random(f"{seed}/{vu}")
        self.vu = vu
        self.iteration = 0
        self.saved: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<Draw vu={self.vu} iteration={self.iteration} saved={sorted(self.saved)}>"


class DataSource:
    """The rows of one data set and how requests pick them (shared by every user)."""

    def __init__(
        self,
        name: str,
        rows: Sequence[Mapping[str, Any]],
        pick: Literal["random", "sequential", "unique"],
    ) -> None:
        self.name = name
        self.rows = tuple(rows)
        self.pick = pick
        self._cursor = 0

    def take(self, draw: Draw) -> Mapping[str, Any]:
        rows = self.rows
        if self.pick == "random":
            return rows[int(draw.rng.random() * len(rows))]
        cursor = self._cursor
        if cursor >= len(rows):
            if self.pick == "unique":
                raise DataExhausted(self.name)
            cursor = 0
        self._cursor = cursor + 1
        return rows[cursor]

    @property
    def remaining(self) -> int | None:
        """Rows not yet given (unique); None for picks that never run out."""
        return max(len(self.rows) - self._cursor, 0) if self.pick == "unique" else None

    def __repr__(self) -> str:
        return f"<DataSource {self.name} rows={len(self.rows)} pick={self.pick}>"


def compile_render(value: Any, sources: Mapping[str, DataSource]) -> Render | None:
    """A function of the draw that renders `value`; None when `value` has no placeholder (send
    it as it is)."""
    used: list[str] = []
    compiled = _compile(value, sources, used)
    if compiled is None:
        return None
    takes = tuple(sources[name].take for name in used)
    if not takes:
        no_rows: Rows = ()
        return lambda draw: compiled(draw, no_rows)
    if len(takes) == 1:
        (take,) = takes
        return lambda draw: compiled(draw, (take(draw),))
    return lambda draw: compiled(draw, tuple(take(draw) for take in takes))


def _compile(value: Any, sources: Mapping[str, DataSource], used: list[str]) -> Value | None:
    if isinstance(value, str):
        template = parse_template(value)
        return None if template is None else _template(template, sources, used)
    if isinstance(value, dict):
        items = [(k, _compile(v, sources, used), v) for k, v in value.items()]
        varied = tuple((k, fn) for k, fn, _ in items if fn is not None)
        if not varied:
            return None
        # A copy of the constant part and one call per templated key: cheaper than rebuilding.
        fixed = {k: v for k, fn, v in items if fn is None}
        if len(varied) == 1:
            ((key, one),) = varied

            def single(draw: Draw, rows: Rows) -> dict[str, Any]:
                out = fixed.copy()
                out[key] = one(draw, rows)
                return out

            return single

        def several(draw: Draw, rows: Rows) -> dict[str, Any]:
            out = fixed.copy()
            for k, fn in varied:
                out[k] = fn(draw, rows)
            return out

        return several
    if isinstance(value, list | tuple):
        elements = [(_compile(v, sources, used), v) for v in value]
        if all(fn is None for fn, _ in elements):
            return None
        fns = tuple(fn if fn is not None else _constant(v) for fn, v in elements)
        return lambda draw, rows: [fn(draw, rows) for fn in fns]
    return None


def _constant(value: Any) -> Value:
    return lambda draw, rows: value


def _template(template: Template, sources: Mapping[str, DataSource], used: list[str]) -> Value:
    if template.whole:
        node = template.parts[0]
        assert not isinstance(node, str)
        return _node(node, sources, used)
    pieces = tuple(
        _constant(part) if isinstance(part, str) else _text(_node(part, sources, used))
        for part in template.parts
    )
    return lambda draw, rows: "".join([piece(draw, rows) for piece in pieces])


def _text(value: Value) -> Value:
    def text(draw: Draw, rows: Rows) -> str:
        v = value(draw, rows)
        if isinstance(v, str):
            return v
        if isinstance(v, int | float) and not isinstance(v, bool):
            return str(v)
        return json.dumps(v, ensure_ascii=False)

    return text


def _node(node: Node, sources: Mapping[str, DataSource], used: list[str]) -> Value:
    match node:
        case Field(data=data, field=field):
            if data not in used:
                used.append(data)
            index = used.index(data)
            return lambda draw, rows: rows[index].get(field)
        case RandomInt(low=low, high=high):
            span = high - low + 1
            if span > 2**50:  # beyond a float's exact integers
                return lambda draw, rows: draw.rng.randint(low, high)
            return lambda draw, rows: low + int(draw.rng.random() * span)
        case RandomChoice(values=values):
            count = len(values)
            return lambda draw, rows: values[int(draw.rng.random() * count)]
        case RandomString(length=length):
            return lambda draw, rows: draw.rng.randbytes(length).translate(_TO_ALPHABET).decode()
        case Uuid():
            return lambda draw, rows: _uuid4(draw.rng.getrandbits(128))
        case VirtualUser():
            return lambda draw, rows: draw.vu
        case Iteration():
            return lambda draw, rows: draw.iteration
        case Saved(name=name):
            return lambda draw, rows: _saved(draw, name)
    raise AssertionError(node)


def _uuid4(bits: int) -> str:
    h = f"{bits & _UUID_CLEAR | _UUID_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _saved(draw: Draw, name: str) -> Any:
    try:
        return draw.saved[name]
    except KeyError:
        raise MissingSaved(name) from None
