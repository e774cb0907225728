"""CpuMeter: the generator's own CPU over a span."""

from __future__ import annotations

import time

import pytest

from readiness.metrics.selfcost import CpuMeter, CpuSpan


def burn(cpu_s: float) -> None:
    end = time.process_time() + cpu_s
    while time.process_time() < end:
        pass


def test_cpu_meter_counts_the_cpu_spent_between_start_and_stop() -> None:
    meter = CpuMeter()
    meter.start()
    burn(0.05)
    span = meter.stop()
    assert span.cpu_s >= 0.05
    assert span.wall_s > 0
    burn(0.02)
    assert meter.read() == span  # stopped: no longer counting


def test_reading_a_running_meter_gives_the_span_so_far() -> None:
    with CpuMeter() as meter:
        burn(0.02)
        first = meter.read()
        burn(0.02)
        second = meter.read()
        assert "running" in repr(meter)
    assert first.cpu_s >= 0.02
    assert second.cpu_s >= first.cpu_s + 0.02
    assert meter.read().cpu_s >= second.cpu_s
    assert "stopped" in repr(meter)


def test_cpu_per_request_and_percent() -> None:
    span = CpuSpan(cpu_s=0.5, wall_s=2.0)
    assert span.cpu_us_per(1000) == pytest.approx(500.0)
    assert span.cpu_us_per(0) is None
    assert span.cpu_percent == pytest.approx(25.0)
    assert CpuSpan(cpu_s=0.0, wall_s=0.0).cpu_percent == 0.0


def test_reading_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="before start"):
        CpuMeter().read()
    assert repr(CpuMeter()) == "<CpuMeter not started>"
