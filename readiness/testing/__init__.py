"""readiness inside pytest: the `pytest --readiness FILE` plugin (every check a test item), the
`readiness_suite` and `readiness_run` fixtures, and the typed results they return.

Nothing heavy is imported here: pytest loads `readiness.testing.plugin` in every session of an
environment where readiness is installed, asked for or not.
"""
