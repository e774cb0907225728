"""`readiness init` and `readiness validate`: a suite written from what a server lists, and a
suite checked without load (optionally against its servers)."""
