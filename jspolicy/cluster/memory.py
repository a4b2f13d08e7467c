"""An in-memory cluster loaded from manifests: what ``get``/``list`` see offline.

Writes behave like the API server's for the cases policies handle (AlreadyExists,
NotFound, Conflict on a stale resourceVersion, dry-run), with the same message
texts, so a policy tested offline meets the same results in a cluster.
"""

from __future__ import annotations

import itertools
import secrets
import string
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from jspolicy import fastjson
from jspolicy.cluster.access import ClusterError, WriteResult
from jspolicy.resources.kinds import KindInfo, KindRegistry, split_api_version
from jspolicy.resources.labels import Selector
from jspolicy.resources.webhooks import NAMESPACE_NAME_LABEL
from jspolicy.runtime.settings import MAX_MB_VARIABLE, MAX_OBJECTS_VARIABLE, ClusterQuota

_Key = tuple[str, str]  # (group, kind)

# The API server refuses request bodies over 3 MiB ("Request entity too large: limit is 3145728").
MAX_OBJECT_BYTES = 3 * 1024 * 1024
# ConfigMap and Secret validation: data and binaryData together at most 1 MiB.
MAX_DATA_BYTES = 1024 * 1024


class MemoryCluster:
    def __init__(
        self,
        objects: Iterable[Mapping[str, Any]] = (),
        kinds: KindRegistry | None = None,
        quota: ClusterQuota | None = None,
    ) -> None:
        """``quota`` defaults to the environment's (RuntimeSettings.from_env reads it too, so a bad value stops
        ``jspolicy serve`` before any worker starts). Objects loaded here count against it but always load:
        the manifests are the operator's, and refusing some would make get() see a different cluster."""
        self.kinds = kinds or KindRegistry.builtin()
        self._objects: dict[_Key, dict[tuple[str, str], dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._quota = quota or ClusterQuota.from_env()
        self._sizes: dict[tuple[_Key, str, str], int] = {}  # encoded size of each stored object
        self._stored_bytes = 0
        objects = list(objects)
        for obj in objects:
            if obj.get("kind") == "CustomResourceDefinition":
                self.kinds.add_crd(obj)
        # New resourceVersions must never repeat one a loaded manifest already has.
        self._versions = itertools.count(1 + max((_version_number(o) for o in objects), default=0))
        for obj in objects:
            self._store(dict(obj))

    # -- reads -------------------------------------------------------------------------------

    def get(self, kind: str, api_version: str, namespace: str, name: str, *, cached: bool) -> dict[str, Any] | None:
        del cached  # one store: cached and direct reads agree
        key, _ = self._resolve(kind, api_version)
        with self._lock:
            return self._objects.get(key, {}).get((namespace, name))

    def list(
        self, kind: str, api_version: str, *, namespace: str, selector: Selector, cached: bool
    ) -> list[Mapping[str, Any]]:
        del cached
        key, _ = self._resolve(kind, api_version)
        with self._lock:
            stored = sorted(self._objects.get(key, {}).items())
        return [
            obj
            for (ns, _), obj in stored
            if (not namespace or ns == namespace) and selector.matches((obj.get("metadata") or {}).get("labels"))
        ]

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        """A namespace's labels, with the name label the API server puts on every namespace.

        A namespace missing from the state is treated as an existing, unlabelled one."""
        namespace = self.get("Namespace", "v1", "", name, cached=True)
        labels = {} if namespace is None else (namespace.get("metadata") or {}).get("labels") or {}
        return {**labels, NAMESPACE_NAME_LABEL: name}

    # -- writes ------------------------------------------------------------------------------

    def create(self, obj: Mapping[str, Any], *, dry_run: bool) -> WriteResult:
        try:
            info, namespace = self._target(obj)
        except _RefusedError as refused:
            return refused.result
        metadata = dict(obj.get("metadata") or {})
        name = metadata.get("name") or ""
        if not name and metadata.get("generateName"):
            name = str(metadata["generateName"]) + "".join(
                secrets.choice(string.ascii_lowercase + string.digits) for _ in range(5)
            )
        if not name:
            return WriteResult.failed(
                "Invalid",
                # The API server names the kind here ("Deployment.apps"), not the resource.
                f'{_qualified_kind(info)} "" is invalid: '
                "metadata.name: Required value: name or generateName is required",
            )
        with self._lock:
            bucket = self._objects.setdefault((info.group, info.kind), {})
            if (namespace, name) in bucket:
                return WriteResult.failed("AlreadyExists", f'{_resource(info)} "{name}" already exists')
            metadata.update(
                name=name,
                uid=str(uuid.uuid4()),
                resourceVersion=str(next(self._versions)),
                creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                generation=1,
            )
            if info.namespaced:
                metadata["namespace"] = namespace
            stored = {**obj, "metadata": metadata}
            size = len(fastjson.dumps(stored))
            refusal = self._refusal(info, stored, size, (info.group, info.kind), namespace, name)
            if refusal is not None:
                return refusal
            if not dry_run:
                self._put((info.group, info.kind), namespace, name, stored, size)
        return WriteResult(True, stored)

    def update(self, obj: Mapping[str, Any], *, dry_run: bool) -> WriteResult:
        try:
            info, namespace = self._target(obj)
        except _RefusedError as refused:
            return refused.result
        metadata = dict(obj.get("metadata") or {})
        name = str(metadata.get("name") or "")
        with self._lock:
            bucket = self._objects.setdefault((info.group, info.kind), {})
            current = bucket.get((namespace, name))
            if current is None:
                return WriteResult.failed("NotFound", f'{_resource(info)} "{name}" not found')
            current_meta = current.get("metadata") or {}
            version = metadata.get("resourceVersion")
            if version and version != current_meta.get("resourceVersion"):
                return WriteResult.failed(
                    "Conflict",
                    f'Operation cannot be fulfilled on {_resource(info)} "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                )
            generation = int(current_meta.get("generation") or 1)
            if obj.get("spec") != current.get("spec"):
                generation += 1
            for kept in ("uid", "creationTimestamp"):
                if kept in current_meta:
                    metadata[kept] = current_meta[kept]
            metadata.update(resourceVersion=str(next(self._versions)), generation=generation)
            stored = {**obj, "metadata": metadata}
            size = len(fastjson.dumps(stored))
            refusal = self._refusal(info, stored, size, (info.group, info.kind), namespace, name)
            if refusal is not None:
                return refusal
            if not dry_run:
                self._put((info.group, info.kind), namespace, name, stored, size)
        return WriteResult(True, stored)

    def remove(self, obj: Mapping[str, Any], *, dry_run: bool) -> WriteResult:
        try:
            info, namespace = self._target(obj)
        except _RefusedError as refused:
            return refused.result
        name = str((obj.get("metadata") or {}).get("name") or "")
        with self._lock:
            bucket = self._objects.get((info.group, info.kind), {})
            if (namespace, name) not in bucket:
                return WriteResult.failed("NotFound", f'{_resource(info)} "{name}" not found')
            if not dry_run:
                del bucket[(namespace, name)]
                self._stored_bytes -= self._sizes.pop(((info.group, info.kind), namespace, name), 0)
        return WriteResult(True, obj)

    # -- limits ------------------------------------------------------------------------------

    def _refusal(
        self, info: KindInfo, stored: Mapping[str, Any], size: int, key: _Key, namespace: str, name: str
    ) -> WriteResult | None:
        """What the API server (or a quota) would refuse of this write of ``size`` JSON bytes; lock held."""
        if size > MAX_OBJECT_BYTES:
            return WriteResult.failed("RequestEntityTooLarge", f"Request entity too large: limit is {MAX_OBJECT_BYTES}")
        if (
            info.group == ""
            and info.kind in ("ConfigMap", "Secret")
            and _data_bytes(info.kind, stored) > MAX_DATA_BYTES
        ):
            where = "data" if info.kind == "Secret" else "[]"  # the field paths the API server's messages name
            return WriteResult.failed(
                "Invalid",
                f'{info.kind} "{name}" is invalid: {where}: Too long: must have at most {MAX_DATA_BYTES} bytes',
            )
        previous = self._sizes.get((key, namespace, name))
        count = len(self._sizes) + (previous is None)
        quota = self._quota
        if count > quota.max_objects or self._stored_bytes - (previous or 0) + size > quota.max_bytes:
            return WriteResult.failed(
                "Forbidden",
                f"exceeded quota of the in-memory cluster: at most {quota.max_objects} objects and "
                f"{quota.max_bytes // 2**20} MiB ({MAX_OBJECTS_VARIABLE}, {MAX_MB_VARIABLE})",
            )
        return None

    def _put(self, key: _Key, namespace: str, name: str, stored: dict[str, Any], size: int) -> None:
        self._objects.setdefault(key, {})[(namespace, name)] = stored
        self._stored_bytes += size - self._sizes.get((key, namespace, name), 0)
        self._sizes[(key, namespace, name)] = size

    # -- helpers -----------------------------------------------------------------------------

    def _resolve(self, kind: str, api_version: str) -> tuple[_Key, KindInfo | None]:
        info = self.kinds.lookup(api_version, kind)
        group, _ = split_api_version(api_version)
        if info is None:
            with self._lock:
                known = (group, kind) in self._objects
            if not known:
                raise ClusterError(f'no matches for kind "{kind}" in version "{api_version}"')
        return (group, kind), info

    def _target(self, obj: Mapping[str, Any]) -> tuple[KindInfo, str]:
        """The kind and namespace a write goes to; raises _RefusedError as the API server would."""
        info = self.kinds.lookup(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        if info is None:
            raise _RefusedError(WriteResult.failed("NotFound", "the server could not find the requested resource"))
        namespace = str((obj.get("metadata") or {}).get("namespace") or "")
        if info.namespaced and not namespace:
            raise _RefusedError(WriteResult.failed("BadRequest", f"a namespace is required for {info.kind} objects"))
        return info, namespace if info.namespaced else ""

    def _store(self, obj: dict[str, Any]) -> None:
        group, _ = split_api_version(str(obj.get("apiVersion", "")))
        kind = str(obj.get("kind", ""))
        info = self.kinds.lookup(str(obj.get("apiVersion", "")), kind)
        metadata = obj.get("metadata") or {}
        namespace = str(metadata.get("namespace") or "")
        if info is not None and not info.namespaced:
            namespace = ""
        elif info is not None and not namespace:
            namespace = "default"
            metadata = {**metadata, "namespace": namespace}
        if not metadata.get("resourceVersion"):
            metadata = {**metadata, "resourceVersion": str(next(self._versions))}
        obj["metadata"] = metadata
        self._put((group, kind), namespace, str(metadata.get("name", "")), obj, len(fastjson.dumps(obj)))


def _data_bytes(kind: str, obj: Mapping[str, Any]) -> int:
    """The size API validation limits: data values as bytes (Secret data and binaryData decoded from
    base64), keys not counted; a Secret's stringData replaces the data entries of the same keys."""

    def fields(name: str) -> Mapping[str, Any]:
        value = obj.get(name)
        return value if isinstance(value, Mapping) else {}

    def decoded(value: Any) -> int:
        return len(str(value).rstrip("=")) * 3 // 4

    def text(value: Any) -> int:
        return len(str(value).encode("utf-8", "surrogatepass"))

    if kind == "Secret":
        strings = fields("stringData")
        return sum(decoded(v) for k, v in fields("data").items() if k not in strings) + sum(map(text, strings.values()))
    return sum(map(text, fields("data").values())) + sum(map(decoded, fields("binaryData").values()))


def _version_number(obj: Mapping[str, Any]) -> int:
    version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
    return int(version) if version.isdigit() else 0


class _RefusedError(Exception):
    def __init__(self, result: WriteResult) -> None:
        super().__init__(result.message)
        self.result = result


def _qualified_kind(info: KindInfo) -> str:
    return f"{info.kind}.{info.group}" if info.group else info.kind


def _resource(info: KindInfo) -> str:
    return f"{info.plural}.{info.group}" if info.group else info.plural
