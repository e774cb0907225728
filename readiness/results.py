"""The result model and its versioned JSON form (results.json).

Producers (scenarios, the runner) build these TypedDicts; consumers (reports, checks, compare)
read them back from JSON. Every figure a report shows comes from here.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

if TYPE_CHECKING:
    from readiness.compare.model import Comparison

# 2: a top-level score (and targets[].score with several targets); checks carry their
# operator, limit, weight and critical flag.
# 3: scenarios keep per-interval histograms (`intervals`); runs may carry a `comparison`.
# Files of versions 1 and 2 still load (no interval data: compared by point only).
SCHEMA_VERSION = 3

# inconclusive: nothing failed, but the scenario could not be judged — a check had no value to
# compare (e.g. no recovery where nothing was overloaded), or the scenario says it saw nothing of
# what it tests. It is not a pass: the CLI exits 1 for it, as for a failed check.
ScenarioStatus = Literal["passed", "failed", "inconclusive", "error"]
RunStatus = Literal["passed", "failed", "inconclusive", "error", "interrupted"]


class LatencySummary(TypedDict):
    """Milliseconds; None when no request of that kind completed."""

    count: int
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    p999: float | None
    max: float | None
    mean: float | None


class ErrorCounts(TypedDict):
    tool_error: int
    rpc_error: int
    timeout: int
    transport: int


class Totals(TypedDict):
    sent: int
    ok: int
    errors: ErrorCounts
    rpc_error_codes: dict[str, int]  # JSON-RPC error code → count
    rejected: int  # refused by our own circuit breaker; never sent, not a server failure
    late: int  # open model: could not start on time (max_in_flight reached)
    dropped: int  # open model: not sent at all because max_in_flight was reached
    cancelled: int  # still in flight when the scenario deadline expired
    success_rate: float | None  # ok / (sent - rejected)
    error_rate: float | None
    throughput_rps: float  # ok per second of the measured window


class OperationResult(TypedDict):
    name: str
    method: str
    totals: Totals
    latency_ms: LatencySummary
    latency_uncorrected_ms: LatencySummary


class TimelinePoint(TypedDict):
    # Second since the scenario's load started. A scaling ladder's steps are separate loads
    # (each after its own warm-up), laid end to end: `step` says whose second it is.
    t_s: int
    sent: int
    ok: int
    errors: ErrorCounts
    late: int
    dropped: int
    rps: float  # ok completions in this second
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    rejected: NotRequired[int]  # refused by our circuit breaker (when one is configured)
    breaker: NotRequired[str]  # breaker state at the end of the second: closed|open|half_open
    step: NotRequired[int]  # the scaling step (ScalingStep.index) this second belongs to


class ScalingStep(TypedDict):
    index: int
    model: Literal["closed", "open"]
    level: float  # concurrency (closed) or offered rate per second (open)
    duration_s: float
    totals: Totals
    latency_ms: LatencySummary
    efficiency: float | None  # (throughput/level) relative to step 1
    histogram: str  # encoded LatencyHistogram (corrected, ok requests)


class ScalingSummary(TypedDict):
    knee_index: int | None
    knee_level: float | None
    knee_reason: str
    peak_throughput_rps: float | None
    peak_level: float | None


class SlopeInfo(TypedDict):
    """A fitted growth rate with its 95% confidence interval."""

    slope: float
    low: float
    high: float
    unit: str  # e.g. "bytes per 1,000 requests", "bytes per hour", "per 1,000 requests"
    method: str
    points: int


class Verdict(TypedDict):
    verdict: Literal["leak", "stable", "inconclusive"]
    reason: str
    per_1k_requests: SlopeInfo | None
    per_hour: SlopeInfo | None
    growth: float  # last minus first after warm-up, in the series' unit (bytes or a count)
    growth_percent: float | None


class MemorySample(TypedDict):
    t_s: float  # seconds since the measured load started (negative: before it)
    phase: Literal["baseline", "load", "settle"]
    rss_bytes: int
    fds: int | None
    threads: int
    requests: int  # requests completed by then, since the measured load started


class MemoryResult(TypedDict):
    measured: bool
    reason: str  # why not measured, or why the verdict is limited (e.g. the server exited)
    pid: int | None
    warmup_s: float
    load_s: float
    settle_s: float
    rss_initial_bytes: int | None  # just before the measured load (after warm-up)
    rss_peak_bytes: int | None  # during the measured load
    rss_final_bytes: int | None  # at the end of the measured load
    rss_settled_bytes: int | None  # at the end of the idle settle period
    rss_growth_bytes: int | None  # final − initial
    rss_growth_percent: float | None
    settle_recovered: float | None  # fraction of the load-time growth given back when idle
    fd_initial: int | None
    fd_final: int | None
    thread_initial: int | None
    thread_final: int | None
    rss: Verdict | None
    fds: Verdict | None
    threads: Verdict | None
    generator_rss_initial_bytes: int | None
    generator_rss_peak_bytes: int | None
    generator_rss_final_bytes: int | None
    server_exited_at_s: float | None
    samples: list[MemorySample]  # at most ~600, evenly thinned


class PayloadStep(TypedDict):
    direction: Literal["result", "argument"]
    size_bytes: int
    totals: Totals
    latency_ms: LatencySummary
    mb_per_s: float | None  # payload megabytes (10^6) moved per second by successful requests
    server_rss_peak_bytes: int | None
    failure: str | None  # how the first failure at this size failed: "tool error: …", "timeout", …


class PayloadSummary(TypedDict):
    max_ok_bytes: dict[str, int | None]  # direction → largest size at which every request succeeded
    first_failure: dict[str, PayloadFailure | None]


class PayloadFailure(TypedDict):
    size_bytes: int
    # the outcome class: tool_error, rpc_error, timeout, transport, or reply_cap (the reply
    # exceeded readiness's own max_reply_bytes: not a server failure)
    outcome: str
    detail: str


class GeneratorStats(TypedDict):
    cpu_s: float
    cpu_us_per_request: float | None
    cpu_percent: float  # of one core, over the scenario
    max_loop_lag_ms: float | None
    p99_loop_lag_ms: float | None
    rss_peak_mb: float | None
    saturated: bool  # the generator, not the server, may have been the bottleneck
    saturation_reason: str


class ServerResources(TypedDict):
    measured: bool
    reason: str  # why not measured, when not
    pid: int | None
    samples: int
    cpu_percent_mean: float | None
    cpu_percent_max: float | None
    rss_initial_mb: float | None
    rss_peak_mb: float | None
    rss_final_mb: float | None


CheckVerdict = Literal["pass", "fail", "inconclusive"]


class CheckResult(TypedDict):
    name: str
    expression: str
    metric: str
    unit: str
    observed: float | None
    passed: bool
    op: NotRequired[str]  # <, <=, >, >=, ==, != (absent in schema 1: read from expression)
    limit: NotRequired[float]  # in the metric's SI unit, like observed
    critical: NotRequired[bool]  # a failure keeps the run from "ready"
    weight: NotRequired[float]  # its share of its category, relative to the other checks
    # 95% interval of `observed` (SI units; high None: not bounded above) and the verdict it
    # supports: pass | fail | inconclusive (it straddles the limit); `passed` is true only for pass.
    interval: NotRequired[list[float | None] | None]
    verdict: NotRequired[CheckVerdict]
    reason: NotRequired[str]  # the verdict in words, with the interval and the limit


class Method(TypedDict):
    model: Literal["closed", "open"]
    corrected: bool  # latency measured from the intended start (coordinated omission)
    note: str


class Histograms(TypedDict):
    corrected: str
    uncorrected: str
    failures: str  # time-to-fail of failed requests
    operations: dict[str, dict[str, str]]  # op name → {"corrected": …, "uncorrected": …}


class OperationIntervals(TypedDict):
    """One operation's load, interval by interval (each `IntervalData.width_s` long)."""

    histograms: list[str]  # encoded LatencyHistogram of the ok requests (corrected); "" if none
    ok: list[int]
    failed: list[int]  # server failures (tool error, JSON-RPC error, timeout, transport)


