"""A seeded corpus of broken suite files, mutated from the valid suites the project ships.

Each mutant is TOML text (or raw bytes) plus a note saying what was done to it. Structural
mutations work on the parsed tree and write it back with a small TOML writer; textual ones
(truncation, duplicate keys, garbage) work on the original text.
"""

from __future__ import annotations

import json
import math
import random
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASE_FILES = (
    ROOT / "readiness" / "default_suite.toml",
    ROOT / "scenarios.toml",
    *sorted((ROOT / "scenarios").glob("*.toml")),
)

Key = tuple[str | int, ...]


@dataclass(frozen=True)
class Mutant:
    base: str  # which valid suite it came from
    note: str  # what was done to it
    data: bytes

    @property
    def id(self) -> str:
        return f"{self.base}: {self.note}"


# --- a small TOML writer: top-level tables as [headers], arrays of tables as [[headers]] ------


def dump_toml(data: dict[str, Any]) -> str:
    lines: list[str] = []
    _table(data, (), lines)
    return "\n".join(lines) + "\n"


def _table(table: dict[str, Any], path: tuple[str, ...], lines: list[str]) -> None:
    nested: list[tuple[str, Any]] = []
    for key, value in table.items():
        if _is_table(value) or _is_table_array(value):
            nested.append((key, value))
        elif value is not None:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in nested:
        sub = (*path, key)
        header = ".".join(_key(part) for part in sub)
        if _is_table(value):
            lines.append(f"\n[{header}]")
            _table(value, sub, lines)
        else:
            for item in value:
                lines.append(f"\n[[{header}]]")
                _table(item, sub, lines)


