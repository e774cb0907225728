"""Valid example arguments from a tool's inputSchema (JSON Schema): pure functions, no I/O.

`example(schema)` returns a value the schema accepts when it can find one — from `const`,
`enum`, `default`, `examples`, an example quoted in the description, or one built from the
type and its bounds (numbers, lengths, item counts, string formats). Candidates taken from
the schema's own text are checked against the schema (jsonschema) before they are used.
"""

from __future__ import annotations

import math
import re
from typing import Any, TypeGuard

MAX_DEPTH = 8
_FORMATS: dict[str, str] = {
    "uri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "iri": "https://example.com/",
    "url": "https://example.com/",
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00Z",
    "email": "user@example.com",
    "idn-email": "user@example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "duration": "PT1S",
}
# Hints in a property's name or description, for strings with no format: (pattern, value).
_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bHH:MM:SS\b"), "12:00:00"),
    (re.compile(r"\bHH:MM\b"), "12:00"),
    (re.compile(r"YYYY-MM-DD", re.IGNORECASE), "2024-01-01"),
    (re.compile(r"time.?zone|\btz\b", re.IGNORECASE), "UTC"),
    (re.compile(r"\b(url|uri|link|href)\b", re.IGNORECASE), "https://example.com/"),
    (re.compile(r"e-?mail", re.IGNORECASE), "user@example.com"),
)
_QUOTED = re.compile(r"""(?:e\.g\.|for example|such as|example:)[,:]?\s*\(?['"`]([^'"`]+)['"`]""")


def example(schema: Any, root: Any = None) -> Any:
    """A value `schema` accepts (best effort: a `pattern` or `not` may defeat it)."""
    return _example(schema, schema if root is None else root, 0, 0, "")


def valid(value: Any, schema: Any) -> bool:
    """Whether `value` validates against `schema` (a schema jsonschema cannot read: no)."""
    from jsonschema import exceptions, validators

    try:
        cls = validators.validator_for(schema)
        return bool(cls(schema).is_valid(value))
    except (exceptions.SchemaError, exceptions.RefResolutionError, TypeError, ValueError):
        return False
    except Exception:  # an unresolvable $ref and the like: not known to be valid
        return False


def _resolve(schema: dict[str, Any], root: Any) -> dict[str, Any]:
    for _ in range(MAX_DEPTH):
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#"):
            return schema
        node: Any = root
        for part in ref.lstrip("#").split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _merged(schema: dict[str, Any], root: Any) -> dict[str, Any]:
    """allOf folded into one schema (properties and required united, the rest overlaid)."""
    parts = schema.get("allOf")
    if not isinstance(parts, list):
        return schema
    out = {k: v for k, v in schema.items() if k != "allOf"}
    for part in parts:
        if not isinstance(part, dict):
            continue
        part = _merged(_resolve(part, root), root)
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                out["properties"] = {**out.get("properties", {}), **value}
            elif key == "required" and isinstance(value, list):
                out["required"] = list(dict.fromkeys([*out.get("required", []), *value]))
            else:
                out.setdefault(key, value)
    return out


def _example(schema: Any, root: Any, depth: int, variant: int, name: str) -> Any:
    if schema is True or not isinstance(schema, dict):
        return "example"
    schema = _merged(_resolve(schema, root), root)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[variant % len(enum)]
    if variant == 0:
        candidates: list[Any] = []
        if "default" in schema:
            candidates.append(schema["default"])
        examples = schema.get("examples")
        if isinstance(examples, list):
            candidates.extend(examples)
        elif "example" in schema:
            candidates.append(schema["example"])
        for candidate in candidates:
            if valid(candidate, _standalone(schema, root)):
                return candidate
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
            ordered = sorted(options, key=lambda o: isinstance(o, dict) and o.get("type") == "null")
            fallback: Any = None
            for option in ordered:
                merged = {**rest, **option} if isinstance(option, dict) else option
                value = _example(merged, root, depth + 1, variant, name)
                if valid(value, _standalone(schema, root)):
                    return value
                fallback = value if fallback is None else fallback
            return fallback
    kind = _kind(schema)
    if depth > MAX_DEPTH:
        return {} if kind == "object" else [] if kind == "array" else _scalar(kind, schema, 0, name)
    if kind == "object":
        return _object(schema, root, depth)
    if kind == "array":
        return _array(schema, root, depth)
    return _scalar(kind, schema, variant, name)


def _standalone(schema: dict[str, Any], root: Any) -> dict[str, Any]:
    """The schema with the root's definitions beside it, so local $refs still resolve."""
    if isinstance(root, dict) and root is not schema:
        defs = {k: root[k] for k in ("$defs", "definitions") if k in root}
        return {**defs, **schema}
    return schema


