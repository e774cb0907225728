"""Schema synthesis as pure functions: every synthesised value validates against its schema
(jsonschema), over a hand-written corpus and over schemas hypothesis draws."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readiness.init.synth import example

CORPUS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "number"}},
        "required": ["a", "b"],
    },
    {
        "type": "object",
        "properties": {"kb": {"type": "integer", "minimum": 0, "maximum": 0}},
        "required": ["kb"],
    },
    {"type": "integer", "exclusiveMinimum": 10, "exclusiveMaximum": 12},
    {"type": "number", "exclusiveMinimum": 0.5, "maximum": 0.75},
    {"type": "number", "minimum": -5, "maximum": -2},
    {"type": "integer", "multipleOf": 7, "minimum": 20},
    {"type": "integer", "multipleOf": 3, "maximum": -4},
    {"type": "number", "multipleOf": 0.5, "minimum": 1.2},
    {"type": "string", "enum": ["red", "green"]},
    {"const": 42},
    {"type": "string", "default": "d", "minLength": 1},
    {"type": "string", "default": "too long", "maxLength": 3},  # an invalid default is not used
    {"type": "string", "examples": ["x@y.z"], "format": "email"},
    {"type": "string", "format": "uri"},
    {"type": "string", "format": "date-time"},
    {"type": "string", "format": "date"},
    {"type": "string", "format": "email"},
    {"type": "string", "format": "uuid"},
    {"type": "string", "minLength": 20},
    {"type": "string", "maxLength": 1},
    {"type": "string", "pattern": "^[0-9]+$"},
    {"type": "string", "description": "IANA timezone name (e.g., 'Europe/London')"},
    {"type": "array", "items": {"type": "integer"}, "minItems": 3, "uniqueItems": True},
    {
        "type": "array",
        "items": {"type": "string", "enum": ["a", "b", "c"]},
        "minItems": 2,
        "uniqueItems": True,
    },
    {"type": "array", "maxItems": 0},
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}]},
    {"type": ["string", "null"]},
    {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 3}]},
    {"oneOf": [{"type": "string", "maxLength": 0}, {"type": "integer"}]},
    {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "boolean"}}, "required": ["b"]},
        ]
    },
    {"type": "object", "minProperties": 2, "additionalProperties": {"type": "integer"}},
    {
        "type": "object",
        "properties": {"when": {"$ref": "#/$defs/stamp"}},
        "required": ["when"],
        "$defs": {"stamp": {"type": "string", "format": "date-time"}},
    },
    {
        "type": "object",
        "properties": {"inner": {"$ref": "#/definitions/inner"}},
        "required": ["inner"],
        "definitions": {
            "inner": {
                "type": "object",
                "properties": {
                    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1}
                },
                "required": ["tags"],
                "additionalProperties": False,
            }
        },
    },
    {
        "type": "object",
        "properties": {
            "deep": {
                "type": "object",
                "properties": {
                    "deeper": {
                        "type": "object",
                        "properties": {"n": {"type": "integer", "minimum": 5}},
                        "required": ["n"],
                    }
                },
                "required": ["deeper"],
            }
        },
        "required": ["deep"],
    },
    {},
    {"type": "boolean"},
    {"type": "null"},
]


def _check(schema: dict[str, Any]) -> None:
    value = example(schema)
    cls = jsonschema.validators.validator_for(schema)
    cls(schema, format_checker=cls.FORMAT_CHECKER).validate(value)


@pytest.mark.parametrize("schema", CORPUS, ids=[str(i) for i in range(len(CORPUS))])
def test_every_value_from_the_corpus_validates(schema: dict[str, Any]) -> None:
    _check(schema)


def test_formats_enums_and_examples_are_used() -> None:
    assert example({"type": "string", "format": "uri"}).startswith("https://")
    assert "@" in example({"type": "string", "format": "email"})
    assert example({"type": "string", "enum": ["b", "a"]}) == "b"
    assert example({"type": "integer", "default": 7}) == 7
    assert example({"type": "string", "examples": ["Europe/Paris"]}) == "Europe/Paris"
    assert example({"type": "string", "description": "zone (e.g. 'Asia/Tokyo')"}) == "Asia/Tokyo"
    schema = {"type": "object", "properties": {"o": {"type": "string"}}}
    assert example(schema) == {}  # only what is required


# --- drawn schemas -------------------------------------------------------------------------


def _bounded_numbers(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    def build(
        a: int, b: int, ex_lo: bool, ex_hi: bool, keep_lo: bool, keep_hi: bool, step: int | None
    ) -> dict[str, Any]:
        low, high = min(a, b), max(a, b)
        if high - low < 2:  # an exclusive bound beside the other could leave nothing
            high = low + 2
        schema: dict[str, Any] = {"type": kind}
        if keep_lo:
            schema["exclusiveMinimum" if ex_lo else "minimum"] = low
        if keep_hi:
            schema["exclusiveMaximum" if ex_hi else "maximum"] = high
        if step is not None:
            schema["multipleOf"] = step
            schema.pop("exclusiveMinimum", None)
            schema.pop("exclusiveMaximum", None)
            if keep_lo and keep_hi:
                schema["minimum"], schema["maximum"] = low, low + step * 3
        return schema

    ints = st.integers(-1000, 1000)
    return st.builds(
        build,
        ints,
        ints,
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.none() | st.integers(1, 9),
    )


_PADDABLE = (None, "uri", "email", "hostname")
_strings = st.builds(
    lambda fmt, lo, extra, enum: (
        {"type": "string", "enum": enum}
        if enum
        else {
            "type": "string",
            **({"format": fmt} if fmt else {}),
            # fixed-length formats (a date) cannot be lengthened: only those that can be
            **({"minLength": lo} if lo is not None and fmt in _PADDABLE else {}),
            **({"maxLength": (lo or 0) + extra} if extra is not None and not fmt else {}),
        }
    ),
    st.sampled_from([None, "uri", "date-time", "date", "email", "uuid", "ipv4", "hostname"]),
    st.none() | st.integers(0, 30),
    st.none() | st.integers(0, 30),
    st.none() | st.lists(st.text(max_size=5), min_size=1, max_size=4, unique=True),
)
_leaves = st.one_of(
    _strings,
    _bounded_numbers("integer"),
    _bounded_numbers("number"),
    st.just({"type": "boolean"}),
    st.builds(lambda d: {"type": "integer", "default": d, "minimum": min(d, 0)}, st.integers()),
)


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    objects = st.builds(
        lambda props, required, closed: {
            "type": "object",
            "properties": props,
            "required": [k for k in props if k in required],
            **({"additionalProperties": False} if closed else {}),
        },
        st.dictionaries(st.text(min_size=1, max_size=6), children, max_size=4),
        st.sets(st.text(min_size=1, max_size=6), max_size=4) | st.just(set()),
        st.booleans(),
    )
    arrays = st.builds(
        lambda items, low, span: {
            "type": "array",
            "items": items,
            "minItems": low,
            **({"maxItems": low + span} if span is not None else {}),
        },
        children,
        st.integers(0, 3),
        st.none() | st.integers(0, 2),
    )
    nullable = st.builds(lambda c: {"anyOf": [c, {"type": "null"}]}, children)
    return st.one_of(objects, arrays, nullable)


SCHEMAS = st.recursive(_leaves, _extend, max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SCHEMAS)
def test_every_synthesised_value_validates_against_its_schema(schema: dict[str, Any]) -> None:
    _check(schema)


@settings(max_examples=100, deadline=None)
@given(SCHEMAS)
def test_required_keys_are_all_there(schema: dict[str, Any]) -> None:
    value = example({"type": "object", "properties": {"x": schema}, "required": ["x"]})
    assert set(value) == {"x"}
