from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis times each example (200 ms by default) and fails slow data generation: both are
# wall-clock checks, which on a busy shared machine fail tests whose properties hold.
settings.register_profile("readiness", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("readiness")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