class IntervalData(TypedDict):
    """Per-interval histograms of the measured load, for comparisons that resample time:
    one per second, neighbours merged pairwise until there are at most 600."""

    width_s: int
    seconds: list[float]  # each interval's length: width_s, but the last of a load is shorter
    operations: dict[str, OperationIntervals]


# "from" is a keyword, hence the functional form.
BreakerTransition = TypedDict(
    "BreakerTransition",
    {
        "at_s": float,  # seconds since the scenario started
        "from": str,  # closed | open | half_open
        "to": str,
        "reason": str,
    },
)


class BreakerStats(TypedDict):
    state: str  # at the end of the scenario: closed | open | half_open
    transitions: list[BreakerTransition]
    admitted: int
    rejected: int  # refused while open (or with every trial slot taken); never sent
    failures: int  # admitted calls whose outcome counted as a server failure
    opened: int  # times the circuit opened


class LimiterStats(TypedDict):
    acquired: int  # sends admitted (retries included)
    waited: int  # of those, how many had to wait for a token
    total_wait_s: float
    max_wait_ms: float


class RetryStats(TypedDict):
    calls: int  # requests eligible for retry (idempotent, or tools/call when opted in)
    attempts: int  # first attempts and retries
    retries: int
    recovered: int  # calls that failed, were retried, and then succeeded
    budget_exhausted: int  # calls left failed because the retry budget was spent
    gave_up: int  # calls left failed after max_attempts


class CacheStats(TypedDict):
    hits: int  # answered from memory: OK replies with near-zero latency
    misses: int
    hit_rate: float  # hits / lookups; 0 before the first lookup
    evictions: int
    expirations: int


class BatchStats(TypedDict):
    batches: int  # writes to the server's stdin, each carrying one batch of request frames
    items: int  # requests written
    mean_batch_size: float  # items / batches; 0 before the first batch
    max_batch_size: int
    by_size: int  # batches written because they reached max_size
    by_time: int  # batches written because their first request had waited max_delay
    by_close: int  # the remainder written as the connection closed


