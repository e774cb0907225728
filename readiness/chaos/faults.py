"""Faults as data: frozen models of what to break (latency, errors, drops, kills, …) and which
messages to break it on, validated from TOML tables, JSON or `--fault` specs into ConfigErrors.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from readiness.config import errors as config_errors
from readiness.config.errors import did_you_mean
from readiness.config.latency import Latency, parse_latency
from readiness.config.types import Duration, invalid, lenient
from readiness.config.types import Percentage as Probability
from readiness.config.units import format_duration, parse_duration
from readiness.errors import ConfigError

Transport = Literal["stdio", "http"]
INTERNAL_ERROR = -32603
DURATION_FIELDS = frozenset({"latency", "jitter", "restart_after", "duration", "chunk_delay"})


Count = Annotated[int, Field(ge=1, strict=True)]


# --- how often a fault fires ---------------------------------------------------------------

EVERY_HINT = 'a whole number of matches (every = 3: every third) or a duration (every = "3s")'


@dataclass(frozen=True)
class Interval:
    """`every = "3s"`: fire on a match, then on none until 3 s have passed since it fired."""

    seconds: float

    def __str__(self) -> str:
        return format_duration(self.seconds)


def parse_every(value: object) -> int | Interval:
    """A whole number of matches (at least 1), or a duration string (an Interval)."""
    if isinstance(value, Interval):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"every counts matches from 1, got {value}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an integer or a duration: {EVERY_HINT}; got {value!r}")
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ValueError(f"expected {EVERY_HINT}, got {value!r}") from None
    if seconds <= 0:
        raise ValueError(f"every must be above zero, got {value!r}")
    return Interval(seconds)


def _every_json(value: int | Interval) -> int | str:
    return str(value) if isinstance(value, Interval) else value


# One validator for both forms, so an error names the key, not a branch of a union.
Every = Annotated[
    int | Interval,
    PlainValidator(lenient(parse_every)),
    PlainSerializer(_every_json),
]


# --- the time window -----------------------------------------------------------------------

WINDOW_HINT = 'a window such as "10s..20s" (from 10 s to 20 s after the start), "10s.." or "..20s"'


@dataclass(frozen=True)
class Window:
    """Seconds since the interposer started: `start` inclusive, `end` exclusive (inf: open)."""

    start: float
    end: float

    def __contains__(self, t: float) -> bool:
        return self.start <= t < self.end

    def __str__(self) -> str:
        start = format_duration(self.start) if self.start else ""
        end = format_duration(self.end) if math.isfinite(self.end) else ""
        return f"{start}..{end}"


def parse_window(value: object) -> Window:
    """`"10s..20s"`, `"10s.."` or `"..20s"`; ValueError naming the problem otherwise."""
    if isinstance(value, Window):
        return value
    if not isinstance(value, str) or ".." not in value:
        raise ValueError(f"expected {WINDOW_HINT}, got {value!r}")
    start_text, _, end_text = value.partition("..")
    try:
        start = parse_duration(start_text) if start_text.strip() else 0.0
        end = parse_duration(end_text) if end_text.strip() else math.inf
    except ValueError as exc:
        raise ValueError(f"invalid window {value!r}: {exc}") from None
    if end <= start:
        raise ValueError(f"the window {value!r} ends before it starts")
    return Window(start, end)


WindowField = Annotated[
    Window,
    BeforeValidator(lenient(parse_window)),
    PlainSerializer(str, return_type=str),
]


# --- the faults ----------------------------------------------------------------------------


class _Fault(BaseModel):
    """What every fault shares: which requests it selects, and how often it fires on them.

    A request is matched when it matches `method` and `tool` (a tools/call name) and arrives
    inside `during`; of those, the fault fires on the first `first`, on every `every`-th (or,
    with a duration, at most once per `every`), and with `probability` — all that are given must
    agree. An outage fault (kill, disconnect, session_loss, hang) given none of the three fires
    once per window: "kill, restart after 2 s" means one kill, not a kill of every server that
    comes back. Per-message faults fire on every match.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    method: str | None = None
    tool: str | None = None
    probability: Annotated[Probability, Field(ge=0, le=1)] | None = None  # None: every match
    first: Count | None = None
    every: Every | None = None
    during: WindowField | None = None

    # Where this fault can be applied; see `unsupported`.
    transports: ClassVar[tuple[Transport, ...]] = ("stdio", "http")
    # Takes the whole channel down rather than one message: fires once unless told otherwise.
    outage: ClassVar[bool] = False

    @property
    def fires_once(self) -> bool:
        """True for an outage fault given no `first`, `every` or `probability`."""
        given = (self.first, self.every, self.probability)
        return self.outage and all(selector is None for selector in given)

    def fires(self) -> str:
        """How often it fires, in words: "once", "first 3", "every 3s", "10% of matches", …"""
        if self.fires_once:
            return "once"
        parts: list[str] = []
        if self.first is not None:
            parts.append(f"first {self.first}")
        if isinstance(self.every, Interval):
            parts.append(f"every {self.every}")
        elif self.every is not None and self.every > 1:
            parts.append(f"every {_ordinal(self.every)} match")
        if self.probability is not None:
            parts.append(f"{self.probability * 100:.3g}% of matches")
        return ", ".join(parts) if parts else "every match"

    @model_validator(mode="after")
    def _selection(self) -> _Fault:
        if self.tool is not None and self.method not in (None, "tools/call"):
            raise invalid("tool selects tools/call requests; leave method out", "tool")
        return self

    @property
    def selected_method(self) -> str | None:
        """The one method this fault can apply to, if it is restricted to one."""
        return "tools/call" if self.tool is not None else self.method

    def describe(self) -> str:
        """A compact spec that parses back into this fault (`error:code=-32603,tool=search`)."""
        data = self.model_dump(mode="json", exclude_defaults=True, exclude={"type"})
        parts = [
            f"{key}={format_duration(value) if key in DURATION_FIELDS else _spec_value(value)}"
            for key, value in data.items()
        ]
        return f"{self.type}:{','.join(parts)}" if parts else self.type


