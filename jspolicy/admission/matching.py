"""Whether the API server would send a request to a policy's webhook.

The same checks the apiserver (k8s.io/apiserver .../webhook/predicates) applies
to the webhook generated for a policy (``resources/webhooks.py``, including its
default kube-system exclusion): namespaceSelector, then objectSelector, then the
rule (operations, groups, versions, resources with subresource patterns, scope),
with ``matchPolicy: Equivalent`` accepting other served versions of the resource.

Controller policies are not sent by the API server: ``controller_rule`` and
``controller_selects`` are the controller's own rules (``controller/policies.py``
and the discovery lookup it starts from), shared with the offline CLI so
``jspolicy test`` selects what a cluster would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jspolicy.admission.request import is_connect_options
from jspolicy.resources.kinds import KindRegistry
from jspolicy.resources.labels import Selector, SelectorError, from_label_selector
from jspolicy.resources.policy import JsPolicy
from jspolicy.resources.webhooks import namespace_selector as namespace_selector_of

# Webhooks are never called for these (k8s IsExemptAdmissionConfigurationResource).
EXEMPT_RESOURCES = frozenset(
    {
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
        "mutatingadmissionpolicies",
        "mutatingadmissionpolicybindings",
    }
)

NamespaceLabels = Callable[[str], Mapping[str, str] | None]
_BUILTIN_KINDS = KindRegistry.builtin()


@dataclass(frozen=True)
class Match:
    called: bool
    why: str = ""


def _labels(obj: Mapping[str, Any] | None) -> Mapping[str, str] | None:
    if not isinstance(obj, Mapping):
        return None
    return (obj.get("metadata") or {}).get("labels") or {}


def _selects(selector: Selector, obj: Any) -> bool:
    """objectSelector on one side of the request: a missing object, or one without metadata (the options
    of a CONNECT), never matches."""
    return isinstance(obj, Mapping) and not is_connect_options(obj) and selector.matches(_labels(obj))


def match(
    policy: JsPolicy, request: Mapping[str, Any], namespace_labels: NamespaceLabels, kinds: KindRegistry | None = None
) -> Match:
    """``kinds`` says which versions a resource is served at (for matchPolicy Equivalent)."""
    resource = request.get("resource") or {}
    group, plural = resource.get("group", ""), resource.get("resource", "")
    subresource = request.get("subResource") or ""
    if group == "admissionregistration.k8s.io" and plural in EXEMPT_RESOURCES:
        return Match(False, "webhooks are never called for admission configuration objects")
    try:
        namespace_selector = from_label_selector(namespace_selector_of(policy))
        object_selector = from_label_selector(policy.object_selector)
    except SelectorError as error:
        return Match(False, f"invalid selector: {error}")
    namespace = request.get("namespace") or ""
    is_namespace = group == "" and plural == "namespaces"
    if not namespace_selector.empty and (namespace or is_namespace):
        if is_namespace and not subresource and request.get("operation") in ("CREATE", "UPDATE"):
            labels = _labels(request.get("object"))
        else:
            labels = namespace_labels(namespace)
        if not namespace_selector.matches(labels):
            return Match(False, f"namespaceSelector does not match namespace {namespace!r}")
    if not object_selector.empty and not (
        _selects(object_selector, request.get("object")) or _selects(object_selector, request.get("oldObject"))
    ):
        return Match(False, "objectSelector matches neither the object nor the old object")
    return _match_rule(policy, request, kinds or _BUILTIN_KINDS, group, plural, subresource, namespace, is_namespace)


def _match_rule(
    policy: JsPolicy,
    request: Mapping[str, Any],
    kinds: KindRegistry,
    group: str,
    plural: str,
    subresource: str,
    namespace: str,
    is_namespace: bool,
) -> Match:
    operations = policy.operations
    if "*" not in operations and request.get("operation") not in operations:
        return Match(False, f"operation {request.get('operation')} is not in {operations}")
    groups = policy.api_groups
    if "*" not in groups and group not in groups:
        return Match(False, f"API group {group!r} is not in {groups}")
    version = (request.get("resource") or {}).get("version", "")
    versions = policy.api_versions
    if "*" not in versions and version not in versions:
        if policy.match_policy != "Equivalent":
            return Match(False, f"version {version!r} is not in {versions} (matchPolicy: Exact)")
        if not kinds.served_versions(group, plural) & set(versions):
            return Match(False, f"{plural} is not served at any of {versions}")
    if not any(_resource_matches(entry, plural, subresource) for entry in policy.resources):
        shown = f"{plural}/{subresource}" if subresource else plural
        return Match(False, f"resource {shown!r} does not match {policy.resources}")
    scope = policy.scope
    if scope == "Namespaced" and (is_namespace or not namespace):
        return Match(False, "the policy's scope is Namespaced")
    if scope == "Cluster" and not (is_namespace or not namespace):
        return Match(False, "the policy's scope is Cluster")
    return Match(True)


def _resource_matches(entry: str, plural: str, subresource: str) -> bool:
    name, _, sub = entry.partition("/")
    return name in ("*", plural) and sub in ("*", subresource)


# -- controller policies -----------------------------------------------------------------------

CONTROLLER_OPERATIONS = ("CREATE", "UPDATE", "DELETE")


def controller_rule(
    policy: JsPolicy, operation: str, api_version: str, kind: str, kinds: KindRegistry, subresource: str = ""
) -> Match:
    """Whether the controller would run ``policy`` for this operation on objects of this kind.

    Its watches come from discovery (``resources`` names a kind by plural, singular or lower-case kind,
    never ``*`` nor a subresource; apiGroups/apiVersions filter, no scope), and it sends only CREATE and
    DELETE, plus UPDATE to a policy that lists UPDATE (a change is a CREATE otherwise)."""
    if subresource:
        return Match(False, "controller policies watch objects, never subresources")
    if operation not in CONTROLLER_OPERATIONS:
        return Match(False, f"the controller never sends {operation} (only {', '.join(CONTROLLER_OPERATIONS)})")
    operations = policy.operations
    if operation == "UPDATE" and "UPDATE" not in operations:
        return Match(False, "the controller sends a change as CREATE unless the policy lists UPDATE in operations")
    if "*" not in operations and operation not in operations:
        return Match(False, f"operation {operation} is not in {operations}")
    info = kinds.lookup(api_version, kind)
    if info is None:
        return Match(False, f"unknown kind {kind!r} in {api_version!r}")
    group = info.group
    groups, versions = policy.api_groups, policy.api_versions
    if "*" not in groups and group not in groups:
        return Match(False, f"API group {group!r} is not in {groups}")
    if "*" not in versions and not kinds.served_versions(group, info.plural) & set(versions):
        return Match(False, f"{info.plural} is not served at any of {versions}")
    names = (info.plural, kind.lower())
    if not any(entry.lower() in names for entry in policy.resources):
        return Match(False, f"{kind} ({info.plural}) is not in {policy.resources} (the controller needs names)")
    return Match(True)


def controller_selects(policy: JsPolicy, obj: Mapping[str, Any], namespace_labels: NamespaceLabels) -> Match:
    """The controller's selectors on a watched object, as jsPolicy's: objectSelector on its labels, and the
    policy's own namespaceSelector (no kube-system exclusion, that is the webhooks') on its Namespace's
    labels, skipped for objects without a namespace (Namespaces included); a namespaced object whose
    Namespace ``namespace_labels`` does not know (None) is skipped."""
    try:
        object_selector = from_label_selector(policy.object_selector)
        namespace_selector = from_label_selector(policy.namespace_selector)
    except SelectorError as error:
        return Match(False, f"invalid selector: {error}")
    metadata = obj.get("metadata") or {}
    if not object_selector.matches(metadata.get("labels")):
        return Match(False, "objectSelector does not match the object")
    namespace = str(metadata.get("namespace") or "")
    if namespace and not namespace_selector.empty:
        labels = namespace_labels(namespace)
        if labels is None:
            return Match(False, f"namespace {namespace!r} not found")
        if not namespace_selector.matches(labels):
            return Match(False, f"namespaceSelector does not match namespace {namespace!r}")
    return Match(True)
