"""Save paths: parsed at load time, read from a tool result at run time, with JSON text met on
the way parsed and walked into."""

from __future__ import annotations

import json
from typing import Any

import pytest

from readiness.config.templates import SavePathError, parse_save_path
from readiness.engine.journeys import _MISSING, extract

RESULT: dict[str, Any] = {
    "content": [
        {"type": "text", "text": json.dumps({"id": "n-1", "tags": ["a", "b"]})},
        {"type": "text", "text": "plain words"},
    ],
    "structuredContent": {"id": "n-1", "nested": {"n": 3}, "list": [10, 20]},
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("structuredContent.id", "n-1"),
        ("structuredContent.nested.n", 3),
        ("structuredContent.list[1]", 20),
        ("structuredContent.nested", {"n": 3}),
        ("content[0].text", {"id": "n-1", "tags": ["a", "b"]}),
        ("content[0].text.id", "n-1"),
        ("content[0].text.tags[0]", "a"),
        ("content[1].text", "plain words"),
    ],
)
def test_a_save_path_reads_its_value(path: str, value: Any) -> None:
    assert extract(RESULT, parse_save_path(path)) == value


@pytest.mark.parametrize(
    "path",
    ["structuredContent.nope", "content[5].text", "content[1].text.id", "structuredContent.id.x"],
)
def test_a_path_that_is_not_there_is_missing_not_an_error(path: str) -> None:
    assert extract(RESULT, parse_save_path(path)) is _MISSING
    assert extract(None, parse_save_path(path)) is _MISSING


@pytest.mark.parametrize("path", ["result.id", "structuredContent..id", "content[x]", "content.0"])
def test_a_malformed_save_path_is_refused(path: str) -> None:
    with pytest.raises(SavePathError):
        parse_save_path(path)
