"""FaultPlan selection — method, tool, probability with a seed, first, every, during on an
injected clock — and the events it records."""

from __future__ import annotations

from pathlib import Path

import pytest

from readiness.chaos.faults import AnyFault, parse_fault_spec
from readiness.chaos.plan import EventLog, FaultEvent, FaultPlan, PlanStatistics, read_events
from readiness.clock import FakeClock


def plan_of(*specs: str, seed: int = 7, clock: FakeClock | None = None) -> FaultPlan:
    faults: list[AnyFault] = [parse_fault_spec(spec) for spec in specs]
    clock = clock or FakeClock()
    return FaultPlan(faults, seed=seed, monotonic=clock.monotonic, wall_clock=clock.monotonic)


def fired(plan: FaultPlan, n: int, method: str = "tools/call", tool: str | None = "echo") -> str:
    """One character per request: the index of the fault that fired, or '.'."""
    marks = []
    for i in range(n):
        injection = plan.decide(method, tool, i)
        marks.append("." if injection is None else str(injection.index))
    return "".join(marks)


def test_no_faults_means_every_request_passes() -> None:
    plan = plan_of()
    assert fired(plan, 5) == "....."
    assert plan.events == ()


def test_first_fires_on_the_first_n_matching_requests_only() -> None:
    assert fired(plan_of("drop:first=2"), 5) == "00..."


def test_every_fires_on_each_nth_matching_request() -> None:
    assert fired(plan_of("drop:every=3"), 9) == "..0..0..0"


def test_first_and_every_must_both_agree() -> None:
    assert fired(plan_of("drop:every=2,first=5"), 8) == ".0.0...."


@pytest.mark.parametrize(
    "spec",
    ["kill:restart_after=2s", "kill", "disconnect", "session_loss", "hang:duration=3s"],
)
def test_an_outage_fault_given_no_first_every_or_probability_fires_once(spec: str) -> None:
    assert fired(plan_of(spec), 6) == "0....."


def test_a_fault_that_fires_once_fires_on_its_first_chance_not_its_first_match() -> None:
    # The error takes the first request; the kill still fires once, on the next one.
    assert fired(plan_of("error:first=1", "kill:restart_after=2s"), 4) == "01.."


@pytest.mark.parametrize(
    ("spec", "marks"),
    [
        ("kill:first=3", "000..."),
        ("kill:every=2", ".0.0.0"),
        ("kill:probability=1", "000000"),
    ],
)
def test_an_outage_fault_asked_to_repeat_repeats(spec: str, marks: str) -> None:
    assert fired(plan_of(spec), 6) == marks


@pytest.mark.parametrize("spec", ["error", "latency:latency=1ms", "drop", "malformed"])
def test_a_per_message_fault_fires_on_every_match(spec: str) -> None:
    assert fired(plan_of(spec), 6) == "000000"


def test_every_with_a_duration_fires_again_once_that_long_has_passed() -> None:
    clock = FakeClock()
    plan = plan_of("kill:every=3s,restart_after=1s", clock=clock)
    marks = ""
    for _ in range(8):  # a request every second
        marks += "." if plan.decide("tools/call", "echo", 1) is None else "0"
        clock.advance(1.0)
    assert marks == "0..0..0."


def test_an_outage_fault_fires_once_per_run_of_its_window() -> None:
    clock = FakeClock()
    plan = plan_of("kill:during=2s..4s,restart_after=1s", clock=clock)
    marks = ""
    for _ in range(6):
        marks += "." if plan.decide("tools/call", "echo", 1) is None else "0"
        clock.advance(1.0)
    assert marks == "..0..."
    assert plan.statistics() == PlanStatistics(matched=(2,), injected=(1,), events_not_kept=0)


def test_method_and_tool_select_the_requests_that_count() -> None:
    plan = plan_of("error:tool=search,first=1", "drop:method=tools/list")
    assert plan.decide("tools/call", "echo", 1) is None
    assert plan.decide("tools/list", None, 2).index == 1  # type: ignore[union-attr]
    assert plan.decide("tools/call", "search", 3).index == 0  # type: ignore[union-attr]
    assert plan.decide("tools/call", "search", 4) is None
    assert plan.statistics().matched == (2, 1)