class ResilienceStats(TypedDict):
    """What the target's resilience layer did over the scenario; only configured primitives."""

    config: dict[str, Any]  # [targets.resilience] as validated (durations in seconds)
    breaker: NotRequired[BreakerStats]
    limiter: NotRequired[LimiterStats]
    retry: NotRequired[RetryStats]
    cache: NotRequired[CacheStats]
    batch: NotRequired[BatchStats]  # summed over the scenario's connections


class PhaseStats(TypedDict):
    """Requests of one phase (by the time they were due to be sent), one operation or all."""

    completed: int
    ok: int
    errors: int  # server failures: timeout, transport, rpc_error, tool_error
    rejected: int  # refused by our own circuit breaker
    success_rate: float | None  # ok / (completed − rejected)
    p50_ms: float | None  # corrected latency of the ok requests
    p99_ms: float | None


class OperationImpact(TypedDict):
    name: str
    affected: bool  # some fault's selection (method, tool) matches this operation
    steady: PhaseStats  # before the faults
    during: PhaseStats  # while they acted
    after: PhaseStats  # once removed


class InjectedFault(TypedDict):
    index: int
    spec: str  # compact form, e.g. "error:probability=0.1,tool=echo"
    window: str  # when it acted, seconds since the measured load started ("5s..10s")
    matched: int | None  # requests its selectors matched (None: the interposer's count is lost)
    injected: int  # times it fired, from the event record
    fires: str  # how often it may fire: "once", "first 3", "every 3s", "10% of matches", …


class ChaosEvent(TypedDict):
    t_s: float  # seconds since the measured load started
    what: str  # inject | detect | restore | first_success | recovered | breaker
    detail: str


class Outage(TypedDict):
    """The recovery figures; every time in seconds since the measured load started."""

    injected_s: float | None  # the outage fault fired
    detected_s: float | None  # first failed request after it
    restored_s: float | None  # the interposer restored the server (restart done, hang lifted)
    first_success_s: float | None  # first request after restore that succeeded
    recovered_s: float | None  # start of the first recovery_window back within tolerance
    time_to_detect_s: float | None  # these three count from the injection
    time_to_first_success_s: float | None
    recovery_time_s: float | None
    # from the restore (or, with none, the injection) to the first success: what the
    # time_to_first_success check judges — how soon the client got through once it could
    time_to_first_success_since_restore_s: float | None
    recovered: bool
    failed_during_outage: int  # failed requests due between injection and first success
    rule: str  # what "recovered" meant, in words


class ChaosResult(TypedDict):
    """What the faults did in a failure or recovery scenario, and how the target coped."""

    # [start, end) of the "during" phase: the faults' window (failure); from the outage fault
    # firing until recovered, or the load's end (recovery)
    window_s: list[float]
    faults: list[InjectedFault]
    seed: int  # of the faults' random draws: the same seed draws the same requests
    steady: PhaseStats
    during: PhaseStats
    after: PhaseStats
    operations: list[OperationImpact]
    affected_success_rate: float | None  # during the faults
    unaffected_success_rate: float | None
    unaffected_p99_growth: float | None  # during p99 / steady p99 − 1, unaffected operations
    breaker_opened: int | None  # None: no breaker configured
    rejected_during: int
    rejection_p99_ms: float | None  # send to refusal, p99, when our circuit breaker refused
    retries: int | None  # None: no retry configured
    lost: int  # sent − (ok + errors + rejected): requests that never got an outcome
    outage: Outage | None  # recovery scenarios only
    events: list[ChaosEvent]  # the outage timeline, in order


# overloaded: some second of the ramp or hold (or a probe step) did not keep up, for the
# server's sake; not_overloaded: the server kept up with everything offered within max_rate and
# the generator's own limit; not_measured: stopped first.
OverloadOutcome = Literal["overloaded", "not_overloaded", "not_measured"]


class OverloadResult(TypedDict):
    """Filled by the overload scenario (readiness.scenarios.overload). Rates are per second,
    times are seconds since the overload load started, and each request belongs to the phase
    and the second it was due in (its intended start)."""

    outcome: OverloadOutcome
    max_rate: float  # no rate above this was offered
    capacity_rps: float | None  # None: the probe found none (not overloaded, or stopped)
    capacity_source: Literal["configured", "probe"]
    capacity_reason: str  # how the probe settled on it, or why it found none; "" configured
    probe: list[ScalingStep]  # the probe's steps in order; empty when configured
    probe_kept_up: list[bool]  # per probe step
    probe_generator: list[GeneratorStats]  # per probe step: the generator's own CPU and lag
    generator_limit: str  # whether the generator reached its own limit, with its figures
    low_rate: float | None  # offered before the ramp and after the drop
    peak_rate: float | None  # offered at the top of the ramp and while held
    steady_s: float  # the opening period at low_rate: the yardstick for keeping up
    ramp_s: float
    hold_s: float
    cooldown_s: float
    drop_at_s: float | None  # when the load dropped back to low_rate
    max_in_flight: int | None  # arrivals beyond this many outstanding requests were dropped
    # the highest offered rate of a second before the drop that kept up; None unless overloaded
    max_sustainable_rate: float | None
    highest_kept_up_rate: float | None  # the same rate (or the probe's) whatever the outcome
    steady: PhaseStats
    overloaded: PhaseStats  # while held at the peak rate (past capacity if outcome says so)
    after: PhaseStats  # after the drop
    offered: dict[str, int]  # requests due per phase: steady, overloaded, after
    dropped: dict[str, int]  # of those, never answered: dropped unsent, or cut off in flight
    recovery_time_s: float | None  # from the drop until back within tolerance
    recovered: bool | None  # None unless overloaded: nothing to recover from
    alive: bool  # the server answered a request after the overload (or the probe)
    alive_detail: str
    reason: str  # why a figure is missing or limited; "" when there is nothing to add
    rule: str
    seconds_offered: list[int]  # per second since the load started, by due time
    seconds_ok: list[int]
    seconds_p95_ms: list[float | None]
    seconds_kept_up: list[bool]


