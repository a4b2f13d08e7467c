"""The interface every cluster backend implements, and the results it returns.

``memory.MemoryCluster`` serves the offline CLI and tests from manifests; the
live backend talks to a real API server. Policies see the same contract either
way (like jsPolicy's helpers, docs/cluster.md): reads raise ClusterError, writes return a WriteResult.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from jspolicy.resources.labels import Selector


class ClusterError(Exception):
    """A read failed for a reason other than "not found"."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class WriteResult:
    """create/update/remove outcome: ``{ok, object}`` or ``{ok: false, reason, message}``."""

    ok: bool
    object: Mapping[str, Any] | None = None
    reason: str = ""
    message: str = ""

    def to_js(self) -> dict[str, Any]:
        if self.ok:
            return {"ok": True, "object": self.object}
        result: dict[str, Any] = {"ok": False}
        if self.reason:
            result["reason"] = self.reason
        if self.message:
            result["message"] = self.message
        return result

    @classmethod
    def failed(cls, reason: str, message: str) -> WriteResult:
        return cls(False, None, reason, message)


class ClusterAccess(Protocol):
    """Objects are returned read-only: callers must not mutate them."""

    def get(
        self, kind: str, api_version: str, namespace: str, name: str, *, cached: bool
    ) -> Mapping[str, Any] | None: ...

    def list(
        self, kind: str, api_version: str, *, namespace: str, selector: Selector, cached: bool
    ) -> list[Mapping[str, Any]]: ...

    def create(self, obj: Mapping[str, Any], *, dry_run: bool) -> WriteResult: ...

    def update(self, obj: Mapping[str, Any], *, dry_run: bool) -> WriteResult: ...

    def remove(self, obj: Mapping[str, Any], *, dry_run: bool) -> WriteResult: ...
