"""`python -m readiness.chaos.relay [--faults-json JSON] [--events PATH] [--seed N] -- COMMAND…`:
a stdio MCP server behind the fault relay, for any client that starts servers as commands.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from readiness.chaos.faults import AnyFault, check_faults, faults_from_json
from readiness.errors import ConfigError, ExitCode, ReadinessError, TargetStartFailed

if TYPE_CHECKING:
    from readiness.chaos.capture import CaptureWriter

PROG = "python -m readiness.chaos.relay"


def serve_stdio(
    command: Sequence[str],
    faults: Sequence[AnyFault],
    *,
    on_log: Callable[[str], None],
    events_path: str | None = None,
    seed: int | None = None,
    armed: bool = True,
    transport_marker: str | None = None,
    record_path: str | None = None,
) -> int:
    """Run `command` behind the relay on this process's stdin/stdout until either side goes;
    returns the exit status (the server's own when it exited by itself). Raises ConfigError
    for bad input and TargetStartFailed when the command cannot be started."""
    import anyio

    from readiness.chaos.pipes import claim_stdio
    from readiness.chaos.plan import EventLog, FaultPlan
    from readiness.chaos.stdio_relay import StdioRelay

    check_faults(faults, "stdio", owns_process=True)
    if not command:
        raise ConfigError("give the server command after --, e.g. -- python -m readiness.demo")
    try:
        events = EventLog(events_path) if events_path is not None else None
    except OSError as exc:
        raise ConfigError(
            f"cannot write the events file: {exc.strerror or exc}", file=events_path
        ) from None
    plan = FaultPlan(faults, seed=seed, on_event=events.write if events else None, armed=armed)
    capture = open_capture(record_path, "stdio")
    relay = StdioRelay(
        command[0],
        command[1:],
        plan,
        on_log=on_log,
        transport_marker=transport_marker,
        capture=capture,
    )
    client_in, client_out = claim_stdio()
    try:
        return anyio.run(relay.run, client_in, client_out)
    except OSError as exc:
        raise TargetStartFailed(
            command[0], f"could not start {command[0]}: {exc.strerror or exc}"
        ) from None
    finally:
        if events is not None:
            events.close()
        if capture is not None:
            capture.close()


def open_capture(path: str | None, transport: Literal["stdio", "http"]) -> CaptureWriter | None:
    """The capture `--record PATH` asks for; ConfigError naming the file if it cannot be made."""
    if path is None:
        return None
    from readiness.chaos.capture import CaptureWriter

    try:
        return CaptureWriter(path, transport)
    except OSError as exc:
        raise ConfigError(f"cannot write the capture: {exc.strerror or exc}", file=path) from None


def run_relay(prog: str, serve: Callable[[Callable[[str], None]], int]) -> int:
    """What a relay's `main` does around `serve`: its log and errors on stderr as
    `Name: message`, and the exit status (the CLI's codes for our own errors)."""

    def log(message: str) -> None:
        print(f"{prog}: {message}", file=sys.stderr, flush=True)

    try:
        return serve(log)
    except ReadinessError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)


def split_command(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Options before the first `--`, the server command after it."""
    argv = list(argv)
    if "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1 :]
    return argv, []


def main(argv: Sequence[str] | None = None) -> int:
    options, command = split_command(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Relay stdio JSON-RPC to a server command, injecting faults.",
        usage=f"{PROG} [--faults-json JSON] [--events PATH] [--seed N] -- COMMAND [ARGS…]",
    )
    parser.add_argument("--faults-json", default="[]", help="a JSON array of fault objects")
    parser.add_argument("--events", help="append each injection to this file as a JSON line")
    parser.add_argument("--seed", type=int, help="seed for probabilistic faults")
    parser.add_argument(
        "--wait-for-clock",
        action="store_true",
        help="inject nothing until the client sends a readiness/chaos/start_clock request",
    )
    parser.add_argument(
        "--transport-marker",
        help="mark the errors answered for a server that is gone with this secret"
        " (error.data), so the client that started the relay counts them as transport errors",
    )
    try:
        args = parser.parse_args(options)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else int(ExitCode.USAGE)

    def serve(log: Callable[[str], None]) -> int:
        return serve_stdio(
            command,
            faults_from_json(args.faults_json),
            on_log=log,
            events_path=args.events,
            seed=args.seed,
            armed=not args.wait_for_clock,
            transport_marker=args.transport_marker,
        )

    return run_relay(PROG, serve)


if __name__ == "__main__":
    sys.exit(main())