class PoolResult(TypedDict):
    """Filled by the pool scenario (readiness.scenarios.pool), and for any other scenario
    against a target with [targets.resilience.pool] (readiness.scenarios.base.assemble)."""

    # Figures of the measured load (warm-up excluded); of the whole scenario for other kinds.
    pool_size: int
    virtual_users: int | None  # None: not a pool scenario (its load says how many)
    # Not a pool scenario: figures of the whole scenario (preflight and warm-up included),
    # over each pool it opened (one per connection: `sessions = N` opens N).
    whole_scenario: NotRequired[bool]
    pools: NotRequired[int]
    open_at_start: int  # sessions the warm-up left open when the measured load began
    created: int  # sessions opened
    reused: int  # acquisitions served by an idle session
    recycled: int  # sessions discarded after a transport error
    open_failures: int  # sessions that failed to open (their requests failed as transport)
    max_in_use: int
    wait_ms: LatencySummary  # time to acquire a session (opening included; give-ups too)
    wait_timeouts: int  # gave up waiting within pool_timeout
    over_timeout: int  # requests that neither completed nor failed within their timeout
    pool_timeout_s: float  # the longest wait for a session
    request_timeout_s: float
    budget_s: float  # over_timeout's limit on an open session: wait + request timeout + slack


class Spread(TypedDict):
    """A figure over the repetitions of `run --repeat`: median, range and each value in order."""

    median: float
    min: float
    max: float
    values: list[float]


class HealthProbeStats(TypedDict):
    """One health probe over the scenario: how often it answered "up", and how fast."""

    probe: str  # liveness | readiness | metrics
    url: str
    polls: int
    up: int  # answered 2xx
    down: int  # answered, not 2xx (503 …)
    unreachable: int  # no answer: refused, reset, or past the probe timeout
    availability: float | None  # up / polls
    p50_ms: float | None  # of answered polls, from the project's histogram
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class HealthTransition(TypedDict):
    t_s: float  # on the block's time base (see HealthResult.time_base)
    probe: str
    state: Literal["up", "down", "unreachable"]
    detail: str  # "HTTP 503", "connection refused", "no answer within 1 s"


class HealthFlip(TypedDict):
    """When a probe went bad after the fault and good again after it, beside the outage."""

    probe: str
    fault_s: float | None  # the outage fault fired (recovery) or the fault window began
    restore_s: float | None  # the server was restored, or the fault window ended
    first_success_s: float | None  # first MCP success after the restore (recovery)
    down_s: float | None  # first poll at or after fault_s that was not up
    up_s: float | None  # first poll after down_s that was up again
    down_after_fault_s: float | None
    up_after_restore_s: float | None
    up_after_first_success_s: float | None  # negative: the probe said up before MCP worked


class LivenessVerdict(TypedDict):
    lied: bool | None  # None: not judged (every MCP call failed for less than lie_after_s)
    lie_after_s: float
    spans: list[list[float]]  # [start, end] of each lie, on the block's time base
    failing_s: float  # the longest run of seconds in which every MCP call failed
    rule: str


class MetricsSeries(TypedDict):
    role: Literal["requests", "errors", "memory"]
    name: str
    before: float | None
    after: float | None
    delta: float | None  # counters: increase over the scenario (resets added up)
    resets: int  # the counter went down: the server restarted
    ours: float | None  # our measurement of the same thing over the same span
    ours_label: str


class MetricsComparison(TypedDict):
    url: str
    scrapes: int
    failed_scrapes: int
    series: list[MetricsSeries]
    server_error_rate: float | None
    our_error_rate: float | None
    disagreements: list[str]
    rule: str


class HealthResult(TypedDict):
    time_base: str  # what t = 0 is: the measured load's start, or the scenario's
    interval_s: float
    polled_s: list[float]  # [first, last] poll judged, on the time base
    probes: list[HealthProbeStats]
    transitions: list[HealthTransition]
    flips: list[HealthFlip]  # failure and recovery scenarios only
    liveness: LivenessVerdict | None
    metrics: MetricsComparison | None
    note: str


