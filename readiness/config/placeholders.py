"""${VAR} placeholders in target settings: expanding them from the environment at load time,
and the redacted form reports show, so a secret never reaches a report.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

# Placeholders that have a value even when the environment lacks them; their values are shown.
BUILTIN_VARIABLES: Mapping[str, Callable[[], str]] = {"PYTHON": lambda: sys.executable}

_PLACEHOLDER = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-((?:(?!\$\{)[^}])*))?\}")
_STRAY = re.compile(r"\$\{")  # what is left of a ${ that starts no placeholder


class MalformedPlaceholder(ValueError):
    """A ${ that is not ${NAME} or ${NAME:-default}: a typo would otherwise be sent as is."""


def expand(template: str, environ: Mapping[str, str]) -> str:
    """Replace ${VAR} and ${VAR:-default}; $${ is a literal ${. Unset without default → KeyError;
    any other ${ → MalformedPlaceholder."""

    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name is None:
            return "${"
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        if name in BUILTIN_VARIABLES:
            return BUILTIN_VARIABLES[name]()
        raise KeyError(name)

    stray = _STRAY.search(_PLACEHOLDER.sub("", template))
    if stray is not None:
        raise MalformedPlaceholder(
            f"{template!r} has a ${{ that starts no placeholder: write ${{NAME}} or"
            " ${NAME:-default} (they do not nest), or $${ for a literal ${"
        )
    return _PLACEHOLDER.sub(value, template)


def display_template(template: str, public: Mapping[str, str]) -> str:
    """A template as shown in reports: placeholders kept (defaults dropped, as they may be
    secrets), except built-ins such as ${PYTHON}, whose values are never secret."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "${"
        return public.get(name, "${" + name + "}")

    return _PLACEHOLDER.sub(value, template)


_SECRET_NAME = re.compile(
    r"auth|token|secret|passw|pwd|cookie|session|api[-_]?key|credential", re.I
)
_SECRET_FLAG = re.compile(
    r"(--?[A-Za-z0-9_-]*(?:token|secret|passw|api[-_]?key|auth)[A-Za-z0-9_-]*)(=)?(.*)", re.I
)
_AUTH_SCHEME = re.compile(r"(Bearer|Basic|Token|Digest)\s+\S", re.I)
REDACTED = "***"
_USERINFO = re.compile(r"^([A-Za-z0-9+.${}_-]*://)([^/?#@]*)@")
_NAMES_ONLY = re.compile(r"(?:\$\{[A-Za-z_][A-Za-z0-9_]*\}|:)+")  # ${USER}:${PASSWORD}
_QUERY_PARAMETER = re.compile(r"([?&;])([^=&;#]*)=([^&;#]*)")


def redact_value(shown: str) -> str:
    """A secret's shown form: placeholders reveal nothing, so they stay; literals become ***."""
    if "${" in shown:
        return shown
    scheme = _AUTH_SCHEME.match(shown)
    return f"{scheme.group(1)} {REDACTED}" if scheme else REDACTED


def redact_url(url: str) -> str:
    """Hide userinfo and secret-looking query parameters of a URL.

    Regular expressions rather than urllib: a URL with ${...} placeholders is not a valid URL.
    """

    def userinfo(match: re.Match[str]) -> str:
        scheme, credentials = match.groups()
        shown = credentials if _NAMES_ONLY.fullmatch(credentials) else REDACTED
        return f"{scheme}{shown}@"

    url = _USERINFO.sub(userinfo, url, count=1)

    def parameter(match: re.Match[str]) -> str:
        separator, name, value = match.groups()
        return f"{separator}{name}={redact_value(value) if _SECRET_NAME.search(name) else value}"

    return _QUERY_PARAMETER.sub(parameter, url)


def redact_args(args: Sequence[str]) -> list[str]:
    """Hide the values of secret-looking flags (--token X, --api-key=X) and URLs' userinfo."""
    shown: list[str] = []
    secret_next = False
    for arg in args:
        if secret_next:
            shown.append(redact_value(arg))
            secret_next = False
        elif flag := _SECRET_FLAG.fullmatch(arg):
            if flag.group(2):
                shown.append(f"{flag.group(1)}={redact_value(flag.group(3))}")
            else:
                shown.append(arg)
                secret_next = True
        elif "://" in arg:
            shown.append(redact_url(arg))
        else:
            shown.append(arg)
    return shown


def display_mapping(mapping: Mapping[str, str], public: Mapping[str, str]) -> dict[str, str]:
    """Environment variables or headers as shown: secret-looking names get redacted values."""
    shown = {key: display_template(value, public) for key, value in mapping.items()}
    return {k: redact_value(v) if _SECRET_NAME.search(k) else v for k, v in shown.items()}


def placeholder_values(template: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The values a template's placeholders expand to, by name; built-ins (public) left out."""
    values: dict[str, str] = {}
    for match in _PLACEHOLDER.finditer(template):
        name, default = match.group(1), match.group(2)
        if name is None or (name in BUILTIN_VARIABLES and name not in environ):
            continue
        value = environ.get(name, default)
        if value is not None:
            values[name] = value
    return values


# Shorter values are left alone: replacing "8" or "abc" everywhere would garble the results
# more than it could hide; no credential is that short.
MIN_SECRET_LENGTH = 4
_ENCODED = ("histograms",)  # HDR histograms as base64: numbers, not text


class Redactor:
    """Puts the ${NAME} back where a placeholder's value turns up in text a run writes (an
    error that quotes the URL it failed to reach, say): the net under the display forms."""

    def __init__(self, values: Iterable[tuple[str, str]]) -> None:
        """`values`: (name, value) pairs, as placeholder_values gives them."""
        shown: dict[str, str] = {}
        for name, value in values:
            if len(value) < MIN_SECRET_LENGTH:
                continue
            for form in (value, quote(value), quote(value, safe="")):
                shown.setdefault(form, "${" + name + "}")
        self._shown = shown
        longest_first = sorted(shown, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, longest_first))) if shown else None

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda match: self._shown[match.group()], text)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def byte_forms(self) -> dict[bytes, bytes]:
        """What to replace in raw bytes (a server's stderr log) and with what, UTF-8 encoded."""
        return {form.encode(): shown.encode() for form, shown in self._shown.items()}

    def scrub(self, data: Any) -> Any:
        """`data` (JSON-like) with every string and key redacted; dicts and lists in place."""
        if self._pattern is None:
            return data
        if isinstance(data, str):
            return self(data)
        if isinstance(data, list):
            data[:] = [self.scrub(item) for item in data]
        elif isinstance(data, dict):
            items = list(data.items())
            data.clear()
            for key, value in items:
                kept = isinstance(key, str) and key in _ENCODED
                data[self(key) if isinstance(key, str) else key] = (
                    value if kept else self.scrub(value)
                )
        return data
