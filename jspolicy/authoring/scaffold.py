"""``jspolicy init``: writes a TypeScript policy project in loft-sh/jspolicy-sdk's layout.

The template lives in ``template/`` (package data). The ``@jspolicy/types`` declarations
are copied into the project's ``types/`` and referenced as ``file:./types``, so
``npm install`` needs only public packages (the typescript compiler) and the
declarations always match the jspolicy version that wrote the project.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from jspolicy.authoring.toolchain import TYPESCRIPT_VERSION, types_package

TYPES_DIR = "types"
# Stored without the dot: setuptools' package-data globs skip dotfiles.
RENAMES = {"gitignore": ".gitignore"}
TEXT_SUFFIXES = {".json", ".md", ".ts", ".yaml"}


class ScaffoldError(Exception):
    """The target directory cannot take a new project."""


def template() -> Traversable:
    return resources.files("jspolicy.authoring").joinpath("template")


def project_name(directory: Path) -> str:
    """A valid npm package name from the directory's name (lowercase, URL-safe)."""
    name = re.sub(r"[^a-z0-9._-]+", "-", directory.resolve().name.lower()).strip("-._")
    return name or "jspolicy-policies"


def _walk(root: Traversable, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Traversable]]:
    files: list[tuple[tuple[str, ...], Traversable]] = []
    for entry in sorted(root.iterdir(), key=lambda item: item.name):
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            files += _walk(entry, (*prefix, entry.name))
        elif entry.is_file():
            files.append(((*prefix, RENAMES.get(entry.name, entry.name)), entry))
    return files


def _check_empty(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise ScaffoldError(f"{directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()):
        raise ScaffoldError(f"{directory} is not empty: jspolicy init only writes into a new or empty directory")


def scaffold(directory: Path) -> list[Path]:
    """Write the project into ``directory`` (new or empty); returns the files written."""
    _check_empty(directory)
    substitutions = {"__PROJECT_NAME__": project_name(directory), "__TYPESCRIPT_VERSION__": TYPESCRIPT_VERSION}
    sources = _walk(template()) + [((TYPES_DIR, *parts), entry) for parts, entry in _walk(types_package())]
    if not sources:
        raise ScaffoldError("the jspolicy installation has no project template (jspolicy/authoring/template)")
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for parts, entry in sources:
        target = directory.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix in TEXT_SUFFIXES or target.name.startswith("."):
            text = entry.read_text("utf-8")
            if parts[0] != TYPES_DIR:
                for placeholder, value in substitutions.items():
                    text = text.replace(placeholder, value)
            target.write_text(text, "utf-8")
        else:
            target.write_bytes(entry.read_bytes())
        written.append(target)
    return written
