"""readiness: load- and chaos-test MCP servers and write honest readiness reports."""

from readiness.errors import (
    ConfigError,
    ExitCode,
    ProtocolError,
    ReadinessError,
    TargetError,
    TargetStartFailed,
    TargetUnreachable,
)

__version__ = "0.1.0"

# The library's entry points live in their modules, imported on use so that `import readiness`
# stays light: readiness.config (load_suite, find_suite), readiness.runner (run_suite),
# readiness.protocol.client (open_connection, McpClient), readiness.engine.load (run_load),
# readiness.metrics.histogram (LatencyHistogram), readiness.results (RunResult, load_results),
# readiness.scoring (score_run, attach_scores), readiness.fleet (fleet_summary),
# readiness.reports.markdown / .html / .junit (render_markdown, render_html, render_junit),
# readiness.reports.writer (write_reports), readiness.metrics.endpoint (open_metrics: the
# live Prometheus endpoint and Pushgateway push), readiness.compare.runs (compare_runs),
# readiness.compare.inputs (load_run) and readiness.testing.outcome (RunOutcome, the typed
# results of the pytest plugin's fixtures).

__all__ = [
    "ConfigError",
    "ExitCode",
    "ProtocolError",
    "ReadinessError",
    "TargetError",
    "TargetStartFailed",
    "TargetUnreachable",
    "__version__",
]
