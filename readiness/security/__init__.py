"""Hostile-client probes for kind = "security": the probe catalog (probes.toml), probes made
from tool schemas, raw protocol and HTTP sessions, and the findings they lead to."""
