"""Retry: full-jitter backoff, which outcomes it repeats, and a budget that caps the repeats."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readiness.clock import FakeClock
from readiness.protocol.outcome import Outcome, Reply
from readiness.resilience.outcomes import INTERNAL_ERROR, OutcomeSet
from readiness.resilience.retry import Retry, RetryBudget
from tests.resilience.timeline import run_until


def server(outcomes: Iterable[Outcome]) -> tuple[Callable[[], Awaitable[Reply]], list[Outcome]]:
    """A request function answering with `outcomes` in turn, and the list of those it sent."""
    script = iter(outcomes)
    sent: list[Outcome] = []

    async def request() -> Reply:
        outcome = next(script)
        sent.append(outcome)
        return Reply(outcome, error_code=INTERNAL_ERROR if outcome is Outcome.RPC_ERROR else None)

    return request, sent


async def call_through(clock: FakeClock, retry: Retry, fn: Callable[[], Awaitable[Reply]]) -> Reply:
    """`retry.call(fn)`, with fake time moved along through its backoff sleeps."""
    replies: list[Reply] = []

    async def run() -> None:
        replies.append(await retry.call(fn))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await run_until(clock, lambda: bool(replies))
    return replies[0]


def test_backoff_is_uniform_between_zero_and_the_capped_exponential() -> None:
    retry = Retry(base=0.1, cap=1.0, seed=1)
    for n, ceiling in [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (10, 1.0), (5000, 1.0)]:
        samples = [retry.backoff(n) for _ in range(400)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > 0.9 * ceiling  # full jitter spans the whole range
        assert min(samples) < 0.1 * ceiling


def test_the_same_seed_gives_the_same_backoffs() -> None:
    one, two = Retry(seed=42), Retry(seed=42)
    assert [one.backoff(n) for n in range(10)] == [two.backoff(n) for n in range(10)]


@pytest.mark.anyio
async def test_a_timeout_is_retried_until_the_call_succeeds() -> None:
    clock = FakeClock()
    retry = Retry(max_attempts=5, base=0.5, cap=4.0, seed=3, clock=clock)
    fn, sent = server([Outcome.TIMEOUT, Outcome.TRANSPORT, Outcome.OK])
    reply = await call_through(clock, retry, fn)
    assert reply.outcome is Outcome.OK
    assert sent == [Outcome.TIMEOUT, Outcome.TRANSPORT, Outcome.OK]
    stats = retry.statistics()
    assert (stats.calls, stats.attempts, stats.retries, stats.recovered) == (1, 3, 2, 1)
    assert stats.total_backoff == pytest.approx(clock.monotonic())  # slept on the fake clock
    assert 0 < stats.total_backoff <= 0.5 + 1.0


@pytest.mark.anyio
@pytest.mark.parametrize("outcome", [Outcome.OK, Outcome.TOOL_ERROR, Outcome.RPC_ERROR])
async def test_outcomes_that_are_not_retryable_are_returned_at_once(outcome: Outcome) -> None:
    clock = FakeClock()
    retry = Retry(clock=clock)
    fn, sent = server([outcome, Outcome.OK])
    reply = await call_through(clock, retry, fn)
    assert reply.outcome is outcome
    assert sent == [outcome]
    assert retry.statistics().retries == 0


@pytest.mark.anyio
async def test_which_outcomes_are_retried_is_configurable() -> None:
    clock = FakeClock()
    internal = OutcomeSet(rpc_error_codes=frozenset({INTERNAL_ERROR}))
    retry = Retry(retry_on=internal, clock=clock)
    fn, sent = server([Outcome.RPC_ERROR, Outcome.TIMEOUT, Outcome.OK])
    reply = await call_through(clock, retry, fn)
    assert reply.outcome is Outcome.TIMEOUT
    assert sent == [Outcome.RPC_ERROR, Outcome.TIMEOUT]


@pytest.mark.anyio
async def test_retry_gives_up_after_max_attempts_with_the_last_reply() -> None:
    clock = FakeClock()
    retry = Retry(max_attempts=3, clock=clock)
    fn, sent = server([Outcome.TIMEOUT, Outcome.TIMEOUT, Outcome.TRANSPORT, Outcome.OK])
    reply = await call_through(clock, retry, fn)
    assert reply.outcome is Outcome.TRANSPORT
    assert len(sent) == 3
    stats = retry.statistics()
    assert (stats.attempts, stats.retries, stats.gave_up, stats.recovered) == (3, 2, 1, 0)


@pytest.mark.anyio
async def test_an_exhausted_budget_stops_retries() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.0, min_per_second=0.0, capacity=1.0, clock=clock)
    retry = Retry(max_attempts=4, budget=budget, clock=clock)
    fn, sent = server([Outcome.TIMEOUT] * 10)
    await call_through(clock, retry, fn)  # one retry: the whole budget
    await call_through(clock, retry, fn)  # none left
    assert len(sent) == 3
    stats = retry.statistics()
    assert (stats.retries, stats.budget_exhausted, stats.gave_up) == (1, 2, 0)
    assert budget.statistics().refused == 2


def test_the_budget_refills_from_requests_and_from_time_up_to_its_capacity() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.25, min_per_second=0.5, capacity=2.0, clock=clock)
    assert [budget.try_withdraw() for _ in range(3)] == [True, True, False]
    for _ in range(4):
        budget.deposit()  # 4 requests × 0.25
    assert [budget.try_withdraw() for _ in range(2)] == [True, False]
    clock.advance(2.0)  # 2 s × 0.5
    assert budget.try_withdraw()
    clock.advance(3600.0)
    assert budget.statistics().balance == 2.0
    assert repr(budget) == "<RetryBudget ratio=0.25 min=0.5/s balance=2.00/2 retries=4>"


def test_repr_shows_the_policy_and_counts() -> None:
    retry = Retry(max_attempts=3, base=0.05, cap=2.0)
    assert repr(retry) == (
        "<Retry max_attempts=3 backoff=0.05s..2s calls=0 retries=0 gave_up=0 budget_exhausted=0>"
    )


# -- invariants ---------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    ratio=st.sampled_from([0.0, 0.1, 0.5]),
    min_per_second=st.sampled_from([0.0, 0.5, 2.0]),
    capacity=st.sampled_from([1.0, 3.0]),
    calls=st.lists(
        st.tuples(
            st.sampled_from([0.0, 0.25, 1.0]),  # time before the call
            st.lists(st.sampled_from([Outcome.OK, Outcome.TIMEOUT]), min_size=1, max_size=4),
        ),
        max_size=25,
    ),
)
def test_retries_never_exceed_the_budget(
    ratio: float,
    min_per_second: float,
    capacity: float,
    calls: list[tuple[float, list[Outcome]]],
) -> None:
    async def main() -> tuple[int, int, float]:
        clock = FakeClock()
        budget = RetryBudget(ratio, min_per_second, capacity, clock=clock)
        retry = Retry(max_attempts=4, base=0.125, cap=0.5, budget=budget, seed=0, clock=clock)
        for pause, outcomes in calls:
            clock.advance(pause)
            fn, sent = server([*outcomes, *[Outcome.TIMEOUT] * 4])
            await call_through(clock, retry, fn)
            assert len(sent) <= 4
        stats = retry.statistics()
        assert stats.retries == budget.statistics().retries
        assert stats.attempts == stats.calls + stats.retries
        return stats.retries, stats.calls, clock.monotonic()

    retries, requests, elapsed = anyio.run(main, backend="asyncio")
    assert retries <= capacity + ratio * requests + min_per_second * elapsed + 1e-9


@settings(max_examples=200, deadline=None)
@given(
    ratio=st.sampled_from([0.0, 0.1, 0.5]),
    min_per_second=st.sampled_from([0.0, 0.5, 2.0]),
    capacity=st.sampled_from([1.0, 3.0]),
    events=st.lists(
        st.tuples(st.sampled_from(["retry", "request", "wait"]), st.sampled_from([0.5, 2.0, 8.0])),
        max_size=60,
    ),
)
def test_a_quiet_period_cannot_bank_more_than_capacity_for_a_later_outage(
    ratio: float, min_per_second: float, capacity: float, events: list[tuple[str, float]]
) -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio, min_per_second, capacity, clock=clock)
    log: list[tuple[float, int, int]] = []  # (time, requests, retries granted) per event
    for kind, seconds in events:
        if kind == "wait":
            clock.advance(seconds)
            log.append((clock.monotonic(), 0, 0))
        elif kind == "request":
            budget.deposit()
            log.append((clock.monotonic(), 1, 0))
        else:
            log.append((clock.monotonic(), 0, int(budget.try_withdraw())))
    # Over every stretch of events, not just from the start: what was granted is at most what
    # the sack can hold plus what flowed in during the stretch.
    for i in range(len(log)):
        requests = retries = 0
        for j in range(i, len(log)):
            requests += log[j][1]
            retries += log[j][2]
            elapsed = log[j][0] - log[i][0]
            assert retries <= capacity + ratio * requests + min_per_second * elapsed + 1e-9
