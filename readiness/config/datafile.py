"""Data files for templated arguments: JSON Lines (one object a line) or CSV (a header row), read
once at load time into rows; a problem names the data file and its line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


class DataFileError(ValueError):
    """A data file that is missing, unreadable, or not JSONL/CSV."""


@dataclass(frozen=True)
class DataTable:
    rows: tuple[Mapping[str, Any], ...]
    fields: frozenset[str]  # every field some row has

    def __repr__(self) -> str:
        return f"<DataTable rows={len(self.rows)} fields={sorted(self.fields)}>"


def read_data(path: Path, shown: str) -> DataTable:
    """Read `path` (named `shown` in errors)."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DataFileError(f"{shown}: expected a JSON Lines (.jsonl, .ndjson) or CSV (.csv) file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFileError(f"{shown}: no such file") from None
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{shown}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise DataFileError(f"{shown}: cannot read the file: {exc.strerror or exc}") from None
    rows = _jsonl(text, shown) if kind == "jsonl" else _csv(text, shown)
    if not rows:
        raise DataFileError(f"{shown}: has no rows")
    return DataTable(tuple(rows), frozenset(k for row in rows for k in row))


def _jsonl(text: str, shown: str) -> list[Mapping[str, Any]]:
    rows: list[Mapping[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DataFileError(f"{shown} line {number}: not JSON ({exc})") from None
        if not isinstance(row, dict):
            raise DataFileError(
                f"{shown} line {number}: expected a JSON object, got {type(row).__name__}"
            )
        rows.append(row)
    return rows


def _csv(text: str, shown: str) -> list[Mapping[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            return []
        if len(set(header)) != len(header) or not all(h.strip() for h in header):
            raise DataFileError(f"{shown} line 1: the header row needs distinct, non-empty names")
        rows: list[Mapping[str, Any]] = []
        for values in reader:
            if not values:
                continue
            if len(values) != len(header):
                raise DataFileError(
                    f"{shown} line {reader.line_num}: {len(values)} values for"
                    f" {len(header)} columns ({', '.join(header)})"
                )
            rows.append(dict(zip(header, values, strict=True)))
    except csv.Error as exc:
        raise DataFileError(f"{shown} line {reader.line_num}: not CSV ({exc})") from None
    return rows
