"""Faults as data, and the interposers that apply them per message between client and server.

`faults` (the models) → `plan` (which fault hits which request, and the event record) →
`stdio_relay` (a relay process around a stdio server; `relay` is its entry point) or
`http_proxy` (a loopback reverse proxy; `upstream` runs the server it may kill) → `cli_main`
(`readiness proxy`). Nothing is imported here, so the relay process starts light.
"""
