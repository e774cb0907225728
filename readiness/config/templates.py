"""`{{ … }}` placeholders in operation arguments, parsed once at load time into plain nodes that
the engine compiles into closures (readiness.engine.arguments); a syntax error is a config error.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from readiness.config.datafile import DataTable
from readiness.config.errors import did_you_mean
from readiness.config.types import invalid

# Names a data set may not take: they are placeholders of their own.
RESERVED = frozenset({"random", "saved", "uuid", "vu", "iteration"})
MAX_STRING = 1_000_000

_OPEN, _CLOSE = "{{", "}}"
_INT = re.compile(r"random\.int\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)")
_CHOICE = re.compile(r"random\.choice\((.*)\)", re.DOTALL)
_STRING = re.compile(r"random\.string\(\s*(\d+)\s*\)")
_SAVED = re.compile(r"saved\.([A-Za-z_][A-Za-z0-9_-]*)")
_FIELD = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_-]*)")
_EXPECTED = (
    "expected a data set's field (name.field), random.int(a, b), random.choice([...]),"
    " random.string(n), uuid, vu, iteration or saved.name"
)


class TemplateError(ValueError):
    """A placeholder that does not parse."""


@dataclass(frozen=True)
class Field:
    data: str
    field: str


@dataclass(frozen=True)
class RandomInt:
    low: int
    high: int


@dataclass(frozen=True)
class RandomChoice:
    values: tuple[Any, ...]


@dataclass(frozen=True)
class RandomString:
    length: int


@dataclass(frozen=True)
class Uuid:
    pass


@dataclass(frozen=True)
class VirtualUser:
    pass


@dataclass(frozen=True)
class Iteration:
    pass


@dataclass(frozen=True)
class Saved:
    name: str


Node = Field | RandomInt | RandomChoice | RandomString | Uuid | VirtualUser | Iteration | Saved


@dataclass(frozen=True)
class Template:
    """A string with placeholders: literal text and nodes in order. `whole` when the string is
    one placeholder and nothing else, so its value keeps its JSON type."""

    parts: tuple[str | Node, ...]

    @property
    def whole(self) -> bool:
        return len(self.parts) == 1 and not isinstance(self.parts[0], str)

    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(p for p in self.parts if not isinstance(p, str))


def parse_template(text: str) -> Template | None:
    """The template in `text`; None when it holds no placeholder."""
    if _OPEN not in text and _CLOSE not in text:
        return None
    parts: list[str | Node] = []
    pos = 0
    while True:
        start = text.find(_OPEN, pos)
        stray = text.find(_CLOSE, pos)
        if stray >= 0 and (start < 0 or stray < start):
            raise TemplateError(f"'}}}}' without an opening '{{{{' at character {stray + 1}")
        if start < 0:
            if pos < len(text):
                parts.append(text[pos:])
            return Template(tuple(parts))
        end = text.find(_CLOSE, start + 2)
        if end < 0 or text.find(_OPEN, start + 2, end) >= 0:
            raise TemplateError(f"'{{{{' at character {start + 1} is never closed with '}}}}'")
        if start > pos:
            parts.append(text[pos:start])
        parts.append(parse_expression(text[start + 2 : end].strip()))
        pos = end + 2


def parse_expression(expr: str) -> Node:
    """One placeholder's expression, without its braces."""
    if not expr:
        raise TemplateError(f"empty placeholder {{{{ }}}}: {_EXPECTED}")
    simple: dict[str, Node] = {"uuid": Uuid(), "vu": VirtualUser(), "iteration": Iteration()}
    if expr in simple:
        return simple[expr]
    if match := _INT.fullmatch(expr):
        low, high = int(match.group(1)), int(match.group(2))
        if low > high:
            raise TemplateError(f"{{{{ {expr} }}}}: the low bound is above the high bound")
        return RandomInt(low, high)
    if match := _STRING.fullmatch(expr):
        length = int(match.group(1))
        if not 0 < length <= MAX_STRING:
            raise TemplateError(f"{{{{ {expr} }}}}: the length is 1 to {MAX_STRING:,}")
        return RandomString(length)
    if match := _CHOICE.fullmatch(expr):
        return RandomChoice(_choices(expr, match.group(1)))
    if match := _SAVED.fullmatch(expr):
        return Saved(match.group(1))
    if expr.startswith("random.") or expr.startswith("saved."):
        raise TemplateError(f"unknown placeholder {{{{ {expr} }}}}: {_EXPECTED}")
    if match := _FIELD.fullmatch(expr):
        return Field(match.group(1), match.group(2))
    raise TemplateError(f"unknown placeholder {{{{ {expr} }}}}: {_EXPECTED}")