class LatencyFault(_Fault):
    """Delay the reply: a fixed `latency` plus up to ±`jitter`, or a `distribution` such as
    `"lognormal:median=3ms,p99=40ms"` (also `fixed:…`, `uniform:1ms..5ms`)."""

    type: Literal["latency"] = "latency"
    latency: Annotated[Duration, Field(ge=0)] | None = None
    jitter: Annotated[Duration, Field(ge=0)] = 0.0
    distribution: str | None = None
    _sampler: Latency | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_source(self) -> LatencyFault:
        if self.latency is None and self.distribution is None:
            raise invalid(
                'give latency (e.g. "200ms", with optional jitter) or distribution'
                ' (e.g. "lognormal:median=3ms,p99=40ms")',
                "latency",
            )
        if self.latency is not None and self.distribution is not None:
            raise invalid("give latency or distribution, not both", "distribution")
        if self.distribution is not None:
            if "jitter" in self.model_fields_set:
                raise invalid("jitter applies to a fixed latency only", "jitter")
            try:
                self._sampler = parse_latency(self.distribution)
            except ValueError as exc:
                raise invalid(str(exc), "distribution") from None
        return self

    def sample(self, rng: random.Random) -> float:
        """Seconds to delay one reply."""
        if self._sampler is not None:
            return self._sampler.sample(rng)
        delay = self.latency or 0.0
        if self.jitter:
            delay += rng.uniform(-self.jitter, self.jitter)
        return max(delay, 0.0)


class ErrorFault(_Fault):
    """Answer instead of the server (the request is not forwarded): a JSON-RPC error
    (`kind = "rpc"`, with `code` and `message`), an `isError: true` tool result
    (`kind = "tool"`), or an HTTP status (`kind = "http"`, HTTP only)."""

    type: Literal["error"] = "error"
    kind: Literal["rpc", "tool", "http"] = "rpc"
    code: Annotated[int, Field(strict=True)] = INTERNAL_ERROR
    message: str = "injected fault"
    status: Annotated[int, Field(ge=400, le=599, strict=True)] = 503

    _ONLY: ClassVar[dict[str, tuple[str, ...]]] = {
        "code": ("rpc",),
        "message": ("rpc", "tool"),
        "status": ("http",),
    }

    @model_validator(mode="after")
    def _kind_needs(self) -> ErrorFault:
        for field, kinds in self._ONLY.items():
            if field in self.model_fields_set and self.kind not in kinds:
                shown = " or ".join(f'kind = "{k}"' for k in kinds)
                raise invalid(f"{field} applies to {shown} only", field)
        if self.kind == "tool" and self.method not in (None, "tools/call"):
            raise invalid('kind = "tool" answers tools/call requests only', "method")
        return self

    @property
    def selected_method(self) -> str | None:
        return "tools/call" if self.kind == "tool" else super().selected_method


class DropFault(_Fault):
    """Swallow the request: it is never forwarded and never answered; the client times out."""

    type: Literal["drop"] = "drop"


class DisconnectFault(_Fault):
    """Close the connection: over stdio, the relay's pipes (the client sees the server go);
    over HTTP, the TCP connection carrying the request."""

    type: Literal["disconnect"] = "disconnect"
    outage: ClassVar[bool] = True


