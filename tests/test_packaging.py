"""What a non-editable install (a wheel, the container image) ships: every subpackage and the library's files.

The editable install the tests run from finds any module in the tree, so a package missing from
pyproject.toml's list, or a library file outside its package-data patterns, would only break an installed
jspolicy; these checks read the lists themselves.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
# What `jspolicy manifests --library` and `jspolicy test` read from an installed library.
LIBRARY_SUFFIXES = {".yaml", ".js", ".md", ".ts", ".json"}


def test_every_subpackage_is_listed() -> None:
    found = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "jspolicy").rglob("__init__.py")
        if "library" not in path.parts
    }
    assert found - set(SETUPTOOLS["packages"]) == set()
    assert "jspolicy.library" in SETUPTOOLS["packages"]


def test_every_library_file_is_package_data() -> None:
    patterns = SETUPTOOLS["package-data"]["jspolicy.library"]
    library = ROOT / "policies"
    files = [
        path.relative_to(library)
        for path in library.rglob("*")
        if path.is_file() and path.suffix in LIBRARY_SUFFIXES and "node_modules" not in path.parts
    ]
    assert any(file.name == "policy.yaml" for file in files)
    shipped = {path.relative_to(library) for pattern in patterns for path in library.glob(pattern)}
    assert [str(file) for file in files if file not in shipped] == []
