"""A replay compared with its capture, in results.json's terms."""

from __future__ import annotations

from readiness.chaos.capture import Capture
from readiness.engine.loops import LoadPlan
from readiness.engine.workload import Workload
from readiness.metrics.recorder import Recording
from readiness.results import ReplayMixRow, ReplayResult


def replay_result(
    file: str,
    speed: float,
    capture: Capture,
    workload: Workload,
    plan: LoadPlan,
    rec: Recording,
    *,
    connections: int,
) -> ReplayResult:
    captured = capture.mix()
    sent = dict(zip((op.name for op in workload.operations), rec.sent_by_op, strict=True))
    span = capture.span_s
    return ReplayResult(
        file=file,
        model=plan.model,
        speed=speed if plan.model == "open" else None,
        sessions=len({r.session for r in capture.requests}),
        connections=connections,
        captured_requests=len(capture.requests),
        captured_span_s=round(span, 6),
        captured_rate_rps=_rate(len(capture.requests), span),
        replayed_requests=rec.sent,
        replayed_span_s=round(rec.window_s, 6),
        replayed_rate_rps=_rate(rec.sent, rec.window_s),
        mix=[
            ReplayMixRow(name=name, captured=count, replayed=sent.get(name, 0))
            for name, count in captured.items()
        ],
    )


def _rate(requests: int, span_s: float) -> float | None:
    return round(requests / span_s, 3) if span_s > 0 else None
