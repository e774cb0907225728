"""Resilience primitives applied between the workload and the client, one per module.

breaker, limiter, pool, cache and retry; each takes an injected `readiness.clock.Clock`.
(Batching is the stdio transport's own: `readiness.protocol.batcher`.)
"""
