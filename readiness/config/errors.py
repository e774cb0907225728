"""Turn TOML syntax errors and model validation errors into one ConfigError that names the file,
the key path (`scenarios[1] (name="scaling").load.concurrency`), the line, and a did-you-mean.
"""

from __future__ import annotations

import bisect
import contextlib
import difflib
import json
import re
import tomllib
import types
import typing
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from readiness.errors import ConfigError

Key = tuple[str | int, ...]
KeysAt = Callable[[Key], Sequence[str] | None]  # the keys a table at this path may hold

_MAX_LISTED = 10
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_EXPECTED: dict[str, str] = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "int_parsing": "an integer",
    "float_parsing": "a number",
    "bool_parsing": "true or false",
    "finite_number": "a finite number",
    "list_type": "an array",
    "tuple_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}
_BOUNDS: dict[str, tuple[str, str]] = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}


class TomlLocator:
    """Line numbers of the tables, keys and array items in a TOML text that tomllib accepted.

    A small scanner rather than a parser: it trusts the syntax and only tracks positions, so
    `line_for(key)` can answer with the key's own line or, when the key is absent (a missing
    required key), the line of the nearest enclosing table.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._newlines = [i for i, char in enumerate(text) if char == "\n"]
        self._lines: dict[Key, int] = {}
        self._array_tables: dict[Key, int] = {}  # path → how many [[path]] seen so far
        # A best-effort map: if the scanner trips, what it mapped so far still helps.
        with contextlib.suppress(IndexError, ValueError):
            self._document()

    def line_for(self, key: Key) -> int | None:
        for end in range(len(key), 0, -1):
            line = self._lines.get(key[:end])
            if line is not None:
                return line
        return None

    # scanning

    def _line(self) -> int:
        return bisect.bisect_left(self._newlines, self._pos) + 1

    def _peek(self, n: int = 1) -> str:
        return self._text[self._pos : self._pos + n]

    def _skip(self, newlines: bool) -> None:
        text = self._text
        while self._pos < len(text):
            char = text[self._pos]
            if char in " \t\r" or (newlines and char == "\n"):
                self._pos += 1
            elif char == "#":
                end = text.find("\n", self._pos)
                self._pos = len(text) if end < 0 else end
            else:
                return

    def _document(self) -> None:
        table: Key = ()
        while True:
            self._skip(newlines=True)
            if self._pos >= len(self._text):
                return
            if self._peek() == "[":
                table = self._header()
            else:
                self._keyval(table)

    def _header(self) -> Key:
        line = self._line()
        array = self._peek(2) == "[["
        self._pos += 2 if array else 1
        parts = self._key()
        self._pos += 2 if array else 1
        if not array:
            table = self._resolve(parts)
            self._lines.setdefault(table, line)
            return table
        path = (*self._resolve(parts[:-1]), parts[-1])
        index = self._array_tables.get(path, 0)
        self._array_tables[path] = index + 1
        self._lines.setdefault(path, line)
        self._lines[(*path, index)] = line
        return (*path, index)

    def _resolve(self, parts: Sequence[str]) -> Key:
        """A header's path with the current index of every array of tables it passes through."""
        path: Key = ()
        for part in parts:
            path = (*path, part)
            if path in self._array_tables:
                path = (*path, self._array_tables[path] - 1)
        return path

    def _key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self._skip(newlines=False)
            parts.append(self._simple_key())
            self._skip(newlines=False)
            if self._peek() != ".":
                return parts
            self._pos += 1

    def _simple_key(self) -> str:
        char = self._peek()
        if char in "\"'":
            start = self._pos
            self._string()
            return str(tomllib.loads("k = " + self._text[start : self._pos])["k"])
        match = _BARE_KEY.match(self._text, self._pos)
        if not match:
            raise ValueError("not a key")
        self._pos = match.end()
        return match.group()

    def _keyval(self, table: Key) -> None:
        line = self._line()
        parts = self._key()
        for end in range(1, len(parts)):
            self._lines.setdefault((*table, *parts[:end]), line)
        path = (*table, *parts)
        self._lines[path] = line
        self._skip(newlines=False)
        self._pos += 1  # '='
        self._skip(newlines=False)
        self._value(path)

    def _value(self, path: Key) -> None:
        char = self._peek()
        if char in "\"'":
            self._string()
        elif char == "[":
            self._pos += 1
            index = 0
            while True:
                self._skip(newlines=True)
                if self._peek() in ("]", ""):
                    self._pos += 1
                    return
                self._lines[(*path, index)] = self._line()
                self._value((*path, index))
                index += 1
                self._skip(newlines=True)
                if self._peek() == ",":
                    self._pos += 1
        elif char == "{":
            self._pos += 1
            while True:
                self._skip(newlines=True)
                if self._peek() in ("}", ""):
                    self._pos += 1
                    return
                self._keyval(path)
                self._skip(newlines=True)
                if self._peek() == ",":
                    self._pos += 1
        else:
            match = re.compile(r"[^,\]}\n#]*").match(self._text, self._pos)
            self._pos = match.end() if match else self._pos + 1

    def _string(self) -> None:
        quote = self._peek()
        delimiter = quote * 3 if self._peek(3) == quote * 3 else quote
        self._pos += len(delimiter)
        while self._pos < len(self._text):
            if quote == '"' and self._peek() == "\\":
                self._pos += 2
            elif self._text.startswith(delimiter, self._pos):
                self._pos += len(delimiter)
                # a multi-line string may end with up to two extra quotes inside it
                while len(delimiter) == 3 and self._peek() == quote:
                    self._pos += 1
                return
            else:
                self._pos += 1


MAX_CONFIG_BYTES = 4 * 2**20


