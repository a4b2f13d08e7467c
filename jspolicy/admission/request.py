"""Turning a resource into the AdmissionRequest the API server would send.

Offline tools need the same ``request`` a policy sees in a cluster: kind and
resource (from the kind table), scope and namespace, userInfo, object and
oldObject, and the operation's options. A CONNECT (``kubectl exec``, ``attach``,
``port-forward``, ``proxy``) carries the connect options object (PodExecOptions
...) instead, for the parent resource's subresource, named by the caller since
options objects have no metadata.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jspolicy.resources.kinds import KindInfo, KindRegistry, split_api_version
from jspolicy.resources.webhooks import NAMESPACE_NAME_LABEL

OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")
DEFAULT_USER = "kubernetes-admin"
DEFAULT_GROUPS = ("system:masters", "system:authenticated")

# The core/v1 options kinds the API server sends as the object of a CONNECT:
# kind -> (parent resource, parent is namespaced, its subresource)
CONNECT_OPTIONS: Mapping[str, tuple[str, bool, str]] = {
    "PodExecOptions": ("pods", True, "exec"),
    "PodAttachOptions": ("pods", True, "attach"),
    "PodPortForwardOptions": ("pods", True, "portforward"),
    "PodProxyOptions": ("pods", True, "proxy"),
    "ServiceProxyOptions": ("services", True, "proxy"),
    "NodeProxyOptions": ("nodes", False, "proxy"),
}
Key = tuple[str, str, str, str]  # a controller's object key: apiVersion, kind, namespace, name


class RequestError(ValueError):
    """The resource cannot be turned into an AdmissionRequest."""


@dataclass(frozen=True)
class UserInfo:
    username: str = DEFAULT_USER
    groups: Sequence[str] = DEFAULT_GROUPS
    uid: str = ""
    extra: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        info: dict[str, Any] = {"username": self.username}
        if self.uid:
            info["uid"] = self.uid
        if self.groups:
            info["groups"] = list(self.groups)
        if self.extra:
            info["extra"] = {k: list(v) for k, v in self.extra.items()}
        return info


def build_request(
    kinds: KindRegistry,
    operation: str,
    obj: Mapping[str, Any] | None,
    old: Mapping[str, Any] | None = None,
    *,
    user: UserInfo | None = None,
    subresource: str = "",
    dry_run: bool = False,
    name: str = "",
    namespace: str = "",
) -> dict[str, Any]:
    """An admission.k8s.io/v1 AdmissionRequest, fields in the API's order.

    ``name`` and ``namespace`` name the object a CONNECT goes to (the pod of a ``kubectl exec``); other
    requests take them from the object's metadata, as the API server does."""
    if operation not in OPERATIONS:
        raise RequestError(f"unknown operation {operation!r}; use one of {', '.join(OPERATIONS)}")
    if operation != "CONNECT" and (name or namespace):
        raise RequestError(f"a {operation} takes its name and namespace from the object's metadata")
    if operation == "CONNECT" and obj is not None and is_connect_options(obj):
        return _connect_request(obj, user=user, subresource=subresource, name=name, namespace=namespace)
    if operation == "DELETE":
        obj, old = None, old if old is not None else obj
    if operation == "UPDATE" and old is None:
        raise RequestError("an UPDATE needs the old object (--old)")
    subject = obj if obj is not None else old
    if subject is None:
        raise RequestError("no object given")
    api_version, kind, info = _kind_of(kinds, subject)
    metadata = subject.get("metadata") or {}
    name = name or str(metadata.get("name") or "")
    if info.namespaced:
        namespace = namespace or str(metadata.get("namespace") or "default")
        obj, old = _in_namespace(obj, namespace), _in_namespace(old, namespace)
    elif kind == "Namespace" and info.group == "":
        namespace = name  # the API server reports a Namespace's own name here
        obj, old = _with_name_label(obj, name), _with_name_label(old, name)
    else:
        namespace = ""
    group, version = split_api_version(api_version)
    gvk = {"group": group, "version": version, "kind": kind}
    gvr = {"group": group, "version": version, "resource": info.plural}
    request: dict[str, Any] = {"uid": str(uuid.uuid4()), "kind": gvk, "resource": gvr}
    if subresource:
        request["subResource"] = subresource
    request.update(requestKind=dict(gvk), requestResource=dict(gvr))
    if subresource:
        request["requestSubResource"] = subresource
    if name:
        request["name"] = name
    if namespace:
        request["namespace"] = namespace
    request.update(
        operation=operation,
        userInfo=(user or UserInfo()).to_json(),
        object=copy.deepcopy(obj) if operation in ("CREATE", "UPDATE", "CONNECT") else None,
        oldObject=copy.deepcopy(old) if operation in ("UPDATE", "DELETE") else None,
        dryRun=dry_run,
        options=_options(operation),
    )
    return request


