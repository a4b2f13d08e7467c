"""The Validating/MutatingWebhookConfiguration for a JsPolicy (docs/cluster.md describes what is generated).

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

from jspolicy.resources.policy import CONTROLLER, GROUP, MUTATING, JsPolicy

REGISTRATION = "admissionregistration.k8s.io/v1"
INCLUDE_SYSTEM = "policy.jspolicy.com/include-system-namespaces"
# kube-node-lease holds the kubelets' heartbeats: blocked, every node would turn NotReady.
SYSTEM_NAMESPACES = ("kube-system", "kube-node-lease")
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
MANAGED_BY = {"app.kubernetes.io/managed-by": "jspolicy"}
CORE_WEBHOOK = "jspolicy"
_OWN_RESOURCES = {"name": "exclude-jspolicy-resources", "expression": f"request.resource.group != '{GROUP}'"}


def opted_in(policy: JsPolicy) -> bool:
    return policy.annotations.get(INCLUDE_SYSTEM) == "true"


def namespace_selector(policy: JsPolicy, excluded: tuple[str, ...] = SYSTEM_NAMESPACES) -> dict[str, Any]:
    """The policy's namespaceSelector, with the excluded namespaces added unless it opts in."""
    selector = {k: v for k, v in dict(policy.namespace_selector).items() if v}
    if opted_in(policy) or not excluded:
        return selector
    expressions = [*selector.get("matchExpressions", []), {
        "key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": list(excluded)}]  # fmt: skip
    return {**selector, "matchExpressions": expressions}


def client_config(path: str, *, ca_bundle: bytes, url: str | None, service: Mapping[str, Any] | None) -> dict[str, Any]:
    """``url`` is the server's base URL (out-of-cluster); otherwise ``service`` is ``{name, namespace, port}``."""
    client: dict[str, Any] = {"caBundle": base64.b64encode(ca_bundle).decode("ascii")}
    if url is not None:
        client["url"] = url.rstrip("/") + path
    elif service is not None:
        client["service"] = {**service, "path": path}
    else:
        raise ValueError("a webhook needs a url or a service")
    return client


def webhook_configuration(
    policy: JsPolicy,
    *,
    ca_bundle: bytes,
    url: str | None = None,
    service: Mapping[str, Any] | None = None,
    excluded: tuple[str, ...] = SYSTEM_NAMESPACES,
) -> dict[str, Any] | None:
    """The configuration for ``policy`` (None for Controller policies, which have no webhook)."""
    if policy.type == CONTROLLER:
        return None
    client = client_config(f"/policy/{policy.name}", ca_bundle=ca_bundle, url=url, service=service)
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
        "namespaceSelector": namespace_selector(policy, excluded),
        "objectSelector": {k: v for k, v in dict(policy.object_selector).items() if v},  # as the server stores it
        "sideEffects": "NoneOnDryRun",
        "timeoutSeconds": policy.timeout_seconds,
        "admissionReviewVersions": ["v1", "v1beta1"],
    }
    if not opted_in(policy):
        webhook["matchConditions"] = [dict(_OWN_RESOURCES)]
    mutating = policy.type == MUTATING
    if mutating:
        webhook["reinvocationPolicy"] = policy.reinvocation_policy
    metadata: dict[str, Any] = {"name": policy.name, "labels": {**policy.labels, **MANAGED_BY}}
    if policy.annotations:
        metadata["annotations"] = dict(policy.annotations)
    return {
        "apiVersion": REGISTRATION,
        "kind": "MutatingWebhookConfiguration" if mutating else "ValidatingWebhookConfiguration",
        "metadata": metadata,
        "webhooks": [webhook],
    }


def core_webhook_configuration(
    *, ca_bundle: bytes, url: str | None = None, service: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ValidatingWebhookConfiguration ``jspolicy``: JsPolicy objects checked by ``/crds``, fail-closed
    (as jsPolicy's own)."""
    return {
        "apiVersion": REGISTRATION,
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": CORE_WEBHOOK, "labels": dict(MANAGED_BY)},
        "webhooks": [
            {
                "name": "jspolicy.jspolicy.com",
                "clientConfig": client_config("/crds", ca_bundle=ca_bundle, url=url, service=service),
                "rules": [
                    {
                        "operations": ["CREATE", "UPDATE"],
                        "apiGroups": [GROUP],
                        "apiVersions": ["v1beta1"],
                        "resources": ["*"],
                        "scope": "*",
                    }
                ],
                "failurePolicy": "Fail",
                "matchPolicy": "Equivalent",
                "namespaceSelector": {},
                "objectSelector": {},
                "sideEffects": "None",
                "timeoutSeconds": 10,
                "admissionReviewVersions": ["v1", "v1beta1"],
            }
        ],
    }
