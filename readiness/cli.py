"""The command line: parse, call the library, map the outcome to an exit code.

The only module that prints or exits. Heavy imports (numpy, the MCP SDK, aiohttp) happen
inside commands, never at start-up, so `readiness --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from readiness import __version__
from readiness.errors import ConfigError, ExitCode, OutputError, ReadinessError, WorkerFailed

if TYPE_CHECKING:
    from readiness.compare.baseline import SavedBaseline
    from readiness.compare.model import Comparison
    from readiness.config import ScenarioConfig, Suite, TargetConfig
    from readiness.engine.segment import Segment
    from readiness.results import RunResult, ScenarioResult
    from readiness.runner import RunState

app = typer.Typer(
    name="readiness",
    help="Load- and chaos-test MCP servers and write honest readiness reports.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: rich costs more start-up than typer itself
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"readiness {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Load- and chaos-test MCP servers and write honest readiness reports."""


def _fail(exc: ReadinessError, debug: bool) -> NoReturn:
    if debug:
        import traceback

        traceback.print_exception(exc)
    typer.echo(f"{type(exc).__name__}: {exc}", err=True)
    raise typer.Exit(int(exc.exit_code))


def _given(option: str, value: str) -> str:
    """An option's path as given; an empty one (a variable that was not set) is an error."""
    if not value.strip():
        raise ConfigError("an empty path; give a file or folder name", key=option)
    return value


def _writable_file(option: str, value: str) -> Path:
    """A file the run will write at its end, tried now: a path that cannot take it fails
    before any load is sent, not after."""
    import tempfile

    path = Path(_given(option, value))
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; give a file name", key=option)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(prefix=f".{path.name}.", dir=path.parent):
            pass
    except OSError as exc:
        raise OutputError(str(path), exc) from None
    return path


def _check_address(option: str, value: str) -> None:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"expected HOST:PORT, got {value!r}", key=option)


def _run_folder(out: Path | None, name: str) -> Path:
    if out is not None:
        return out
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "run"
    return Path("reports") / f"{stamp}-{safe}"


class FailOn(StrEnum):
    conditional = "conditional"
    not_ready = "not_ready"


FailUnder = Annotated[
    float | None,
    typer.Option(
        "--fail-under",
        min=0,
        max=100,
        help="Exit 1 when the score is below N (0–100). With this or --fail-on, the score"
        " gates the exit code instead of every single check.",
    ),
]
FailOnOption = Annotated[
    FailOn | None,
    typer.Option(
        "--fail-on",
        help="Exit 1 when the status is this or worse (ready < conditional < not_ready).",
    ),
]