def test_a_tool_error_applies_to_tool_calls_only() -> None:
    plan = plan_of("error:kind=tool")
    assert plan.decide("resources/read", None, 1) is None
    assert plan.decide("tools/call", "echo", 2) is not None


def test_probability_with_a_seed_is_repeatable_and_near_its_rate() -> None:
    first = fired(plan_of("drop:probability=0.2", seed=11), 2000)
    again = fired(plan_of("drop:probability=0.2", seed=11), 2000)
    other = fired(plan_of("drop:probability=0.2", seed=12), 2000)
    assert first == again
    assert first != other
    # Binomial(2000, 0.2): sd ≈ 18, so ±100 is over 5 sd; the seed makes it fixed anyway.
    assert 300 < first.count("0") < 500


def test_each_fault_draws_from_its_own_stream() -> None:
    specs = ("error:probability=0.5,tool=echo", "drop:probability=0.5,tool=search")
    alone = fired(plan_of(*specs, seed=3), 200, tool="search")
    plan = plan_of(*specs, seed=3)
    mixed = []
    for i in range(200):
        plan.decide("tools/call", "echo", f"e{i}")
        injection = plan.decide("tools/call", "search", i)
        mixed.append("." if injection is None else str(injection.index))
    # The search fault's draws are unchanged by the echo fault's: the same requests fail.
    assert "".join(mixed) == alone
    assert 50 < alone.count("1") < 150


def test_during_selects_a_window_of_the_injected_clock() -> None:
    clock = FakeClock()
    plan = plan_of("error:during=10s..20s", clock=clock)
    clock.advance(5)
    plan.start()  # the window counts from here
    clock.advance(9.5)
    assert plan.decide("ping", None, 1) is None
    clock.advance(0.5)
    assert plan.decide("ping", None, 2) is not None
    clock.advance(9.99)
    assert plan.decide("ping", None, 3) is not None
    clock.advance(0.01)
    assert plan.decide("ping", None, 4) is None
    assert [event.t_s for event in plan.events] == pytest.approx([10.0, 19.99])


def test_requests_outside_the_window_do_not_count_toward_first() -> None:
    clock = FakeClock()
    plan = plan_of("drop:during=1s..,first=1", clock=clock)
    assert plan.decide("ping", None, 1) is None
    clock.advance(1)
    assert plan.decide("ping", None, 2) is not None
    assert plan.decide("ping", None, 3) is None


def test_the_first_fault_that_fires_wins_and_later_ones_still_count() -> None:
    plan = plan_of("error:first=2", "drop:first=3")
    assert fired(plan, 4) == "001."
    assert plan.statistics().matched == (4, 4)
    assert plan.statistics().injected == (2, 1)


def test_latency_is_sampled_per_request() -> None:
    plan = plan_of("latency:latency=100ms,jitter=50ms")
    delays = {plan.decide("ping", None, i).delay for i in range(50)}  # type: ignore[union-attr]
    assert len(delays) > 1
    assert all(0.05 <= d <= 0.15 for d in delays)


def test_every_injection_is_recorded_as_an_event(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        plan = FaultPlan(
            [parse_fault_spec("error:tool=search")],
            seed=1,
            monotonic=clock.monotonic,
            wall_clock=lambda: 1000.0 + clock.monotonic(),
            on_event=log.write,
        )
        clock.advance(2.5)
        plan.decide("tools/call", "search", 41)
        plan.decide("tools/call", "echo", 42)
        clock.advance(1)
        plan.record_end(0)
    expected = [
        FaultEvent(2.5, 0, "error", "tools/call", "search", 41, "inject", 1002.5),
        FaultEvent(3.5, 0, "error", None, None, None, "end", 1003.5),
    ]
    assert list(plan.events) == expected
    assert read_events(path) == expected


def test_the_plan_repr_says_what_it_did() -> None:
    plan = plan_of("drop", seed=5)
    plan.decide("ping", None, 1)
    assert repr(plan) == "<FaultPlan faults=1 injected=1 seed=5>"
