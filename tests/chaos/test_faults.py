"""Faults as data: specs, tables and TOML validate into frozen models, and bad input becomes a
ConfigError that names the key (and the line, for files)."""

from __future__ import annotations

import math
import random
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from readiness.chaos.faults import (
    ErrorFault,
    HangFault,
    Interval,
    KillFault,
    LatencyFault,
    Window,
    check_faults,
    faults_from_json,
    faults_to_json,
    load_faults_toml,
    parse_fault_spec,
    parse_faults,
)
from readiness.errors import ConfigError, ExitCode


def spec_error(spec: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_fault_spec(spec)
    assert caught.value.exit_code is ExitCode.USAGE
    return str(caught.value)


def test_a_compact_spec_sets_the_fault_and_its_selectors() -> None:
    fault = parse_fault_spec("error:probability=0.1,code=-32000,tool=search,message=boom")
    assert fault == ErrorFault(probability=0.1, code=-32000, tool="search", message="boom")
    assert fault.selected_method == "tools/call"


def test_durations_windows_and_percentages_read_as_in_toml() -> None:
    latency = parse_fault_spec("latency:latency=200ms,jitter=50ms,probability=25%")
    assert isinstance(latency, LatencyFault)
    assert (latency.latency, latency.jitter, latency.probability) == (0.2, 0.05, 0.25)
    kill = parse_fault_spec("kill:first=1,restart_after=2s,during=5s..6s")
    assert kill == KillFault(first=1, restart_after=2.0, during=Window(5.0, 6.0))
    assert kill.during is not None
    assert 5.0 in kill.during
    assert 6.0 not in kill.during
    open_ended = parse_fault_spec("drop:during=10s..")
    assert open_ended.during == Window(10.0, math.inf)


def test_a_quoted_value_may_hold_commas() -> None:
    fault = parse_fault_spec('latency:distribution="lognormal:median=3ms,p99=40ms"')
    assert isinstance(fault, LatencyFault)
    samples = [fault.sample(random.Random(i)) for i in range(200)]
    assert all(s > 0 for s in samples)
    assert sorted(samples)[100] == pytest.approx(0.003, rel=0.5)


def test_an_unknown_fault_type_suggests_the_nearest() -> None:
    message = spec_error("eror:tool=search")
    assert "unknown fault type 'eror'; did you mean 'error'?" in message


def test_an_unknown_key_is_named_with_a_suggestion() -> None:
    assert "did you mean 'probability'?" in spec_error("error:probabilty=0.5")


@pytest.mark.parametrize("value", ["1.5", "-0.1", "150%", "often"])
def test_a_probability_outside_zero_to_one_is_refused(value: str) -> None:
    assert "probability:" in spec_error(f"error:probability={value}")


@pytest.mark.parametrize(
    ("window", "problem"),
    [("20s..10s", "ends before it starts"), ("5s..5s", "ends before it starts"),
     ("soon", "expected a window"), ("1x..2s", "invalid window")],
)  # fmt: skip
def test_a_malformed_or_inverted_window_is_refused(window: str, problem: str) -> None:
    message = spec_error(f"drop:during={window}")
    assert "during:" in message
    assert problem in message


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("error:status=500", 'status applies to kind = "http" only'),
        ("error:kind=http,code=1", 'code applies to kind = "rpc" only'),
        ("error:kind=tool,method=ping", 'kind = "tool" answers tools/call requests only'),
        ("error:kind=http,status=200", "must be at least 400"),
        ("drop:tool=echo,method=ping", "tool selects tools/call requests"),
        ("latency", "give latency"),
        ("latency:latency=1ms,distribution=fixed:1ms", "not both"),
        ("latency:distribution=sometimes", "is not a latency spec"),
        ("hang", "a hang needs a duration"),
        ("hang:during=5s..", "a hang needs a duration"),
        ("drop:first=0", "must be at least 1"),
        ("drop:every=2.5", "expected an integer"),
        ("drop:first", "is not key=value"),
        ("drop:first=1,first=2", "given twice"),
        ('error:message="unclosed', "unclosed quote"),
    ],
)
def test_inconsistent_fault_settings_are_explained(spec: str, problem: str) -> None:
    assert problem in spec_error(spec)


def test_a_hang_without_duration_lasts_to_the_end_of_its_window() -> None:
    hang = parse_fault_spec("hang:during=5s..8s")
    assert isinstance(hang, HangFault)
    assert hang.hold_for(6.0) == pytest.approx(2.0)


def test_a_table_validates_standalone_and_errors_name_the_key() -> None:
    (fault,) = parse_faults([{"type": "error", "kind": "http", "status": 500}])
    assert fault == ErrorFault(kind="http", status=500)
    with pytest.raises(ConfigError) as caught:
        parse_faults([{"type": "drop"}, {"type": "error", "code": "x"}], source="scenario")
    assert caught.value.key == "faults[1].code"
    assert "expected an integer" in caught.value.message
    with pytest.raises(ConfigError) as missing:
        parse_faults([{"tool": "echo"}])
    assert missing.value.key == "faults[0].type"


