"""The resilience layer's statistics in results.json's form: the primitives know nothing of
the results schema, so the scenario layer maps what they counted onto it."""

from __future__ import annotations

from readiness.resilience.requester import ResilienceStatistics
from readiness.results import (
    BatchStats,
    BreakerStats,
    BreakerTransition,
    CacheStats,
    LimiterStats,
    ResilienceStats,
    RetryStats,
)


def resilience_result(stats: ResilienceStatistics) -> ResilienceStats:
    """Only the configured primitives appear; times count from the scenario's start."""
    result = ResilienceStats(config=stats.config.model_dump(mode="json", exclude_none=True))
    if (b := stats.breaker) is not None:
        result["breaker"] = BreakerStats(
            state=b.state.value,
            transitions=[
                BreakerTransition(
                    {
                        "at_s": round(t.at - stats.origin, 3),
                        "from": t.from_state.value,
                        "to": t.to_state.value,
                        "reason": t.reason,
                    }
                )
                for t in stats.transitions
            ],
            admitted=b.admitted,
            rejected=b.rejected,
            failures=b.failures,
            opened=b.opened,
        )
    if (limiter := stats.limiter) is not None:
        result["limiter"] = LimiterStats(
            acquired=limiter.acquired,
            waited=limiter.waited,
            total_wait_s=round(limiter.total_wait, 6),
            max_wait_ms=round(limiter.max_wait * 1000, 3),
        )
    if (retry := stats.retry) is not None:
        result["retry"] = RetryStats(
            calls=retry.calls,
            attempts=retry.attempts,
            retries=retry.retries,
            recovered=retry.recovered,
            budget_exhausted=retry.budget_exhausted,
            gave_up=retry.gave_up,
        )
    if (cache := stats.cache) is not None:
        result["cache"] = CacheStats(
            hits=cache.hits,
            misses=cache.misses,
            hit_rate=cache.hit_rate,
            evictions=cache.evictions,
            expirations=cache.expirations,
        )
    if (batch := stats.batch) is not None:
        result["batch"] = BatchStats(
            batches=batch.batches,
            items=batch.items,
            mean_batch_size=round(batch.mean_batch_size, 3),
            max_batch_size=batch.max_batch_size,
            by_size=batch.by_size,
            by_time=batch.by_time,
            by_close=batch.by_close,
        )
    return result
