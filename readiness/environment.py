"""Facts about the machine and software a run measured on, recorded in results.json."""

from __future__ import annotations

import os
import platform
import socket
import sys
from importlib import metadata

from readiness.results import Environment

_PACKAGES = ("readiness", "mcp", "anyio", "aiohttp", "orjson", "numpy", "psutil", "pydantic")


def capture_environment() -> Environment:
    packages: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return Environment(
        hostname=socket.gethostname(),
        platform=platform.platform(),
        python=sys.version.split()[0],
        cpu_count=os.cpu_count(),
        packages=packages,
    )
