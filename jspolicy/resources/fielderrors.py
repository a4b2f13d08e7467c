"""Kubernetes-style field errors (k8s.io/apimachinery/pkg/util/validation/field).

Validation messages keep the exact shape users know from the apiserver and from
jsPolicy's ``/crds`` webhook: ``<path>: <Type>: <value>: <detail>``, several
errors aggregated as ``[e1, e2]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

_LABELS = {
    "Required": "Required value",
    "Forbidden": "Forbidden",
    "TooLong": "Too long",
    "Invalid": "Invalid value",
    "NotSupported": "Unsupported value",
    "Duplicate": "Duplicate value",
}
_SHOWS_VALUE = {"Invalid", "NotSupported", "Duplicate"}


class Path:
    """An immutable field path such as ``spec.rules.resources[2]``."""

    def __init__(self, text: str = "") -> None:
        self._text = text

    def child(self, name: str) -> Path:
        return Path(f"{self._text}.{name}" if self._text else name)

    def index(self, i: int) -> Path:
        return Path(f"{self._text}[{i}]")

    def key(self, k: str) -> Path:
        return Path(f"{self._text}[{k}]")

    def __str__(self) -> str:
        return self._text or "<nil>"


def go_value(value: Any, go_type: str = "") -> str:
    """Render a value the way field.Error does (Go %q for strings, %#v otherwise)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        items = ", ".join(json.dumps(str(v), ensure_ascii=False) for v in value)
        return f"[]{go_type or 'string'}{{{items}}}"
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class FieldError:
    kind: str
    path: str
    detail: str = ""
    value: str = ""

    def __str__(self) -> str:
        body = _LABELS[self.kind]
        if self.kind in _SHOWS_VALUE:
            body += f": {self.value}"
        if self.detail:
            body += f": {self.detail}"
        return f"{self.path}: {body}"


def required(path: Path, detail: str = "") -> FieldError:
    return FieldError("Required", str(path), detail)


def forbidden(path: Path, detail: str) -> FieldError:
    return FieldError("Forbidden", str(path), detail)


def invalid(path: Path, value: Any, detail: str, go_type: str = "") -> FieldError:
    return FieldError("Invalid", str(path), detail, go_value(value, go_type))


def not_supported(path: Path, value: Any, supported: Sequence[str]) -> FieldError:
    detail = "supported values: " + ", ".join(json.dumps(s) for s in supported)
    return FieldError("NotSupported", str(path), detail, go_value(value))


def aggregate(errors: Iterable[FieldError]) -> str:
    """utilerrors.NewAggregate(...).Error(): one error bare, several as ``[a, b]``."""
    seen: list[str] = []
    for error in errors:
        text = str(error)
        if text not in seen:
            seen.append(text)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"
