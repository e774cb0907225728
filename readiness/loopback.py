"""Listening stays on loopback unless remote access is asked for: the one check the demo server
and the fault proxy both apply before they bind, and the one the health config applies to
probe URLs."""

from __future__ import annotations

import ipaddress

from readiness.errors import ConfigError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_loopback(host: str, *, allow_remote: bool, key: str) -> None:
    """Refuse a non-loopback host unless remote access was asked for explicitly."""
    if not allow_remote and not is_loopback(host):
        raise ConfigError(
            f"host {host!r} is not a loopback address; pass --allow-remote to listen on it",
            key=key,
        )
