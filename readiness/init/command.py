"""`readiness init` as a library call: from the command-line options to the written file."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from readiness.errors import ConfigError
from readiness.init.render import Header, InitSpec, header_variable, render

if TYPE_CHECKING:
    from readiness.config import TargetConfig
    from readiness.init.discover import Discovery


@dataclass(frozen=True)
class InitOptions:
    stdio: str | None
    url: str | None
    headers: tuple[str, ...] = ()
    read_only: bool = False
    invocation: str = ""


@dataclass(frozen=True)
class InitResult:
    path: Path
    text: str
    found: Discovery


def plan(options: InitOptions) -> tuple[InitSpec, TargetConfig, dict[str, str]]:
    """What to write, the target to connect to, and the header variables' values."""
    from readiness.config import TargetConfig

    if (options.stdio is None) == (options.url is None):
        raise ConfigError('give one of --stdio "COMMAND ARGS…" or --url URL', key="init")
    headers: list[Header] = []
    values: dict[str, str] = {}
    clear: dict[str, str] = {}
    for given in options.headers:
        name, sep, value = given.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f'expected "Name: value", got {given!r}', key="--header")
        variable = header_variable(name.strip())
        headers.append(Header(name.strip(), variable))
        values[variable] = value.strip()
        clear[name.strip()] = value.strip()
    if options.stdio is not None:
        if headers:
            raise ConfigError("--header applies to --url", key="--header")
        try:
            argv = shlex.split(options.stdio)
        except ValueError as exc:
            raise ConfigError(f"cannot split the command: {exc}", key="--stdio") from None
        if not argv:
            raise ConfigError("an empty command", key="--stdio")
        data: dict[str, object] = {
            "name": "server",
            "transport": "stdio",
            "command": argv[0],
            "args": argv[1:],
        }
        spec = InitSpec("server", "stdio", _written_command(argv[0]), tuple(argv[1:]))
    else:
        assert options.url is not None
        if not re.match(r"https?://", options.url):
            raise ConfigError(
                f"expected an http:// or https:// URL, got {options.url!r}", key="--url"
            )
        data = {"name": "server", "transport": "http", "url": options.url, "headers": clear}
        spec = InitSpec("server", "http", url=options.url, headers=tuple(headers))
    spec = replace(spec, read_only=options.read_only, invocation=options.invocation)
    target = TargetConfig.model_validate(data, context={"environ": os.environ})
    return spec, target, values


def _written_command(command: str) -> str:
    """${PYTHON} when the command is the interpreter running readiness, else as given."""
    found = shutil.which(command)
    try:
        if found is not None and os.path.samefile(found, sys.executable):
            return "${PYTHON}"
    except OSError:
        pass
    return command


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return slug[:60] or "server"


def refuse_overwrite(path: Path, force: bool) -> None:
    if (path.exists() or path.is_symlink()) and not force:
        raise ConfigError(
            "the file exists; give --force to overwrite it, or --out another file", file=str(path)
        )


async def init_suite(options: InitOptions, out: Path, *, force: bool = False) -> InitResult:
    """Connect, discover, render, check that readiness loads the text, write it."""
    from readiness.config import parse_suite
    from readiness.init.discover import discover
    from readiness.results import write_atomic

    refuse_overwrite(out, force)
    spec, target, values = plan(options)
    found = await discover(target, read_only=options.read_only)
    name = _slug(found.server_name)
    spec = replace(spec, name=name)
    text = render(spec, found)
    environ: Mapping[str, str] = {**os.environ, **values}
    parse_suite(text, str(out), environ=environ, base_dir=out.parent)  # a bug if it fails
    refuse_overwrite(out, force)  # not created meanwhile
    try:
        write_atomic(out, text.encode())
    except OSError as exc:
        from readiness.errors import OutputError

        raise OutputError(str(out), exc) from None
    return InitResult(out, text, found)


def summary(result: InitResult) -> Sequence[str]:
    """The lines the CLI prints after writing."""
    ops = result.found.operations
    counts = {s: sum(1 for op in ops if op.status == s) for s in ("ok", "failed", "skipped")}
    lines = [
        f"wrote {result.path}: {counts['ok']} operation(s) in the workload, {counts['failed']}"
        f" failed and {counts['skipped']} not called (commented out with the reason)"
    ]
    lines += [
        f"  {op.status}: {op.call} {op.subject} — {op.reason}"
        for op in ops
        if op.status != "ok" and op.reason
    ]
    variables = sorted(set(re.findall(r"\$\{(READINESS_[A-Z0-9_]+)\}", result.text)))
    if variables:
        lines.append(f"  set {', '.join(variables)} in the environment before a run")
    return lines
