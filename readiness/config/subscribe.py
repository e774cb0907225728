"""`[scenarios.subscribe]` of a `subscriptions` scenario: how many sessions subscribe to which
resource, and the tool call that changes it (each call is one update to deliver)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from readiness.config.types import ConfigModel, Duration, Integer, Name

MAX_SESSIONS = 1000
MAX_UPDATES = 10_000


class TriggerConfig(ConfigModel):
    """The tool call that changes the resource (and so should notify its subscribers)."""

    tool: Name
    arguments: dict[str, Any] = Field(default_factory=dict)


class SubscribeConfig(ConfigModel):
    """N sessions subscribe to `uri`; `updates` times the trigger is called (on one session,
    or on each), and every subscribed session should be told within `settle`; then they
    unsubscribe, and one more trigger checks that nobody is told any more."""

    uri: Name
    sessions: Annotated[Integer, Field(ge=1, le=MAX_SESSIONS)] = 4
    updates: Annotated[Integer, Field(ge=1, le=MAX_UPDATES)] = 10
    trigger: TriggerConfig
    # "one": the first session calls the trigger and every session should be told (fan-out);
    # "each": every session calls it and should be told once (servers that update per session)
    trigger_on: Literal["one", "each"] = "one"
    interval: Annotated[Duration, Field(ge=0)] = 0.1  # between one update's end and the next
    settle: Annotated[Duration, Field(gt=0)] = 2.0  # how long an update's notifications may take
    # after unsubscribing: trigger once more and watch this long for notifications (0: skip)
    after_unsubscribe: Annotated[Duration, Field(ge=0)] = 0.5
