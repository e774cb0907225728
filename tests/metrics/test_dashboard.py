"""docs/grafana-dashboard.json and the compose files queries only what readiness exports: every
PromQL expression names exported series and labels, and everything listens on loopback."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from readiness.chaos.faults import parse_fault_spec
from readiness.metrics.exposition import SERIES, new_registry, render
from readiness.metrics.lag import LoopLagMonitor
from readiness.metrics.live import LiveMetrics
from readiness.metrics.recorder import Recorder

DOCS = Path(__file__).resolve().parents[2] / "docs"
DASHBOARD = DOCS / "grafana-dashboard.json"

# PromQL's functions, aggregations and keywords: every other identifier is a series name.
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "stddev", "topk", "bottomk", "quantile",
    "rate", "irate", "increase", "delta", "deriv", "histogram_quantile", "label_values",
    "max_over_time", "min_over_time", "avg_over_time", "last_over_time", "changes", "resets",
    "clamp_min", "clamp_max", "abs", "ceil", "floor", "round", "vector", "scalar", "time",
    "and", "or", "unless", "bool", "offset",
}  # fmt: skip
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\{([^}]*)\}")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def exported() -> tuple[set[str], set[str]]:
    """Series names and label names of a real scrape with every family populated."""
    live = LiveMetrics()
    recorder = Recorder(1)
    with (
        live.load("t", "s", ["op"], recorder, breaker=lambda: "closed"),
        live.watch("t", "s", LoopLagMonitor(), None),
        live.faults("t", "s", [parse_fault_spec("drop:tool=echo")]),
    ):
        text = render(new_registry(live)).decode()
    names: set[str] = set()
    labels: set[str] = set()
    families = list(text_string_to_metric_families(text))
    for family in families:
        names.add(family.name)
        for sample in family.samples:
            names.add(sample.name)
            labels.update(sample.labels)
    declared = {f.name + ("_total" if f.type == "counter" else "") for f in families}
    assert declared == set(SERIES)  # the documented list is the rendered one
    return names, labels | {"instance", "job", "run"}  # added by Prometheus and the push


def expressions(dashboard: dict[str, Any]) -> list[str]:
    found = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    found += [a["expr"] for a in dashboard["annotations"]["list"] if "expr" in a]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found.append(query["query"])
    return found


def names_and_labels(expr: str) -> tuple[set[str], set[str]]:
    labels: set[str] = set()
    text = _STRING.sub('""', expr)
    for match in _MATCHERS.finditer(text):
        labels.update(m.group(0) for m in _IDENT.finditer(match.group(1)))
    text = _MATCHERS.sub(" ", text)
    for match in _GROUPING.finditer(text):
        labels.update(_IDENT.findall(match.group(2)))
    text = _GROUPING.sub(" ", _RANGE.sub(" ", text))
    words = set(_IDENT.findall(text)) - PROMQL_WORDS
    if "label_values" in expr:  # label_values(series, label): the last is a label
        label = re.search(r",\s*([A-Za-z_]\w*)\s*\)\s*$", expr)
        if label is not None:
            words.discard(label.group(1))
            labels.add(label.group(1))
    return words, labels


def test_every_dashboard_query_names_only_exported_series_and_labels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    series, labels = exported()
    exprs = expressions(dashboard)
    assert len(exprs) >= 10
    used: set[str] = set()
    for expr in exprs:
        names, used_labels = names_and_labels(expr)
        assert names, expr
        assert names <= series, (expr, names - series)
        assert used_labels <= labels, (expr, used_labels - labels)
        used |= names
    # throughput, latency bands, errors, server memory, fault windows
    assert {
        "readiness_requests_total",
        "readiness_request_duration_seconds_bucket",
        "readiness_server_resident_memory_bytes",
        "readiness_fault_active",
    } <= used


def test_the_latency_panel_shows_p50_p90_and_p99_bands() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    quantiles = set(re.findall(r"histogram_quantile\((0\.\d+),", " ".join(expressions(dashboard))))
    assert {"0.5", "0.9", "0.99"} <= quantiles


def test_fault_windows_are_annotations() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    faults = [
        a for a in dashboard["annotations"]["list"] if "readiness_fault_active" in a.get("expr", "")
    ]
    assert len(faults) == 1
    assert faults[0]["enable"] is True


def test_the_checker_catches_a_series_we_do_not_export() -> None:
    series, _ = exported()
    names, _ = names_and_labels('sum by (target) (rate(readiness_requests_totl{outcome="ok"}[1m]))')
    assert names == {"readiness_requests_totl"}
    assert not names <= series


@pytest.mark.parametrize("name", ["compose.yaml", "prometheus.yml", "grafana-datasource.yaml"])
def test_the_compose_setup_listens_on_loopback_only(name: str) -> None:
    text = (DOCS / "metrics" / name).read_text()
    addresses = re.findall(r"\b(\d+\.\d+\.\d+\.\d+)(?::\d+)?", text)
    assert addresses
    assert set(addresses) == {"127.0.0.1"}
    assert "0.0.0.0" not in text


def test_prometheus_scrapes_the_port_the_docs_give_to_readiness() -> None:
    prometheus = (DOCS / "metrics" / "prometheus.yml").read_text()
    compose = (DOCS / "metrics" / "compose.yaml").read_text()
    assert '"127.0.0.1:9464"' in prometheus
    assert "--metrics-port 9464" in compose
    assert "../grafana-dashboard.json" in compose