def read_config(path: str | Path) -> str:
    """A configuration file's text; a file that is missing, a folder, unreadable, not UTF-8
    or endless (/dev/zero) raises ConfigError naming it."""
    source = str(path)
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"larger than {MAX_CONFIG_BYTES // 2**20} MiB: not a configuration file",
                file=source,
            )
        return data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", file=source) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason})", file=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", file=source) from None


def excerpt(text: str, line: int, column: int | None = None) -> str:
    """The source line, numbered, with a caret under the column when known."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return ""
    number = f"{line:>5} | "
    shown = f"\n{number}{lines[line - 1]}"
    if column is not None:
        shown += "\n" + " " * (len(number) - 2) + "| " + " " * (column - 1) + "^"
    return shown


def syntax_error(exc: tomllib.TOMLDecodeError, text: str, source: str) -> ConfigError:
    message = str(exc)
    position = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if not position:
        return ConfigError(f"invalid TOML: {message}", file=source)
    line, column = int(position.group(1)), int(position.group(2))
    detail = message[: position.start()]
    return ConfigError(
        f"invalid TOML: {detail}{excerpt(text, line, column)}", file=source, line=line
    )


def unknown_key(key: str, keys: Sequence[str], text: str, source: str) -> ConfigError:
    line = TomlLocator(text).line_for((key,))
    message = f"unknown key {key!r}{did_you_mean(key, keys)}"
    return ConfigError(
        message + (excerpt(text, line) if line else ""), file=source, key=key, line=line
    )


def from_validation(
    exc: ValidationError, data: Mapping[str, Any], text: str, source: str, keys_at: KeysAt
) -> ConfigError:
    """Every problem pydantic found, first by line; the first one also fills key and line."""
    locator = TomlLocator(text)
    problems: list[tuple[int | None, str, str]] = []
    errors = exc.errors()
    failed_inside = {tuple(e["loc"][:n]) for e in errors for n in range(len(e["loc"]))}
    for error in errors:
        key: Key = tuple(error["loc"])
        if error["type"] == "too_short" and key in failed_inside:
            continue  # an array whose items failed also looks short; the items say why
        if error["type"] == "readiness":
            key = (*key, *(error.get("ctx") or {}).get("key", ()))
        problem = (locator.line_for(key), render_key(key, data), describe(error, key, keys_at))
        if problem not in problems:
            problems.append(problem)
    problems.sort(key=lambda p: (p[0] is None, p[0] or 0))
    line, key_text, message = problems[0]
    message += excerpt(text, line) if line else ""
    others = [f"{source}{f':{ln}' if ln else ''}: {k}: {m}" for ln, k, m in problems[1:_MAX_LISTED]]
    if len(problems) > _MAX_LISTED:
        others.append(f"… and {len(problems) - _MAX_LISTED} more")
    if others:
        message += "\nalso:\n  " + "\n  ".join(others)
    return ConfigError(message, file=source, key=key_text or None, line=line)


def render_key(key: Key, data: Any) -> str:
    """`scenarios[1] (name="scaling").load.concurrency`: indices, with names where known."""
    text = ""
    node = data
    for part in key:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            name = node.get("name") if isinstance(node, dict) else None
            if isinstance(name, str):
                text += f" (name={json.dumps(name, ensure_ascii=False)})"
        else:
            shown = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            text += f".{shown}" if text else shown
            node = node.get(part) if isinstance(node, dict) else None
    return text


def describe(error: ErrorDetails, key: Key, keys_at: KeysAt) -> str:
    """What was expected, in the file's terms (TOML types, keys, units)."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind == "readiness":
        return str(ctx.get("message", error["msg"]))
    if kind == "missing":
        return f"required key {key[-1]!r} is missing"
    if kind == "extra_forbidden":
        return f"unknown key {key[-1]!r}{_suggest_key(key, keys_at)}"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_toml(value)}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        return f"expected {ctx.get('expected')}, got {_toml(value)}{hint}"
    if kind in _BOUNDS:
        bound, words = _BOUNDS[kind]
        return f"must be {words} {_toml(ctx.get(bound))}, got {_toml(value)}"
    if kind == "too_short":
        return "must not be empty"
    if kind == "string_too_short":
        return "must not be an empty string"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return f"{error['msg']}, got {_toml(value)}"


def _suggest_key(key: Key, keys_at: KeysAt) -> str:
    word = str(key[-1])
    table = key[:-1]
    known = keys_at(table) or ()
    for field in known:  # an exact key one level down beats a near miss at this level
        inner = keys_at((*table, field))
        if inner and word in inner:
            return f"; it belongs inside {field!r} ({field}.{word})"
    close = did_you_mean(word, known)
    if close:
        return close
    parent = table[:-2] if table and isinstance(table[-1], int) else table[:-1]
    if table and word in (keys_at(parent) or ()):
        return (
            f"; it belongs to the enclosing table: keys after a [{_dotted(table)}] header"
            " belong to that table, so move it above the header"
        )
    return f"; expected one of: {', '.join(known)}" if known else ""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _dotted(key: Key) -> str:
    return ".".join(str(part) for part in key if isinstance(part, str))


def _toml(value: Any) -> str:
    """A value as the user wrote it in TOML."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    return repr(value)


def keys_in(root: type[BaseModel], internal: Collection[str] = ()) -> KeysAt:
    """For a key path from `root`, the keys its table may hold (None when it names no table)."""

    def keys_at(key: Key) -> list[str] | None:
        model: Any = root
        for part in key:
            if isinstance(part, int):
                continue
            field = model.model_fields.get(part)
            model = _model_in(field.annotation) if field else None
            if model is None:
                return None
        return [name for name in model.model_fields if name not in internal]

    return keys_at


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model inside an annotation such as `tuple[Stage, ...]` or `LoadConfig | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (Annotated, Union, types.UnionType, tuple, list):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
