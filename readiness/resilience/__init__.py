"""Resilience primitives applied between the workload and the client, one per module.

breaker, limiter, pool, cache, retry and batcher; each takes an injected `clock.Clock`.
"""
