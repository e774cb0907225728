"""The probe catalog: probes.toml read once into typed entries, with the run's tokens (nonce,
canary file) filled in. Users read and extend the TOML; nothing here knows a probe by name."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal
from urllib.parse import quote

InjectionKind = Literal["traversal", "shell", "template", "sql", "prompt"]
Encoding = Literal["", "url", "double-url", "backslash"]
CLIMB = 16  # "../" steps: deeper than any working directory a server is likely to run in
TEMPLATE_PRODUCT = str(1337 * 1001)  # what an evaluated template probe shows
CATALOG_FILE = "probes.toml"


@dataclass(frozen=True)
class Valued:
    value: Any
    rationale: str


@dataclass(frozen=True)
class Injection:
    kind: InjectionKind
    value: str
    rationale: str
    encode: Encoding = ""


@dataclass(frozen=True)
class ProtocolProbe:
    id: str
    frame: str
    rationale: str
    before_init: bool = False
    accepted: bool = False  # the frame must be refused: a success reply is a finding
    repeat: int = 1


@dataclass(frozen=True)
class HttpProbe:
    id: str
    rationale: str
    needs: Literal["", "auth", "session", "loopback"] = ""
    drop: tuple[str, ...] = ()
    set: dict[str, str] = field(default_factory=dict)
    refused: tuple[int, ...] | None = None  # None: not a check, only that the server lives
    rule: str = ""


@dataclass(frozen=True)
class Catalog:
    generators: dict[str, str]  # schema generator → rationale
    numbers: tuple[Valued, ...]
    nan_like: tuple[Valued, ...]
    unicode: tuple[Valued, ...]
    injections: tuple[Injection, ...]
    protocol: tuple[ProtocolProbe, ...]
    http: tuple[HttpProbe, ...]


def load_catalog(text: str | None = None) -> Catalog:
    """The catalog shipped with readiness, or one given as TOML text."""
    if text is None:
        text = resources.files("readiness.security").joinpath(CATALOG_FILE).read_text("utf-8")
    data = tomllib.loads(text)

    def valued(key: str) -> tuple[Valued, ...]:
        return tuple(Valued(e["value"], e["rationale"]) for e in data.get(key, ()))

    return Catalog(
        generators={e["generator"]: e["rationale"] for e in data.get("schema", ())},
        numbers=valued("numbers"),
        nan_like=valued("nan_like"),
        unicode=valued("unicode"),
        injections=tuple(Injection(**e) for e in data.get("injection", ())),
        protocol=tuple(ProtocolProbe(**e) for e in data.get("protocol", ())),
        http=tuple(
            HttpProbe(
                id=e["id"],
                rationale=e["rationale"],
                needs=e.get("needs", ""),
                drop=tuple(e.get("drop", ())),
                set=dict(e.get("set", {})),
                refused=tuple(e["refused"]) if "refused" in e else None,
                rule=e.get("rule", ""),
            )
            for e in data.get("http", ())
        ),
    )


@dataclass(frozen=True)
class Tokens:
    """What a run fills into the catalog: a nonce per verdict, and the canary file."""

    nonce: str  # the shell canary: the reply must never contain "rdy-<nonce>"
    file_path: str  # absolute path of the canary file readiness created for the run
    file_token: str  # the canary file's content

    @property
    def shell_canary(self) -> str:
        return f"rdy-{self.nonce}"

    def fill(self, injection: Injection) -> str:
        text = injection.value.replace("@NONCE@", self.nonce)
        if "@FILE@" not in text and "@RELFILE@" not in text:
            return text
        text = text.replace("@UP@", "../" * CLIMB)
        text = text.replace("@RELFILE@", self.file_path.lstrip("/"))
        text = text.replace("@FILE@", self.file_path)
        return encoded(text, injection.encode)


def encoded(path: str, encoding: Encoding) -> str:
    if encoding == "url":
        return quote(path, safe="").replace(".", "%2e")
    if encoding == "double-url":
        return quote(quote(path, safe="").replace(".", "%2e"), safe="")
    if encoding == "backslash":
        return path.replace("/", "\\")
    return path
