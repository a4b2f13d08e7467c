"""The library's tenant-defaults controller policies on a real kube-apiserver, run by a real ``jspolicy serve``
as its controller: a namespace labelled as a tenant gets its ResourceQuota, LimitRange and default-deny
NetworkPolicy, they come back after a tenant deletes them, and an unlabelled namespace gets none."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from jspolicy.controlplane.plane import ControlPlane
from tests.kube.jspolicy_server import (
    NAMESPACE,
    ROOT,
    Replica,
    get_json,
    install_crds,
    lease_holder,
    remove_everything,
    start_replica,
    wait_for,
)

POLICIES = ("tenant-resource-quota", "tenant-limit-range", "tenant-default-network-policy")
KINDS = ("resourcequota", "limitrange", "networkpolicy")
NAME = "guardrails-default"
TENANT_LABEL = "guardrails.jspolicy.com/tenant"
OPTIONS = "jspolicy-guardrails"
TIMEOUT = 120  # a controller event on a busy machine: the informers, the queue, V8 and three API writes


@pytest.fixture(scope="module")
def server(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    install_crds(control_plane)
    options = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": OPTIONS, "namespace": NAMESPACE},
               "data": {"quota-hard": "pods=20, requests.cpu=2"}}  # fmt: skip
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(options))
    replica = start_replica(control_plane, tmp_path_factory.mktemp("tenant-defaults"), "defaults-a")
    try:
        wait_for(lambda: lease_holder(control_plane) == "defaults-a", timeout=TIMEOUT, what="leader lease")
        for policy in POLICIES:
            control_plane.kubectl("apply", "-f", str(ROOT / "policies" / policy / "policy.yaml"))
        for policy in POLICIES:
            name = f"{policy}.library.jspolicy.com"
            wait_for(lambda: controller_ready(control_plane, name), timeout=TIMEOUT, what=f"{name} running")  # noqa: B023
        yield replica
    finally:
        replica.stop()
        control_plane.kubectl("delete", "configmap", OPTIONS, "-n", NAMESPACE, "--ignore-not-found")
        remove_everything(control_plane)


def controller_ready(plane: ControlPlane, policy: str) -> bool:
    conditions = ((get_json(plane, "jspolicy", policy) or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "ControllerReady" and c["status"] == "True" for c in conditions)


def namespace(plane: ControlPlane, labels: dict[str, str], annotations: dict[str, str] | None = None) -> str:
    """A fresh namespace (namespaces never finish deleting here: there is no controller-manager)."""
    name = f"tenant-{uuid.uuid4().hex[:8]}"
    metadata = {"name": name, "labels": labels, "annotations": annotations or {}}
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
    plane.kubectl("create", "-f", "-", input=json.dumps(manifest))
    return name


def defaults_of(plane: ControlPlane, ns: str) -> dict[str, dict[str, Any]]:
    """The library's objects in ``ns`` by kind, those that exist."""
    found = {kind: get_json(plane, kind, NAME, "-n", ns) for kind in KINDS}
    return {kind: obj for kind, obj in found.items() if obj is not None}


def all_defaults(plane: ControlPlane, ns: str) -> dict[str, dict[str, Any]]:
    """The three objects, or {} while one is missing."""
    found = defaults_of(plane, ns)
    return found if len(found) == len(KINDS) else {}


def test_a_tenant_namespace_gets_its_defaults_and_gets_them_back_after_a_tenant_deletes_them(
    control_plane: ControlPlane, server: Replica
) -> None:
    tenant = f"t{uuid.uuid4().hex[:6]}"
    ns = namespace(control_plane, {TENANT_LABEL: tenant},
                   {"guardrails.jspolicy.com/limit-range-default": "cpu=250m, memory=256Mi"})  # fmt: skip
    made = wait_for(lambda: all_defaults(control_plane, ns), timeout=TIMEOUT, what="the three defaults")
    for obj in made.values():
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "jspolicy-guardrails"
    assert made["resourcequota"]["spec"]["hard"] == {"pods": "20", "requests.cpu": "2"}  # the ConfigMap's
    (limits,) = made["limitrange"]["spec"]["limits"]
    assert limits == {"type": "Container", "default": {"cpu": "250m", "memory": "256Mi"},  # the annotation's
                      "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}  # fmt: skip
    network = made["networkpolicy"]["spec"]
    assert network["podSelector"] == {} and network["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in network  # no ingress rule: all ingress denied
    (dns,) = network["egress"]
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]

    # A tenant allowed by RBAC to delete them does so; the controller makes each one again.
    resources = "resourcequotas,limitranges,networkpolicies.networking.k8s.io"
    control_plane.kubectl("create", "role", "owner", "--verb=get,list,delete", f"--resource={resources}", "-n", ns)
    control_plane.kubectl("create", "rolebinding", "owner", "--role=owner", f"--group=tenant:{tenant}", "-n", ns)
    before = {kind: obj["metadata"]["uid"] for kind, obj in made.items()}
    as_tenant = ("--as", f"{tenant}-owner", "--as-group", f"tenant:{tenant}", "-n", ns)
    control_plane.kubectl("delete", *(f"{kind}/{NAME}" for kind in KINDS), "--wait=false", *as_tenant)

    def remade() -> dict[str, dict[str, Any]]:
        found = all_defaults(control_plane, ns)
        return (
            {}
            if any(found.get(kind, {}).get("metadata", {}).get("uid") in (None, before[kind]) for kind in KINDS)
            else found
        )

    again = wait_for(remade, timeout=TIMEOUT, what="the three defaults made again")
    assert {kind: obj["spec"] for kind, obj in again.items()} == {kind: obj["spec"] for kind, obj in made.items()}


def test_an_unlabelled_namespace_gets_none_until_it_is_labelled(control_plane: ControlPlane, server: Replica) -> None:
    plain = namespace(control_plane, {})
    # Each policy's queue takes the namespaces in the order they were created, so once a tenant namespace
    # created after it has its objects, the unlabelled one's event has been handled too.
    later = namespace(control_plane, {TENANT_LABEL: "later"})
    wait_for(lambda: all_defaults(control_plane, later), timeout=TIMEOUT, what="the later namespace's defaults")
    assert defaults_of(control_plane, plain) == {}
    control_plane.kubectl("label", "namespace", plain, f"{TENANT_LABEL}=plain")
    wait_for(lambda: all_defaults(control_plane, plain), timeout=TIMEOUT, what="defaults once labelled")
