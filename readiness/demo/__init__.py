"""The built-in demo MCP server, with knobs for latency, errors, leaks and crashes.

`server.build_server(knobs)` makes one; `http.serve_http` serves it; `python -m readiness.demo`
runs it. This package root stays free of the MCP SDK so the command line starts fast.
"""

from readiness.demo.knobs import Knobs, parse_latency

__all__ = ["Knobs", "parse_latency"]