def _kind(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [str(k) for k in kind if k != "null"] or ["null"]
        kind = kinds[0]
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema or "minItems" in schema:
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
        return "number"
    return "string"


def _object(schema: dict[str, Any], root: Any, depth: int) -> dict[str, Any]:
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    required = [r for r in schema.get("required", []) if isinstance(r, str)]
    wanted = list(dict.fromkeys(required))
    least = schema.get("minProperties", 0)
    for key in props:
        if len(wanted) >= (least if isinstance(least, int) else 0):
            break
        if key not in wanted:
            wanted.append(key)
    out: dict[str, Any] = {}
    extra = schema.get("additionalProperties", True)
    for key in wanted:
        sub = props.get(key, extra if isinstance(extra, dict) else {})
        out[key] = _example(sub, root, depth + 1, 0, key)
    n = 0
    while isinstance(least, int) and len(out) < least and n < 1000:
        key = f"key{n}"
        n += 1
        if key not in out:
            out[key] = _example(extra if isinstance(extra, dict) else {}, root, depth + 1, 0, key)
    return out


def _array(schema: dict[str, Any], root: Any, depth: int) -> list[Any]:
    prefix = schema.get("prefixItems")
    prefix = prefix if isinstance(prefix, list) else []
    items = schema.get("items", {})
    if isinstance(items, list):  # draft 4–7 tuple form
        prefix, items = items, schema.get("additionalItems", {})
    low = schema.get("minItems", 0)
    high = schema.get("maxItems")
    count = max(low if isinstance(low, int) else 0, len(prefix) if not high else 0, 1)
    if isinstance(high, int):
        count = min(count, high)
        count = max(count, low if isinstance(low, int) else 0)
    out: list[Any] = []
    for i in range(count):
        sub = prefix[i] if i < len(prefix) else items
        variant = i if schema.get("uniqueItems") else 0
        out.append(_example(sub if sub is not False else {}, root, depth + 1, variant, ""))
    return out


def _scalar(kind: str, schema: dict[str, Any], variant: int, name: str) -> Any:
    if kind == "null":
        return None
    if kind == "boolean":
        return variant % 2 == 1
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer", variant)
    return _string(schema, variant, name)


def _bounds(schema: dict[str, Any]) -> tuple[float, float, bool, bool]:
    """(low, high, low excluded, high excluded), infinite when unbounded."""
    low, high = -math.inf, math.inf
    low_x = high_x = False
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    ex_min, ex_max = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if _num(minimum):
        low = float(minimum)
        low_x = ex_min is True  # draft 4
    if _num(maximum):
        high = float(maximum)
        high_x = ex_max is True
    if _num(ex_min) and float(ex_min) >= low:
        low, low_x = float(ex_min), True
    if _num(ex_max) and float(ex_max) <= high:
        high, high_x = float(ex_max), True
    return low, high, low_x, high_x


def _num(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(schema: dict[str, Any], integer: bool, variant: int) -> int | float:
    low, high, low_x, high_x = _bounds(schema)
    step = schema.get("multipleOf")
    if _num(step) and step > 0:
        return _multiple(float(step), low, high, low_x, high_x, integer, variant)
    if integer:
        whole = 1 + variant
        if math.isfinite(low):
            whole = max(whole, math.floor(low) + 1 if low_x or not low.is_integer() else int(low))
        if math.isfinite(high):
            whole = min(
                whole, math.ceil(high) - 1 if high_x or not high.is_integer() else int(high)
            )
        return whole
    value = 1.0 + variant
    if low != -math.inf and (value < low or (low_x and value <= low)):
        value = low + 1.0 + variant if high == math.inf else _between(low, high, variant)
    if high != math.inf and (value > high or (high_x and value >= high)):
        value = high - 1.0 - variant if low == -math.inf else _between(low, high, variant)
    return value


def _multiple(
    step: float, low: float, high: float, low_x: bool, high_x: bool, integer: bool, variant: int
) -> int | float:
    """A multiple of `step` inside the bounds: k × step for the smallest fitting k ≥ 1 (or
    the one nearest the bounds), as jsonschema checks it (quotient is a whole number)."""

    def fits(value: float) -> bool:
        above = value > low if low_x else value >= low
        below = value < high if high_x else value <= high
        quotient = value / step
        whole = quotient == int(quotient) if math.isfinite(quotient) else False
        return above and below and whole and (not integer or float(value).is_integer())

    if math.isfinite(low):
        first = math.ceil(low / step)
    elif math.isfinite(high) and high < step:
        first = math.floor(high / step) - 64
    else:
        first = 1
    found: list[float] = []
    for k in range(first, first + 256):
        value = float(k * step)
        if fits(value):
            found.append(value)
            if len(found) > variant:
                break
    if not found:
        return 0 if fits(0.0) or integer else 0.0
    value = found[min(variant, len(found) - 1)]
    return int(value) if integer or (value.is_integer() and step.is_integer()) else value


def _between(low: float, high: float, variant: int) -> float:
    return low + (high - low) * (variant + 1) / (variant + 2)


def _string(schema: dict[str, Any], variant: int, name: str) -> str:
    fmt = schema.get("format")
    candidates: list[str] = []
    if isinstance(fmt, str) and fmt in _FORMATS:
        candidates.append(_FORMATS[fmt])
    description = schema.get("description")
    text = f"{name} {description if isinstance(description, str) else ''}"
    if isinstance(description, str):
        candidates.extend(m.group(1) for m in _QUOTED.finditer(description))
    candidates.extend(value for pattern, value in _HINTS if pattern.search(text))
    candidates.extend(["example", "readiness", "a", "1", "x"])
    low = schema.get("minLength", 0)
    high = schema.get("maxLength")
    pattern = schema.get("pattern")
    for candidate in candidates:
        value = candidate + (str(variant) if variant else "")
        if isinstance(low, int) and len(value) < low:
            value = _padded(value, low - len(value), fmt)
        if isinstance(high, int) and len(value) > high:
            value = value[:high]
            if variant and high > 0:  # keep distinct items distinct
                value = value[: high - len(str(variant))] + str(variant)
        if isinstance(pattern, str):
            try:
                if not re.search(pattern, value):
                    continue
            except re.error:
                pass
        return value
    return candidates[0]


def _padded(value: str, n: int, fmt: Any) -> str:
    """`value` made `n` characters longer where its format allows it."""
    if fmt in ("email", "idn-email") and "@" in value:
        local, _, domain = value.partition("@")
        return f"{local}{'x' * n}@{domain}"
    if fmt in ("hostname", "idn-hostname"):
        return "x" * n + "." + value if n > 1 else "x" + value
    return value + "x" * n