class ProtocolNotes(TypedDict):
    """How the server broke the MCP framing during a scenario, summed over its connections;
    present only when it did. Each count is also said in `violations`, as the reports show it."""

    non_json_lines: int  # stdout lines (stdio), reply bodies or SSE events (HTTP) not JSON
    malformed: int  # JSON messages that were not JSON-RPC (the non-JSON ones not included)
    oversized_replies: int  # over the target's max_reply_bytes, refused unread
    unknown_replies: int  # replies to ids never sent
    bad_content_type: int  # HTTP replies neither application/json nor text/event-stream
    stdout_closed: bool  # a stdio server closed its stdout while still running
    stdin_closed: bool  # a stdio server closed its stdin while still running
    violations: list[str]
    transport_errors: dict[str, int]  # by detail ("HTTP 500"), most frequent first


class SecurityFinding(TypedDict):
    id: str
    rule: str  # RDY-… (readiness.security.findings.RULES; the SARIF rule ids)
    rule_name: str
    severity: str  # critical | high | medium | low
    category: str  # availability | injection | http | leak | validation
    tool: str  # the tool, "prompt:…", "resource:…", "(protocol)" or "(http)"
    probe_class: str  # schema | injection | protocol | http
    probe: str  # what was sent: escaped, cut to a few hundred characters
    evidence: str  # what came back: escaped, cut likewise
    message: str
    count: int  # probes that hit this rule on this tool (the first is shown)


class SecurityCell(TypedDict):
    probes: int
    findings: int
    worst: str | None  # the most severe finding's severity, None when none


class SecurityResult(TypedDict):
    probes_sent: int
    probes_planned: int
    by_class: dict[str, int]  # probes sent per class
    probe_rate: float  # the configured pace, per second
    duration_s: float  # the probing itself, discovery and raw sessions included
    tools: list[str]
    resources: int
    resource_templates: int
    prompts: int
    skipped: dict[str, str]  # tool → why it was not probed (destructiveHint)
    classes: list[str]  # probe classes that ran
    counts: dict[str, int]  # findings per severity
    crashed: bool
    hangs: int
    stopped: str  # why probing stopped early; empty when it ran its course
    notes: list[str]
    findings: list[SecurityFinding]
    matrix: dict[str, dict[str, SecurityCell]]  # target → probe column → cell


class ReplayMixRow(TypedDict):
    name: str  # method, or "tools/call TOOL"
    captured: int
    replayed: int  # sent


class ReplayResult(TypedDict):
    """A replay next to its capture: requests, mix and rate."""

    file: str
    model: Literal["open", "closed"]  # open: the capture's times; closed: as fast as users go
    speed: float | None  # the capture's times were divided by this (open only)
    sessions: int  # sessions in the capture
    connections: int  # they were replayed over (one per session, up to a limit)
    captured_requests: int
    captured_span_s: float  # first to last captured request
    captured_rate_rps: float | None
    replayed_requests: int  # sent
    replayed_span_s: float  # first send to last completion
    replayed_rate_rps: float | None
    mix: list[ReplayMixRow]


class JourneyStepResult(TypedDict):
    name: str  # the step's operation name, as in `operations`
    failed: int  # journeys that ended here because the request failed
    missing_value: int  # … because a value to save was not in the reply, or one to use unsaved


class JourneyResult(TypedDict):
    name: str
    weight: float
    started: int
    completed: int
    failed: int  # ended by a failed step (see steps[].failed)
    missing_value: int  # ended by a missing value (see steps[].missing_value)
    unfinished: int  # cut off by the end of the load
    steps: list[JourneyStepResult]
    duration_ms: LatencySummary  # completed journeys, first step's start to last step's end
    duration_histogram: str  # LatencyHistogram.encode() of the same


class WorkerShare(TypedDict):
    """One worker's (shard's) part of a scenario run by several."""

    index: int
    sent: int
    ok: int
    late: int
    dropped: int
    throughput_rps: float
    generator: GeneratorStats


class WorkersResult(TypedDict):
    """How many processes ran the scenario's load; their histograms were merged exactly."""

    count: int
    note: str  # "ran in 1 worker: <reason>", or how the load was split
    shards: list[WorkerShare]
    generator_limited: NotRequired[bool]  # some worker's generator was saturated
    workers_needed: NotRequired[int | None]  # a suggestion when the generator limited the run


class TwoWayProgress(TypedDict):
    """Progress of an operation's calls that asked for it (`progress = true`)."""

    calls: int  # that finished (cancelled ones not included)
    events: int
    events_per_call: float
    without_progress: int  # finished without one progress notification
    first_progress_ms: LatencySummary  # from the send to the first notification
    max_gap_ms: LatencySummary  # each call's longest gap between notifications


class TwoWayCancellation(TypedDict):
    """An operation with `cancel_after`: calls cut (and cancelled), and calls that beat it."""

    cancel_after_s: float | None
    cancelled: int
    finished_before_cancel: int


class TwoWayTasks(TypedDict):
    """An operation with `task = true`: what became of its tasks, polls, and times."""

    outcomes: dict[str, int]  # completed, failed, cancelled, stuck, lost, not_created
    polls_per_task: float
    accepted_ms: LatencySummary  # from the tools/call to the created task
    completed_ms: LatencySummary  # from the tools/call to the task's result
    input_rounds: NotRequired[int]  # times tasks stopped for input (answered via tasks/result)


