"""Lower layers never import higher ones: read from the source, not from a run."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import readiness

PACKAGE = Path(readiness.__file__).parent

# What each layer may import from the package besides itself. The resilience layer knows
# nothing of the results schema: the scenario layer maps its statistics onto it.
ALLOWED = {
    "protocol": {"readiness.errors", "readiness.clock"},
    "resilience": {"readiness.errors", "readiness.clock", "readiness.protocol", "readiness.config"},
}
# resilience/pool.py and pooled.py keep latency histograms per session.
EXTRA = {"resilience": {"readiness.metrics.histogram"}}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "readiness" or name.startswith("readiness.")}


def allowed(layer: str, module: str) -> bool:
    own = f"readiness.{layer}"
    prefixes = {own} | ALLOWED[layer]
    if module in EXTRA.get(layer, set()):
        return True
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    wrong = {
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for module in imported_modules(path)
        if not allowed(layer, module)
    }
    assert not wrong


def test_the_check_sees_imports_at_all() -> None:
    assert "readiness.errors" in imported_modules(PACKAGE / "protocol" / "stdio.py")
