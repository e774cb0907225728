"""`python -m readiness.chaos.relay [--faults-json JSON] [--events PATH] [--seed N] -- COMMAND…`:
a stdio MCP server behind the fault relay, for any client that starts servers as commands.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from readiness.chaos.faults import AnyFault, check_faults, faults_from_json
from readiness.errors import ConfigError, ExitCode

PROG = "python -m readiness.chaos.relay"
START_FAILED = 127  # what a shell reports for a command it could not run


def serve_stdio(
    command: Sequence[str],
    faults: Sequence[AnyFault],
    *,
    events_path: str | None = None,
    seed: int | None = None,
    prog: str = PROG,
    armed: bool = True,
    transport_marker: str | None = None,
) -> int:
    """Run `command` behind the relay on this process's stdin/stdout until either side goes;
    returns the exit status (the server's own when it exited by itself)."""
    import anyio

    from readiness.chaos.pipes import claim_stdio
    from readiness.chaos.plan import EventLog, FaultPlan
    from readiness.chaos.stdio_relay import StdioRelay

    def log(message: str) -> None:
        print(f"{prog}: {message}", file=sys.stderr, flush=True)

    try:
        check_faults(faults, "stdio", owns_process=True)
    except ConfigError as exc:
        log(f"error: {exc}")
        return int(ExitCode.USAGE)
    if not command:
        log("error: give the server command after --, e.g. -- python -m readiness.demo")
        return int(ExitCode.USAGE)
    try:
        events = EventLog(events_path) if events_path is not None else None
    except OSError as exc:
        log(f"error: cannot write the events file {events_path}: {exc.strerror or exc}")
        return int(ExitCode.USAGE)
    plan = FaultPlan(faults, seed=seed, on_event=events.write if events else None, armed=armed)
    relay = StdioRelay(command[0], command[1:], plan, on_log=log, transport_marker=transport_marker)
    client_in, client_out = claim_stdio()
    try:
        return anyio.run(relay.run, client_in, client_out)
    except OSError as exc:
        log(f"error: could not start {command[0]}: {exc.strerror or exc}")
        return START_FAILED
    except ConfigError as exc:
        log(f"error: {exc}")
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    finally:
        if events is not None:
            events.close()


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
    try:
        faults = faults_from_json(args.faults_json)
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    return serve_stdio(
        command,
        faults,
        events_path=args.events,
        seed=args.seed,
        armed=not args.wait_for_clock,
        transport_marker=args.transport_marker,
    )


if __name__ == "__main__":
    sys.exit(main())
