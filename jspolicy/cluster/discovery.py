"""What a RESTMapper knows, read from the API server's discovery endpoints.

Group versions are fetched on first use and kept; a kind that is not found
refetches its group version (CRDs appear while we run), at most once a second
per group version so a policy asking for an unknown kind in a loop does not
turn into a discovery storm. ``kinds_for`` (controller policies) reads the whole
API, at most 10 s old, and once more afresh when that finds nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jspolicy.cluster.access import ClusterError
from jspolicy.cluster.rest import ApiError, RestClient
from jspolicy.resources.kinds import KindInfo, split_api_version

log = logging.getLogger(__name__)

_REFETCH_SECONDS = 1.0
_GROUPS_FRESH_SECONDS = 10.0


class NoKindMatchError(ClusterError):
    """The server serves no such kind at that version (the RESTMapper's NoKindMatch)."""

    def __init__(self, kind: str, api_version: str) -> None:
        super().__init__(f'no matches for kind "{kind}" in version "{api_version}"')


@dataclass(frozen=True)
class _GroupVersion:
    kinds: Mapping[str, KindInfo]  # kind -> info (top-level resources only)
    singulars: Mapping[str, str]  # kind -> singular resource name
    fetched: float


@dataclass(frozen=True)
class _Group:
    name: str
    versions: tuple[str, ...]  # the server's priority order
    preferred: str


class Discovery:
    def __init__(self, rest: RestClient) -> None:
        self._rest = rest
        self._lock = threading.Lock()
        self._versions: dict[tuple[str, str], _GroupVersion] = {}
        self._groups: tuple[_Group, ...] = ()
        self._groups_fetched = 0.0

    def resolve(self, api_version: str, kind: str) -> KindInfo:
        """The kind's resource; ClusterError with the RESTMapper's message when the server has none."""
        group, version = split_api_version(api_version)
        if not version or not kind:
            raise NoKindMatchError(kind, api_version)
        with self._lock:
            cached = self._versions.get((group, version))
        if cached is not None and kind in cached.kinds:
            return cached.kinds[kind]
        if cached is None or time.monotonic() - cached.fetched >= _REFETCH_SECONDS:
            cached = self._fetch_version(group, version)
        if kind in cached.kinds:
            return cached.kinds[kind]
        raise NoKindMatchError(kind, api_version)

    def kinds_for(self, resource: str, api_groups: list[str], api_versions: list[str]) -> list[tuple[str, str]]:
        """``(api_version, kind)`` per group+kind serving ``resource``, at the preferred version that passes the
        filters (how controller policies resolve their kinds); ``*`` or an empty filter matches everything."""
        name = resource.lower()
        if not name or "/" in name or name == "*":
            return []
        found = self._kinds_for(name, api_groups, api_versions, _GROUPS_FRESH_SECONDS)
        if not found:  # perhaps a CRD installed since the last look
            found = self._kinds_for(name, api_groups, api_versions, _REFETCH_SECONDS)
        return found

    def _kinds_for(
        self, name: str, api_groups: list[str], api_versions: list[str], max_age: float
    ) -> list[tuple[str, str]]:
        any_group = not api_groups or "*" in api_groups
        any_version = not api_versions or "*" in api_versions
        found: dict[tuple[str, str], list[tuple[str, bool]]] = {}
        for group in self._all_groups(max_age):
            if not any_group and group.name not in api_groups:
                continue
            for version in group.versions:
                if not any_version and version not in api_versions:
                    continue
                try:
                    fetched = self._version(group.name, version, max_age)
                except ClusterError as error:  # an unavailable aggregated API must not hide the others
                    log.warning("skipping %s/%s in discovery: %s", group.name, version, error.message)
                    continue
                for kind, info in fetched.kinds.items():
                    if name in (info.plural, fetched.singulars.get(kind) or kind.lower()):
                        found.setdefault((group.name, info.kind), []).append((version, version == group.preferred))
        result: list[tuple[str, str]] = []
        for (group_name, kind), versions in found.items():
            preferred = [v for v, is_preferred in versions if is_preferred]
            version = preferred[0] if preferred else versions[0][0]
            result.append((f"{group_name}/{version}" if group_name else version, kind))
        return result

    def invalidate(self) -> None:
        with self._lock:
            self._versions.clear()
            self._groups = ()
            self._groups_fetched = 0.0

    # -- fetching --------------------------------------------------------------------------

    def _fetch_version(self, group: str, version: str) -> _GroupVersion:
        path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
        try:
            body = self._rest.request("GET", path)
        except ApiError as error:
            if error.status != 404:
                raise ClusterError(f"discovery of {path} failed: {error.message}", error.reason) from error
            body = {}
        kinds: dict[str, KindInfo] = {}
        singulars: dict[str, str] = {}
        for item in (body or {}).get("resources") or []:
            plural = str(item.get("name") or "")
            kind = str(item.get("kind") or "")
            if not plural or not kind or "/" in plural or kind in kinds:
                continue
            kinds[kind] = KindInfo(group, version, kind, plural, bool(item.get("namespaced")))
            singulars[kind] = str(item.get("singularName") or "")
        fetched = _GroupVersion(kinds, singulars, time.monotonic())
        with self._lock:
            self._versions[(group, version)] = fetched
        return fetched

    def _version(self, group: str, version: str, max_age: float) -> _GroupVersion:
        with self._lock:
            cached = self._versions.get((group, version))
        if cached is None or time.monotonic() - cached.fetched >= max_age:
            cached = self._fetch_version(group, version)
        return cached

    def _all_groups(self, max_age: float) -> tuple[_Group, ...]:
        with self._lock:
            if self._groups and time.monotonic() - self._groups_fetched < max_age:
                return self._groups
        try:
            core = self._rest.request("GET", "/api")
            named = self._rest.request("GET", "/apis")
        except ApiError as error:
            raise ClusterError(f"discovery failed: {error.message}", error.reason) from error
        core_versions = tuple(str(v) for v in (core or {}).get("versions") or ["v1"])
        groups = [_Group("", core_versions, core_versions[0] if core_versions else "v1")]
        for item in (named or {}).get("groups") or []:
            groups.append(_parse_group(item))
        with self._lock:
            self._groups = tuple(groups)
            self._groups_fetched = time.monotonic()
            return self._groups


def _parse_group(item: Mapping[str, Any]) -> _Group:
    versions = tuple(str(v.get("version") or "") for v in item.get("versions") or [] if isinstance(v, Mapping))
    preferred = str((item.get("preferredVersion") or {}).get("version") or (versions[0] if versions else ""))
    return _Group(str(item.get("name") or ""), versions, preferred)
