"""`[targets.client]`: the client capabilities readiness simulates (sampling, elicitation,
roots), so servers register their conditional tools and get answers under load."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import field_validator

from readiness.config.latency import parse_latency
from readiness.config.types import ConfigModel, invalid


class SamplingConfig(ConfigModel):
    """The simulated LLM: its reply, think time (a latency distribution), model, stop reason."""

    reply: str = "OK."
    latency: str | None = None  # fixed:…, uniform:…..…, lognormal:median=…,p99=…
    model: str = "readiness-sim"
    stop_reason: str = "endTurn"
    reply_from: Literal["reply", "echo"] = "reply"

    @field_validator("latency")
    @classmethod
    def _known_latency(cls, latency: str | None) -> str | None:
        if latency is not None:
            try:
                parse_latency(latency)
            except ValueError as exc:
                raise invalid(str(exc)) from None
        return latency


class ElicitationConfig(ConfigModel):
    """The simulated user: accept (content synthesised from the requestedSchema unless given),
    decline or cancel."""

    action: Literal["accept", "decline", "cancel"] = "accept"
    content: dict[str, Any] | None = None


class ClientConfig(ConfigModel):
    sampling: SamplingConfig | None = None
    elicitation: ElicitationConfig | None = None
    roots: tuple[str, ...] | None = None

    @field_validator("roots")
    @classmethod
    def _file_uris(cls, roots: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for root in roots or ():
            if not root.startswith("file://"):
                raise invalid(f'roots are file:// URIs, e.g. "file:///srv/project"; got {root!r}')
        return roots