class SubscriptionResult(TypedDict):
    """A subscriptions scenario: N sessions subscribed to one resource, each update (a trigger
    call) should reach every subscriber; then they unsubscribed."""

    uri: str
    sessions: int
    subscribed: int  # sessions whose resources/subscribe succeeded
    trigger_on: str  # "one" (fan-out from one session's call) or "each"
    updates: int  # trigger rounds
    trigger_failures: int  # trigger calls that failed (their round still counts)
    expected: int  # updates × subscribed sessions
    delivered: int  # of those, told within settle
    lost: int
    delivery_ratio: float | None
    duplicates: int  # further notifications of the same update to the same session
    unexpected: int  # notifications outside any update's window (late, or the server's own)
    latency_ms: LatencySummary  # from the trigger call's send to each session's notification
    spread_ms: LatencySummary  # per update: last session told − first session told
    settle_s: float
    unsubscribed: int
    after_unsubscribe: int  # notifications after a session's resources/unsubscribe succeeded
    stream: NotRequired[TwoWayStream]  # HTTP: the GET streams the updates came on


class TwoWayStream(TypedDict):
    """The standalone GET streams (Streamable HTTP, 2025 rules) of the scenario's sessions:
    where a server speaks outside any call (roots at start-up, resource updates)."""

    sessions: int  # sessions that asked for one
    opened: int  # opens that succeeded, reconnects included
    resumed: int  # reconnects that sent Last-Event-ID
    refused: dict[str, int]  # HTTP status → sessions whose server declined (405: no stream)
    failures: int  # opens that failed or streams that broke
    server_requests: int  # answered outside any call
    notifications: int
    client_s: float  # time the simulated client spent answering on it


class TwoWayOperation(TypedDict):
    """One operation (`tools/call NAME`) of a target with a simulated client: its successful
    calls' end-to-end time, the client's share of it, and the server's (the difference)."""

    operation: str
    calls: int  # successful calls
    failed: dict[str, int]  # by outcome
    server_requests: int  # server-initiated requests charged to these calls
    server_requests_per_call: float
    input_rounds: int  # 2026-07-28 input-required retries
    end_to_end_ms: LatencySummary
    client_ms: LatencySummary  # time the simulated client spent answering, per call
    server_ms: LatencySummary  # end-to-end − client time, per call
    progress: NotRequired[TwoWayProgress]
    cancellation: NotRequired[TwoWayCancellation]
    tasks: NotRequired[TwoWayTasks]
    methods: NotRequired[dict[str, int]]  # server requests charged to these calls, by method
    asked_again: NotRequired[int]  # 2026 rounds asking again for an input just given
    # encoded LatencyHistograms (µs) of end_to_end, client and server: mergeable, exact
    histograms: NotRequired[dict[str, str]]


class TwoWayResult(TypedDict):
    """What the server asked of the simulated client ([targets.client]) during a scenario."""

    server_requests: dict[str, int]  # by method (sampling/createMessage, …)
    client_time_s: dict[str, float]  # total time spent answering, by method
    answer_failures: dict[str, int]  # answers the client could not give, by reason
    unattributed: int  # stdio server requests not chargeable to one call (several in flight)
    outside_calls: int  # server requests while no call of ours was in flight
    late_progress: int  # progress notifications over 0.1 s after their call was cancelled
    stray_progress: int  # progress for calls already finished, or for tokens never sent
    late_replies: int  # replies after their call was cancelled or timed out (the server went on)
    operations: list[TwoWayOperation]
    server_time_ms: LatencySummary  # over every operation's successful calls
    client_time_ms: LatencySummary
    stream: NotRequired[TwoWayStream]  # HTTP sessions that opened the standalone GET stream
    duplicate_requests: NotRequired[int]  # server requests sent twice (an id already answered)
    # cancelled calls that went on reporting progress: from the cancel to their last progress
    after_cancel_ms: NotRequired[LatencySummary]
    histograms: NotRequired[dict[str, str]]  # encoded server and client time histograms


class ScenarioResult(TypedDict):
    name: str
    kind: str
    target: str
    status: ScenarioStatus
    error: str | None
    partial: bool  # ended by its deadline or an interruption before the load finished
    stopped: NotRequired[str]  # why a partial scenario stopped early (its timeout)
    started_at: str
    duration_s: float
    load: dict[str, Any]
    method: Method
    totals: Totals
    latency_ms: LatencySummary
    latency_uncorrected_ms: LatencySummary
    failure_latency_ms: LatencySummary
    operations: list[OperationResult]
    timeline: list[TimelinePoint]
    steps: NotRequired[list[ScalingStep]]
    scaling: NotRequired[ScalingSummary]
    memory: NotRequired[MemoryResult]
    payload_steps: NotRequired[list[PayloadStep]]
    payload: NotRequired[PayloadSummary]
    resilience: NotRequired[ResilienceStats]
    chaos: NotRequired[ChaosResult]
    overload: NotRequired[OverloadResult]
    pool: NotRequired[PoolResult]
    health: NotRequired[HealthResult]  # the target's own health probes, when configured
    protocol: NotRequired[ProtocolNotes]
    two_way: NotRequired[TwoWayResult]  # targets with [targets.client]
    subscriptions: NotRequired[SubscriptionResult]  # kind = "subscriptions"
    security: NotRequired[SecurityResult]
    journeys: NotRequired[list[JourneyResult]]
    replay: NotRequired[ReplayResult]
    generator: GeneratorStats
    server: ServerResources
    checks: list[CheckResult]
    histograms: Histograms
    intervals: NotRequired[IntervalData]  # schema 2 on
    # `run --repeat N`: this entry pools the N repetitions (see scenarios/repeats.py); each is
    # kept in full under `repeats`, tagged with its 1-based `repeat`, in the order it ran.
    repeat: NotRequired[int]
    repeats: NotRequired[list[ScenarioResult]]
    spread: NotRequired[dict[str, Spread]]  # figure → its run-to-run spread (SI units)
    workers: NotRequired[WorkersResult]  # run by several worker processes (--workers, merge)


