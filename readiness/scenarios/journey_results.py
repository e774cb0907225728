"""Per-journey totals of a load, in results.json's terms."""

from __future__ import annotations

from collections.abc import Sequence

from readiness.engine.workload import Journey
from readiness.metrics.journeys import JourneyRecord
from readiness.metrics.summary import latency_summary
from readiness.results import JourneyResult, JourneyStepResult


def journey_results(
    records: Sequence[JourneyRecord], journeys: Sequence[Journey]
) -> list[JourneyResult]:
    return [
        JourneyResult(
            name=record.name,
            weight=journey.weight,
            started=record.started,
            completed=record.completed,
            failed=sum(record.failed_at),
            missing_value=sum(record.missing_at),
            unfinished=record.unfinished,
            steps=[
                JourneyStepResult(name=name, failed=failed, missing_value=missing)
                for name, failed, missing in zip(
                    record.steps, record.failed_at, record.missing_at, strict=True
                )
            ],
            duration_ms=latency_summary(record.durations),
            duration_histogram=record.durations.encode(),
        )
        for record, journey in zip(records, journeys, strict=True)
    ]