class KillFault(_Fault):
    """SIGKILL the server process (its process group); with `restart_after`, start it again
    after that delay, as a supervisor would. Needs an interposer that owns the process."""

    type: Literal["kill"] = "kill"
    outage: ClassVar[bool] = True
    restart_after: Annotated[Duration, Field(ge=0)] | None = None


class HangFault(_Fault):
    """Stop relaying anything, either way, for `duration` (default: to the end of `during`);
    then deliver what was held, late."""

    type: Literal["hang"] = "hang"
    outage: ClassVar[bool] = True
    duration: Annotated[Duration, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _bounded(self) -> HangFault:
        if self.duration is None and (self.during is None or math.isinf(self.during.end)):
            raise invalid(
                'a hang needs a duration (e.g. "5s") or a during window with an end', "duration"
            )
        return self

    def hold_for(self, elapsed: float) -> float:
        """Seconds to hang when fired `elapsed` seconds after the start."""
        if self.duration is not None:
            return self.duration
        assert self.during is not None
        return max(self.during.end - elapsed, 0.0)


class MalformedFault(_Fault):
    """Replace the reply: `shape = "invalid"` keeps the id but is no JSON-RPC response (the
    client can tell which request failed); `"not_json"` is a line of garbage (it cannot)."""

    type: Literal["malformed"] = "malformed"
    shape: Literal["invalid", "not_json"] = "invalid"


class SlowStreamFault(_Fault):
    """Trickle the HTTP reply out: `chunk_size` bytes every `chunk_delay`."""

    type: Literal["slow_stream"] = "slow_stream"
    chunk_delay: Annotated[Duration, Field(gt=0)] = 0.05
    chunk_size: Annotated[int, Field(ge=1, strict=True)] = 64
    transports: ClassVar[tuple[Transport, ...]] = ("http",)


class SessionLossFault(_Fault):
    """Answer 404 for the session (the client must re-initialise); the proxy also ends the
    session upstream, as a server that lost it would have."""

    type: Literal["session_loss"] = "session_loss"
    outage: ClassVar[bool] = True
    transports: ClassVar[tuple[Transport, ...]] = ("http",)


FAULT_TYPES: dict[str, type[_Fault]] = {
    model.model_fields["type"].default: model
    for model in (
        LatencyFault,
        ErrorFault,
        DropFault,
        DisconnectFault,
        KillFault,
        HangFault,
        MalformedFault,
        SlowStreamFault,
        SessionLossFault,
    )
}
_TYPE_LIST = ", ".join(FAULT_TYPES)


def _check_table(data: Any) -> Any:
    """Name the fault type and unknown keys in the user's terms before the union is tried."""
    if not isinstance(data, Mapping):
        return data
    kind = data.get("type")
    if kind is None:
        raise invalid(f"a fault needs a type: one of {_TYPE_LIST}", "type")
    if not isinstance(kind, str) or kind not in FAULT_TYPES:
        hint = did_you_mean(kind, FAULT_TYPES) if isinstance(kind, str) else ""
        raise invalid(f"unknown fault type {kind!r}{hint}; expected one of {_TYPE_LIST}", "type")
    fields = FAULT_TYPES[kind].model_fields
    for key in data:
        if key not in fields:
            hint = did_you_mean(str(key), fields)
            raise invalid(f'unknown key {key!r} for type = "{kind}"{hint}', str(key))
    return data


def _relocate(data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate through the tagged union, but report errors at the user's key path: pydantic
    puts the tag in the location (`faults[0].error.code`), which names no key of the file."""
    data = _check_table(data)
    try:
        return handler(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        if loc and loc[0] in FAULT_TYPES:
            loc = loc[1:]
        if error["type"] == "readiness":
            loc = (*loc, *(error.get("ctx") or {}).get("key", ()))
            message = str((error.get("ctx") or {}).get("message", error["msg"]))
        else:
            message = config_errors.describe(error, loc, lambda key: None)
        raise invalid(message, *loc) from None


AnyFault = (
    LatencyFault
    | ErrorFault
    | DropFault
    | DisconnectFault
    | KillFault
    | HangFault
    | MalformedFault
    | SlowStreamFault
    | SessionLossFault
)
Fault = Annotated[AnyFault, Field(discriminator="type"), WrapValidator(_relocate)]
"""One fault; validates standalone from a table (`{"type": "error", "tool": "search"}`)."""

_FAULTS = TypeAdapter(tuple[Fault, ...])


class _FaultsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    faults: tuple[Fault, ...] = ()


# --- where a fault can run -----------------------------------------------------------------


def unsupported(fault: _Fault, transport: Transport, *, owns_process: bool) -> str | None:
    """Why `fault` cannot be applied on this transport, or None when it can.

    `owns_process`: the interposer started the server and may kill it (always true for the
    stdio relay; for HTTP only when it was given the server's command).
    """
    if transport not in fault.transports:
        return f"a {fault.type} fault applies to HTTP targets only"
    if isinstance(fault, ErrorFault) and fault.kind == "http" and transport != "http":
        return (
            'kind = "http" applies to HTTP targets only; over stdio use kind = "rpc"'
            ' or kind = "tool"'
        )
    if isinstance(fault, KillFault) and not owns_process:
        return (
            "a kill fault needs a server process readiness started (a target with a command,"
            " or readiness proxy … -- COMMAND); for a URL it did not start, use hang (the"
            " server stops answering) or disconnect instead"
        )
    return None


def check_faults(
    faults: Sequence[_Fault], transport: Transport, *, owns_process: bool, where: str = "faults"
) -> None:
    """Raise ConfigError for the first fault that cannot be applied (its key names it)."""
    for i, fault in enumerate(faults):
        reason = unsupported(fault, transport, owns_process=owns_process)
        if reason is not None:
            raise ConfigError(reason, key=f"{where}[{i}].type")


# --- loading -------------------------------------------------------------------------------


def parse_faults(
    items: Sequence[Mapping[str, Any]], *, source: str = "faults"
) -> tuple[AnyFault, ...]:
    """Validate fault tables (already parsed data); errors name `source` and the key."""
    data = {"faults": list(items)}
    try:
        return _FaultsFile.model_validate(data).faults
    except ValidationError as exc:
        raise config_errors.from_validation(exc, data, "", source, _no_keys) from None


def load_faults_toml(text: str, source: str) -> tuple[AnyFault, ...]:
    """`[[faults]]` tables from a TOML text; errors name the file, key and line."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise config_errors.syntax_error(exc, text, source) from None
    for key in data:
        if key != "faults":
            raise config_errors.unknown_key(key, ["faults"], text, source)
    try:
        return _FaultsFile.model_validate(data).faults
    except ValidationError as exc:
        raise config_errors.from_validation(exc, data, text, source, _no_keys) from None


def faults_to_json(faults: Iterable[_Fault]) -> str:
    """A JSON array that `faults_from_json` reads back into equal faults."""
    return orjson.dumps(
        [
            fault.model_dump(mode="json", exclude_defaults=True) | {"type": fault.type}
            for fault in faults
        ]
    ).decode()


def faults_from_json(text: str, *, source: str = "--faults-json") -> tuple[AnyFault, ...]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"not JSON: {exc}", key=source) from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ConfigError("expected a JSON array of fault objects", key=source)
    return parse_faults(data, source=source)


def _no_keys(key: config_errors.Key) -> None:
    return None


# --- compact specs: `error:probability=0.1,code=-32603,tool=search` ------------------------

SPEC_HINT = (
    "expected TYPE or TYPE:key=value,key=value, e.g. error:tool=search,probability=0.1"
    " or latency:latency=200ms,jitter=50ms (quote a value holding commas:"
    ' distribution="lognormal:median=3ms,p99=40ms")'
)


def parse_fault_spec(spec: str, *, source: str = "--fault") -> AnyFault:
    """One fault from its compact command-line form; errors quote the spec."""
    kind, _, rest = spec.strip().partition(":")
    table: dict[str, Any] = {"type": kind.strip()}
    try:
        for part in _split_unquoted(rest):
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ValueError(f"{part.strip()!r} is not key=value")
            if key in table:
                raise ValueError(f"{key} is given twice")
            table[key] = _spec_scalar(value.strip())
    except ValueError as exc:
        raise ConfigError(f"{spec!r}: {exc}; {SPEC_HINT}", key=source) from None
    try:
        return parse_faults([table], source=source)[0]
    except ConfigError as exc:
        key = (exc.key or "").removeprefix("faults[0]").lstrip(".")
        where = f"{key}: " if key else ""
        raise ConfigError(f"{spec!r}: {where}{exc.message}", key=source) from None


def _split_unquoted(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    for char in text:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
            current.append(char)
        elif char == ",":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if quote:
        raise ValueError(f"unclosed quote {quote}")
    if current or parts:
        parts.append("".join(current))
    return [part for part in parts if part.strip()]


def _spec_scalar(text: str) -> object:
    """A spec value as TOML would type it: quoted → string, integers, numbers, booleans."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _spec_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f'"{text}"' if "," in text else text
