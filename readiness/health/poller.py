"""Polls a target's health endpoints every `interval`, off the request hot path, and keeps each
answer (status, latency) with its time; notes the loads the scenario drove so the figures can
set the server's word beside what its MCP calls did.

Times are `time.perf_counter()` seconds, the clock the load recorder uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import anyio
from anyio.abc import TaskStatus

from readiness.protocol.outcome import Outcome

if TYPE_CHECKING:
    import aiohttp

    from readiness.config.health import HealthConfig
    from readiness.metrics.recorder import Recording

# Only this much of a metrics page is read: a scrape must not become a memory hazard.
MAX_METRICS_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class ProbeSample:
    """One poll: HTTP status (None when nothing answered) and latency of the answer."""

    probe: str
    at_s: float
    status: int | None
    latency_ms: float | None
    error: str = ""

    @property
    def up(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class MetricsScrape:
    """The selected series of one successful scrape (None: not on the page)."""

    at_s: float
    values: dict[str, float | None]
    explicit: bool  # taken around a load, not by the periodic poll


@dataclass(frozen=True)
class LoadMark:
    """One load the scenario drove: when it started, its per-second MCP outcomes, and its
    tools/call outcome counts (what a server's tool-call counters count)."""

    start_s: float
    end_s: float
    warmup: bool
    seconds: list[tuple[int, int]]  # (ok, failed) per second; rejected-by-us left out
    tool_calls: int  # tools/call requests that reached an answer or failed, not rejected
    tool_failures: int


@dataclass
class HealthWatch:
    """A target's health endpoints and what they said during one scenario."""

    config: HealthConfig
    urls: dict[str, str]  # probe → absolute URL
    samples: list[ProbeSample] = field(default_factory=list)
    scrapes: list[MetricsScrape] = field(default_factory=list)
    failed_scrapes: int = 0
    loads: list[LoadMark] = field(default_factory=list)
    started_s: float = field(default_factory=time.perf_counter)
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)

    @classmethod
    def for_target(cls, config: HealthConfig, target_url: str | None) -> HealthWatch:
        """Paths resolve against the target URL's origin: the real server, never the fault
        proxy readiness may put in front of it (its health must speak for itself)."""
        urls: dict[str, str] = {}
        for probe, where in config.probes().items():
            if where.startswith("/"):
                assert target_url is not None  # the config refuses paths without an origin
                parts = urlsplit(target_url)
                urls[probe] = urljoin(f"{parts.scheme}://{parts.netloc}", where)
            else:
                urls[probe] = where
        return cls(config, urls)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Poll until cancelled. Each round polls every probe at once, each bounded by the
        probe timeout; a slow probe delays the next round, never the load."""
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self.config.timeout)
        connector = aiohttp.TCPConnector(limit=len(self.urls) + 2, force_close=True)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            self._session = session
            self.started_s = time.perf_counter()
            task_status.started()
            try:
                next_at = time.perf_counter()
                while True:
                    async with anyio.create_task_group() as tg:
                        for probe in self.urls:
                            tg.start_soon(self._poll, probe)
                    next_at += self.config.interval
                    await anyio.sleep(max(next_at - time.perf_counter(), 0.0))
            finally:
                self._session = None

    async def scrape_now(self) -> None:
        """One metrics scrape now (around each load), when metrics are configured."""
        if "metrics" in self.urls and self._session is not None:
            await self._poll("metrics", explicit=True)

    def note_load(
        self, start_ns: int, recording: Recording, methods: list[str], *, warmup: bool
    ) -> None:
        seconds = []
        for interval in recording.intervals:
            ok = interval.counts[Outcome.OK]
            failed = sum(interval.counts) - ok - interval.counts[Outcome.REJECTED]
            seconds.append((ok, failed))
        calls = failures = 0
        for method, op in zip(methods, recording.operations, strict=False):
            if method == "tools/call":
                judged = sum(op.counts) - op.counts[Outcome.REJECTED]
                calls += judged
                failures += judged - op.counts[Outcome.OK]
        mark = LoadMark(start_ns / 1e9, time.perf_counter(), warmup, seconds, calls, failures)
        self.loads.append(mark)

    async def _poll(self, probe: str, *, explicit: bool = False) -> None:
        import aiohttp

        session = self._session
        assert session is not None
        url = self.urls[probe]
        started = time.perf_counter()
        status: int | None = None
        error = ""
        body = ""
        try:
            async with session.get(url, allow_redirects=False) as reply:
                status = reply.status
                if probe == "metrics" and 200 <= status < 300:
                    raw = await reply.content.read(MAX_METRICS_BYTES)
                    body = raw.decode("utf-8", errors="replace")
                else:
                    await reply.content.read(64 * 1024)
        except TimeoutError:
            error = f"no answer within {self.config.timeout:g} s"
        except aiohttp.ClientConnectorError as exc:
            error = f"connection refused: {exc.os_error.strerror or exc}"
        except (aiohttp.ClientError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        done = time.perf_counter()
        latency = (done - started) * 1000.0 if status is not None else None
        self.samples.append(ProbeSample(probe, started, status, latency, error))
        if probe != "metrics":
            return
        if not body:
            self.failed_scrapes += 1
            return
        from readiness.health.prometheus import select_series

        try:
            values = select_series(body, self.series_names())
        except ValueError:
            self.failed_scrapes += 1
            return
        self.scrapes.append(MetricsScrape(started, values, explicit))

    def series_names(self) -> dict[str, str]:
        c = self.config
        return {"requests": c.requests_series, "errors": c.errors_series, "memory": c.memory_series}

    def __repr__(self) -> str:
        return (
            f"<HealthWatch [{', '.join(self.urls)}] samples={len(self.samples)}"
            f" scrapes={len(self.scrapes)} loads={len(self.loads)}>"
        )