class TargetInfo(TypedDict):
    name: str
    transport: Literal["stdio", "http"]
    command: str | None  # secrets redacted
    url: str | None  # secrets redacted
    protocol: str  # as configured
    protocol_version: str | None  # as negotiated
    server_info: dict[str, Any]
    http_client: NotRequired[str]  # http targets: "fast" (httptools) or "aiohttp"
    score: NotRequired[Score]  # this target's own score, when the run has several targets


ScoreStatus = Literal["ready", "conditional", "not_ready"]


class ScoredCheck(TypedDict):
    """One check as the score sees it; a deduction is a ScoredCheck that lost points."""

    scenario: str
    target: str
    check: str  # the expression, e.g. "p99 < 300ms"
    category: str
    passed: bool
    critical: bool
    weight: float
    credit: float  # share of its points kept, 0..1
    points: float  # points of the 0–100 score it lost
    observed: str  # as shown: "412 ms", "—" when not measured
    required: str  # as shown: "< 300 ms"
    reason: str  # passed | failed | not measured | scenario ended in error
    metric: str
    unit: str
    op: str
    observed_value: float | None  # SI units, as in the scenario's checks
    interval: NotRequired[str]  # its 95% interval as shown ("95%: 10.6 ms–12.9 ms"), or ""
    limit: float | None


class CategoryScore(TypedDict):
    name: str  # performance, scalability, stability, fault_tolerance, recovery, security
    label: str  # "Fault tolerance"
    weight: float  # as configured
    share: float  # of the score, 0..1: weight over the assessed categories' weights (0 if not)
    assessed: bool
    value: float | None  # 0–100; None when not assessed
    scenarios: list[str]  # "target.scenario" of the scenarios that count here
    checks: list[ScoredCheck]


class ScoringSettings(TypedDict):
    """[scoring] as used, so `readiness report` can score the run again the same way."""

    weights: dict[str, float]
    ready: float
    conditional: float
    categories: dict[str, str]


class Score(TypedDict):
    value: float | None  # 0–100 (one decimal, never rounded up to 100); None: nothing assessed
    status: ScoreStatus
    label: str  # READY | CONDITIONALLY READY | NOT READY
    rule: str  # how the value and status were reached, in words
    checks_total: int
    checks_passed: int
    scenarios_total: int
    scenarios_passed: int
    critical_failed: list[str]  # "scenario: check" of failed critical checks
    categories: list[CategoryScore]
    deductions: list[ScoredCheck]  # largest first
    limitations: list[str]  # from failed, errored and unassessed checks, in order of weight
    warnings: list[str]  # e.g. the generator, not the server, was the bottleneck
    config: ScoringSettings


class Environment(TypedDict):
    hostname: str
    platform: str
    python: str
    cpu_count: int | None
    packages: dict[str, str]


class DaskInfo(TypedDict):
    """Where a `run --dask` ran: its scheduler and each shard's Dask worker (by index)."""

    scheduler: str
    shards: list[str | None]  # None: the shard never said where it ran


class RunInfo(TypedDict):
    name: str
    started_at: str
    finished_at: str | None
    tool_version: str
    status: RunStatus
    config: str  # the suite's source file, or "<built-in default suite>"
    argv: list[str]
    seed: NotRequired[int]  # of templated arguments' draws: the same seed draws the same values
    segment: NotRequired[str]  # "i/N": this results.json is shard i of N (run --segment)
    workers: NotRequired[int]  # merged from this many shards (run --workers, merge)
    dask: NotRequired[DaskInfo]  # the shards ran on a Dask cluster (run --dask)
    metrics: NotRequired[MetricsInfo]  # run --metrics-port / --pushgateway


class MetricsInfo(TypedDict):
    """Where the run exposed its live metrics, and how its pushes went."""

    url: str | None  # the /metrics endpoint served during the run
    pushgateway: str | None
    run_id: str  # the Pushgateway grouping key `run`
    pushes: int  # pushes that succeeded
    push_errors: list[str]  # each failed push: a warning, never a lost result


class RunSummary(TypedDict):
    scenarios_total: int
    scenarios_passed: int
    checks_total: int
    checks_passed: int


FleetMode = Literal["sequential", "parallel"]


class FleetFinding(TypedDict):
    severity: str  # critical | high | medium | low
    rule: str  # RDY-…
    rule_name: str
    tool: str


