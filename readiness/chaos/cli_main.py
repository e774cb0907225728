"""`readiness proxy`: the fault interposer standalone, so any MCP client can be tested through it.

Three forms:
  readiness proxy --upstream URL [--listen HOST:PORT] --fault SPEC …
      an HTTP reverse proxy in front of a server someone else runs;
  readiness proxy --upstream URL [--listen HOST:PORT] --fault SPEC … -- COMMAND [ARGS…]
      the same, but the proxy starts COMMAND (an HTTP server listening at URL) and owns it,
      so `kill` faults can kill and restart it;
  readiness proxy --fault SPEC … -- COMMAND [ARGS…]
      a stdio relay: the proxy *is* the server as far as the client can tell; give this whole
      command line to the client as the server command. It speaks JSON-RPC on its own
      stdin/stdout and relays to COMMAND's.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from readiness.chaos.faults import AnyFault, load_faults_toml, parse_fault_spec
from readiness.chaos.relay import open_capture, run_relay, serve_stdio
from readiness.errors import ConfigError, ExitCode, unwrapped_groups

PROG = "readiness proxy"
DEFAULT_LISTEN = "127.0.0.1:0"

_EPILOG = """\
fault specs: TYPE:key=value,… with TYPE one of latency, error, drop, disconnect, kill, hang,
malformed, slow_stream, session_loss. Every fault takes the selectors method, tool,
probability, first, every (a count, or a duration: every=3s) and during ("10s..20s" after
the proxy starts). Outage faults (kill, disconnect, session_loss, hang) fire once unless given
first, every or probability; the others fire on every request they match. Examples:
  --fault error:tool=search,probability=0.1          JSON-RPC -32603 on 10% of search calls
  --fault error:kind=http,status=503,every=10        HTTP 503 on every 10th request
  --fault latency:latency=200ms,jitter=50ms
  --fault 'latency:distribution="lognormal:median=3ms,p99=40ms"'
  --fault kill:restart_after=2s,during=5s..          one kill; needs -- COMMAND (the proxy owns it)
  --fault kill:every=10s,restart_after=2s            a kill every 10 s
  --fault hang:duration=3s
