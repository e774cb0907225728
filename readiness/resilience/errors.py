"""Errors the resilience primitives raise when they refuse a call or give up waiting.

ReadinessError
└── ResilienceError
    ├── CircuitOpen      the breaker is open (or its half-open trials are all taken)
    ├── RateLimited      the token bucket is empty
    ├── PoolTimeout      no session became free within the acquire timeout
    └── PoolClosed       the pool was closed
"""

from __future__ import annotations

from readiness.errors import ReadinessError


class ResilienceError(ReadinessError):
    """A call was refused by our own protection, not failed by the server."""


class CircuitOpen(ResilienceError):
    """The circuit breaker rejected the call without sending it."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = retry_after  # seconds until trial calls are let through (0: now full)
        super().__init__(message)


class RateLimited(ResilienceError):
    """The rate limiter had no token for the call."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = retry_after  # seconds until the next token
        super().__init__(message)


class PoolTimeout(ResilienceError):
    """No pooled session became available within the acquire timeout."""

    def __init__(self, message: str, *, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(message)


class PoolClosed(ResilienceError):
    """The session pool was closed; it hands out nothing more."""
