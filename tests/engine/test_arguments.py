"""Templated arguments compiled into closures: values vary, keep their JSON type when a
placeholder is the whole value, come from one row per data set per request, and repeat with
the seed."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from readiness.engine.arguments import DataExhausted, DataSource, Draw, compile_render

ROWS = [{"text": f"q{i}", "n": i} for i in range(5)]


def render_many(value: Any, pick: str = "random", *, count: int = 50, seed: int = 7) -> list[Any]:
    sources = {"q": DataSource("q", ROWS, pick)}  # type: ignore[arg-type]
    render = compile_render(value, sources)
    assert render is not None
    draw = Draw(seed, 1)
    out = []
    for i in range(count):
        draw.iteration = i
        out.append(render(draw))
    return out


def test_a_value_without_placeholders_is_sent_as_written() -> None:
    assert compile_render({"name": "t", "arguments": {"a": "x", "b": [1, {"c": 2}]}}, {}) is None


def test_a_whole_value_placeholder_keeps_its_json_type() -> None:
    values = render_many({"limit": "{{ random.int(1, 3) }}", "n": "{{ q.n }}", "vu": "{{ vu }}"})
    assert {type(v["limit"]) for v in values} == {int}
    assert {v["limit"] for v in values} == {1, 2, 3}
    assert {type(v["n"]) for v in values} == {int}
    assert {v["vu"] for v in values} == {1}


def test_an_embedded_placeholder_is_formatted_into_the_string() -> None:
    values = render_many("id-{{ q.n }}-{{ iteration }}", pick="sequential", count=6)
    assert values == ["id-0-0", "id-1-1", "id-2-2", "id-3-3", "id-4-4", "id-0-5"]


def test_fields_of_one_data_set_come_from_the_same_row_in_a_request() -> None:
    for value in render_many({"t": "{{ q.text }}", "n": "{{ q.n }}"}):
        assert value["t"] == f"q{value['n']}"


def test_random_choice_string_and_uuid_draw_what_they_say() -> None:
    values = render_many(
        {
            "c": '{{ random.choice(["a", 2, true]) }}',
            "s": "{{ random.string(12) }}",
            "u": "{{ uuid }}",
        }
    )
    assert {v["c"] for v in values} == {"a", 2, True}
    assert all(len(v["s"]) == 12 and v["s"].isalnum() for v in values)
    assert len({v["s"] for v in values}) == len(values)
    assert all(uuid.UUID(v["u"]).version == 4 for v in values)


def test_the_same_seed_draws_the_same_values_and_another_seed_others() -> None:
    value = {"x": "{{ random.int(0, 1000000) }}", "q": "{{ q.text }}", "u": "{{ uuid }}"}
    assert render_many(value, seed=1) == render_many(value, seed=1)
    assert render_many(value, seed=1) != render_many(value, seed=2)


def test_a_unique_data_set_gives_each_row_once_then_runs_out() -> None:
    sources = {"q": DataSource("q", ROWS, "unique")}
    render = compile_render("{{ q.text }}", sources)
    assert render is not None
    draw = Draw(0, 1)
    assert [render(draw) for _ in ROWS] == [r["text"] for r in ROWS]
    with pytest.raises(DataExhausted) as info:
        render(draw)
    assert info.value.name == "q"
