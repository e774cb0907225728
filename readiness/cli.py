"""The command line: parse, call the library, map the outcome to an exit code.

The only module that prints or exits. Heavy imports (numpy, the MCP SDK, aiohttp) happen
inside commands, never at start-up, so `readiness --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from readiness import __version__
from readiness.errors import ConfigError, ExitCode, ReadinessError

if TYPE_CHECKING:
    from readiness.config import ScenarioConfig, Suite, TargetConfig
    from readiness.results import ScenarioResult
    from readiness.runner import RunState

app = typer.Typer(
    name="readiness",
    help="Load- and chaos-test MCP servers and write honest readiness reports.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
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


def _run_folder(out: Path | None, name: str) -> Path:
    if out is not None:
        return out
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "run"
    return Path("reports") / f"{stamp}-{safe}"


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
        str | None, typer.Option("--target", help="Run only against this target.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Report folder. Default: reports/<UTC time>-<run name>/."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No live display; a line per scenario.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Run the scenarios of a suite and write results.json, report.md and report.html."""
    from readiness.config import find_suite
    from readiness.runner import new_state, plan_pairs

    try:
        suite = find_suite(config, Path.cwd())
        pairs = plan_pairs(suite, scenario or (), target)
    except ReadinessError as exc:
        _fail(exc, debug)
    folder = _run_folder(out, suite.run.name)
    try:
        state = new_state(suite, folder, sys.argv)
    except OSError as exc:
        _fail(ConfigError(f"cannot write the report folder: {exc}", file=str(folder)), debug)
    code = _execute(suite, state, pairs, quiet=quiet, debug=debug)
    raise typer.Exit(int(code))


def _execute(
    suite: Suite,
    state: RunState,
    pairs: list[tuple[ScenarioConfig, TargetConfig]],
    *,
    quiet: bool,
    debug: bool,
) -> ExitCode:
    import anyio

    from readiness.live import choose_display
    from readiness.runner import finish, run_suite

    display = choose_display(quiet)

    def done(result: ScenarioResult) -> None:
        display.scenario_done(_scenario_line(result))

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_watch_interrupts, state)
            await run_suite(
                suite,
                state,
                pairs,
                on_progress=display.update,
                on_scenario_done=done,
            )
            tg.cancel_scope.cancel()

    hard_stop = False
    with display:
        try:
            anyio.run(main)
        except KeyboardInterrupt:
            hard_stop = True
            state.interrupt.set()
    if hard_stop:
        finish(state)
    _write_reports(state)
    for trace in state.internal_errors:
        log = state.folder / "logs" / "internal-errors.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as handle:
            handle.write(trace + "\n")
        if debug:
            typer.echo(trace, err=True)
    if state.fatal is not None:
        typer.echo(f"{type(state.fatal).__name__}: {state.fatal}", err=True)
    if state.result["run"]["status"] == "inconclusive":
        typer.echo(
            "inconclusive: a scenario could not be judged (see its reason in the report);"
            " that is not a pass",
            err=True,
        )
    typer.echo(f"report: {state.folder}")
    return _exit_code(state)


async def _watch_interrupts(state: RunState) -> None:
    import signal

    import anyio

    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if state.interrupt.is_set():
                raise KeyboardInterrupt
            state.interrupt.set()


def _write_reports(state: RunState) -> None:
    from readiness.reports.html import render_html
    from readiness.reports.markdown import render_markdown
    from readiness.results import write_atomic

    write_atomic(state.folder / "report.md", render_markdown(state.result).encode())
    write_atomic(state.folder / "report.html", render_html(state.result).encode())


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
    totals = result["totals"]
    rate = totals["success_rate"]
    p99 = result["latency_ms"]["p99"]
    checks = result["checks"]
    passed = sum(1 for c in checks if c["passed"])
    parts = [
        f"{result['status'].upper():6}",
        f"{result['name']} → {result['target']}",
        f"sent {totals['sent']}",
        f"ok {'—' if rate is None else f'{rate * 100:.2f}%'}",
        f"{totals['throughput_rps']:.0f} req/s",
        f"p99 {'—' if p99 is None else f'{p99:.1f} ms'}",
        f"checks {passed}/{len(checks)}",
    ]
    if result["partial"]:
        parts.append("PARTIAL")
    if result["error"]:
        parts.append(f"error: {result['error'].splitlines()[0]}")
    return "  ".join(parts)


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
