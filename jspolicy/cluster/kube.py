"""The live cluster behind policies' get/list/create/update/remove (docs/cluster.md).

Cached reads come from the shared informers (the first read of a kind starts
its informer and waits for the initial list); uncached reads and every write go
to the API server. ``'smart'`` is resolved in the JS wrapper as a cached get and,
on a miss, an uncached one, so ``cached`` arrives here as a plain bool. Writes of
a dry-run admission request are sent with ``dryRun=All``: validated and admitted
by the server, never persisted. Results and messages are the API server's own,
which ``MemoryCluster`` imitates. Safe to call from several V8 worker threads.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import kubernetes.client

from jspolicy.cluster.access import ClusterError, WriteResult
from jspolicy.cluster.discovery import NoKindMatchError
from jspolicy.cluster.informer import Informer, InformerFactory
from jspolicy.cluster.rest import ApiError, RestClient, resource_path
from jspolicy.resources.kinds import KindInfo
from jspolicy.resources.labels import DOES_NOT_EXIST, EQUALS, EXISTS, IN, NOT_EQUALS, NOT_IN, Selector
from jspolicy.resources.webhooks import NAMESPACE_NAME_LABEL

_Objects = list[Mapping[str, Any]]  # a method named list shadows the builtin in annotations

_PAGE_SIZE = 500
_SYNC_POLL_SECONDS = 0.2
_FATAL_LIST_STATUSES = (401, 403, 404)  # a cache that cannot list: waiting will not help


class KubeCluster:
    def __init__(
        self, api_client: kubernetes.client.ApiClient, informers: InformerFactory, *, sync_timeout: float = 30
    ) -> None:
        self.informers = informers
        self.sync_timeout = sync_timeout
        self._rest = RestClient(api_client)

    # -- reads -------------------------------------------------------------------------------

    def get(self, kind: str, api_version: str, namespace: str, name: str, *, cached: bool) -> Mapping[str, Any] | None:
        info = self.informers.resolve(api_version, kind)
        # "ns/name" of a cluster kind, or a bare name of a namespaced one, names nothing (as in MemoryCluster).
        if not name or info.namespaced != bool(namespace):
            return None
        if cached:
            return self._synced(api_version, kind).get(namespace, name)
        try:
            found = self._rest.request("GET", resource_path(info, namespace, name))
        except ApiError as error:
            if error.status == 404:
                return None
            raise ClusterError(error.message, error.reason) from error
        return found if isinstance(found, Mapping) else None

    def list(
        self, kind: str, api_version: str, *, namespace: str, selector: Selector, cached: bool
    ) -> list[Mapping[str, Any]]:
        info = self.informers.resolve(api_version, kind)
        if selector.nothing or (namespace and not info.namespaced):
            return []
        if cached:
            objects = self._synced(api_version, kind).list(namespace)
        else:
            objects = self._list_direct(info, namespace, selector)
        return [o for o in objects if selector.matches((o.get("metadata") or {}).get("labels"))]

    def namespace_labels(self, name: str) -> Mapping[str, str]:
        """A namespace's labels plus the name label, as ``MemoryCluster.namespace_labels`` (a missing
        namespace counts as an unlabelled one)."""
        namespace = self.get("Namespace", "v1", "", name, cached=True)
        labels = {} if namespace is None else (namespace.get("metadata") or {}).get("labels") or {}
        return {**labels, NAMESPACE_NAME_LABEL: name}

    def _synced(self, api_version: str, kind: str) -> Informer:
        informer = self.informers.informer(api_version, kind)
        deadline = time.monotonic() + self.sync_timeout
        while not informer.wait_synced(max(0.0, min(_SYNC_POLL_SECONDS, deadline - time.monotonic()))):
            error = informer.last_error
            if error is not None and error.status in _FATAL_LIST_STATUSES:
                raise ClusterError(error.message, error.reason)
            if time.monotonic() >= deadline:
                detail = f": {error.message}" if error is not None else ""
                raise ClusterError(
                    f"timed out waiting for cache to be synced for Kind {kind} in version {api_version}{detail}"
                )
        return informer

    def _list_direct(self, info: KindInfo, namespace: str, selector: Selector) -> _Objects:
        objects: _Objects = []
        token = ""
        label_selector = _server_selector(selector)
        while True:
            query: list[tuple[str, Any]] = [("limit", _PAGE_SIZE)]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            try:
                body = self._rest.request("GET", resource_path(info, namespace), query=query)
            except ApiError as error:
                raise ClusterError(error.message, error.reason) from error
            for item in (body or {}).get("items") or []:
                if item.get("apiVersion") and item.get("kind"):
                    objects.append(item)
                else:
                    objects.append({"apiVersion": info.api_version, "kind": info.kind, **item})
            token = str(((body or {}).get("metadata") or {}).get("continue") or "")
            if not token:
                break
        return sorted(objects, key=_sort_key)

    # -- writes ------------------------------------------------------------------------------

    def create(self, obj: Mapping[str, Any], *, dry_run: bool) -> WriteResult:
        target = self._target(obj)
        if isinstance(target, WriteResult):
            return target
        info, namespace, _ = target
        return self._write("POST", resource_path(info, namespace), obj, dry_run)

    def update(self, obj: Mapping[str, Any], *, dry_run: bool) -> WriteResult:
        path = self._object_path(obj)
        return path if isinstance(path, WriteResult) else self._write("PUT", path, obj, dry_run)

    def remove(self, obj: Mapping[str, Any], *, dry_run: bool) -> WriteResult:
        path = self._object_path(obj)
        if isinstance(path, WriteResult):
            return path
        result = self._write("DELETE", path, None, dry_run)
        # jsPolicy answers a delete with the object it was given (MemoryCluster does the same).
        return WriteResult(True, obj) if result.ok else result

    def _object_path(self, obj: Mapping[str, Any]) -> str | WriteResult:
        """The path of an existing object (update, remove); a nameless one is NotFound, as in MemoryCluster."""
        target = self._target(obj)
        if isinstance(target, WriteResult):
            return target
        info, namespace, name = target
        if not name:
            return WriteResult.failed("NotFound", f'{_qualified(info)} "" not found')
        return resource_path(info, namespace, name)

    def _write(self, method: str, path: str, body: Mapping[str, Any] | None, dry_run: bool) -> WriteResult:
        query = [("dryRun", "All")] if dry_run else []
        try:
            answer = self._rest.request(method, path, query=query, body=body)
        except ApiError as error:
            return WriteResult.failed(error.reason, error.message)
        return WriteResult(True, answer if isinstance(answer, Mapping) else None)

    def _target(self, obj: Mapping[str, Any]) -> tuple[KindInfo, str, str] | WriteResult:
        """Kind, namespace and name a write goes to, or the failure MemoryCluster reports for it."""
        try:
            info = self.informers.resolve(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        except NoKindMatchError:
            return WriteResult.failed("NotFound", "the server could not find the requested resource")
        except ClusterError as error:
            return WriteResult.failed(error.reason, error.message)
        metadata = obj.get("metadata") or {}
        namespace = str(metadata.get("namespace") or "")
        if info.namespaced and not namespace:
            return WriteResult.failed("BadRequest", f"a namespace is required for {info.kind} objects")
        return info, namespace if info.namespaced else "", str(metadata.get("name") or "")


def _qualified(info: KindInfo) -> str:
    return f"{info.plural}.{info.group}" if info.group else info.plural


def _sort_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def _server_selector(selector: Selector) -> str:
    """The requirements the API server can filter on, as a label selector string; the full
    selector is applied to the answer as well (gt/lt stay client-side)."""
    terms: list[str] = []
    for requirement in selector.requirements:
        key, values = requirement.key, requirement.values
        if requirement.operator == EQUALS and len(values) == 1:
            terms.append(f"{key}={values[0]}")
        elif requirement.operator == NOT_EQUALS and len(values) == 1:
            terms.append(f"{key}!={values[0]}")
        elif requirement.operator == IN and values:
            terms.append(f"{key} in ({','.join(sorted(values))})")
        elif requirement.operator == NOT_IN and values:
            terms.append(f"{key} notin ({','.join(sorted(values))})")
        elif requirement.operator == EXISTS:
            terms.append(key)
        elif requirement.operator == DOES_NOT_EXIST:
            terms.append(f"!{key}")
    return ",".join(terms)
