"""Command line of the demo server: `python -m readiness.demo [--http …] [knobs…]`.

Arguments are checked before the MCP SDK is imported, so a bad flag fails fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from readiness.demo.knobs import KNOB_SOURCES, Knobs, resolve_knobs
from readiness.errors import ConfigError, ExitCode, ReadinessError

_KNOB_HELP = {
    "latency": (
        "SPEC",
        "added latency per tool call: fixed:2ms, uniform:1ms..5ms or "
        "lognormal:median=3ms,p99=40ms (durations in us, ms or s)",
    ),
    "error_rate": ("F", "fraction 0..1 of tool calls that fail with an isError result"),
    "leak_kb_per_call": ("N", "leak N KiB of memory on every tool call (RSS grows for real)"),
    "crash_after": (
        "N",
        "serve N tool calls, then exit abruptly (status 1) when call N+1 arrives, "
        "without answering it or any call still in flight",
    ),
    "max_blob_kb": ("N", "blob(kb) above N KiB returns a tool error"),
    "seed": ("N", "seed for the latency and error draws (default: random)"),
    "max_concurrent": (
        "N",
        "at most N tool calls wait out their latency at once, the rest queue: with "
        "fixed latency L the server serves at most N/L calls per second",
    ),
}


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "python -m readiness.demo",
        description=(
            "The readiness demo MCP server. Tools: echo(text), add(a, b), work(ms), "
            "search(query, limit), create_note(text), read_note(name | id), blob(kb); "
            "resource demo://status; "
            "prompt summarize(topic). Serves stdio by default (stdout carries only "
            "JSON-RPC; logs go to stderr), or Streamable HTTP with --http."
        ),
        epilog="Each knob can also be set by its environment variable; a flag wins over it.",
    )
    transport = parser.add_argument_group("transport")
    transport.add_argument(
        "--http", action="store_true", help="serve Streamable HTTP instead of stdio"
    )
    transport.add_argument("--host", help="HTTP host to listen on (default 127.0.0.1)")
    transport.add_argument("--port", type=int, help="HTTP port (default 8000; 0 picks a free port)")
    transport.add_argument(
        "--stateless", action="store_true", help="HTTP without sessions (no Mcp-Session-Id)"
    )
    transport.add_argument(
        "--json-response",
        action="store_true",
        help="answer HTTP requests with plain JSON instead of an SSE stream",
    )
    transport.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow --host to be a non-loopback address",
    )
    knobs = parser.add_argument_group("knobs")
    for source in KNOB_SOURCES:
        metavar, text = _KNOB_HELP[source.name]
        knobs.add_argument(
            source.flag, dest=source.name, metavar=metavar, help=f"{text} [env {source.env}]"
        )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="warning",
        help="log level on stderr (default warning)",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the demo server until stdin closes (stdio) or it is signalled (HTTP); the only
    function here that prints or picks the exit status."""
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return exc.code if isinstance(exc.code, int) else int(ExitCode.USAGE)

    def announce(url: str) -> None:
        print(f"readiness-demo listening on {url}", file=sys.stderr, flush=True)

    try:
        return _serve(args, announce)
    except ReadinessError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)


def _serve(args: argparse.Namespace, announce: Callable[[str], None]) -> int:
    if not args.http:
        misplaced = [
            flag
            for flag, given in (
                ("--host", args.host is not None),
                ("--port", args.port is not None),
                ("--stateless", args.stateless),
                ("--json-response", args.json_response),
                ("--allow-remote", args.allow_remote),
            )
            if given
        ]
        if misplaced:
            verb = "applies" if len(misplaced) == 1 else "apply"
            raise ConfigError(f"{', '.join(misplaced)} {verb} only with --http")
    host = args.host or "127.0.0.1"
    port = 8000 if args.port is None else args.port
    knobs = resolve_knobs({s.name: getattr(args, s.name) for s in KNOB_SOURCES}, os.environ)
    if not 0 <= port <= 65535:
        raise ConfigError(f"{port} is not a TCP port (0..65535)", key="--port")
    if args.http:
        from readiness.loopback import require_loopback

        require_loopback(host, allow_remote=args.allow_remote, key="--host")

    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="readiness-demo %(levelname)s %(name)s: %(message)s",
    )
    if args.http:
        return _serve_http(knobs, host, port, args.stateless, args.json_response, announce)
    return _serve_stdio(knobs)


def _serve_stdio(knobs: Knobs) -> int:
    import anyio

    from readiness.demo.server import build_server

    anyio.run(build_server(knobs).run_stdio_async)
    return 0


def _serve_http(
    knobs: Knobs,
    host: str,
    port: int,
    stateless: bool,
    json_response: bool,
    announce: Callable[[str], None],
) -> int:
    import anyio

    from readiness.demo.gate import CallGate
    from readiness.demo.health import health_routes
    from readiness.demo.http import bind_socket, serve_http
    from readiness.demo.server import build_server

    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", key="--port"
        ) from None
    gate = CallGate(knobs)
    with sock:
        anyio.run(
            lambda: serve_http(
                build_server(knobs, gate=gate),
                sock,
                routes=health_routes(gate),
                stateless=stateless,
                json_response=json_response,
                on_ready=announce,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