class FleetRow(TypedDict):
    """One target of a fleet at a glance; a figure is None when the target ran no scenario
    of the kind it comes from."""

    target: str
    status: ScoreStatus  # the target's own score status
    label: str  # READY | CONDITIONALLY READY | NOT READY
    score: float | None
    scenarios_status: ScenarioStatus | None  # the worst of its scenarios' statuses
    scenarios_total: int
    checks_passed: int
    checks_total: int
    throughput_rps: float | None  # the highest of its throughput scenarios
    p99_ms: float | None  # the worst p99 of its throughput scenarios
    leak: Literal["leak", "stable", "inconclusive"] | None  # its memory scenarios, worst
    recovery_time_s: float | None  # its recovery scenarios, slowest (None: not recovered)
    recovered: bool | None  # every recovery scenario recovered
    findings: int | None  # security findings (0: probed, none found)
    worst_finding: FleetFinding | None


class FleetSummary(TypedDict):
    """Several [[targets]] in one run: how they ran and one row per target."""

    mode: FleetMode  # one target after another, or all side by side
    status: ScoreStatus  # the worst target's: the run's overall status
    rows: list[FleetRow]


class RunResult(TypedDict):
    schema_version: int
    run: RunInfo
    environment: Environment
    targets: list[TargetInfo]
    scenarios: list[ScenarioResult]
    summary: RunSummary
    score: NotRequired[Score]
    fleet: NotRequired[FleetSummary]  # when the run has several targets
    comparison: NotRequired[Comparison]  # `run --baseline`: this run against the baseline


def summarize(scenarios: list[ScenarioResult]) -> RunSummary:
    checks = [c for s in scenarios for c in s["checks"]]
    return RunSummary(
        scenarios_total=len(scenarios),
        scenarios_passed=sum(1 for s in scenarios if s["status"] == "passed"),
        checks_total=len(checks),
        checks_passed=sum(1 for c in checks if c["passed"]),
    )


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder, then rename: never a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dump_json(result: RunResult) -> bytes:
    import orjson

    return orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"


def as_stored(result: RunResult) -> RunResult:
    """The result as results.json holds it (tuples as lists, …): what every report renders
    from, so a report written now and one rendered from the file later are the same bytes."""
    import orjson

    stored: RunResult = orjson.loads(dump_json(result))
    return stored


def write_results(result: RunResult, folder: Path) -> Path:
    path = folder / "results.json"
    write_atomic(path, dump_json(result))
    return path


_TOP_KEYS = {
    "run": dict,
    "environment": dict,
    "targets": list,
    "scenarios": list,
    "summary": dict,
}
_SCENARIO_KEYS = ("name", "kind", "target", "status", "checks", "totals", "latency_ms")


def load_results(path: Path) -> RunResult:
    """Read a results.json (`path` is the file or its folder); a file that is missing, not
    JSON, of a newer schema or not a readiness result raises ConfigError naming the file."""
    import orjson

    from readiness.errors import ConfigError

    if path.is_dir():
        path = path / "results.json"
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise ConfigError("a folder, not a results file", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", file=str(path)) from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON ({exc})", file=str(path)) from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if type(version) is not int or not isinstance(data, dict):
        raise ConfigError("not a readiness results file (no schema_version)", file=str(path))
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"schema version {version} is newer than this readiness reads ({SCHEMA_VERSION});"
            " upgrade readiness to render it",
            file=str(path),
        )
    problem = _shape_problem(data)
    if problem or version < 1:
        raise ConfigError(
            f"not a readiness results file ({problem or 'bad schema_version'})", file=str(path)
        )
    for scenario in data["scenarios"]:
        _fill_older_overload(scenario.get("overload"))
    if "fleet" not in data and len(data["targets"]) > 1:
        from readiness.fleet import fleet_summary

        # Written before fleets were summarised: every such run went one target at a time.
        fleet = fleet_summary(data, "sequential")  # type: ignore[arg-type]
        if fleet is not None:
            data["fleet"] = fleet
    return data  # type: ignore[return-value]


def _fill_older_overload(overload: Any) -> None:
    """Overload results written before the probe searched for the limit have no `outcome`:
    they claimed an overload whenever they found a sustainable rate, so read them that way."""
    if not isinstance(overload, dict) or "outcome" in overload:
        return
    found = overload.get("max_sustainable_rate")
    overload["outcome"] = "overloaded" if found is not None else "not_measured"
    overload.setdefault("max_rate", None)
    unrecorded = {"cpu_percent": None, "saturated": False, "saturation_reason": ""}
    overload.setdefault("probe_generator", [unrecorded for _ in overload.get("probe") or ()])
    overload.setdefault("generator_limit", "not recorded (an older results file)")
    overload.setdefault("highest_kept_up_rate", found)


def _shape_problem(data: dict[str, Any]) -> str:
    for key, kind in _TOP_KEYS.items():
        if not isinstance(data.get(key), kind):
            return f"no {key} {'list' if kind is list else 'table'}"
    for i, scenario in enumerate(data["scenarios"]):
        if not isinstance(scenario, dict):
            return f"scenarios[{i}] is not a table"
        for key in _SCENARIO_KEYS:
            if key not in scenario:
                return f"scenarios[{i}] has no {key}"
    return ""