@app.command()
def run(
    config: Annotated[
        str | None,
        typer.Option(
            "-c",
            "--config",
            help="Suite file. Default: ./scenarios.toml, else the built-in demo suite.",
        ),
    ] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option("-s", "--scenario", help="Run only this scenario (repeatable)."),
    ] = None,
    target: Annotated[
        list[str] | None,
        typer.Option("--target", help="Run only against this target (repeatable)."),
    ] = None,
    parallel_targets: Annotated[
        bool,
        typer.Option(
            "--parallel-targets",
            help="Run a fleet's targets side by side, each with its own load (default: one"
            " after another). Only when they share no machine bottleneck you care about.",
        ),
    ] = False,
    out: Annotated[
        str | None,  # not Path: Path("") is ".", and an empty --out must not mean "here"
        typer.Option("--out", help="Report folder. Default: reports/<UTC time>-<run name>/."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No live display; a line per scenario.")
    ] = False,
    fail_under: FailUnder = None,
    fail_on: FailOnOption = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help="Compare with this run (results.json or its folder); exit 4 on a regression.",
        ),
    ] = None,
    save_baseline: Annotated[
        str | None,  # not Path: an empty one must not mean "."
        typer.Option("--save-baseline", help="After the run, save its results.json here."),
    ] = None,
    repeat: Annotated[
        int,
        typer.Option(
            "--repeat",
            min=1,
            max=100,
            help="Run each scenario N times, interleaved (A1 B1 A2 B2 …); report the spread.",
        ),
    ] = 1,
    workers: Annotated[
        str,
        typer.Option(
            "--workers",
            help="Worker processes that share each scenario's load (N or auto: cores − 1 for"
            " a URL target); their histograms merge exactly.",
        ),
    ] = "1",
    segment: Annotated[
        str | None,
        typer.Option(
            "--segment",
            help="Run shard i of N (i from 0) of each scenario's load and write a shard"
            " results.json for `readiness merge`.",
        ),
    ] = None,
    coordinator: Annotated[
        str | None, typer.Option("--coordinator", hidden=True)  # set by --workers for its workers
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            help="Run each scenario's load as shards on a Dask cluster (tcp://HOST:8786), one"
            " per worker `shard` slot (`dask worker --resources shard=1`); merged exactly."
            " Needs readiness[distributed].",
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=0,
            max=65535,
            help="Serve live Prometheus metrics at http://HOST:P/metrics during the run (0: a"
            " free port; the URL is printed and kept in results.json).",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address the metrics endpoint binds.")
    ] = "127.0.0.1",
    pushgateway: Annotated[
        str | None,
        typer.Option(
            "--pushgateway",
            help="Push the series to this Prometheus Pushgateway after each scenario and at"
            " the end (job readiness, grouped by run); a failed push is only a warning.",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Run the scenarios of a suite; write results.json, report.md, report.html, junit.xml."""
    from readiness.config import find_suite
    from readiness.runner import new_state, plan_pairs

    try:
        suite = find_suite(None if config is None else _given("-c/--config", config), Path.cwd())
        pairs = plan_pairs(suite, scenario or (), target or None)
        out_path = None if out is None else Path(_given("--out", out))
        base = _load_baseline(baseline)
        count, shard = _split_of(workers, segment, pairs)
        if dask is not None:
            _check_dask(dask, pairs, count, shard, repeat, parallel_targets, coordinator)
        if coordinator is not None:
            _check_address("--coordinator", coordinator)
        if repeat > 1 and (count > 1 or shard.count > 1):
            raise ConfigError(
                "--repeat with --workers or --segment: give one (repetitions of a scenario split"
                " across workers are not pooled yet)"
            )
        if parallel_targets and (count > 1 or shard.count > 1):
            raise ConfigError(
                "--parallel-targets with --workers or --segment: give one (workers share one"
                " scenario's load; side by side targets each run their own)"
            )
        exposure = _Exposure(metrics_host, metrics_port, pushgateway)
        if exposure.wanted and (count > 1 or dask is not None):
            split = "--workers" if count > 1 else "--dask"
            raise ConfigError(
                f"--metrics-port or --pushgateway with {split}: give one (each worker is a"
                " process of its own; run each shard with --segment and scrape each)"
            )
        # Last: it makes the folder the baseline goes to.
        keep_as = None
        if save_baseline is not None:
            keep_as = _writable_file("--save-baseline", save_baseline)
    except ReadinessError as exc:
        _fail(exc, debug)
    folder = _run_folder(out_path, suite.run.name)
    state = new_state(
        suite, folder, _command_line(), parallel_targets=parallel_targets, pairs=pairs
    )
    if segment is not None:
        state.result["run"]["segment"] = str(shard)
    try:
        state.save()  # a folder that cannot take results.json fails before any load is sent
    except ReadinessError as exc:
        _fail(exc, debug)
    if dask is not None:
        code = _execute_dask(suite, state, pairs, dask, debug=debug, baseline=base)
    elif count > 1:
        forwarded = [*(["-c", config] if config is not None else [])]
        forwarded += [arg for name in scenario or () for arg in ("-s", name)]
        forwarded += [arg for name in target or () for arg in ("--target", name)]
        forwarded += ["--debug"] if debug else []
        code = _execute_workers(suite, state, pairs, count, forwarded, debug=debug, baseline=base)
    else:
        try:
            code = _execute(
                suite,
                state,
                pairs,
                quiet=quiet,
                debug=debug,
                baseline=base,
                segment=shard,
                coordinator=coordinator,
                repeat=repeat,
                exposure=exposure,
            )
        except WorkerFailed as exc:  # a worker that cannot reach its coordinator
            _fail(exc, debug)
    if code in (ExitCode.OK, ExitCode.CHECKS_FAILED) and (fail_under, fail_on) != (None, None):
        code = _score_gate(state.result, fail_under, fail_on)
    comparison = state.result.get("comparison")
    if code == ExitCode.OK and comparison is not None and comparison["regressed"]:
        code = ExitCode.REGRESSION  # a failed gate (1) wins over a regression
    if keep_as is not None:
        try:
            _print_saved(_save_run_as_baseline(state.folder, keep_as))
        except ReadinessError as exc:
            _fail(exc, debug)
    raise typer.Exit(int(code))


def _execute(
    suite: Suite,
    state: RunState,
    pairs: list[tuple[ScenarioConfig, TargetConfig]],
    *,
    quiet: bool,
    debug: bool,
    baseline: tuple[RunResult, Path] | None = None,
    segment: Segment | None = None,
    coordinator: str | None = None,
    repeat: int = 1,
    exposure: _Exposure | None = None,
) -> ExitCode:
    import anyio

    from readiness.engine.segment import WHOLE
    from readiness.live import choose_display
    from readiness.runner import finish, run_suite

    display = choose_display(quiet)
    shard = segment or WHOLE
    exposure = exposure or _Exposure()

    def done(result: ScenarioResult) -> None:
        display.scenario_done(_scenario_line(result))
        exposure.scenario_done()

    hard_stop = False

    async def load() -> None:
        gate = None
        if coordinator is not None:
            from readiness.distributed.coordinator import StartGate

            gate = await StartGate.connect(coordinator, shard.index)
        try:
            async with anyio.create_task_group() as tg:

                async def stop_at_once() -> None:
                    nonlocal hard_stop
                    await _watch_interrupts(state)  # returns on a second interrupt
                    hard_stop = True
                    tg.cancel_scope.cancel()

                tg.start_soon(stop_at_once)
                await run_suite(
                    suite,
                    state,
                    pairs,
                    on_progress=display.update,
                    on_scenario_done=done,
                    segment=shard,
                    coordinator=gate,
                    repeat=repeat,
                )
                tg.cancel_scope.cancel()
        finally:
            if gate is not None:
                await gate.aclose()

    async def main() -> None:
        await exposure.around(state, load)

    with display:
        try:
            anyio.run(main)
        except KeyboardInterrupt:  # before the signals were ours
            hard_stop = True
            state.interrupt.set()
        except ConfigError as exc:  # the metrics port could not be bound; nothing ran
            _fail(exc, debug)
    if hard_stop:
        finish(state)
    for warning in exposure.warnings(state):
        typer.echo(f"warning: {warning}", err=True)
    return _conclude(state, suite, baseline, debug)


class _Exposure:
    """The run's live metrics as asked on the command line: an endpoint, a Pushgateway."""

    def __init__(
        self, host: str = "127.0.0.1", port: int | None = None, pushgateway: str | None = None
    ) -> None:
        self.host, self.port, self.pushgateway = host, port, pushgateway
        self._request_push: Callable[[str], None] | None = None

    @property
    def wanted(self) -> bool:
        return self.port is not None or self.pushgateway is not None

    def scenario_done(self) -> None:
        if self._request_push is not None:
            self._request_push("scenario")

    async def around(self, state: RunState, body: Callable[[], Awaitable[None]]) -> None:
        """Run `body` with the metrics exposed (when asked), and note them in results.json."""
        if not self.wanted:
            await body()
            return
        from readiness.metrics.endpoint import open_metrics
        from readiness.results import MetricsInfo

        async with open_metrics(
            host=self.host, port=self.port, pushgateway=self.pushgateway, run_id=state.folder.name
        ) as export:
            state.live = export.live
            info = MetricsInfo(
                url=export.url,
                pushgateway=self.pushgateway,
                run_id=export.run_id,
                pushes=0,
                push_errors=[],
            )
            state.result["run"]["metrics"] = info
            if export.url is not None:
                typer.echo(f"metrics: {export.url}", err=True)
            self._request_push = export.request_push
            try:
                await body()
            finally:
                self._request_push = None
        info["pushes"] = export.pushes  # after the final push, made on leaving the block
        info["push_errors"] = list(export.push_errors)
        if self.pushgateway is not None:
            try:
                state.save()
            except OutputError as exc:
                state.fatal = state.fatal or exc

    def warnings(self, state: RunState) -> list[str]:
        info = state.result["run"].get("metrics")
        return [] if info is None else list(info["push_errors"])


def _conclude(
    state: RunState, suite: Suite, baseline: tuple[RunResult, Path] | None, debug: bool
) -> ExitCode:
    """After the load: the baseline comparison, the reports, the lines on the terminal."""
    failure: ConfigError | None = None
    if baseline is not None:
        try:
            _compare_with_baseline(state, suite, baseline)
        except (KeyError, TypeError, ValueError) as exc:
            failure = _unreadable(exc, baseline[1])
        except OutputError as exc:
            state.fatal = exc
    if not isinstance(state.fatal, OutputError):  # else the reports would fail the same way
        try:
            _write_reports(state)
        except OutputError as exc:
            state.fatal = exc
    for trace in map(state.redact, state.internal_errors):
        if debug:
            typer.echo(trace, err=True)
        log = state.folder / "logs" / "internal-errors.txt"
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a") as handle:
                handle.write(trace + "\n")
        except OSError:
            break  # the run's fatal error says why the folder cannot be written
    if isinstance(state.fatal, OutputError):
        typer.echo(
            f"OutputError: {state.fatal}; the run stopped, and results.json keeps what was"
            " written before",
            err=True,
        )
    elif state.fatal is not None:
        typer.echo(state.redact(f"{type(state.fatal).__name__}: {state.fatal}"), err=True)
    score = state.result.get("score")
    if score is not None and score["value"] is not None:
        typer.echo(f"score: {score['value']:.1f}/100 {score['label']}")
    unproven = [
        f"{s['name']}: {c['expression']}"
        for s in state.result["scenarios"]
        for c in s["checks"]
        if c.get("verdict") == "inconclusive" and c["observed"] is not None
    ]
    # A run stopped by its output says that one line alone (its reports were not written).
    if (
        unproven
        and suite.gate.on_inconclusive == "warn"
        and not isinstance(state.fatal, OutputError)
    ):
        typer.echo(
            f"not proven: {len(unproven)} check(s) inconclusive — their 95% interval straddles"
            f" the limit ({'; '.join(unproven)}); [gate] on_inconclusive = warn lets them pass",
            err=True,
        )
    if state.result["run"]["status"] == "inconclusive":
        typer.echo(
            "inconclusive: a scenario could not be judged (see its reason in the report);"
            " that is not a pass",
            err=True,
        )
    typer.echo(f"report: {state.folder}")
    if failure is not None:
        typer.echo(f"{type(failure).__name__}: {failure}", err=True)
        return ExitCode.USAGE
    code = _exit_code(state)
    comparison = state.result.get("comparison")
    if comparison is not None:
        counts = comparison["counts"]
        typer.echo(
            f"baseline: {counts['regressed']} regressed · {counts['not_comparable']} not comparable"
            f" · {counts['improved']} improved · {counts['unchanged']} unchanged"
        )
    return code


def _split_of(
    workers: str, segment: str | None, pairs: list[tuple[ScenarioConfig, TargetConfig]]
) -> tuple[int, Segment]:
    """How many worker processes, and which shard this process runs; ConfigError for a bad
    value, or for a split of a stdio target (each worker would start a server of its own, and
    the figures would be several servers', not the one under test)."""
    from readiness.distributed.workers import auto_workers
    from readiness.engine.segment import WHOLE, Segment

    stdio = sorted({t.name for _, t in pairs if t.transport == "stdio"})
    if workers == "auto":
        count = 1 if stdio else auto_workers()
    elif workers.isdigit() and int(workers) >= 1:
        count = int(workers)
    else:
        raise ConfigError(f"--workers {workers!r}: expected a whole number >= 1 or auto")
    shard = WHOLE
    if segment is not None:
        try:
            shard = Segment.parse(segment)
        except ValueError as exc:
            raise ConfigError(f"--segment: {exc}") from None
        if count > 1:
            raise ConfigError("--workers and --segment: give one (a segment is one worker's share)")
    if (count > 1 or shard.count > 1) and stdio:
        option = f"--workers {count}" if count > 1 else f"--segment {shard}"
        raise ConfigError(
            f"{option}: target {stdio[0]!r} is a stdio server, one process per client; each"
            " worker would test a server of its own. Use an HTTP URL target, or one worker"
        )
    return count, shard


def _note_unrun(
    state: RunState,
    pairs: list[tuple[ScenarioConfig, TargetConfig]],
    failures: dict[int, str],
) -> None:
    """A scenario no worker got to (one died first) is an error that says why, not absent."""
    from readiness.runner import error_result
    from readiness.scenarios.base import now_iso

    if not failures:
        return
    ran = {(s["name"], s["target"]) for s in state.result["scenarios"]}
    why = "; ".join(failures[i] for i in sorted(failures))
    for scenario, target in pairs:
        if (scenario.name, target.name) not in ran:
            result = error_result(scenario, target, now_iso(), f"not run: {why}")
            state.result["scenarios"].append(result)


def _execute_workers(
    suite: Suite,
    state: RunState,
    pairs: list[tuple[ScenarioConfig, TargetConfig]],
    count: int,
    run_args: list[str],
    *,
    debug: bool,
    baseline: tuple[RunResult, Path] | None,
) -> ExitCode:
    import signal

    import anyio

    from readiness.distributed.workers import WorkerPool

    def started(label: str) -> None:
        typer.echo(f"workers: started {label}", err=True)

    pool = WorkerPool(count, state.folder, run_args, on_start=started)

    async def main() -> None:
        async with anyio.create_task_group() as tg:

            async def forward_interrupts() -> None:
                stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
                with anyio.open_signal_receiver(*stops) as signals:
                    async for _ in signals:
                        if pool.interrupted:
                            typer.echo("interrupted again: ending the workers now", err=True)
                            await pool.kill()
                            continue
                        typer.echo("interrupted: stopping the workers; results so far will be"
                                   " kept (interrupt again to stop at once)", err=True)  # fmt: skip
                        pool.interrupt()

            tg.start_soon(forward_interrupts)
            async with anyio.create_task_group() as workers:
                await workers.start(pool.run)
                pids = ", ".join(str(pid) for pid in pool.pids)
                typer.echo(f"workers: {count} (pids {pids}); logs in {state.folder / 'logs'}",
                           err=True)  # fmt: skip
            tg.cancel_scope.cancel()

    anyio.run(main)
    return _conclude_shards(
        state, suite, pairs, pool.merged(), pool.failures, pool.interrupted, baseline, debug
    )


def _conclude_shards(
    state: RunState,
    suite: Suite,
    pairs: list[tuple[ScenarioConfig, TargetConfig]],
    merged: RunResult | None,
    failures: dict[int, str],
    interrupted: bool,
    baseline: tuple[RunResult, Path] | None,
    debug: bool,
) -> ExitCode:
    """After worker processes or Dask shards: the merged run, its failures, its reports."""
    from readiness.errors import WorkerFailed

    if merged is None and interrupted:  # stopped at once: an interrupted run with nothing kept
        from readiness.runner import finish

        state.interrupt.set()
        finish(state)
        try:
            state.save()
        except OutputError as exc:
            state.fatal = exc
        return _conclude(state, suite, baseline, debug)
    if merged is None:
        reasons = "; ".join(failures[i] for i in sorted(failures)) or "no worker wrote results"
        typer.echo(f"WorkerFailed: {reasons}", err=True)
        return ExitCode.CHECKS_FAILED
    merged["run"]["argv"] = _command_line()
    state.result = merged
    _note_unrun(state, pairs, failures)
    if failures:
        state.fatal = WorkerFailed("; ".join(failures[i] for i in sorted(failures)))
    if interrupted:
        state.interrupt.set()
        # A worker ended by a second interrupt never wrote its final status: the run was
        # interrupted, as a single process's would be.
        state.result["run"]["status"] = "interrupted"
    try:
        state.save()
    except OutputError as exc:
        state.fatal = exc
    for result in merged["scenarios"]:
        typer.echo(_scenario_line(result))
    return _conclude(state, suite, baseline, debug)


def _check_dask(
    address: str,
    pairs: list[tuple[ScenarioConfig, TargetConfig]],
    count: int,
    shard: Segment,
    repeat: int,
    parallel_targets: bool,
    coordinator: str | None,
) -> None:
    """ConfigError for a --dask run that cannot be: no `distributed`, or options that split
    the load another way, or a stdio target (each shard would test a server of its own)."""
    scheme, sep, rest = address.strip().rpartition("://")
    if not rest or (sep and scheme not in ("tcp", "tls", "ws", "wss")):
        raise ConfigError(
            f"--dask {address!r}: give the scheduler's address, e.g. tcp://scheduler:8786"
        )
    clash = [
        name
        for name, given in (
            ("--workers", count > 1),
            ("--segment", shard.count > 1 or coordinator is not None),
            ("--repeat", repeat > 1),
            ("--parallel-targets", parallel_targets),
        )
        if given
    ]
    if clash:
        raise ConfigError(
            f"--dask with {clash[0]}: give one (the Dask cluster's shard slots split the load)"
        )
    stdio = sorted({t.name for _, t in pairs if t.transport == "stdio"})
    if stdio:
        raise ConfigError(
            f"--dask: target {stdio[0]!r} is a stdio server, one process per client; each"
            " shard would test a server of its own. Use an HTTP URL target"
        )
    try:
        import distributed  # noqa: F401  (a broken install is refused like a missing one)
    except ImportError:
        raise ConfigError(
            "--dask needs Dask's `distributed`: pip install 'readiness[distributed]'"
        ) from None


def _execute_dask(
    suite: Suite,
    state: RunState,
    pairs: list[tuple[ScenarioConfig, TargetConfig]],
    address: str,
    *,
    debug: bool,
    baseline: tuple[RunResult, Path] | None,
) -> ExitCode:
    import signal

    import anyio

    from readiness.distributed.cluster import DaskRun

    def started(label: str) -> None:
        typer.echo(f"dask: started {label}", err=True)

    shards = DaskRun(address, suite, pairs, _command_line(), on_start=started)

    async def main() -> None:
        async with anyio.create_task_group() as tg:

            async def forward_interrupts() -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        if shards.interrupted:
                            typer.echo("interrupted again: cancelling the shards now", err=True)
                            tg.cancel_scope.cancel()
                            return
                        typer.echo("interrupted: stopping the shards; results so far will be"
                                   " kept (interrupt again to stop at once)", err=True)  # fmt: skip
                        shards.interrupt()

            tg.start_soon(forward_interrupts)
            async with anyio.create_task_group() as run:
                await run.start(shards.run)
                placed = f"{shards.count} shard slots at {address}"
                typer.echo(f"dask: {placed}, run {shards.run_id}", err=True)
            tg.cancel_scope.cancel()

    from readiness.errors import unwrapped_groups

    try:
        with unwrapped_groups():
            anyio.run(main)
    except ReadinessError as exc:
        _fail(exc, debug)
    return _conclude_shards(
        state, suite, pairs, shards.merged(), shards.failures, shards.interrupted, baseline, debug
    )


async def _watch_interrupts(state: RunState) -> None:
    """Set the run's interrupt on the first signal; return on the second, for the caller to
    cancel the run (not raise KeyboardInterrupt out of a task: asyncio would print it)."""
    import signal

    import anyio

    # SIGTERM (a CI runner cancelling the job) and SIGHUP (its terminal closing) mean what
    # Ctrl-C means: stop, keep what was measured, exit 130; a second one stops at once.
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async for _ in signals:
            if state.interrupt.is_set():
                from readiness.process import kill_our_descendants

                # Stop at once: the servers get no grace period, what was kept is written.
                kill_our_descendants()
                typer.echo("interrupted again: stopping now", err=True)
                return
            state.interrupt.set()
            typer.echo(
                "interrupted: stopping the load and ending the servers; results so far will be"
                " written (interrupt again to stop at once)",
                err=True,
            )


def _write_reports(state: RunState) -> None:
    from readiness.reports.writer import write_reports
    from readiness.results import as_stored

    stored = as_stored(state.result)
    try:
        write_reports(stored, state.folder)
    except OSError as exc:
        raise OutputError(str(state.folder), exc) from None
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        from readiness.reports.markdown import render_summary

        try:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(render_summary(stored) + "\n")
        except OSError as exc:
            typer.echo(f"cannot append to GITHUB_STEP_SUMMARY ({summary_file}): {exc}", err=True)


def _command_line() -> list[str]:
    """The command as a user would type it again: `readiness …`, whether it was started by the
    console script's full path or as `python -m readiness.cli`."""
    return ["readiness", *sys.argv[1:]]


def _score_gate(result: RunResult, fail_under: float | None, fail_on: FailOn | None) -> ExitCode:
    """Exit 1 when the score is below --fail-under or the status is --fail-on or worse. A fleet
    is held to its lowest target's score, as its status is its least ready target's."""
    from readiness.scoring import score_of, status_at_least

    score = score_of(result)
    lowest = min(
        [score, *(t["score"] for t in result["targets"] if "score" in t)],
        key=lambda s: -1.0 if s["value"] is None else s["value"],
    )
    value = lowest["value"]
    if fail_under is not None and (value is None or value < fail_under):
        shown = "none (nothing was assessed)" if value is None else f"{value:.1f}"
        whose = "" if lowest is score else " (the fleet's lowest target)"
        typer.echo(
            f"gate failed: score {shown}{whose} is below --fail-under {fail_under:g}", err=True
        )
        return ExitCode.CHECKS_FAILED
    if fail_on is not None and status_at_least(score["status"], fail_on.value):
        typer.echo(
            f"gate failed: status {score['label']} is --fail-on {fail_on.value} or worse", err=True
        )
        return ExitCode.CHECKS_FAILED
    return ExitCode.OK


def _exit_code(state: RunState) -> ExitCode:
    status = state.result["run"]["status"]
    if status == "interrupted":
        return ExitCode.INTERRUPTED
    if state.fatal is not None:
        return state.fatal.exit_code
    if status == "passed":
        return ExitCode.OK
    return ExitCode.CHECKS_FAILED  # failed, or inconclusive: a check that could not be judged


def _scenario_line(result: ScenarioResult) -> str:
    from readiness.reports.format import percent

    totals = result["totals"]
    rate = totals["success_rate"]
    p99 = result["latency_ms"]["p99"]
    checks = result["checks"]
    passed = sum(1 for c in checks if c["passed"])
    parts = [
        f"{result['status'].upper():6}",
        f"{result['name']} → {result['target']}"
        + (f" (repeat {result['repeat']})" if "repeat" in result else ""),
    ]
    security = result.get("security")
    if security is not None:
        # Probes are meant to be refused: a success rate would read as a failure.
        counts = security["counts"]
        found = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("critical", "high", "medium", "low"))
        parts += [f"probes {security['probes_sent']}", f"findings {found}"]
    else:
        parts += [
            f"sent {totals['sent']}",
            f"ok {percent(rate)}",
            f"{totals['throughput_rps']:.0f} req/s",
            f"p99 {'—' if p99 is None else f'{p99:.1f} ms'}",
        ]
    parts.append(f"checks {passed}/{len(checks)}")
    unproven = sum(
        1 for c in checks if c.get("verdict") == "inconclusive" and c["observed"] is not None
    )
    if unproven:
        parts[-1] += f" ({unproven} not proven)"
    if result["partial"]:
        parts.append("PARTIAL")
    elif result.get("stopped"):
        parts.append(f"ended: {result['stopped']}")
    if result["error"]:
        parts.append(f"error: {result['error'].splitlines()[0]}")
    return "  ".join(parts)


@app.command()
def merge(
    shards: Annotated[
        list[Path], typer.Argument(help="Shard results.json files (or their folders), 0..N-1.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the merged run.")],
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Merge the shard results of `run --segment i/N` exactly into one run and its reports."""
    from readiness.config.scoring import ScoringConfig
    from readiness.distributed.merge import merge_runs, shard_order
    from readiness.results import load_results
    from readiness.runner import RunState

    try:
        files = [p / "results.json" if p.is_dir() else p for p in shards]
        loaded = []
        for path in files:
            try:
                loaded.append(load_results(path))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise _unreadable(exc, path) from None
        ordered = shard_order(loaded, [str(p) for p in files])
        try:
            merged = merge_runs(ordered)
        except (KeyError, TypeError, ValueError) as exc:
            raise _unreadable(exc, *files) from None
    except ReadinessError as exc:
        _fail(exc, debug)
    state = RunState(result=merged, folder=out, scoring=ScoringConfig())
    try:
        state.save()
        _write_reports(state)
    except ReadinessError as exc:
        _fail(exc, debug)
    for result in merged["scenarios"]:
        typer.echo(_scenario_line(result))
    typer.echo(f"merged {len(ordered)} shards: {out}")
    raise typer.Exit(int(_exit_code(state)))


@app.command()
def report(
    path: Annotated[Path, typer.Argument(help="A results.json, or the run folder holding it.")],
    formats: Annotated[
        str,
        typer.Option(
            "--format",
            help="Comma-separated: md, html, junit, sarif (sarif when a security scenario ran).",
        ),
    ] = "md,html,junit,sarif",
    out: Annotated[
        str | None,
        typer.Option("--out", help="Where to write. Default: the folder of results.json."),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "-c",
            "--config",
            help="Score again with this file's [scoring] (a suite, or [scoring] alone)."
            " Default: the [scoring] stored in results.json.",
        ),
    ] = None,
    fail_under: FailUnder = None,
    fail_on: FailOnOption = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Render a past run again from its results.json: report.md, report.html, junit.xml."""
    try:
        out_path = None if out is None else Path(_given("--out", out))
        result, folder = _rescored(
            path, None if config is None else _given("-c/--config", config), out_path
        )
        from readiness.reports.writer import parse_formats, write_reports

        chosen = parse_formats(formats)
        written = write_reports(result, folder, chosen)
    except ReadinessError as exc:
        _fail(exc, debug)
    except OSError as exc:
        _fail(OutputError(str(out or path), exc), debug)
    except Exception as exc:  # a results.json edited or cut into a shape we never write
        source = path / "results.json" if path.is_dir() else path
        cause = f"{type(exc).__name__}: {exc}".splitlines()[0]
        message = f"cannot render it ({cause}): it is not shaped as readiness writes results"
        error = ConfigError(message + "; --debug shows where", file=str(source))
        error.__cause__ = exc  # what --debug prints
        _fail(error, debug)
    for written_path in written:
        typer.echo(f"wrote {written_path}")
    score = result.get("score")
    if score is not None and score["value"] is not None:
        typer.echo(f"score: {score['value']:.1f}/100 {score['label']}")
    code = ExitCode.OK
    if (fail_under, fail_on) != (None, None):
        code = _score_gate(result, fail_under, fail_on)
    raise typer.Exit(int(code))


def _rescored(path: Path, config: str | None, out: Path | None) -> tuple[RunResult, Path]:
    """The stored run scored again (with its own [scoring], or --config's), and where its
    reports go. With --out elsewhere, results.json goes there too, with the score used."""
    from pydantic import ValidationError

    from readiness.config.scoring import load_scoring
    from readiness.results import as_stored, load_results, write_results
    from readiness.scoring import attach_scores, config_of

    source = path / "results.json" if path.is_dir() else path
    result = load_results(source)
    folder = out if out is not None else source.parent
    elsewhere = folder.resolve() != source.parent.resolve()
    if config is not None and not elsewhere:
        raise ConfigError(
            "scoring a run again with another [scoring] needs --out DIR (another folder),"
            " or its reports would disagree with its results.json",
            key="--config",
        )
    if config is not None:
        scoring = load_scoring(config)
    elif "score" in result:
        try:
            scoring = config_of(result["score"]["config"])
        except (ValidationError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"the stored [scoring] is not valid ({str(exc).splitlines()[0]})",
                file=str(source),
            ) from None
    else:
        from readiness.config.scoring import ScoringConfig

        scoring = ScoringConfig()
    attach_scores(result, scoring)
    result = as_stored(result)
    if elsewhere:
        write_results(result, folder)
    return result, folder


# --- baselines and comparisons --------------------------------------------------------------

_FORMATS = ("md", "html", "json")


def _load_baseline(path: Path | None) -> tuple[RunResult, Path] | None:
    if path is None:
        return None
    from readiness.compare.inputs import load_run

    return load_run(path)


def _compare_with_baseline(state: RunState, suite: Suite, baseline: tuple[RunResult, Path]) -> None:
    from readiness.compare.runs import compare_runs

    base, file = baseline
    state.result["comparison"] = compare_runs(
        base,
        state.result,
        gate=suite.gate,
        base_file=str(file),
        new_file=str(state.folder / "results.json"),
    )
    state.save()


def _unreadable(exc: Exception, *files: Path) -> ConfigError:
    """A results file that passed the shape check but not the comparison's reading of it."""
    names = " or ".join(str(f) for f in files)
    return ConfigError(f"not a readiness result ({type(exc).__name__}: {exc})", file=names)


def _save_run_as_baseline(run: Path, dest: Path | None) -> SavedBaseline:
    from readiness.compare.baseline import save_baseline

    return save_baseline(run, dest, Path.cwd())


def _print_saved(saved: SavedBaseline) -> None:
    from readiness.reports.format import timestamp

    typer.echo(f"saved baseline: {saved.path}")
    typer.echo(f"  run {saved.run}, started {timestamp(saved.started_at)}")
    typer.echo(f"  targets: {', '.join(saved.targets) or '—'}")
    typer.echo(f"  scenarios: {', '.join(saved.scenarios) or '—'}")


@app.command()
def compare(
    base: Annotated[Path, typer.Argument(help="The baseline: a results.json or a run folder.")],
    new: Annotated[Path, typer.Argument(help="The run to judge: a results.json or a run folder.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write comparison.*. Default: NEW's folder."),
    ] = None,
    formats: Annotated[
        str, typer.Option("--format", help="Files to write, comma-separated: md,html,json.")
    ] = "md,html,json",
    config: Annotated[
        str | None,
        typer.Option(
            "-c",
            "--config",
            help="Suite whose [gate] sets tolerances. Default: ./scenarios.toml, else defaults.",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="The bootstrap's seed.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Compare two runs; exit 4 when something regressed beyond its tolerance."""
    from readiness.compare.inputs import load_run
    from readiness.compare.runs import DEFAULT_SEED, compare_runs
    from readiness.config import find_suite

    try:
        chosen = [f.strip() for f in formats.split(",") if f.strip()]
        unknown = [f for f in chosen if f not in _FORMATS]
        if unknown or not chosen:
            raise ConfigError(
                f"unknown format {(unknown or [formats])[0]!r} (formats: {', '.join(_FORMATS)})",
                key="--format",
            )
        base_run, base_file = load_run(base)
        new_run, new_file = load_run(new)
        gate = find_suite(config, Path.cwd()).gate
        comparison = compare_runs(
            base_run,
            new_run,
            gate=gate,
            base_file=str(base_file),
            new_file=str(new_file),
            seed=DEFAULT_SEED if seed is None else seed,
        )
    except ReadinessError as exc:
        _fail(exc, debug)
    except (KeyError, TypeError, ValueError) as exc:  # the right shape, wrong content
        _fail(_unreadable(exc, base, new), debug)
    folder = out if out is not None else new_file.parent
    try:
        written = _write_comparison(comparison, folder, chosen)
    except OSError as exc:
        _fail(ConfigError(f"cannot write the comparison: {exc}", file=str(folder)), debug)
    _print_comparison(comparison)
    for path in written:
        typer.echo(f"wrote {path}")
    raise typer.Exit(int(ExitCode.REGRESSION if comparison["regressed"] else ExitCode.OK))


def _write_comparison(comparison: Comparison, folder: Path, formats: list[str]) -> list[Path]:
    from readiness.reports.comparison import (
        comparison_json,
        render_comparison_html,
        render_comparison_markdown,
    )
    from readiness.results import write_atomic

    render = {
        "md": lambda: render_comparison_markdown(comparison).encode(),
        "html": lambda: render_comparison_html(comparison).encode(),
        "json": lambda: comparison_json(comparison),
    }
    written = []
    for fmt in formats:
        path = folder / f"comparison.{fmt}"
        write_atomic(path, render[fmt]())
        written.append(path)
    return written


def _print_comparison(comparison: Comparison) -> None:
    import shutil

    from rich.console import Console
    from rich.table import Table

    from readiness.compare.model import ALL_OPERATIONS
    from readiness.reports import comparison_format as cf

    table = Table(box=None, pad_edge=False, show_edge=False)
    for name, justify in (
        ("verdict", "left"),
        ("where", "left"),
        ("figure", "left"),
        ("base", "right"),
        ("new", "right"),
        ("change", "right"),
        ("95% CI", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    styles = {"regressed": "red", "improved": "green", "not_comparable": "yellow"}
    for row in comparison["rows"]:
        whole = row["operation"] in (ALL_OPERATIONS, "")
        if not whole and row["verdict"] in ("unchanged", "improved"):
            continue  # compact: operations only when they regressed or could not be compared
        table.add_row(
            row["verdict"],
            cf.where_text(row),
            cf.figure_name(row["metric"]),
            cf.figure_value(row["base"], row["unit"]),
            cf.figure_value(row["new"], row["unit"]),
            cf.change_text(row),
            cf.interval_text(row),
            style=styles.get(row["verdict"]),
        )
    console = Console(highlight=False, width=max(shutil.get_terminal_size().columns, 150))
    for warning in comparison["warnings"]:
        console.print(f"warning: {warning}", style="yellow", markup=False)
    console.print(table)
    counts = comparison["counts"]
    console.print(
        f"{counts['regressed']} regressed · {counts['not_comparable']} not comparable · "
        f"{counts['improved']} improved · {counts['unchanged']} unchanged",
        markup=False,
    )


baseline_app = typer.Typer(
    help="Save a run as the baseline later runs compare against.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(baseline_app, name="baseline")


@baseline_app.command("save")
def baseline_save(
    run: Annotated[Path, typer.Argument(help="A run folder or its results.json.")],
    as_: Annotated[
        Path | None,
        typer.Option(
            "--as", help="Where to save it. Default: baseline.json beside the suite file."
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Copy a run's results.json to a stable place, and say what was saved."""
    try:
        saved = _save_run_as_baseline(run, as_)
    except ReadinessError as exc:
        _fail(exc, debug)
    _print_saved(saved)


@app.command()
def validate(
    config: Annotated[
        str | None,
        typer.Option(
            "-c",
            "--config",
            help="Suite file. Default: ./scenarios.toml, else the built-in demo suite.",
        ),
    ] = None,
    connect: Annotated[
        bool,
        typer.Option(
            "--connect",
            help="Also open each target: the tools, resources and prompts the workload names"
            " must exist, and tool arguments must match the tool's inputSchema.",
        ),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Check a suite without running load: keys, ${VAR}s, thresholds (and, with --connect,
    names and arguments against the servers). Exit 0, 2 (the suite) or 3 (a target)."""
    from readiness.config import find_suite
    from readiness.runner import plan_pairs

    try:
        suite = find_suite(None if config is None else _given("-c/--config", config), Path.cwd())
        pairs = plan_pairs(suite)
        problems: list[str] = []
        if connect:
            import anyio

            from readiness.init.validate import check_suite

            problems = anyio.run(check_suite, suite)
        if problems:
            raise ConfigError(
                "the workload does not match its server(s):\n  " + "\n  ".join(problems),
                file=suite.source,
            )
    except ReadinessError as exc:
        _fail(exc, debug)
    checked = " and its targets" if connect else ""
    typer.echo(
        f"ok: {suite.source}{checked}: {len(suite.targets)} target(s),"
        f" {len(suite.scenarios)} scenario(s), {len(pairs)} run(s)"
    )


@app.command()
def init(
    stdio: Annotated[
        str | None,
        typer.Option("--stdio", help='Start the server with this command: "COMMAND ARGS…".'),
    ] = None,
    url: Annotated[str | None, typer.Option("--url", help="Reach the server at this URL.")] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            help='An HTTP header "Name: value" (repeatable); written as a ${VAR} reference.',
        ),
    ] = None,
    out: Annotated[str, typer.Option("--out", help="The file to write.")] = "scenarios.toml",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    read_only: Annotated[
        bool,
        typer.Option("--read-only", help="Call only tools marked readOnlyHint = true."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Write a scenarios.toml for a server: its operations tried once, with example arguments
    from each tool's inputSchema, and the default scenarios sized for it."""
    import shlex

    import anyio

    from readiness.errors import TargetError
    from readiness.init.command import InitOptions, init_suite, summary

    argv = ["readiness", *sys.argv[1:]] if sys.argv[1:2] == ["init"] else ["readiness", "init"]
    shown = shlex.join(_redact_headers(argv))
    options = InitOptions(stdio, url, tuple(header or ()), read_only, shown)
    try:
        path = Path(_given("--out", out))
        result = anyio.run(lambda: init_suite(options, path, force=force))
    except TargetError as exc:
        if debug:
            import traceback

            traceback.print_exception(exc)
        typer.echo(f"{type(exc).__name__}: {str(exc).splitlines()[0]}", err=True)
        raise typer.Exit(int(exc.exit_code)) from None
    except ReadinessError as exc:
        _fail(exc, debug)
    for line in summary(result):
        typer.echo(line)


def _redact_headers(argv: list[str]) -> list[str]:
    """The command line with every --header value left out (it may be a secret)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--header":
            out += ["--header", "…"]
            skip = True
        elif arg.startswith("--header="):
            out.append("--header=…")
        else:
            out.append(arg)
    return out


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def demo(ctx: typer.Context) -> None:
    """Run the built-in demo MCP server (stdio, or --http --port N). See `readiness demo --help`."""
    from readiness.demo.__main__ import main as demo_main

    raise typer.Exit(demo_main(list(ctx.args), prog="readiness demo"))


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def proxy(ctx: typer.Context) -> None:
    """Fault-injecting HTTP proxy or stdio relay for any MCP client (see --help)."""
    from readiness.chaos.cli_main import main as proxy_main

    raise typer.Exit(proxy_main(list(ctx.args)))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(int(ExitCode.INTERRUPTED))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
