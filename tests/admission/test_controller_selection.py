"""The controller-policy selection rule, shared by the controller and ``jspolicy test``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pytest

from jspolicy.admission.matching import controller_rule, controller_selects
from jspolicy.cluster.informer import InformerFactory
from jspolicy.controller.policies import _Identity, _Runner
from jspolicy.resources.kinds import KindRegistry
from tests.conftest import make_policy, pod

KINDS = KindRegistry.builtin()
NAMESPACES: dict[str, Mapping[str, str]] = {"shop": {"team": "shop"}, "other": {}}
SHOP_ONLY = make_policy("allow();", type="Controller", namespaceSelector={"matchLabels": {"team": "shop"}})
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}}
CLUSTER_ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "reader"}}


class _Namespaces:
    """The Namespace informer's cache, as ``_Runner`` reads it."""

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        assert namespace == ""
        if name not in NAMESPACES:
            return None
        return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": NAMESPACES[name]}}


class _Informers:
    def informer(self, api_version: str, kind: str) -> _Namespaces:
        assert (api_version, kind) == ("v1", "Namespace")
        return _Namespaces()


def runner_selects(policy: Any, obj: Mapping[str, Any]) -> bool:
    runner = _Runner(
        policy, cast(Any, None), _Identity("", ()), cast(InformerFactory, _Informers()), cast(Any, None), None, None
    )
    try:
        return runner._selected(obj)
    finally:
        runner.queue.close()


SELECTION = [
    (NAMESPACE, True),  # no namespace: the selector is not checked (webhook matching would use its labels)
    (CLUSTER_ROLE, True),
    ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "shop"}}}, True),
    (pod(), True),  # in shop
    (pod(metadata={"name": "web", "namespace": "other"}), False),
    (pod(metadata={"name": "web", "namespace": "gone"}), False),  # its Namespace is not found
]


@pytest.mark.parametrize(("obj", "expected"), SELECTION)
def test_controller_and_shared_rule_agree(obj: Mapping[str, Any], expected: bool) -> None:
    assert controller_selects(SHOP_ONLY, obj, NAMESPACES.get).called is expected
    assert runner_selects(SHOP_ONLY, obj) is expected


def test_object_selector_and_no_system_exclusion() -> None:
    labelled = make_policy("allow();", type="Controller", objectSelector={"matchLabels": {"app": "web"}})
    assert controller_selects(labelled, pod(), NAMESPACES.get).called
    assert not controller_selects(labelled, pod(metadata={"name": "x", "namespace": "shop"}), NAMESPACES.get).called
    system = pod(metadata={"name": "x", "namespace": "kube-system"})
    assert controller_selects(make_policy("allow();", type="Controller"), system, lambda _: None).called


def test_why() -> None:
    gone = pod(metadata={"name": "web", "namespace": "gone"})
    assert controller_selects(SHOP_ONLY, gone, NAMESPACES.get).why == "namespace 'gone' not found"


@pytest.mark.parametrize(
    ("operations", "resources", "operation", "kind", "subresource", "why"),
    [
        (["CREATE"], ["pods"], "CREATE", "Pod", "", ""),
        (["CREATE"], ["pod"], "CREATE", "Pod", "", ""),
        (["*"], ["Pods"], "DELETE", "Pod", "", ""),
        (["UPDATE"], ["pods"], "UPDATE", "Pod", "", ""),
        (["*"], ["pods"], "UPDATE", "Pod", "", "the controller sends a change as CREATE unless"),
        (["*"], ["pods"], "CONNECT", "Pod", "", "the controller never sends CONNECT"),
        (["*"], ["pods"], "CREATE", "Pod", "status", "controller policies watch objects, never subresources"),
        (["CREATE"], ["pods"], "DELETE", "Pod", "", "operation DELETE is not in ['CREATE']"),
        (["*"], ["*"], "CREATE", "Pod", "", "the controller needs names"),
        (["*"], ["services"], "CREATE", "Pod", "", "Pod (pods) is not in ['services']"),
    ],
)
def test_controller_rule(
    operations: list[str], resources: list[str], operation: str, kind: str, subresource: str, why: str
) -> None:
    policy = make_policy("allow();", type="Controller", operations=operations, resources=resources)
    matched = controller_rule(policy, operation, "v1", kind, KINDS, subresource)
    assert matched.called is (why == "")
    assert why in matched.why


def test_controller_rule_groups_and_versions() -> None:
    apps = make_policy("allow();", type="Controller", resources=["deployments"], apiGroups=["apps"])
    assert controller_rule(apps, "CREATE", "apps/v1", "Deployment", KINDS).called
    core = make_policy("allow();", type="Controller", resources=["deployments"], apiGroups=[""])
    assert "API group 'apps'" in controller_rule(core, "CREATE", "apps/v1", "Deployment", KINDS).why
    old = make_policy("allow();", type="Controller", resources=["deployments"], apiVersions=["v1beta9"])
    assert not controller_rule(old, "CREATE", "apps/v1", "Deployment", KINDS).called