def test_a_faults_file_error_names_file_key_and_line() -> None:
    text = '[[faults]]\ntype = "error"\ntool = "search"\n\n[[faults]]\ntype = "drop"\nevery = 0\n'
    with pytest.raises(ConfigError) as caught:
        load_faults_toml(text, "faults.toml")
    error = caught.value
    assert (error.file, error.key, error.line) == ("faults.toml", "faults[1].every", 7)
    assert load_faults_toml(text.replace("every = 0", "every = 2"), "faults.toml")[1].every == 2


@pytest.mark.parametrize(
    ("spec", "fires"),
    [
        ("kill:restart_after=2s", "once"),
        ("disconnect", "once"),
        ("session_loss", "once"),
        ("hang:duration=3s", "once"),
        ("hang:during=5s..8s", "once"),
        ('kill:every="3s"', "every 3s"),
        ("kill:first=3", "first 3"),
        ("kill:probability=0.1", "10% of matches"),
        ("drop:every=3", "every 3rd match"),
        ("drop:every=1", "every match"),
        ("error:first=2,probability=0.5", "first 2, 50% of matches"),
        ("error", "every match"),
        ("latency:latency=1ms", "every match"),
        ("malformed", "every match"),
        ("slow_stream", "every match"),
    ],
)
def test_each_fault_says_how_often_it_fires(spec: str, fires: str) -> None:
    fault = parse_fault_spec(spec)
    assert fault.fires() == fires
    assert fault.fires_once is (fires == "once")


def test_every_is_a_count_of_matches_or_a_duration() -> None:
    assert parse_fault_spec("drop:every=3").every == 3
    every = parse_fault_spec("kill:every=1m30s").every
    assert isinstance(every, Interval)
    assert every.seconds == 90.0
    assert "every: every must be above zero" in spec_error("kill:every=0s")
    assert "every: every counts matches from 1" in spec_error("drop:every=0")


def test_fault_parsing_does_not_import_the_demo_package() -> None:
    code = (
        "import sys\n"
        "from readiness.chaos.faults import parse_fault_spec\n"
        "parse_fault_spec('latency:distribution=\"lognormal:median=3ms,p99=40ms\"')\n"
        "print('readiness.demo' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"


def test_faults_survive_the_trip_through_json_and_their_spec() -> None:
    faults = (
        parse_fault_spec("kill:first=1,restart_after=2s,during=5s.."),
        parse_fault_spec("kill:every=3s,restart_after=1s"),
        parse_fault_spec("kill:probability=1"),
        parse_fault_spec('latency:distribution="uniform:1ms..5ms",method=tools/list'),
        parse_fault_spec("error:kind=tool,message=nope,every=3"),
        parse_fault_spec("hang:during=..20s,probability=0.5"),
    )
    assert faults_from_json(faults_to_json(faults)) == faults
    assert tuple(parse_fault_spec(f.describe()) for f in faults) == faults


@given(
    start=st.floats(0, 1e5, allow_nan=False),
    length=st.floats(1e-3, 1e5, allow_nan=False),
)
def test_any_window_reads_back_from_its_text(start: float, length: float) -> None:
    window = Window(start, start + length)
    parsed = parse_fault_spec(f"drop:during={window}").during
    assert parsed is not None
    assert parsed.start == pytest.approx(start, abs=1e-9)
    assert parsed.end == pytest.approx(start + length, rel=1e-12, abs=1e-9)


def test_faults_json_must_be_an_array_of_tables() -> None:
    with pytest.raises(ConfigError, match="JSON array"):
        faults_from_json('{"type": "drop"}')
    with pytest.raises(ConfigError, match="not JSON"):
        faults_from_json("[")


def test_http_only_faults_and_unowned_kills_are_refused_where_they_cannot_run() -> None:
    faults = (parse_fault_spec("drop"), parse_fault_spec("session_loss"))
    with pytest.raises(ConfigError, match="HTTP targets only") as caught:
        check_faults(faults, "stdio", owns_process=True)
    assert caught.value.key == "faults[1].type"
    check_faults(faults, "http", owns_process=False)
    with pytest.raises(ConfigError, match='kind = "http" applies to HTTP'):
        check_faults((parse_fault_spec("error:kind=http"),), "stdio", owns_process=True)
    kill = (parse_fault_spec("kill"),)
    with pytest.raises(ConfigError, match=r"use hang .* or disconnect"):
        check_faults(kill, "http", owns_process=False)
    check_faults(kill, "http", owns_process=True)
    check_faults(kill, "stdio", owns_process=True)


def test_faults_are_frozen() -> None:
    fault = parse_fault_spec("drop")
    with pytest.raises(ValueError, match="frozen"):
        fault.first = 3