def _choices(expr: str, inner: str) -> tuple[Any, ...]:
    try:
        values = json.loads(inner)
    except ValueError:
        try:  # single-quoted strings, as a user may write in TOML
            values = ast.literal_eval(inner)
        except (ValueError, SyntaxError):
            raise TemplateError(
                f'{{{{ {expr} }}}}: random.choice takes a list such as ["a", "b", 3]'
            ) from None
    if not isinstance(values, list) or not values:
        raise TemplateError(f"{{{{ {expr} }}}}: random.choice takes a non-empty list")
    return tuple(values)


def templates_in(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Template]]:
    """Every template in a JSON value, with its key path; raises TemplateError with the path
    in `args[1]`."""
    if isinstance(value, str):
        try:
            template = parse_template(value)
        except TemplateError as exc:
            raise TemplateError(str(exc), path) from None
        if template is not None:
            yield path, template
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from templates_in(item, (*path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from templates_in(item, (*path, index))


def check_templates(
    arguments: dict[str, Any],
    tables: dict[str, DataTable],
    key: tuple[str | int, ...],
    *,
    saved: tuple[str, ...],
) -> None:
    """Every placeholder in `arguments` parses and names a known data set and field (and, in
    a journey, a value an earlier step saved); else a located error."""
    try:
        found = list(templates_in(arguments))
    except TemplateError as exc:
        where = exc.args[1] if len(exc.args) > 1 else ()
        raise invalid(str(exc.args[0]), *key, *where) from None
    for path, template in found:
        for node in template.nodes:
            if isinstance(node, Field):
                table = tables.get(node.data)
                if table is None:
                    hint = did_you_mean(node.data, tables)
                    known = ", ".join(tables) or "none declared in [[workload.data]]"
                    raise invalid(
                        f"no data set is named {node.data!r}{hint} (data sets: {known})",
                        *key,
                        *path,
                    )
                if node.field not in table.fields:
                    hint = did_you_mean(node.field, sorted(table.fields))
                    raise invalid(
                        f"data set {node.data!r} has no field {node.field!r}{hint}"
                        f" (fields: {', '.join(sorted(table.fields))})",
                        *key,
                        *path,
                    )
            elif isinstance(node, Saved) and node.name not in saved:
                raise invalid(
                    f"{{{{ saved.{node.name} }}}} needs an earlier journey step that saves"
                    f" {node.name!r}{did_you_mean(node.name, saved)}",
                    *key,
                    *path,
                )


class SavePathError(ValueError):
    """A `save` path that does not parse."""


_SEGMENT = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")
_SAVE_ROOTS = ("structuredContent", "content")


def parse_save_path(text: str) -> tuple[str | int, ...]:
    """`structuredContent.id`, `content[0].text`, `content[0].text.id` → its segments."""
    root = next((r for r in _SAVE_ROOTS if text.startswith(r)), None)
    if root is None:
        raise SavePathError(
            f"a save path starts at structuredContent or content, as in"
            f' "structuredContent.id" or "content[0].text"; got {text!r}'
        )
    path: list[str | int] = [root]
    pos = len(root)
    while pos < len(text):
        match = _SEGMENT.match(text, pos)
        if match is None:
            raise SavePathError(
                f"cannot read {text!r} from character {pos + 1}: use .name and [index]"
            )
        path.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    return tuple(path)