def _is_table(value: Any) -> bool:
    return isinstance(value, dict)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _key(key: str) -> str:
    if key and all(c.isalnum() or c in "-_" for c in key) and key.isascii():
        return key
    return json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = [f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise TypeError(f"no TOML form for {value!r}")


# --- walking and editing the tree ----------------------------------------------------------


def paths(node: Any, prefix: Key = ()) -> Iterator[Key]:
    """Every key path in the tree, parents before children."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from paths(value, (*prefix, i))


def tables(node: Any, prefix: Key = ()) -> Iterator[Key]:
    """The paths of every table, the root included."""
    if isinstance(node, dict):
        yield prefix
        for key, value in node.items():
            yield from tables(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from tables(value, (*prefix, i))


def get(node: Any, key: Key) -> Any:
    for part in key:
        node = node[part]
    return node


def put(tree: dict[str, Any], key: Key, value: Any) -> None:
    get(tree, key[:-1])[key[-1]] = value


def delete(tree: dict[str, Any], key: Key) -> None:
    parent = get(tree, key[:-1])
    del parent[key[-1]]


def copy(tree: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(tree))  # the bases hold only JSON-able values


def show(key: Key) -> str:
    return ".".join(str(p) for p in key) or "<root>"


# --- the values a mutation puts in -----------------------------------------------------------

WRONG_TYPES: tuple[Any, ...] = (
    "a string",
    "",
    0,
    -1,
    3.5,
    True,
    [],
    [1, "two"],
    {},
    {"nested": {"deeper": 1}},
    10**30,
    float("inf"),
    float("nan"),
    -0.0,
)
BAD_QUANTITIES: tuple[Any, ...] = (
    "5 parsecs",
    "-1s",
    "0s",
    "0",
    0,
    -5,
    "1e999s",
    "nan",
    "inf",
    "NaN s",
    "",
    " ",
    "s",
    "5ss",
    "1m30",
    "100/fortnight",
    "0/s",
    "-100/s",
    "/s",
    "120%",
    "-5%",
    "%",
    "99.9.9%",
    "16MB?",
    "-16MiB",
    "16QiB",
    "99999999999999999999999999PiB",
    "1.5B",
    "3s..",
    "..",
    "9s..3s",
    "1e308",
    "1e999MiB",
    "1e999/s",
    "1e999ms",
    "1e999",
    10**20,
    1e308,
)
ENUM_KEYS = (
    "transport",
    "model",
    "kind",
    "arrivals",
    "on_max_in_flight",
    "call",
    "protocol",
    "type",
    "step_model",
    "direction",
)
BAD_THRESHOLDS: tuple[Any, ...] = (
    "",
    "p99",
    "p99 <",
    "< 500ms",
    "p99 << 500ms",
    "p99 < 500 parsecs",
    "p99 < -1ms",
    "p77 < 1s",
    "success_rate >= 200%",
    "success_rate >= banana",
    "throughput > 100/fortnight",
    "leak == maybe",
    "lost == 0 == 0",
    "p99 < 500ms and p50 < 1ms",
    "nonsense_metric > 1",
    "p99 < 1e999ms",
    "p99 < nan ms",
    42,
    True,
    [],
    ["p99 < 1s"],
    {},
    {"check": 5},
    {"check": "p99 < 1s", "critical": "yes"},
    {"check": "p99 < 1s", "critical": 1},
    {"check": "p99 < 1s", "weight": 0},
    {"check": "p99 < 1s", "weight": -2},
    {"check": "p99 < 1s", "weight": "heavy"},
    {"check": "p99 < 1s", "weight": float("inf")},
    {"check": "p99 < 1s", "weight": float("nan")},
    {"check": "p99 < 1s", "weight": True},
    {"critical": True},
    {"check": "p99 < 1s", "severity": "high"},
    {"check": "p99 <", "critical": True},
    {"check": {"nested": 1}},
    {"check": ["p99 < 1s"]},
)
ABSURD_LOADS: tuple[dict[str, Any], ...] = (
    {"model": "closed", "concurrency": 0, "requests": 10},
    {"model": "closed", "concurrency": -5, "requests": 10},
    {"model": "closed", "concurrency": 10**12, "requests": 10},
    {"model": "closed", "concurrency": 5, "requests": 0},
    {"model": "closed", "concurrency": 5, "requests": -1},
    {"model": "closed", "concurrency": 5, "duration": 0},
    {"model": "closed", "concurrency": 5, "duration": "0s"},
    {"model": "closed", "concurrency": 5, "duration": "-3s"},
    {"model": "closed", "concurrency": 5},
    {"model": "closed", "concurrency": 2.5, "requests": 10},
    {"model": "open", "rate": 0, "duration": "5s"},
    {"model": "open", "rate": "0/s", "duration": "5s"},
    {"model": "open", "rate": "-10/s", "duration": "5s"},
    {"model": "open", "rate": "inf", "duration": "5s"},
    {"model": "open", "rate": "1e999/s", "duration": "5s"},
    {"model": "open", "rate": "100/s"},
    {"model": "open", "rate": "100/s", "duration": "5s", "concurrency": 4},
    {"model": "closed", "concurrency": 5, "requests": 10, "rate": "5/s"},
    {"model": "open", "rate": "100/s", "duration": "5s", "max_in_flight": 0},
    {"model": "open", "rate": "100/s", "stages": [{"duration": "0s", "target": 5}]},
    {"model": "open", "rate": "100/s", "stages": [{"duration": "1s", "target": -5}]},
    {"model": "open", "rate": "100/s", "stages": [{"duration": "1s"}]},
    {"model": "open", "rate": "100/s", "stages": [1, 2]},
    {
        "model": "open",
        "rate": "100/s",
        "duration": "5s",
        "stages": [{"duration": "1s", "target": 5}],
    },
    {"model": "closed", "concurrency": 1, "stages": [{"duration": "1s", "target": 2.5}]},
    {"model": "closed", "concurrency": 1, "duration": "1e300s"},
    {"model": "closed", "concurrency": 1, "duration": "99999999999h"},
    {"model": "closed", "stages": [{"duration": "1s", "target": 1e12}]},
    {"model": "closed", "concurrency": 10**20, "duration": "1s"},
)
BAD_WINDOWS: tuple[Any, ...] = (
    "30s..40s",
    "100s..",
    "9s..3s",
    "3s..3s",
    "-1s..2s",
    "0s..1e999s",
    "soon",
    "",
    "3s...9s",
    5,
    [3, 9],
    {"start": "3s"},
)
BAD_FAULTS: tuple[Any, ...] = (
    {"type": "meteor"},
    {"type": "error", "probability": 2},
    {"type": "error", "probability": -0.1},
    {"type": "error", "probability": "often"},
    {"type": "latency"},
    {"type": "latency", "latency": "-5ms"},
    {"type": "latency", "latency": "200ms", "jitter": "1e999ms"},
    {"type": "kill", "restart_after": "-1s"},
    {"type": "kill", "restart_after": "2s", "every": "0s"},
    {"type": "kill", "first": 0},
    {"type": "kill", "first": -3},
    {"type": "hang"},
    {"type": "hang", "duration": "0s"},
    {"type": "drop", "tool": 5},
    {"type": "drop", "tool": ""},
    {"type": "drop", "surprise": True},
    {"type": "error", "code": "minus one"},
    {},
    "kill",
    5,
)
BAD_SCORING: tuple[Any, ...] = (
    {"weights": {"performance": -1}},
    {"weights": {"performance": "heavy"}},
    {"weights": {"performance": float("nan")}},
    {"weights": {"charisma": 5}},
    {"weights": {k: 0 for k in ("performance", "scalability", "stability")}},
    {"thresholds": {"ready": 200}},
    {"thresholds": {"ready": 50, "conditional": 80}},
    {"thresholds": "high"},
    {"categories": {"no-such-scenario": "performance"}},
    {"categories": {"throughput": "charisma"}},
    {"categories": {"throughput: p12 < 5ms": "performance"}},
    {"categories": {"": "performance"}},
    {"categories": 5},
    {"unknown": 1},
    "scoring",
    [],
)
BAD_POOLS: tuple[Any, ...] = (
    {"size": 0},
    {"size": -1},
    {"size": 2.5},
    {"size": "four"},
    {"size": 10**12},
    {"wait_timeout": "0s"},
    {"wait_timeout": "-1s"},
    {"idle_timeout": "forever"},
    {"size": 3, "depth": 2},
    "big",
    [],
)
UNSET_REFERENCES = (
    "${READINESS_SURELY_UNSET}",
    "prefix-${READINESS_SURELY_UNSET}-suffix",
    "${READINESS_SURELY_UNSET:-}",
    "${}",
    "${1BAD}",
    "${UNCLOSED",
    "$${LITERAL}",
    "${READINESS_SURELY_UNSET:-${NESTED}}",
)
NEAR_MISS_KEYS = (
    "bogus",
    "nmae",
    "targets",
    "scenario",
    "Load",
    "kind ",
    "",
    " ",
    "ünïcødé",
    "a.b",
)


# --- mutation families ------------------------------------------------------------------------

Family = Callable[[random.Random, dict[str, Any]], tuple[str, dict[str, Any]] | None]


def delete_key(rng: random.Random, tree: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    key = rng.choice(list(paths(tree)))
    tree = copy(tree)
    delete(tree, key)
    return f"deleted {show(key)}", tree


def wrong_type(rng: random.Random, tree: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    key = rng.choice(list(paths(tree)))
    value = rng.choice(WRONG_TYPES)
    tree = copy(tree)
    put(tree, key, value)
    return f"{show(key)} = {value!r}", tree


def bad_quantity(rng: random.Random, tree: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    leaves = [k for k in paths(tree) if isinstance(get(tree, k), str | int | float)]
    key = rng.choice(leaves)
    value = rng.choice(BAD_QUANTITIES)
    tree = copy(tree)
    put(tree, key, value)
    return f"{show(key)} = {value!r}", tree


def unknown_enum(rng: random.Random, tree: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    keys = [k for k in paths(tree) if k and k[-1] in ENUM_KEYS]
    if not keys:
        return None
    key = rng.choice(keys)
    current = get(tree, key)
    value = rng.choice(
        [f"{current}x", str(current).upper(), "", "banana", f" {current}", "stdio,http"]
    )
    tree = copy(tree)
    put(tree, key, value)
    return f"{show(key)} = {value!r}", tree


def unknown_key(rng: random.Random, tree: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    table = rng.choice(list(tables(tree)))
    node = get(tree, table)
    name = rng.choice(NEAR_MISS_KEYS)
    if node and rng.random() < 0.5:  # a typo of a key the table holds
        word = rng.choice(list(node))
        i = rng.randrange(len(word) + 1)
        name = word[:i] + rng.choice("xq_") + word[i:]
    if name in node:
        return None
    tree = copy(tree)
    get(tree, table)[name] = rng.choice((1, "x", True, {"a": 1}))
    return f"unknown key {show((*table, name))}", tree


def malformed_threshold(
    rng: random.Random, tree: dict[str, Any]
) -> tuple[str, dict[str, Any]] | None:
    scenarios = tree.get("scenarios") or []
    if not scenarios:
        return None
    i = rng.randrange(len(scenarios))
    bad = rng.choice(BAD_THRESHOLDS)
    tree = copy(tree)
    kept = list(tree["scenarios"][i].get("thresholds", []))
    kept.insert(rng.randrange(len(kept) + 1), bad)
    tree["scenarios"][i]["thresholds"] = kept if rng.random() < 0.9 else bad
    return f"scenarios.{i}.thresholds += {bad!r}", tree


def unset_reference(rng: random.Random, tree: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    i = rng.randrange(len(tree["targets"]))
    target = tree["targets"][i]
    field = rng.choice(("command", "args", "env", "cwd", "url", "headers"))
    ref = rng.choice(UNSET_REFERENCES)
    tree = copy(tree)
    target = tree["targets"][i]
    if field == "args":
        target["args"] = [*target.get("args", []), ref]
    elif field in ("env", "headers"):
        target[field] = {**target.get(field, {}), "SECRET": ref}
    elif field == "url":
        target["url"] = f"http://{ref}@127.0.0.1:1/mcp?token={ref}"
    else:
        target[field] = ref
    return f"targets.{i}.{field} ← {ref}", tree


def missing_target(rng: random.Random, tree: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    i = rng.randrange(len(tree["scenarios"]))
    names = [t.get("name", "") for t in tree["targets"]]
    name = rng.choice(["nope", f"{names[0]}x", names[0].upper(), "", 5])
    tree = copy(tree)
    tree["scenarios"][i]["target"] = name
    return f"scenarios.{i}.target = {name!r}", tree


def absurd_load(rng: random.Random, tree: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    i = rng.randrange(len(tree["scenarios"]))
    load = rng.choice(ABSURD_LOADS)
    tree = copy(tree)
    tree["scenarios"][i]["load"] = load
    return f"scenarios.{i}.load = {load!r}", tree


def bad_window(rng: random.Random, tree: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    i = rng.randrange(len(tree["scenarios"]))
    window = rng.choice(BAD_WINDOWS)
    tree = copy(tree)
    scenario = tree["scenarios"][i]
    scenario["inject"] = window
    if rng.random() < 0.5:
        scenario["kind"] = "failure"
        scenario["load"] = {"model": "open", "rate": "10/s", "duration": "5s"}
        scenario.setdefault("faults", [{"type": "error", "probability": 0.1}])
    return f"scenarios.{i}.inject = {window!r}", tree


def bad_fault(rng: random.Random, tree: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    i = rng.randrange(len(tree["scenarios"]))
    fault = rng.choice(BAD_FAULTS)
    tree = copy(tree)
    scenario = tree["scenarios"][i]
    if rng.random() < 0.7:
        scenario["kind"] = rng.choice(("failure", "recovery"))
        scenario["load"] = {"model": "open", "rate": "10/s", "duration": "5s"}
        scenario["inject"] = "1s..3s"
    scenario["faults"] = [*scenario.get("faults", []), fault]
    return f"scenarios.{i}.faults += {fault!r}", tree


def bad_scoring(rng: random.Random, tree: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    scoring = rng.choice(BAD_SCORING)
    tree = copy(tree)
    tree["scoring"] = scoring
    return f"scoring = {scoring!r}", tree


def absurd_steps(rng: random.Random, tree: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    i = rng.randrange(len(tree["scenarios"]))
    steps = rng.choice(([0], [-1, 5], [5, 1], [1, 10**12], [1.5, 3], [], "1,2", [1, 1]))
    tree = copy(tree)
    scenario = tree["scenarios"][i]
    scenario.pop("load", None)
    scenario["kind"] = "scaling"
    scenario["steps"] = steps
    return f"scenarios.{i}.steps = {steps!r} (scaling)", tree


def bad_pool(rng: random.Random, tree: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    i = rng.randrange(len(tree["targets"]))
    pool = rng.choice(BAD_POOLS)
    tree = copy(tree)
    target = tree["targets"][i]
    resilience = target.setdefault("resilience", {})
    if not isinstance(resilience, dict):
        return None
    resilience["pool"] = pool
    return f"targets.{i}.resilience.pool = {pool!r}", tree


STRUCTURAL: dict[str, Family] = {
    "delete_key": delete_key,
    "wrong_type": wrong_type,
    "bad_quantity": bad_quantity,
    "unknown_enum": unknown_enum,
    "unknown_key": unknown_key,
    "malformed_threshold": malformed_threshold,
    "unset_reference": unset_reference,
    "missing_target": missing_target,
    "absurd_load": absurd_load,
    "bad_window": bad_window,
    "bad_fault": bad_fault,
    "bad_scoring": bad_scoring,
    "bad_pool": bad_pool,
    "absurd_steps": absurd_steps,
}


def textual(rng: random.Random, text: str) -> tuple[str, bytes]:
    """A mutation of the text itself: the kinds a tree cannot express."""
    lines = text.splitlines(keepends=True)
    kind = rng.choice(
        ("truncate", "duplicate", "drop_line", "garbage", "splice", "empty", "bom", "nul")
    )
    if kind == "truncate":
        cut = rng.randrange(len(text))
        return f"truncated at {cut}", text[:cut].encode()
    if kind == "duplicate":
        keyed = [
            i for i, line in enumerate(lines) if "=" in line and not line.lstrip().startswith("#")
        ]
        i = rng.choice(keyed)
        return f"line {i + 1} duplicated", "".join(
            [*lines[: i + 1], lines[i], *lines[i + 1 :]]
        ).encode()
    if kind == "drop_line":
        i = rng.randrange(len(lines))
        return f"line {i + 1} dropped", "".join(lines[:i] + lines[i + 1 :]).encode()
    if kind == "garbage":
        size = rng.choice((1, 16, 512, 4096))
        return f"{size} random bytes", rng.randbytes(size)
    if kind == "splice":
        at = rng.randrange(len(text))
        junk = rng.choice(('"', "[", "]]", "= =", "\x00", "{", "\\", "\u202e", "'''"))
        return f"{junk!r} spliced in at {at}", (text[:at] + junk + text[at:]).encode()
    if kind == "empty":
        return "empty", rng.choice((b"", b"\n", b"   \n\t\n", b"# only a comment\n"))
    if kind == "bom":
        return "UTF-8 BOM in front", b"\xef\xbb\xbf" + text.encode()
    at = rng.randrange(len(text))
    return f"NUL at {at}", text[:at].encode() + b"\x00" + text[at:].encode()


def corpus(size: int, seed: int = 14) -> list[Mutant]:
    """`size` mutants, cycling over the bases and families, reproducible from the seed."""
    rng = random.Random(seed)
    bases = [(path, path.read_text(encoding="utf-8")) for path in BASE_FILES]
    trees = [(path, text, tomllib.loads(text)) for path, text in bases]
    families = [*STRUCTURAL.items(), ("textual", None)]
    mutants: list[Mutant] = []
    attempts = 0
    while len(mutants) < size:
        attempts += 1
        assert attempts < size * 20, "the families stopped producing mutants"
        path, text, tree = trees[attempts % len(trees)]
        name, family = families[(attempts // len(trees)) % len(families)]
        base = path.relative_to(ROOT).as_posix()
        if family is None:
            note, data = textual(rng, text)
            mutants.append(Mutant(base, f"textual: {note}", data))
            continue
        made = family(rng, tree)
        if made is None:
            continue
        note, mutated = made
        mutants.append(Mutant(base, f"{name}: {note}", dump_toml(mutated).encode()))
    return mutants
