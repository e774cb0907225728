"""Probes made from what a server lists: each tool's inputSchema bent in every way the catalog
names, injection payloads in every string argument, and the same for prompts and resource
templates. A small JSON Schema reader decides which probes the schema forbids."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from readiness.security.catalog import Catalog, InjectionKind, Tokens

# Nesting depth of the deep-nesting argument: deep enough for a recursive walker of the
# arguments, below the depth JSON parsers refuse outright (pydantic-core ~200, orjson 255) —
# the protocol probe of the same name sends 100,000 levels for the parser itself.
DEEP = 128
_PLAIN = "readiness"


@dataclass(frozen=True)
class CallProbe:
    """One request to send through the normal connection."""

    target: str  # the tool, "prompt:<name>" or "resource:<template>"
    method: str  # tools/call, prompts/get, resources/read
    params: dict[str, Any]
    probe_class: str  # schema | injection
    generator: str  # e.g. "wrong-type", "traversal"
    forbidden: bool  # the schema forbids these arguments: a success is a finding
    injection: InjectionKind | None = None

    @property
    def payload(self) -> Any:
        """What the probe sent that a finding shows."""
        if self.method == "tools/call":
            return self.params.get("arguments")
        return self.params


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {str(k) for k in kind}
    return set()


def _alternatives(schema: dict[str, Any]) -> list[dict[str, Any]]:
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list):
            return [o for o in options if isinstance(o, dict)]
    return []


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() and math.isfinite(value) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def allows(schema: Any, value: Any) -> bool:
    """Whether `schema` accepts `value`, for the keywords the probes exercise (type, enum,
    const, anyOf/oneOf, bounds, lengths, required, additionalProperties). Unknown: True."""
    if not isinstance(schema, dict):
        return True
    options = _alternatives(schema)
    if options and not any(allows(o, value) for o in options):
        return False
    if "enum" in schema and isinstance(schema["enum"], list) and value not in schema["enum"]:
        return False
    if "const" in schema and value != schema["const"]:
        return False
    types = _types(schema)
    actual = _type_of(value)
    if types and actual not in types and not (actual == "integer" and "number" in types):
        return False
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and not _in_bounds(schema, value)
    ):
        return False
    if isinstance(value, str):
        if isinstance(schema.get("minLength"), int) and len(value) < schema["minLength"]:
            return False
        if isinstance(schema.get("maxLength"), int) and len(value) > schema["maxLength"]:
            return False
    if isinstance(value, dict):
        return _object_allows(schema, value)
    return True


def _in_bounds(schema: dict[str, Any], value: float) -> bool:
    def bound(key: str) -> float | None:
        b = schema.get(key)
        return float(b) if isinstance(b, int | float) and not isinstance(b, bool) else None

    low, high = bound("minimum"), bound("maximum")
    above, below = bound("exclusiveMinimum"), bound("exclusiveMaximum")
    return (
        (low is None or value >= low)
        and (high is None or value <= high)
        and (above is None or value > above)
        and (below is None or value < below)
    )


def _object_allows(schema: dict[str, Any], value: dict[str, Any]) -> bool:
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    assert isinstance(props, dict)
    for name in schema.get("required", ()) or ():
        if name not in value:
            return False
    for name, item in value.items():
        if name in props:
            if not allows(props[name], item):
                return False
        elif schema.get("additionalProperties") is False:
            return False
    return True


def sample(schema: Any) -> Any:
    """A value the schema accepts, plain and small (default, enum, const, or by type)."""
    if not isinstance(schema, dict):
        return _PLAIN
    for key in ("default", "const"):
        if key in schema:
            return schema[key]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    options = _alternatives(schema)
    if options:
        return sample(options[0])
    types = _types(schema) - {"null"} or {"string"}
    kind = sorted(types)[0]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = max(1, int(low) + 1) if isinstance(low, int | float) else 1
        high = schema.get("maximum")
        if isinstance(high, int | float) and value > high:
            value = int(high)
        return value if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {n: sample(s) for n, s in _properties(schema).items() if n in _required(schema)}
    return _PLAIN


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties")
    return props if isinstance(props, dict) else {}


def _required(schema: dict[str, Any]) -> list[str]:
    req = schema.get("required")
    return [str(r) for r in req] if isinstance(req, list) else []


def _is_string(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    if "string" in _types(schema):
        return True
    return any(_is_string(o) for o in _alternatives(schema))


def _is_number(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    if _types(schema) & {"integer", "number"}:
        return True
    return any(_is_number(o) for o in _alternatives(schema))


def _wrong_value(schema: Any) -> Any:
    """A value of a JSON type the field does not take."""
    for candidate in ("rdy", 12345, {"rdy": 1}, ["rdy"], True):
        if not allows(schema, candidate):
            return candidate
    return ["rdy"]


def _nested(depth: int) -> Any:
    value: Any = "rdy"
    for _ in range(depth):
        value = [value]
    return value


def serializable(params: dict[str, Any]) -> bool:
    try:
        orjson.dumps(params)
    except (TypeError, orjson.JSONEncodeError):
        return False
    return True


class ToolProbes:
    """Every probe of one tool: schema probes first, then injections."""

    def __init__(
        self,
        tool: dict[str, Any],
        catalog: Catalog,
        tokens: Tokens,
        *,
        huge_strings: Sequence[int],
        classes: Sequence[str],
    ) -> None:
        self.name = str(tool.get("name"))
        schema = tool.get("inputSchema")
        self.schema: dict[str, Any] = schema if isinstance(schema, dict) else {}
        self.catalog = catalog
        self.tokens = tokens
        self.huge_strings = tuple(huge_strings)
        self.classes = tuple(classes)

    def __iter__(self) -> Iterator[CallProbe]:
        if "schema" in self.classes:
            yield from self._schema_probes()
        if "injection" in self.classes:
            yield from self._injections()

    def _probe(self, generator: str, arguments: dict[str, Any], cls: str = "schema") -> CallProbe:
        return CallProbe(
            target=self.name,
            method="tools/call",
            params={"name": self.name, "arguments": arguments},
            probe_class=cls,
            generator=generator,
            forbidden=not allows(self.schema, arguments),
        )

    def _schema_probes(self) -> Iterator[CallProbe]:
        props = _properties(self.schema)
        base = sample({**self.schema, "type": "object"})
        assert isinstance(base, dict)
        gens = self.catalog.generators
        strings = [n for n, s in props.items() if _is_string(s)]
        numbers = [n for n, s in props.items() if _is_number(s)]
        if "missing-required" in gens:
            for name in _required(self.schema):
                yield self._probe("missing-required", {k: v for k, v in base.items() if k != name})
        if "wrong-type" in gens:
            for name, schema in props.items():
                yield self._probe("wrong-type", {**base, name: _wrong_value(schema)})
        if "null" in gens:
            for name in props:
                yield self._probe("null", {**base, name: None})
        if "extra-field" in gens:
            yield self._probe("extra-field", {**base, "rdy_unexpected": "rdy"})
        if "empty-string" in gens:
            for name in strings:
                yield self._probe("empty-string", {**base, name: ""})
        if "huge-string" in gens and strings:
            for size in self.huge_strings:
                yield self._probe("huge-string", {**base, strings[0]: "A" * size})
        if "deep-nesting" in gens and props:
            yield self._probe("deep-nesting", {**base, next(iter(props)): _nested(DEEP)})
        if "huge-number" in gens:
            for name in numbers:
                for entry in self.catalog.numbers:
                    yield self._probe("huge-number", {**base, name: entry.value})
        if "nan-like" in gens:
            for name in numbers:
                for entry in self.catalog.nan_like:
                    yield self._probe("nan-like", {**base, name: entry.value})
        if "unicode" in gens:
            for name in strings:
                for entry in self.catalog.unicode:
                    yield self._probe("unicode", {**base, name: entry.value})
        if "enum-violation" in gens:
            for name, schema in props.items():
                if isinstance(schema, dict) and isinstance(schema.get("enum"), list):
                    yield self._probe("enum-violation", {**base, name: "rdy-not-in-enum"})

    def _injections(self) -> Iterator[CallProbe]:
        props = _properties(self.schema)
        base = sample({**self.schema, "type": "object"})
        assert isinstance(base, dict)
        for name, schema in props.items():
            if not _is_string(schema):
                continue
            for entry in self.catalog.injections:
                arguments = {**base, name: self.tokens.fill(entry)}
                yield CallProbe(
                    target=self.name,
                    method="tools/call",
                    params={"name": self.name, "arguments": arguments},
                    probe_class="injection",
                    generator=entry.kind,
                    forbidden=False,
                    injection=entry.kind,
                )


def prompt_probes(prompt: dict[str, Any], catalog: Catalog, tokens: Tokens) -> Iterator[CallProbe]:
    """Injections in each argument of a prompt (prompt arguments are strings)."""
    name = str(prompt.get("name"))
    args = [a for a in prompt.get("arguments") or () if isinstance(a, dict) and "name" in a]
    base = {str(a["name"]): _PLAIN for a in args if a.get("required")}
    for arg in args:
        for entry in catalog.injections:
            yield CallProbe(
                target=f"prompt:{name}",
                method="prompts/get",
                params={"name": name, "arguments": {**base, str(arg["name"]): tokens.fill(entry)}},
                probe_class="injection",
                generator=entry.kind,
                forbidden=False,
                injection=entry.kind,
            )


def resource_probes(
    template: dict[str, Any], catalog: Catalog, tokens: Tokens
) -> Iterator[CallProbe]:
    """Traversal payloads in every variable of a resource template ({var} filled in)."""
    uri = str(template.get("uriTemplate", ""))
    variables = re.findall(r"\{[+#./;?&]?([\w]+)\*?\}", uri)
    if not variables:
        return
    for entry in catalog.injections:
        if entry.kind != "traversal":
            continue
        payload = tokens.fill(entry)
        filled = re.sub(r"\{[^}]*\}", payload.replace("\\", "\\\\"), uri)
        yield CallProbe(
            target=f"resource:{uri}",
            method="resources/read",
            params={"uri": filled},
            probe_class="injection",
            generator="traversal",
            forbidden=False,
            injection="traversal",
        )
