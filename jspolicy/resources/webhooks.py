"""The Validating/MutatingWebhookConfiguration for a JsPolicy (§4.4).

One configuration per policy, with exactly one webhook named after it, the
policy's rules, selectors and knobs with jsPolicy's defaults. Two differences
from jsPolicy, both safer: ``kube-system`` is excluded unless the policy opts in
with the annotation ``policy.jspolicy.com/include-system-namespaces: "true"``
(a careless ``resources: ["*"]`` policy cannot lock the cluster out), and
``sideEffects`` is ``NoneOnDryRun`` because create/update/remove do not write
on dry-run requests.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from jspolicy.resources.policy import CONTROLLER, MUTATING, JsPolicy

REGISTRATION = "admissionregistration.k8s.io/v1"
INCLUDE_SYSTEM = "policy.jspolicy.com/include-system-namespaces"
SYSTEM_NAMESPACES = ("kube-system",)
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def namespace_selector(policy: JsPolicy, excluded: tuple[str, ...] = SYSTEM_NAMESPACES) -> dict[str, Any]:
    """The policy's namespaceSelector, with the excluded namespaces added unless it opts in."""
    selector = {k: v for k, v in dict(policy.namespace_selector).items() if v}
    if policy.annotations.get(INCLUDE_SYSTEM) == "true" or not excluded:
        return selector
    expressions = [*selector.get("matchExpressions", []), {
        "key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": list(excluded)}]  # fmt: skip
    return {**selector, "matchExpressions": expressions}


def webhook_configuration(
    policy: JsPolicy, *, ca_bundle: bytes, url: str | None = None, service: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The configuration for ``policy`` (None for Controller policies, which have no webhook).

    ``url`` is the server's base URL (out-of-cluster); otherwise ``service`` is a
    service reference ``{name, namespace, port}``.
    """
    if policy.type == CONTROLLER:
        return None
    path = f"/policy/{policy.name}"
    client: dict[str, Any] = {"caBundle": base64.b64encode(ca_bundle).decode("ascii")}
    if url is not None:
        client["url"] = url.rstrip("/") + path
    elif service is not None:
        client["service"] = {**service, "path": path}
    else:
        raise ValueError("a webhook needs a url or a service")
    webhook: dict[str, Any] = {
        "name": policy.name,
        "clientConfig": client,
        "rules": [
            {
                "operations": policy.operations,
                "apiGroups": policy.api_groups,
                "apiVersions": policy.api_versions,
                "resources": policy.resources,
                "scope": policy.scope,
            }
        ],
        "failurePolicy": policy.failure_policy,
        "matchPolicy": policy.match_policy,
        "namespaceSelector": namespace_selector(policy),
        "objectSelector": dict(policy.object_selector),
        "sideEffects": "NoneOnDryRun",
        "timeoutSeconds": policy.timeout_seconds,
        "admissionReviewVersions": ["v1", "v1beta1"],
    }
    mutating = policy.type == MUTATING
    if mutating:
        webhook["reinvocationPolicy"] = policy.reinvocation_policy
    metadata: dict[str, Any] = {"name": policy.name}
    if policy.labels:
        metadata["labels"] = dict(policy.labels)
    if policy.annotations:
        metadata["annotations"] = dict(policy.annotations)
    return {
        "apiVersion": REGISTRATION,
        "kind": "MutatingWebhookConfiguration" if mutating else "ValidatingWebhookConfiguration",
        "metadata": metadata,
        "webhooks": [webhook],
    }
