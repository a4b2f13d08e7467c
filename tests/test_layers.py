"""The package's layers depend downwards only: the webhook server and the controller never import each other.

Both are started by ``jspolicy.supervisor``; what they share lives below them (``jspolicy.service``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jspolicy"


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports, at any place in it (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def imports_of(subpackage: str) -> dict[str, set[str]]:
    return {
        str(path.relative_to(PACKAGE.parent)): imported_modules(path)
        for path in sorted((PACKAGE / subpackage).rglob("*.py"))
    }


@pytest.mark.parametrize(("importer", "forbidden"), [("server", "controller"), ("controller", "server"),
                                                     ("service", "server"), ("service", "controller"),
                                                     ("service", "supervisor"), ("server", "supervisor"),
                                                     ("controller", "supervisor")])  # fmt: skip
def test_layer_does_not_import(importer: str, forbidden: str) -> None:
    prefix = f"jspolicy.{forbidden}"
    offenders = {
        module: sorted(name for name in names if name == prefix or name.startswith(prefix + "."))
        for module, names in imports_of(importer).items()
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_the_check_sees_imports() -> None:
    """The walk finds the imports the supervisor really has (so an empty result above means something)."""
    supervisor = imported_modules(PACKAGE / "supervisor" / "supervisor.py")
    assert "jspolicy.server.worker" in supervisor
    assert any(name.startswith("jspolicy.controller") for name in supervisor)
