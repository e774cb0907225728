"""Prometheus text exposition, read with prometheus-client's own parser (imported when a
scrape is read): the selected series of a page, and a counter's increase across scrapes."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence


def select_series(text: str, names: Mapping[str, str]) -> dict[str, float | None]:
    """role → the sum over labels of the samples named `names[role]` (None: not on the page).

    Raises ValueError for a page the parser cannot read.
    """
    from prometheus_client.parser import text_string_to_metric_families

    wanted = {name: role for role, name in names.items()}
    found: dict[str, float | None] = dict.fromkeys(names)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            role = wanted.get(sample.name)
            if role is not None:
                found[role] = (found[role] or 0.0) + float(sample.value)
    return found


def increase(values: Sequence[float]) -> tuple[float, int]:
    """A counter's increase over successive scrapes and how many times it was reset: a drop
    means the server restarted, and the new value is what it counted since (Prometheus's
    `increase`, without extrapolation)."""
    total = 0.0
    resets = 0
    for before, after in itertools.pairwise(values):
        if after < before:
            resets += 1
            total += after
        else:
            total += after - before
    return total, resets
