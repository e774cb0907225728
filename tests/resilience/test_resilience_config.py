"""`[targets.resilience]` in scenarios.toml: what it accepts, its defaults, and how a mistake in
it is reported (file, key path and line, like every other key of the suite)."""

from __future__ import annotations

import pytest

from readiness.config import Suite, parse_suite
from readiness.errors import ConfigError, ExitCode
from readiness.protocol.outcome import Outcome
from readiness.resilience.config import IDEMPOTENT_METHODS, ResilienceConfig

# Line numbers matter: the error tests below name them.
BASE = """\
[[targets]]
name = "demo"
transport = "stdio"
command = "python"

[targets.resilience]
breaker = { consecutive_failures = 5, recovery_timeout = "5s", trial_successes = 1 }
rate_limit = { rate = "100/s", burst = 20 }
retry = { max_attempts = 3, base = "50ms", cap = "1s", budget = "10%" }
cache = { methods = ["tools/list", "resources/read"], ttl = "5s", max_entries = 1000 }

[[scenarios]]
name = "throughput"
kind = "throughput"
load = { concurrency = 1, requests = 5 }
"""
KEY = 'targets[0] (name="demo").resilience'


def parse(text: str) -> Suite:
    return parse_suite(text, "suite.toml", environ={})


def resilience_of(text: str) -> ResilienceConfig:
    config = parse(text).targets[0].resilience
    assert config is not None
    return config


def test_every_primitive_is_read_with_its_units() -> None:
    config = resilience_of(BASE)
    assert config.configured
    breaker, limit, retry, cache = config.breaker, config.rate_limit, config.retry, config.cache
    assert breaker is not None
    assert limit is not None
    assert retry is not None
    assert cache is not None
    assert (breaker.consecutive_failures, breaker.recovery_timeout) == (5, 5.0)
    assert (limit.rate, limit.burst) == (100.0, 20)
    assert (retry.max_attempts, retry.base, retry.cap, retry.budget) == (3, 0.05, 1.0, 0.1)
    assert (cache.methods, cache.ttl, cache.max_entries) == (
        ("tools/list", "resources/read"),
        5.0,
        1000,
    )


def test_a_target_without_the_table_has_no_resilience_layer() -> None:
    lines = BASE.splitlines()
    text = "\n".join(lines[:5] + lines[11:])
    assert parse(text).targets[0].resilience is None


def test_an_empty_table_configures_nothing() -> None:
    lines = BASE.splitlines()
    text = "\n".join(lines[:6] + lines[10:])
    assert not resilience_of(text).configured


def test_a_breaker_opens_after_5_consecutive_failures_unless_told_otherwise() -> None:
    plain = resilience_of(BASE.replace("breaker = { consecutive_failures = 5,", "breaker = {"))
    assert plain.breaker is not None
    assert (plain.breaker.consecutive_failures, plain.breaker.failure_rate) == (5, None)
    by_rate = resilience_of(
        BASE.replace("consecutive_failures = 5", 'failure_rate = "50%", window = 20')
    )
    assert by_rate.breaker is not None
    assert (by_rate.breaker.consecutive_failures, by_rate.breaker.failure_rate) == (None, 0.5)
    assert (by_rate.breaker.window, by_rate.breaker.minimum_calls) == (20, 10)


def test_breaker_failures_default_to_timeouts_transport_errors_and_internal_errors() -> None:
    breaker = resilience_of(BASE).breaker
    assert breaker is not None
    failures = breaker.failure_set()
    assert failures.matches(Outcome.TIMEOUT)
    assert failures.matches(Outcome.TRANSPORT)
    assert failures.matches(Outcome.RPC_ERROR, -32603)
    assert not failures.matches(Outcome.RPC_ERROR, -32602)
    assert not failures.matches(Outcome.TOOL_ERROR)
    custom = resilience_of(
        BASE.replace("trial_successes = 1", 'failures = ["tool_error", -32000]')
    ).breaker
    assert custom is not None
    assert custom.failure_set().matches(Outcome.TOOL_ERROR)
    assert custom.failure_set().matches(Outcome.RPC_ERROR, -32000)
    assert not custom.failure_set().matches(Outcome.TIMEOUT)


def test_only_idempotent_reads_are_retried_unless_tool_calls_are_opted_in() -> None:
    retry = resilience_of(BASE).retry
    assert retry is not None
    assert retry.methods() == IDEMPOTENT_METHODS
    assert "tools/call" not in retry.methods()
    opted = resilience_of(BASE.replace('budget = "10%"', "retry_tools = true")).retry
    assert opted is not None
    assert "tools/call" in opted.methods()


def test_the_config_recorded_in_results_reads_back_as_the_same_config() -> None:
    config = resilience_of(BASE)
    dumped = config.model_dump(mode="json", exclude_none=True)
    assert ResilienceConfig.model_validate(dumped) == config