A faults file holds the same as [[faults]] tables: type = "error", tool = "search", ….
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=(
            f"{PROG} (--upstream URL [--listen HOST:PORT] [-- COMMAND…] | -- COMMAND…)"
            " [--fault SPEC]… [--faults-file FILE] [--events PATH] [--seed N] [--record FILE]"
        ),
        description=(
            "Put a fault-injecting interposer between an MCP client and server: an HTTP"
            " reverse proxy (--upstream), or a stdio relay (-- COMMAND alone)."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--upstream", metavar="URL", help="the server's Streamable HTTP URL")
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help=f"where the HTTP proxy listens (default {DEFAULT_LISTEN}: a free port)",
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow --listen on a non-loopback address"
    )
    parser.add_argument(
        "--fault", action="append", default=[], metavar="SPEC", help="a fault (repeatable)"
    )
    parser.add_argument("--faults-file", metavar="FILE", help="a TOML file of [[faults]] tables")
    parser.add_argument("--events", metavar="PATH", help="append each injection as a JSON line")
    parser.add_argument("--seed", type=int, help="seed for probabilistic faults")
    parser.add_argument(
        "--record",
        metavar="FILE",
        help="write each client request (time, session, method, tool, params; header names"
        " only, never their values) as a JSON line, for [workload] replay",
    )
    # Everything from the first positional on is the server command, `--` or not: a caller
    # such as click may already have eaten the `--`.
    parser.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str]) -> int:
    """Run the proxy until interrupted (HTTP) or until either side goes (stdio); the only
    function here that prints or picks the exit status (through `run_relay`)."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # --help, or a usage error argparse already printed
        return exc.code if isinstance(exc.code, int) else int(ExitCode.USAGE)

    def announce(url: str, upstream: str) -> None:
        print(f"{PROG} listening on {url} -> {upstream}", file=sys.stderr, flush=True)

    return run_relay(PROG, partial(_serve, args, announce=announce))


def _serve(
    args: argparse.Namespace,
    log: Callable[[str], None],
    *,
    announce: Callable[[str, str], None],
) -> int:
    command: list[str] = args.command
    if command[:1] == ["--"]:
        command = command[1:]
    faults = _faults(args.faults_file, args.fault)
    if args.upstream is None:
        if not command:
            raise ConfigError(
                "give --upstream URL (HTTP) or -- COMMAND (stdio); see --help", key="usage"
            )
        if args.listen is not None or args.allow_remote:
            raise ConfigError(
                "a stdio relay speaks on its own stdin/stdout and listens nowhere;"
                " --listen applies with --upstream",
                key="--listen",
            )
    host, port = _listen(args.listen or DEFAULT_LISTEN)
    if args.upstream is None:
        return serve_stdio(
            command,
            faults,
            on_log=log,
            events_path=args.events,
            seed=args.seed,
            record_path=args.record,
        )
    return _serve_http(
        args.upstream,
        command,
        faults,
        host=host,
        port=port,
        allow_remote=args.allow_remote,
        events_path=args.events,
        seed=args.seed,
        log=log,
        announce=announce,
        record_path=args.record,
    )


def _faults(path: str | None, specs: Sequence[str]) -> tuple[AnyFault, ...]:
    faults: list[AnyFault] = []
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError("no such file", file=path) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the file: {exc}", file=path) from None
        faults.extend(load_faults_toml(text, path))
    faults.extend(parse_fault_spec(spec) for spec in specs)
    return tuple(faults)


def _listen(text: str) -> tuple[str, int]:
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(
            f"expected HOST:PORT such as 127.0.0.1:8900 (port 0 picks a free one), got {text!r}",
            key="--listen",
        )
    return host, port


def _serve_http(
    upstream: str,
    command: Sequence[str],
    faults: Sequence[AnyFault],
    *,
    host: str,
    port: int,
    allow_remote: bool,
    events_path: str | None,
    seed: int | None,
    log: Callable[[str], None],
    announce: Callable[[str, str], None],
    record_path: str | None = None,
) -> int:
    import anyio

    from readiness.chaos.http_proxy import check_upstream, serve_proxy
    from readiness.chaos.plan import EventLog, FaultPlan
    from readiness.process import ProcessSpec, ServerSupervisor

    check_upstream(upstream)
    try:
        events = EventLog(events_path) if events_path is not None else None
    except OSError as exc:
        raise ConfigError(f"cannot write it: {exc.strerror or exc}", file=events_path) from None
    plan = FaultPlan(faults, seed=seed, on_event=events.write if events else None)
    capture = open_capture(record_path, "http")
    supervisor = None
    if command:
        # The server's output passes through to ours, as if it ran in this terminal.
        spec = ProcessSpec(command[0], tuple(command[1:]), stderr="inherit")
        supervisor = ServerSupervisor(spec, upstream)
    interrupted = False

    async def run() -> None:
        nonlocal interrupted
        async with anyio.create_task_group() as task_group:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                try:
                    if supervisor is not None:
                        await supervisor.start()
                    url = await task_group.start(
                        partial(
                            serve_proxy,
                            upstream,
                            plan,
                            host=host,
                            port=port,
                            allow_remote=allow_remote,
                            supervisor=supervisor,
                            on_log=log,
                            capture=capture,
                        )
                    )
                    announce(url, upstream)
                    async for _ in signals:
                        interrupted = True
                        break
                finally:
                    task_group.cancel_scope.cancel()
                    if supervisor is not None:
                        await supervisor.aclose()  # shielded inside

    try:
        with unwrapped_groups():  # what the proxy raised, as itself
            anyio.run(run)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if events is not None:
            events.close()
        if capture is not None:
            capture.close()
    return int(ExitCode.INTERRUPTED) if interrupted else int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
