"""Write a run's reports into its folder: report.md, report.html and junit.xml, each rendered
from results.json's data alone, so `readiness report` writes the same bytes later; and
security.sarif beside them when a security scenario ran."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from readiness.errors import ConfigError
from readiness.results import RunResult, write_atomic

FORMATS: dict[str, str] = {
    "md": "report.md",
    "html": "report.html",
    "junit": "junit.xml",
    "sarif": "security.sarif",  # written only when a security scenario ran
}


def parse_formats(text: str) -> tuple[str, ...]:
    """ "md,html" → ("md", "html"); an unknown name is a ConfigError."""
    chosen = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    for name in chosen:
        if name not in FORMATS:
            raise ConfigError(
                f"unknown report format {name!r}; choose from {', '.join(FORMATS)}",
                key="--format",
            )
    if not chosen:
        raise ConfigError(
            f"no report format given; choose from {', '.join(FORMATS)}", key="--format"
        )
    return chosen


def write_reports(
    result: RunResult, folder: Path, formats: Sequence[str] = tuple(FORMATS)
) -> list[Path]:
    written = []
    for name in formats:
        if name == "sarif" and not _has_security(result):
            continue
        path = folder / FORMATS[name]
        write_atomic(path, _renderer(name)(result).encode())
        written.append(path)
    return written


def _has_security(result: RunResult) -> bool:
    from readiness.reports.sarif import has_security

    return has_security(result)


def _renderer(name: str) -> Callable[[RunResult], str]:
    if name == "md":
        from readiness.reports.markdown import render_markdown

        return render_markdown
    if name == "html":
        from readiness.reports.html import render_html

        return render_html
    if name == "sarif":
        from readiness.reports.sarif import render_sarif

        return render_sarif
    from readiness.reports.junit import render_junit

    return render_junit
