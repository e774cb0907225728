"""`[targets.resilience]` in scenarios.toml: which primitives protect a target, and how.

Frozen models validated like the rest of the suite, so a bad key or value here is reported
with its key path and line (see `readiness.config.errors`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final

from pydantic import (
    Field,
    Strict,
    field_validator,
    model_validator,
)

from readiness.config.types import ConfigModel, Duration, Integer, Rate, Ratio, invalid
from readiness.config.types import Percentage as Fraction
from readiness.protocol.outcome import Outcome
from readiness.resilience.outcomes import INTERNAL_ERROR, OutcomeSet

# Reads that are safe to send twice: retried by default, and the only methods a cache may hold.
IDEMPOTENT_METHODS: Final = frozenset(
    {
        "tools/list",
        "resources/read",
        "resources/list",
        "resources/templates/list",
        "prompts/list",
        "prompts/get",
        "ping",
    }
)
DEFAULT_CONSECUTIVE_FAILURES: Final = 5
DEFAULT_WINDOW: Final = 20
DEFAULT_MINIMUM_CALLS: Final = 10
# The outcome classes a breaker can count as failures, by the names results.json uses.
FAILURE_CLASSES: Final = {
    "timeout": Outcome.TIMEOUT,
    "transport": Outcome.TRANSPORT,
    "rpc_error": Outcome.RPC_ERROR,
    "tool_error": Outcome.TOOL_ERROR,
}


class BreakerConfig(ConfigModel):
    """Open after `consecutive_failures` in a row and/or a `failure_rate` over the last
    `window` calls (once `minimum_calls` are in it); probe after `recovery_timeout`."""

    consecutive_failures: Annotated[Integer, Field(ge=1)] | None = None
    failure_rate: Annotated[Fraction, Field(gt=0)] | None = None
    # Set (to their defaults, if need be) exactly when failure_rate is.
    window: Annotated[Integer, Field(ge=1)] | None = None
    minimum_calls: Annotated[Integer, Field(ge=1)] | None = None
    recovery_timeout: Annotated[Duration, Field(ge=0)] = 30.0
    trial_successes: Annotated[Integer, Field(ge=1)] = 1
    max_trials: Annotated[Integer, Field(ge=1)] = 1
    # Outcome classes, and JSON-RPC error codes, that count as the server failing.
    failures: tuple[str | int, ...] = ("timeout", "transport", INTERNAL_ERROR)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if not {"consecutive_failures", "failure_rate"} & set(data):
            return {**data, "consecutive_failures": DEFAULT_CONSECUTIVE_FAILURES}
        if "failure_rate" in data:
            return {"window": DEFAULT_WINDOW, "minimum_calls": DEFAULT_MINIMUM_CALLS, **data}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> BreakerConfig:
        if self.failure_rate is None:
            for field in ("window", "minimum_calls"):
                if getattr(self, field) is not None:
                    raise invalid(f"{field} applies only with failure_rate", field)
        elif (
            self.minimum_calls is not None
            and self.window is not None
            and (self.minimum_calls > self.window)
        ):
            raise invalid(
                f"minimum_calls ({self.minimum_calls}) cannot exceed window ({self.window})",
                "minimum_calls",
            )
        return self

    @field_validator("failures", mode="before")
    @classmethod
    def _known_failures(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            return value  # pydantic reports the type
        for i, item in enumerate(value):
            known = item in FAILURE_CLASSES if isinstance(item, str) else type(item) is int
            if not known:
                raise invalid(
                    f"expected {', '.join(map(repr, FAILURE_CLASSES))} or a JSON-RPC error code"
                    f" such as {INTERNAL_ERROR}, got {json.dumps(item, default=str)}",
                    i,
                )
        return value

    def failure_set(self) -> OutcomeSet:
        return OutcomeSet(
            frozenset(FAILURE_CLASSES[f] for f in self.failures if isinstance(f, str)),
            frozenset(f for f in self.failures if isinstance(f, int)),
        )


class RateLimitConfig(ConfigModel):
    """At most `rate` sends per second, in bursts of up to `burst`; a send over it waits."""

    rate: Annotated[Rate, Field(gt=0)]
    burst: Annotated[Integer, Field(ge=1)] = 1


class RetryConfig(ConfigModel):
    """Retry timeouts and transport errors of idempotent requests, with backoff and a budget."""

    max_attempts: Annotated[Integer, Field(ge=1)] = 3
    base: Annotated[Duration, Field(ge=0)] = 0.05
    cap: Annotated[Duration, Field(ge=0)] = 2.0
    budget: Annotated[Ratio, Field(ge=0)] = 0.1  # retries as a fraction of requests
    min_retries: Annotated[Rate, Field(ge=0)] = 1.0  # per second, so a quiet client may retry
    retry_tools: Annotated[bool, Strict()] = False  # a timed-out tools/call may have run

    @model_validator(mode="after")
    def _cap_covers_base(self) -> RetryConfig:
        if self.cap < self.base:
            raise invalid(f"cap ({self.cap:g}s) is below base ({self.base:g}s)", "cap")
        return self

    def methods(self) -> frozenset[str]:
        """The methods retried: the idempotent reads, and tools/call when opted in."""
        return (IDEMPOTENT_METHODS | {"tools/call"}) if self.retry_tools else IDEMPOTENT_METHODS


class CacheConfig(ConfigModel):
    """Answer repeated idempotent reads from memory for `ttl` after the server answered."""

    methods: Annotated[tuple[str, ...], Field(min_length=1)] = ("tools/list", "resources/read")
    ttl: Annotated[Duration, Field(gt=0)] = 5.0
    max_entries: Annotated[Integer, Field(ge=1)] = 1000

    @model_validator(mode="after")
    def _idempotent(self) -> CacheConfig:
        for i, method in enumerate(self.methods):
            if method not in IDEMPOTENT_METHODS:
                why = " (a tool call may change state)" if method == "tools/call" else ""
                raise invalid(
                    f"{method!r} cannot be cached{why}; cacheable: "
                    + ", ".join(sorted(IDEMPOTENT_METHODS)),
                    "methods",
                    i,
                )
        return self


class BatchConfig(ConfigModel):
    """Write up to `max_size` request frames at once, holding the first at most `max_delay`
    (stdio only: one pipe write for many frames). The default 0 holds nothing back: what the
    load submits in one event-loop turn goes out in one write (measured: as many frames per
    write as 1 ms at 64 in flight, 4× the throughput of 1 ms at 8 in flight)."""

    max_size: Annotated[Integer, Field(ge=1)] = 32
    max_delay: Annotated[Duration, Field(ge=0)] = 0.0


MAX_POOL_SIZE = 256


class PoolConfig(ConfigModel):
    """Share `size` MCP sessions among the load's requests (over stdio each session is a
    server process of its own; over HTTP an MCP session on the same URL). A request borrows a
    session for its send and waits at most `wait_timeout` (default: the target's
    request_timeout) for one; a session that met a transport error is recycled, and one idle
    for `idle_timeout` is closed."""

    # Over stdio each session is a process: a typo such as 10000 must not fork that many.
    size: Annotated[Integer, Field(ge=1, le=MAX_POOL_SIZE)] = 4
    wait_timeout: Annotated[Duration, Field(gt=0)] | None = None
    idle_timeout: Annotated[Duration, Field(gt=0)] | None = None


class ResilienceConfig(ConfigModel):
    """The primitives between the workload and a target's connection; each is opt-in."""

    breaker: BreakerConfig | None = None
    rate_limit: RateLimitConfig | None = None
    retry: RetryConfig | None = None
    cache: CacheConfig | None = None
    batch: BatchConfig | None = None  # applied inside the stdio connection, not the requester
    pool: PoolConfig | None = None  # applied by the target opener, under the requester

    @property
    def configured(self) -> bool:
        """Whether a primitive of the requester chain (or batching) is configured; a pool
        is the opener's and needs no requester of its own."""
        primitives = (self.breaker, self.rate_limit, self.retry, self.cache, self.batch)
        return any(p is not None for p in primitives)
