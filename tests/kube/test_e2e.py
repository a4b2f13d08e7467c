"""End to end on a real kube-apiserver + etcd, driven with the real kubectl, jspolicy as its webhook."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jspolicy.controlplane.plane import ControlPlane
from tests.kube.jspolicy_server import ROOT, Replica, get_json, install_crds, lease_holder, start_replica, wait_for

EXAMPLES = ROOT / "examples" / "policies"


@pytest.fixture(scope="module")
def server(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    install_crds(control_plane)
    replica = start_replica(control_plane, tmp_path_factory.mktemp("e2e"), "e2e-a")
    wait_for(lambda: lease_holder(control_plane) == "e2e-a", what="leader lease")
    wait_for(lambda: (get_json(control_plane, "validatingwebhookconfiguration", "jspolicy") or {}).get("webhooks"),
             what="core webhook filled in")  # fmt: skip
    yield replica
    replica.stop()


def namespace(plane: ControlPlane, labels: dict[str, str] | None = None) -> str:
    """A fresh namespace (they never finish deleting here: there is no controller-manager)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}
    plane.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    return name


def pod(name: str, namespace: str, *, privileged: bool = False, labels: dict[str, str] | None = None) -> str:
    container: dict[str, object] = {"name": "app", "image": "registry.k8s.io/pause:3.10"}
    if privileged:
        container["securityContext"] = {"privileged": True}
    return json.dumps({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
                       "spec": {"containers": [container]}})  # fmt: skip


def owned_configurations(plane: ControlPlane, policy: str) -> list[str]:
    found = []
    for kind in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations"):
        for item in (get_json(plane, kind) or {}).get("items", []):
            owners = item["metadata"].get("ownerReferences") or []
            if any(o.get("kind") == "JsPolicy" and o.get("name") == policy for o in owners):
                found.append(f"{kind}/{item['metadata']['name']}")
    return found


def apply_policy(plane: ControlPlane, path: Path, probe: str | None = None, namespace_: str = "") -> None:
    """Apply a policy and wait until the API server calls its webhook (configuration changes arrive async)."""
    plane.kubectl("apply", "-f", str(path))
    name = next(line.split(":", 1)[1].strip() for line in path.read_text().splitlines() if line.strip().startswith("name:"))
    wait_for(lambda: owned_configurations(plane, name), what=f"webhook configuration of {name}")
    if probe is not None:
        wait_for(lambda: plane.kubectl("apply", "--dry-run=server", "-f", "-", input=probe, check=False).returncode != 0,
                 what=f"{name} enforced")  # fmt: skip


def test_a_validating_policy_denies_a_privileged_pod_and_allows_a_compliant_one(
    control_plane: ControlPlane, server: Replica
) -> None:
    ns = namespace(control_plane)
    apply_policy(control_plane, EXAMPLES / "deny-privileged.yaml", probe=pod("probe", ns, privileged=True))
    denied = control_plane.kubectl("apply", "-f", "-", input=pod("bad", ns, privileged=True), check=False)
    assert denied.returncode != 0
    assert "Privileged containers are not allowed: app" in denied.stderr
    assert 'admission webhook "deny-privileged.examples.jspolicy.com" denied the request' in denied.stderr
    control_plane.kubectl("apply", "-f", "-", input=pod("good", ns))
    assert get_json(control_plane, "pod", "good", "-n", ns) is not None
    # Denials are recorded in the policy's JsPolicyViolations, off the request path.
    def recorded() -> list[dict[str, object]]:
        violations = get_json(control_plane, "jspolicyviolations", "deny-privileged.examples.jspolicy.com") or {}
        return [v for v in (violations.get("status") or {}).get("violations", [])
                if v.get("requestInfo", {}).get("name") == "bad"]  # fmt: skip
    (entry,) = wait_for(recorded, what="violation recorded")
    assert entry["action"] == "Deny" and entry["code"] == 403 and entry["reason"] == "Forbidden"
    assert entry["message"] == "Privileged containers are not allowed: app"
    assert entry["requestInfo"] == {"name": "bad", "namespace": ns, "kind": "Pod", "apiVersion": "v1",
                                    "operation": "CREATE"}  # fmt: skip


def test_a_request_in_kube_system_is_not_sent_to_the_webhook(control_plane: ControlPlane, server: Replica) -> None:
    ns = namespace(control_plane)
    apply_policy(control_plane, EXAMPLES / "deny-privileged.yaml", probe=pod("probe", ns, privileged=True))
    control_plane.kubectl("apply", "--dry-run=server", "-f", "-", input=pod("system", "kube-system", privileged=True))
    control_plane.kubectl("apply", "--dry-run=server", "-f", "-", input=pod("own", "jspolicy", privileged=True))


def test_policy_status_and_bundle_follow_the_policy(control_plane: ControlPlane, server: Replica) -> None:
    apply_policy(control_plane, EXAMPLES / "deny-privileged.yaml")
    name = "deny-privileged.examples.jspolicy.com"
    policy = wait_for(lambda: (p := get_json(control_plane, "jspolicies", name)) and "phase" in p.get("status", {}) and p,
                      what="status")  # fmt: skip
    status = policy["status"]
    assert status["phase"] == "Synced" and status["observedGeneration"] == policy["metadata"]["generation"]
    assert len(status["bundleHash"]) == 64
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "BundleCompiled": "True", "WebhookReady": "True", "Ready": "True"}  # fmt: skip
    bundle = get_json(control_plane, "jspolicybundles", "deny-privileged.examples.jspolicy.com")
    assert bundle is not None and bundle["metadata"]["ownerReferences"][0]["name"] == policy["metadata"]["name"]
