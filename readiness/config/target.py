"""The target models of scenarios.toml: a server to test, started over stdio or reached by URL,
with ${VAR} expansion and redacted display forms for reports.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from readiness.config.client import ClientConfig
from readiness.config.errors import Key, did_you_mean
from readiness.config.health import HealthConfig
from readiness.config.placeholders import (
    BUILTIN_VARIABLES,
    MalformedPlaceholder,
    display_mapping,
    display_template,
    expand,
    placeholder_values,
    redact_args,
    redact_url,
)
from readiness.config.types import ConfigModel, Duration, Name, Size, invalid
from readiness.resilience.config import ResilienceConfig

PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")
DEFAULT_MAX_REPLY_BYTES = 16 * 1024 * 1024

_EXPANDED_FIELDS = ("command", "args", "env", "cwd", "url", "headers")


class TargetConfig(ConfigModel):
    """A server to test: a command to start (stdio, or http with a local server) and/or a URL.

    `command`, `args`, `env`, `cwd`, `url` and `headers` may reference the environment as
    ${VAR} or ${VAR:-default}; they hold expanded values, and `display_*` show the file's form
    with secrets hidden, for reports.
    """

    name: Name
    transport: Literal["stdio", "http"]
    command: str | None = None
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict, repr=False)  # may hold secrets
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict, repr=False)  # may hold secrets
    protocol: str = "auto"
    # http: "fast" (our HTTP/1.1 client, plain http:// only), "aiohttp" (TLS, proxies, HTTP/2),
    # or "auto": fast for http://, aiohttp otherwise.
    http_client: Literal["auto", "fast", "aiohttp"] = "auto"
    request_timeout: Annotated[Duration, Field(gt=0)] = 10.0
    connect_timeout: Annotated[Duration, Field(gt=0)] = 30.0
    max_reply_bytes: Annotated[Size, Field(gt=0)] = DEFAULT_MAX_REPLY_BYTES
    # For an http target readiness did not start: which process to sample for resources.
    pid: Annotated[int, Field(gt=0)] | None = None
    process_name: str | None = None
    # [targets.resilience]: breaker, rate limit, retry and cache between workload and client
    resilience: ResilienceConfig | None = None
    # [targets.health]: liveness/readiness/metrics endpoints polled beside every scenario
    health: HealthConfig | None = None
    # [targets.client]: client capabilities to declare and answer (sampling, elicitation, roots)
    client: ClientConfig | None = None

    # field → (as written, as expanded); display uses the written form while they still match
    _written: dict[str, tuple[Any, Any]] = PrivateAttr(default_factory=dict)
    _public: dict[str, str] = PrivateAttr(default_factory=dict)  # built-ins as expanded
    _secrets: dict[str, str] = PrivateAttr(default_factory=dict)  # placeholder → its value

    @model_validator(mode="wrap")
    @classmethod
    def _expand_environment(
        cls, data: Any, handler: Callable[[Any], Any], info: ValidationInfo
    ) -> Any:
        if not isinstance(data, dict):
            return handler(data)
        context = info.context if isinstance(info.context, dict) else {}
        environ: Mapping[str, str] = context.get("environ", os.environ)
        expanded = dict(data)
        written: dict[str, tuple[Any, Any]] = {}
        for field in [f for f in data if f in _EXPANDED_FIELDS]:  # file order: first error first
            expanded[field] = _expand_field(data[field], environ, (field,))
            written[field] = (data[field], expanded[field])
        target = handler(expanded)
        assert isinstance(target, TargetConfig)
        target._written = {f: (raw, getattr(target, f)) for f, (raw, _) in written.items()}
        target._public = {name: expand("${" + name + "}", environ) for name in BUILTIN_VARIABLES}
        target._secrets = {
            name: value
            for raw, _ in written.values()
            for template in _strings_in(raw)
            for name, value in placeholder_values(template, environ).items()
        }
        return target

    @field_validator("protocol")
    @classmethod
    def _known_protocol(cls, protocol: str) -> str:
        choices = ("auto", *PROTOCOL_VERSIONS)
        if protocol not in choices:
            hint = did_you_mean(protocol, choices)
            raise invalid(f'expected {_alternatives(choices)}, got "{protocol}"{hint}')
        return protocol

    @model_validator(mode="after")
    def _transport_needs(self) -> TargetConfig:
        if self.transport == "stdio":
            if not self.command:
                raise invalid("a stdio target needs a command to start", "command")
            for field in ("url", "headers"):
                if getattr(self, field):
                    raise invalid(f"{field} applies to http targets only", field)
        else:
            if not self.url:
                raise invalid('an http target needs a url, e.g. "http://127.0.0.1:8000/mcp"', "url")
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                # Not the URL itself: it may hold an expanded ${VAR}, a password or a token.
                got = f"{parts.scheme}://" if parts.scheme else "no scheme"
                got += "" if parts.hostname else " and no host"
                raise invalid(f"expected an http:// or https:// URL, got {got}", "url")
            if self.args and not self.command:
                raise invalid("args given without a command", "args")
            if self.http_client == "fast" and parts.scheme != "http":
                raise invalid(
                    'http_client = "fast" speaks plain http:// only; use "auto" or "aiohttp"',
                    "http_client",
                )
            if "@" in parts.netloc and any(k.lower() == "authorization" for k in self.headers):
                raise invalid(
                    "the url's user:password@ and an Authorization header both set the"
                    " credentials: keep one",
                    "headers",
                )
            if self.resilience is not None and self.resilience.batch is not None:
                raise invalid(
                    "batching applies to stdio targets only (one pipe write for many frames)",
                    "resilience",
                    "batch",
                )
        for field in ("pid", "process_name"):
            if getattr(self, field) is not None and self.command:
                raise invalid(
                    f"{field} names a process readiness did not start; this target's"
                    " command is started (and sampled) by readiness",
                    field,
                )
        if self.health is not None and self.transport == "stdio":
            for probe, where in self.health.probes().items():
                if where.startswith("/"):
                    raise invalid(
                        f"a stdio target has no HTTP origin: give {probe} as a full loopback"
                        f' URL, e.g. "http://127.0.0.1:9100{where}"',
                        "health",
                        probe,
                    )
        if self.pid is not None and self.process_name is not None:
            raise invalid("give pid or process_name, not both", "process_name")
        return self

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # Reprs end up in logs and tracebacks: show the redacted forms there too.
        for name, value in super().__repr_args__():
            if name == "url" and value is not None:
                yield name, self.display_url()
            elif name == "args":
                yield (
                    name,
                    tuple(
                        redact_args(
                            [display_template(a, self._public) for a in self._shown("args")]
                        )
                    ),
                )
            else:
                yield name, value

    def _shown(self, field: str) -> Any:
        raw, expanded = self._written.get(field, (None, None))
        current = getattr(self, field)
        if raw is not None and expanded == current:
            return raw
        return current

    def placeholder_values(self) -> dict[str, str]:
        """What each ${VAR} of the file expanded to (built-ins aside): never to be shown."""
        return dict(self._secrets)

    def display_url(self) -> str | None:
        url = self._shown("url")
        return redact_url(display_template(url, self._public)) if url else None

    def display_command(self) -> str | None:
        command = self._shown("command")
        if not command:
            return None
        args = [display_template(arg, self._public) for arg in self._shown("args")]
        return shlex.join([display_template(command, self._public), *redact_args(args)])

    def display_headers(self) -> dict[str, str]:
        return display_mapping(self._shown("headers"), self._public)

    def display_env(self) -> dict[str, str]:
        return display_mapping(self._shown("env"), self._public)

    def display(self) -> str:
        """One line for reports: the URL for http targets, else the command."""
        return (self.display_url() if self.transport == "http" else self.display_command()) or ""


def _strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _strings_in(item)]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings_in(item)]
    return []


def _expand_field(value: Any, environ: Mapping[str, str], key: Key) -> Any:
    """Expand strings inside a field's raw value; other types are left for validation to reject."""
    if isinstance(value, str):
        try:
            return expand(value, environ)
        except KeyError as missing:
            name = missing.args[0]
            raise invalid(
                f"environment variable {name} is not set"
                f" (write ${{{name}:-default}} to give a fallback)",
                *key,
            ) from None
        except MalformedPlaceholder as exc:
            raise invalid(str(exc), *key) from None
    if isinstance(value, list | tuple):
        return [_expand_field(item, environ, (*key, i)) for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {k: _expand_field(item, environ, (*key, k)) for k, item in value.items()}
    return value


def _alternatives(choices: Sequence[str]) -> str:
    quoted = [repr(c) for c in choices]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