def is_connect_options(obj: Mapping[str, Any]) -> bool:
    """A core/v1 connect options object (no ObjectMeta: selectors never match it)."""
    return obj.get("apiVersion") == "v1" and obj.get("kind") in CONNECT_OPTIONS


def _connect_request(
    options: Mapping[str, Any], *, user: UserInfo | None, subresource: str, name: str, namespace: str
) -> dict[str, Any]:
    """What the API server sends for a CONNECT: the options as kind and object, the parent resource with
    the subresource, the parent's name and namespace, no oldObject and no operation options."""
    kind = str(options["kind"])
    plural, namespaced, expected = CONNECT_OPTIONS[kind]
    subresource = subresource or expected
    if subresource != expected:
        raise RequestError(f"a {kind} is sent for {plural}/{expected}, not {plural}/{subresource}")
    if not name:
        raise RequestError(
            f"a CONNECT to {plural}/{subresource} needs the {plural[:-1]}'s name ({kind} has no metadata)"
        )
    if namespaced:
        namespace = namespace or "default"
    elif namespace:
        raise RequestError(f"{plural} are not namespaced: a CONNECT to {plural}/{subresource} has no namespace")
    gvk = {"group": "", "version": "v1", "kind": kind}
    gvr = {"group": "", "version": "v1", "resource": plural}
    request: dict[str, Any] = {"uid": str(uuid.uuid4()), "kind": gvk, "resource": gvr, "subResource": subresource}
    request.update(requestKind=dict(gvk), requestResource=dict(gvr), requestSubResource=subresource, name=name)
    if namespace:
        request["namespace"] = namespace
    request.update(
        operation="CONNECT",
        userInfo=(user or UserInfo()).to_json(),
        object=copy.deepcopy(dict(options)),
        oldObject=None,
        dryRun=False,
        options=None,
    )
    return request


def _kind_of(kinds: KindRegistry, obj: Mapping[str, Any]) -> tuple[str, str, KindInfo]:
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    info = kinds.lookup(api_version, kind)
    if info is None:
        raise RequestError(
            f"unknown kind {kind!r} in {api_version!r}: add its CustomResourceDefinition to the cluster state"
        )
    return api_version, kind, info


def watched(kinds: KindRegistry, obj: Mapping[str, Any]) -> tuple[Mapping[str, Any], Key]:
    """``obj`` as a watch cache holds it (a namespaced object in its namespace, ``default`` when it names
    none; a Namespace with its name label) and its controller key, so offline controller runs see what
    the controller would."""
    api_version, kind, info = _kind_of(kinds, obj)
    metadata = obj.get("metadata") or {}
    name, namespace = str(metadata.get("name") or ""), ""
    stored = obj
    if info.namespaced:
        namespace = str(metadata.get("namespace") or "default")
        stored = _in_namespace(obj, namespace) or obj
    elif kind == "Namespace" and info.group == "":
        stored = _with_name_label(obj, name) or obj
    return stored, (api_version, kind, namespace, name)


def _in_namespace(obj: Mapping[str, Any] | None, namespace: str) -> Mapping[str, Any] | None:
    if obj is None:
        return None
    metadata = obj.get("metadata") or {}
    if metadata.get("namespace") == namespace:
        return obj
    return {**obj, "metadata": {**metadata, "namespace": namespace}}


def _with_name_label(obj: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    """The API server labels every Namespace with its own name before admission."""
    if obj is None:
        return None
    metadata = obj.get("metadata") or {}
    labels = {**(metadata.get("labels") or {}), NAMESPACE_NAME_LABEL: name}
    return {**obj, "metadata": {**metadata, "labels": labels}}


def _options(operation: str) -> dict[str, str] | None:
    kind = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}.get(operation)
    return {"kind": kind, "apiVersion": "meta.k8s.io/v1"} if kind else None


def controller_request(
    operation: str, obj: Mapping[str, Any] | None, *, key: tuple[str, str, str, str], old: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The synthetic request a controller policy sees (as jsPolicy builds it): no uid, resource or user;
    ``key`` is (apiVersion, kind, namespace, name). ``oldObject`` only on real UPDATE events."""
    api_version, kind, namespace, name = key
    group, version = split_api_version(api_version)
    request: dict[str, Any] = {
        "uid": "",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": "", "version": "", "resource": ""},
        "name": name,
        "namespace": namespace,
        "operation": operation,
        "userInfo": {},
        "object": copy.deepcopy(obj) if obj is not None else None,
    }
    if operation == "UPDATE":
        request["oldObject"] = copy.deepcopy(old)
    return request
