"""The manifests against a real kube-apiserver: they apply, the RBAC grants what it says, the runbook works.

The control plane is shared by the whole session, so every namespace here is new and
every cluster-scoped object created for real (CRDs aside: others need them too) is
deleted again. There is no controller-manager: namespaces never finish deleting and
aggregated ClusterRoles are not filled in, so neither is checked here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from jspolicy.controlplane.plane import ControlPlane
from jspolicy.deploy import dump

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "registry.example/jspolicy:1.2.3"
FIRST = ("Namespace", "CustomResourceDefinition")
RBAC = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def manifests(namespace: str) -> str:
    """``jspolicy manifests`` as a user runs it (a subprocess), output as kubectl gets it."""
    command = [sys.executable, "-m", "jspolicy", "manifests", "--namespace", namespace, "--image", IMAGE]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.fixture
def installed(control_plane: ControlPlane) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A new namespace with the CRDs applied for real, as the first step of an install."""
    namespace = f"jspolicy-{uuid.uuid4().hex[:8]}"
    text = manifests(namespace)
    objects = documents(text)
    control_plane.kubectl("apply", "-f", "-", input=dump([o for o in objects if o["kind"] in FIRST]))
    crds = [f"crd/{o['metadata']['name']}" for o in objects if o["kind"] == "CustomResourceDefinition"]
    control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", *crds)
    try:
        yield namespace, objects
    finally:
        cluster_scoped = [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
        if cluster_scoped:
            control_plane.kubectl("delete", "--ignore-not-found", "-f", "-", input=dump(cluster_scoped))


def test_jspolicy_manifests_pass_a_server_side_dry_run(
    control_plane: ControlPlane, installed: tuple[str, list[dict[str, Any]]]
) -> None:
    namespace, objects = installed
    result = control_plane.kubectl("apply", "--dry-run=server", "-f", "-", input=manifests(namespace))
    lines = result.stdout.splitlines()
    assert len(lines) == len(objects), result.stdout
    assert all(line.endswith("(server dry run)") for line in lines), result.stdout
    assert not result.stderr.strip(), result.stderr  # no warnings (deprecated fields, unknown fields, ...)


def test_short_names_and_existing_policies_against_the_crds(
    control_plane: ControlPlane, installed: tuple[str, list[dict[str, Any]]]
) -> None:
    control_plane.kubectl("get", "jsp,jspb,jspv")
    # Strict field validation (kubectl's default): every example and library policy fits the schema as written.
    paths = [ROOT / "examples" / "policies", *sorted((ROOT / "policies").glob("*/policy.yaml"))]
    policies = [d for path in paths for file in ([path] if path.is_file() else sorted(path.glob("*.yaml")))
                for d in documents(file.read_text()) if d.get("kind") in ("JsPolicy", "JsPolicyBundle")]  # fmt: skip
    assert len(policies) >= 6
    result = control_plane.kubectl("apply", "--dry-run=server", "-f", "-", input=dump(policies))
    assert result.stdout.count("(server dry run)") == len(policies)
    # An unknown spec field is refused, as with jsPolicy's CRDs, unless validation is turned off (then pruned).
    typo: dict[str, Any] = {**policies[0], "spec": {**policies[0]["spec"], "violationPolicyy": "Warn"}}
    refused = control_plane.kubectl("apply", "--dry-run=server", "-f", "-", input=dump([typo]), check=False)
    assert refused.returncode != 0 and "violationPolicyy" in refused.stderr
    pruned = control_plane.kubectl("create", "--dry-run=server", "--validate=false", "-o", "json", "-f", "-",
                                   input=dump([typo]))  # fmt: skip
    assert "violationPolicyy" not in json.loads(pruned.stdout)["spec"]


def can_i(control_plane: ControlPlane, namespace: str, *args: str) -> bool:
    account = f"system:serviceaccount:{namespace}:jspolicy"
    result = control_plane.kubectl("auth", "can-i", f"--as={account}", *args, check=False)
    assert result.stdout.strip() in ("yes", "no"), result.stdout + result.stderr
    return result.stdout.strip() == "yes"


def test_the_service_account_gets_exactly_the_documented_access(
    control_plane: ControlPlane, installed: tuple[str, list[dict[str, Any]]]
) -> None:
    namespace, objects = installed
    control_plane.kubectl("apply", "-f", "-", input=dump([o for o in objects if o["kind"] in RBAC]))
    allowed = [
        ("list", "jspolicies.policy.jspolicy.com"),
        ("update", "jspolicies.policy.jspolicy.com", "--subresource=status"),
        ("create", "jspolicybundles.policy.jspolicy.com"),
        ("update", "jspolicyviolations.policy.jspolicy.com", "--subresource=status"),
        ("create", "validatingwebhookconfigurations"),
        ("delete", "mutatingwebhookconfigurations"),
        ("watch", "namespaces"),
        ("create", "secrets", "-n", namespace),
        ("get", "secrets/jspolicy-webhook-cert", "-n", namespace),
        ("create", "leases.coordination.k8s.io", "-n", namespace),
        ("update", "leases.coordination.k8s.io/jspolicy-controller", "-n", namespace),
        ("get", "configmaps/jspolicy-controller", "-n", namespace),  # jsPolicy's lock, during an upgrade
        ("create", "events", "-n", namespace),
    ]
    refused = [
        ("*", "*"),
        ("update", "jspolicies.policy.jspolicy.com"),
        ("get", "secrets/other", "-n", namespace),
        ("list", "secrets", "-n", namespace),
        ("get", "secrets", "-n", "kube-system"),
        ("create", "secrets", "-n", "default"),
        ("update", "leases.coordination.k8s.io/other", "-n", namespace),
        ("update", "configmaps/jspolicy-controller", "-n", namespace),
        ("create", "clusterrolebindings"),
        ("escalate", "clusterroles"),
        ("impersonate", "users"),
        ("create", "pods", "-n", namespace),
        ("list", "configmaps", "--all-namespaces"),
        ("delete", "namespaces"),
        ("list", "policyreports.wgpolicyk8s.io", "--all-namespaces"),  # only with policy reports turned on
    ]
    for check in allowed:
        assert can_i(control_plane, namespace, *check), check
    for check in refused:
        assert not can_i(control_plane, namespace, *check), check


def emergency_listing() -> str:
    """The jsonpath of the emergency procedure, taken from docs/install.md (so the runbook is what is tested)."""
    text = (ROOT / "docs" / "install.md").read_text()
    match = re.search(r"-o jsonpath='([^']*JsPolicy[^']*)'", text)
    assert match, "docs/install.md lost the emergency listing command"
    return match.group(1)


def test_the_emergency_listing_finds_exactly_the_policy_webhooks(control_plane: ControlPlane) -> None:
    suffix = uuid.uuid4().hex[:8]
    owner = {"apiVersion": "policy.jspolicy.com/v1beta1", "kind": "JsPolicy", "name": f"p.{suffix}.tld",
             "uid": str(uuid.uuid4()), "controller": True}  # fmt: skip
    made = [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": f"owned-{suffix}", "ownerReferences": [owner]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
         "metadata": {"name": f"owned-{suffix}", "ownerReferences": [owner]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
         "metadata": {"name": f"unrelated-{suffix}"}},
    ]  # fmt: skip
    control_plane.kubectl("create", "-f", "-", input=dump(made))
    try:
        listing = control_plane.kubectl(
            "get", "validatingwebhookconfigurations,mutatingwebhookconfigurations", "-o",
            f"jsonpath={emergency_listing()}",
        ).stdout.split()  # fmt: skip
        mine = sorted(line for line in listing if suffix in line)
        assert mine == [
            f"MutatingWebhookConfiguration/owned-{suffix}",
            f"ValidatingWebhookConfiguration/owned-{suffix}",
        ]
        control_plane.kubectl("delete", *mine)  # what `| xargs kubectl delete` runs; only ours, the plane is shared
    finally:
        control_plane.kubectl("delete", "--ignore-not-found", "-f", "-", input=dump(made))
