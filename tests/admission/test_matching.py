"""Whether the API server would call a policy's webhook: rules, scope and selectors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from jspolicy.admission.matching import match
from jspolicy.admission.request import build_request
from jspolicy.resources.kinds import KindRegistry
from jspolicy.resources.policy import JsPolicy
from tests.conftest import make_policy, pod

KINDS = KindRegistry.builtin()

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "api", "namespace": "shop", "labels": {"app": "api"}},
    "spec": {"replicas": 1},
}
HPA: dict[str, Any] = {
    "apiVersion": "autoscaling/v2",
    "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "api", "namespace": "shop"},
}
NODE: dict[str, Any] = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "labels": {"zone": "a"}}}
CLUSTER_ROLE: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "reader"},
}


def namespace(name: str = "shop", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels)}}


def labelled_pod(**labels: str) -> dict[str, Any]:
    return pod(metadata={"name": "web", "namespace": "shop", "labels": dict(labels)})


def policy(**spec: Any) -> JsPolicy:
    return make_policy("allow();", **spec)


def request(
    operation: str, obj: Mapping[str, Any] | None, old: Mapping[str, Any] | None = None, subresource: str = ""
) -> dict[str, Any]:
    return build_request(KINDS, operation, obj, old, subresource=subresource)


def called(
    js_policy: JsPolicy,
    admission_request: Mapping[str, Any],
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
) -> bool:
    known = namespaces or {}
    result = match(js_policy, admission_request, known.get)
    assert result.called == (result.why == ""), "a skipped request always says why"
    return result.called


# ---- operations, groups, versions --------------------------------------------------------


@pytest.mark.parametrize(
    ("operations", "operation", "expected"),
    [
        (["*"], "CREATE", True),
        (["*"], "DELETE", True),
        (["*"], "CONNECT", True),
        (["CREATE"], "CREATE", True),
        (["CREATE"], "UPDATE", False),
        (["UPDATE", "DELETE"], "DELETE", True),
        (["UPDATE", "DELETE"], "CREATE", False),
        (["CONNECT"], "CONNECT", True),
    ],
)
def test_operations(operations: list[str], operation: str, expected: bool) -> None:
    old = pod() if operation in ("UPDATE", "DELETE") else None
    obj = None if operation == "DELETE" else pod()
    assert called(policy(operations=operations), request(operation, obj, old)) is expected


@pytest.mark.parametrize(
    ("groups", "obj", "expected"),
    [
        (["*"], DEPLOYMENT, True),
        (["apps"], DEPLOYMENT, True),
        (["apps"], pod(), False),
        ([""], pod(), True),
        ([""], DEPLOYMENT, False),
        (["", "apps"], DEPLOYMENT, True),
        (["rbac.authorization.k8s.io"], CLUSTER_ROLE, True),
    ],
)
def test_api_groups(groups: list[str], obj: dict[str, Any], expected: bool) -> None:
    assert called(policy(apiGroups=groups), request("CREATE", obj)) is expected


def hpa_policy(versions: list[str], match_policy: str | None) -> JsPolicy:
    spec: dict[str, Any] = {
        "apiGroups": ["autoscaling"],
        "apiVersions": versions,
        "resources": ["horizontalpodautoscalers"],
    }
    if match_policy is not None:
        spec["matchPolicy"] = match_policy
    return policy(**spec)


def test_exact_match_policy_needs_the_request_version() -> None:
    v2 = request("CREATE", HPA)
    assert called(hpa_policy(["v2"], "Exact"), v2)
    assert not called(hpa_policy(["v1"], "Exact"), v2)
    assert called(hpa_policy(["v1", "v2"], "Exact"), v2)
    assert called(hpa_policy(["*"], "Exact"), v2)


def test_equivalent_match_policy_accepts_another_served_version() -> None:
    v2 = request("CREATE", HPA)
    assert called(hpa_policy(["v1"], "Equivalent"), v2)
    assert called(hpa_policy(["v1"], None), v2), "Equivalent is the default"


def test_equivalent_still_needs_the_group_and_resource() -> None:
    assert not called(policy(apiGroups=["apps"], apiVersions=["v1"], resources=["pods"]), request("CREATE", pod()))
    assert not called(hpa_policy(["v1"], "Equivalent"), request("CREATE", DEPLOYMENT))


def test_equivalent_does_not_match_a_version_the_resource_does_not_have() -> None:
    assert not called(policy(apiGroups=[""], apiVersions=["v2"], resources=["pods"]), request("CREATE", pod()))


# ---- resources and subresources ------------------------------------------------------------

POD_STATUS = ("UPDATE", "status")
POD_EXEC = ("CONNECT", "exec")


@pytest.mark.parametrize(
    ("resources", "subject", "subresource", "expected"),
    [
        (["pods"], "pod", "", True),
        (["pods"], "pod", "status", False),
        (["pods"], "deployment", "", False),
        (["pods/*"], "pod", "", True),
        (["pods/*"], "pod", "status", True),
        (["pods/*"], "pod", "exec", True),
        (["pods/*"], "deployment", "", False),
        (["pods/status"], "pod", "status", True),
        (["pods/status"], "pod", "", False),
        (["pods/status"], "pod", "exec", False),
        (["*/scale"], "deployment", "scale", True),
        (["*/scale"], "deployment", "", False),
        (["*/scale"], "pod", "status", False),
        (["deployments/scale"], "deployment", "scale", True),
        (["*"], "pod", "", True),
        (["*"], "deployment", "", True),
        (["*"], "pod", "status", False),
        (["*/*"], "pod", "", True),
        (["*/*"], "pod", "exec", True),
        (["*/*"], "deployment", "scale", True),
        (["services", "pods/exec"], "pod", "exec", True),
        (["services", "pods/exec"], "pod", "", False),
    ],
)
def test_resources_and_subresources(resources: list[str], subject: str, subresource: str, expected: bool) -> None:
    obj = pod() if subject == "pod" else DEPLOYMENT
    operation = "CONNECT" if subresource == "exec" else "UPDATE"
    admission_request = request(operation, obj, obj if operation == "UPDATE" else None, subresource=subresource)
    assert admission_request.get("subResource", "") == subresource
    assert called(policy(resources=resources), admission_request) is expected


# ---- scope -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "obj", "expected"),
    [
        ("*", pod(), True),
        ("*", NODE, True),
        ("*", namespace(), True),
        ("Namespaced", pod(), True),
        ("Namespaced", DEPLOYMENT, True),
        ("Namespaced", NODE, False),
        ("Namespaced", CLUSTER_ROLE, False),
        ("Namespaced", namespace(), False),  # Namespaces are cluster-scoped
        ("Cluster", pod(), False),
        ("Cluster", NODE, True),
        ("Cluster", CLUSTER_ROLE, True),
        ("Cluster", namespace(), True),
    ],
)
def test_scope(scope: str, obj: dict[str, Any], expected: bool) -> None:
    assert called(policy(scope=scope), request("CREATE", obj)) is expected


def test_a_namespace_request_carries_its_own_name_as_namespace() -> None:
    admission_request = request("CREATE", namespace("team-a"))
    assert admission_request["namespace"] == "team-a"
    assert called(policy(scope="Cluster"), admission_request)


# ---- namespaceSelector -------------------------------------------------------------------

PROD_ONLY = {"matchLabels": {"env": "prod"}}


def test_namespace_selector_uses_the_namespace_labels() -> None:
    js_policy = policy(namespaceSelector=PROD_ONLY)
    assert called(js_policy, request("CREATE", pod()), {"shop": {"env": "prod"}})
    assert not called(js_policy, request("CREATE", pod()), {"shop": {"env": "dev"}})
    assert not called(js_policy, request("CREATE", pod()), {"shop": {}})


def test_namespace_selector_expressions() -> None:
    js_policy = policy(namespaceSelector={"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]})
    assert called(js_policy, request("CREATE", pod()), {"shop": {"env": "prod"}})
    assert called(js_policy, request("CREATE", pod()), {"shop": {"team": "a"}})
    assert not called(js_policy, request("CREATE", pod()), {"shop": {"env": "dev"}})


def test_empty_namespace_selectors_match_everything() -> None:
    assert called(policy(namespaceSelector={}), request("CREATE", pod()), {"shop": {"env": "dev"}})


def test_cluster_scoped_objects_are_never_exempted_by_namespace_selector() -> None:
    js_policy = policy(namespaceSelector=PROD_ONLY)
    assert called(js_policy, request("CREATE", NODE))
    assert called(js_policy, request("DELETE", CLUSTER_ROLE))


def test_namespace_create_matches_against_its_own_labels() -> None:
    js_policy = policy(namespaceSelector=PROD_ONLY)
    lookup = {"shop": {"env": "dev"}}  # the cluster's (stale) view must not be used
    assert called(js_policy, request("CREATE", namespace(env="prod")), lookup)
    assert not called(js_policy, request("CREATE", namespace(env="dev")), {"shop": {"env": "prod"}})


def test_namespace_update_matches_against_the_new_labels() -> None:
    js_policy = policy(namespaceSelector=PROD_ONLY)
    assert called(js_policy, request("UPDATE", namespace(env="prod"), namespace(env="dev")), {"shop": {"env": "dev"}})
    assert not called(
        js_policy, request("UPDATE", namespace(env="dev"), namespace(env="prod")), {"shop": {"env": "prod"}}
    )


def test_namespace_delete_matches_against_the_stored_namespace() -> None:
    js_policy = policy(namespaceSelector=PROD_ONLY)
    assert called(js_policy, request("DELETE", namespace(env="dev")), {"shop": {"env": "prod"}})
    assert not called(js_policy, request("DELETE", namespace(env="prod")), {"shop": {"env": "dev"}})


# ---- objectSelector ----------------------------------------------------------------------

WEB_ONLY = {"matchLabels": {"app": "web"}}


def test_object_selector_on_create() -> None:
    js_policy = policy(objectSelector=WEB_ONLY)
    assert called(js_policy, request("CREATE", labelled_pod(app="web")))
    assert not called(js_policy, request("CREATE", labelled_pod(app="api")))
    assert not called(js_policy, request("CREATE", labelled_pod()))


def test_object_selector_matches_object_or_old_object() -> None:
    js_policy = policy(objectSelector=WEB_ONLY)
    assert called(js_policy, request("UPDATE", labelled_pod(app="web"), labelled_pod(app="api")))
    assert called(js_policy, request("UPDATE", labelled_pod(app="api"), labelled_pod(app="web")))
    assert not called(js_policy, request("UPDATE", labelled_pod(app="api"), labelled_pod(app="db")))
    assert called(js_policy, request("DELETE", labelled_pod(app="web")))
    assert not called(js_policy, request("DELETE", labelled_pod(app="api")))


def test_object_selector_and_namespace_selector_both_apply() -> None:
    js_policy = policy(objectSelector=WEB_ONLY, namespaceSelector=PROD_ONLY)
    assert called(js_policy, request("CREATE", labelled_pod(app="web")), {"shop": {"env": "prod"}})
    assert not called(js_policy, request("CREATE", labelled_pod(app="web")), {"shop": {"env": "dev"}})
    assert not called(js_policy, request("CREATE", labelled_pod(app="api")), {"shop": {"env": "prod"}})


OPT_OUT = {"matchExpressions": [{"key": "protected", "operator": "DoesNotExist"}]}


def test_opt_out_object_selector_on_update() -> None:
    js_policy = policy(objectSelector=OPT_OUT)
    assert called(js_policy, request("UPDATE", labelled_pod(), labelled_pod()))
    assert not called(js_policy, request("UPDATE", labelled_pod(protected="1"), labelled_pod(protected="1")))


@pytest.mark.parametrize("operation", ["CREATE", "DELETE"])
def test_a_null_object_never_matches_the_object_selector(operation: str) -> None:
    js_policy = policy(objectSelector=OPT_OUT)
    assert not called(js_policy, request(operation, labelled_pod(protected="1")))


def test_an_invalid_selector_is_never_called() -> None:
    js_policy = policy(objectSelector={"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]})
    result = match(js_policy, request("CREATE", pod()), lambda name: {})
    assert not result.called and "invalid selector" in result.why


# ---- exempt admission configuration -------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
    ],
)
def test_admission_configuration_is_never_matched(kind: str) -> None:
    obj = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": "x"}}
    for operation in ("CREATE", "DELETE"):
        assert not called(policy(), request(operation, obj))
    assert not called(policy(apiGroups=["admissionregistration.k8s.io"], resources=["*/*"]), request("CREATE", obj))


def test_jspolicy_objects_are_matched() -> None:
    obj = {"apiVersion": "policy.jspolicy.com/v1beta1", "kind": "JsPolicy", "metadata": {"name": "a.b.c"}}
    assert called(policy(), request("CREATE", obj))
