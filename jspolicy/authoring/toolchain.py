"""Where the TypeScript declarations live, and the TypeScript version projects are made with.

``jspolicy init`` pins this compiler in the projects it writes (TypeScript 7, the native port) and
copies the ``@jspolicy/types`` package beside them.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

TYPESCRIPT_VERSION = "7.0.2"
TYPES_PACKAGE = "@jspolicy/types"


def types_package() -> Traversable:
    """The ``@jspolicy/types`` package directory shipped inside the Python package."""
    return resources.files("jspolicy.authoring").joinpath("types")
