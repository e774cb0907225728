"""The session pool's figures for a scenario of any kind against a pooled target
([targets.resilience.pool]): what its requests waited for, over the whole scenario."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from readiness.metrics.histogram import LatencyHistogram
from readiness.metrics.summary import latency_summary
from readiness.results import PoolResult

if TYPE_CHECKING:
    from readiness.target import TargetPool


def scenario_pool_result(pools: Sequence[TargetPool]) -> PoolResult:
    """Counts summed and waits merged over the pools the scenario opened (one per connection),
    from their opening on: preflight and warm-up included."""
    first = pools[0]
    sessions = [p.sessions.statistics() for p in pools]
    requesters = [p.connection_requester.statistics() for p in pools]
    return PoolResult(
        pool_size=first.size,
        virtual_users=None,
        whole_scenario=True,
        pools=len(pools),
        open_at_start=0,
        created=sum(s.created for s in sessions),
        reused=sum(s.reused for s in sessions),
        recycled=sum(s.discarded for s in sessions),
        open_failures=sum(r.open_failures for r in requesters),
        max_in_use=max(r.max_in_use for r in requesters),
        wait_ms=latency_summary(LatencyHistogram.merged(r.wait for r in requesters)),
        wait_timeouts=sum(r.wait_timeouts for r in requesters),
        over_timeout=sum(r.over_timeout for r in requesters),
        pool_timeout_s=first.wait_timeout,
        request_timeout_s=first.request_timeout,
        budget_s=round(first.connection_requester.budget(), 3),
    )