@pytest.mark.parametrize(
    ("old", "new", "key", "line", "message"),
    [
        pytest.param(
            "consecutive_failures = 5",
            "consecutive_failure = 5",
            f"{KEY}.breaker.consecutive_failure",
            7,
            "unknown key 'consecutive_failure'; did you mean 'consecutive_failures'?",
            id="misspelt key",
        ),
        pytest.param(
            "rate_limit = {",
            "rate_limits = {",
            f"{KEY}.rate_limits",
            8,
            "did you mean 'rate_limit'?",
            id="misspelt primitive",
        ),
        pytest.param(
            'rate = "100/s"',
            'rate = "fast"',
            f"{KEY}.rate_limit.rate",
            8,
            "invalid rate 'fast'",
            id="bad rate",
        ),
        pytest.param(
            'rate = "100/s", burst = 20',
            "burst = 20",
            f"{KEY}.rate_limit.rate",
            8,
            "required key 'rate' is missing",
            id="missing rate",
        ),
        pytest.param(
            "burst = 20",
            "burst = 0",
            f"{KEY}.rate_limit.burst",
            8,
            "must be at least 1, got 0",
            id="burst below 1",
        ),
        pytest.param(
            'recovery_timeout = "5s"',
            'recovery_timeout = "soon"',
            f"{KEY}.breaker.recovery_timeout",
            7,
            "invalid duration 'soon'",
            id="bad duration",
        ),
        pytest.param(
            "consecutive_failures = 5",
            'failure_rate = "150%"',
            f"{KEY}.breaker.failure_rate",
            7,
            "cannot exceed 100%",
            id="failure rate above 100%",
        ),
        pytest.param(
            "consecutive_failures = 5",
            "consecutive_failures = 5, window = 10",
            f"{KEY}.breaker.window",
            7,
            "window applies only with failure_rate",
            id="window without a failure rate",
        ),
        pytest.param(
            "consecutive_failures = 5",
            'failure_rate = "50%", window = 5, minimum_calls = 10',
            f"{KEY}.breaker.minimum_calls",
            7,
            "minimum_calls (10) cannot exceed window (5)",
            id="minimum calls above the window",
        ),
        pytest.param(
            "trial_successes = 1",
            'failures = ["timeout", "crash"]',
            f"{KEY}.breaker.failures[1]",
            7,
            'or a JSON-RPC error code such as -32603, got "crash"',
            id="unknown failure class",
        ),
        pytest.param(
            'cap = "1s"',
            'cap = "10ms"',
            f"{KEY}.retry.cap",
            9,
            "cap (0.01s) is below base (0.05s)",
            id="cap below base",
        ),
        pytest.param(
            "max_attempts = 3",
            "max_attempts = 0",
            f"{KEY}.retry.max_attempts",
            9,
            "must be at least 1, got 0",
            id="no attempts",
        ),
        pytest.param(
            '"resources/read"]',
            '"tools/call"]',
            f"{KEY}.cache.methods[1]",
            10,
            "'tools/call' cannot be cached (a tool call may change state)",
            id="tool calls cannot be cached",
        ),
        pytest.param(
            'ttl = "5s"',
            "ttl = 0",
            f"{KEY}.cache.ttl",
            10,
            "must be greater than 0, got 0",
            id="zero ttl",
        ),
    ],
)
def test_a_mistake_names_its_key_and_line(
    old: str, new: str, key: str, line: int, message: str
) -> None:
    assert old in BASE
    with pytest.raises(ConfigError) as caught:
        parse(BASE.replace(old, new, 1))
    error = caught.value
    assert (error.file, error.key, error.line) == ("suite.toml", key, line)
    assert message in error.message
    assert error.exit_code == ExitCode.USAGE


def test_a_mistake_in_a_table_of_its_own_names_its_own_line() -> None:
    lines = BASE.splitlines()
    text = "\n".join(
        [
            *lines[:6],
            "[targets.resilience.breaker]",
            "consecutive_failures = 5",
            'recovery_timout = "5s"',
            "",
            *lines[11:],
        ]
    )
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert caught.value.key == f"{KEY}.breaker.recovery_timout"
    assert caught.value.line == 9
    assert "did you mean 'recovery_timeout'?" in caught.value.message


def test_a_second_target_gets_its_own_resilience_table() -> None:
    second = '\n[[targets]]\nname = "other"\ntransport = "stdio"\ncommand = "python"\n'
    lines = BASE.splitlines()
    text = "\n".join([*lines[:11], second, "[targets.resilience]", "cache = { ttl = -1 }", ""])
    text += "\n".join(lines[11:])
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert caught.value.key == 'targets[1] (name="other").resilience.cache.ttl'
    assert caught.value.line == 19


POOLED = """\
[[targets]]
name = "demo"
transport = "stdio"
command = "python"

[targets.resilience.pool]
size = 3
wait_timeout = "1s"
idle_timeout = "30s"

[[scenarios]]
name = "plain"
kind = "throughput"
load = { concurrency = 6, requests = 60 }
"""


def test_a_pool_is_target_configuration_with_size_waits_and_idle_recycling() -> None:
    pool = resilience_of(POOLED).pool
    assert pool is not None
    assert (pool.size, pool.wait_timeout, pool.idle_timeout) == (3, 1.0, 30.0)
    assert not resilience_of(POOLED).configured  # no requester primitive of its own


def test_the_pool_scenario_keys_that_moved_to_the_target_name_their_new_place() -> None:
    text = POOLED.replace('kind = "throughput"', 'kind = "pool"\npool_size = 3')
    with pytest.raises(ConfigError) as caught:
        parse(text)
    message = str(caught.value)
    assert "pool_size" in message
    assert "[targets.resilience.pool]" in message
    assert ":14:" in message  # the line of pool_size


def test_a_recovery_scenario_against_a_pooled_target_is_refused() -> None:
    text = POOLED.replace(
        'kind = "throughput"\nload = { concurrency = 6, requests = 60 }',
        'kind = "recovery"\nload = { model = "open", rate = 10, duration = "10s" }',
    )
    with pytest.raises(ConfigError, match="has a pool"):
        parse(text)
