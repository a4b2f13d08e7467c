"""End to end on a real kube-apiserver + etcd, driven with the real kubectl, jspolicy as its webhook."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from jspolicy.controlplane.plane import ControlPlane
from jspolicy.resources.bundle import encode_bundle
from jspolicy.service import certs
from tests.kube.jspolicy_server import (
    ROOT,
    Replica,
    get_json,
    install_crds,
    lease_holder,
    remove_everything,
    start_replica,
    wait_for,
)

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
    remove_everything(control_plane)


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
    name = next(
        line.split(":", 1)[1].strip() for line in path.read_text().splitlines() if line.strip().startswith("name:")
    )
    wait_for(lambda: owned_configurations(plane, name), what=f"webhook configuration of {name}")
    if probe is not None:
        wait_for(lambda: plane.kubectl("apply", "--dry-run=server", "-f", "-", input=probe,
                                       check=False).returncode != 0, what=f"{name} enforced")  # fmt: skip


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
    policy = wait_for(lambda: (p := get_json(control_plane, "jspolicy", name)) and "phase" in p.get("status", {}) and p,
                      what="status")  # fmt: skip
    status = policy["status"]
    assert status["phase"] == "Synced" and status["observedGeneration"] == policy["metadata"]["generation"]
    assert len(status["bundleHash"]) == 64
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "BundleCompiled": "True", "WebhookReady": "True", "Ready": "True"}  # fmt: skip
    bundle = get_json(control_plane, "jspolicybundles", "deny-privileged.examples.jspolicy.com")
    assert bundle is not None and bundle["metadata"]["ownerReferences"][0]["name"] == policy["metadata"]["name"]


def test_a_mutating_policy_labels_the_stored_pod_from_a_live_get_and_warns_otherwise(
    control_plane: ControlPlane, server: Replica
) -> None:
    team_ns = namespace(control_plane, {"team": "payments"})
    apply_policy(control_plane, EXAMPLES / "add-team-label.yaml")
    # The webhook sees the namespace created just now: get() reads the live cluster.
    wait_for(lambda: control_plane.kubectl("apply", "--dry-run=server", "-f", "-", "-o", "json",
                                           input=pod("probe", team_ns)).stdout.count('"team": "payments"'),
             what="mutation active")  # fmt: skip
    control_plane.kubectl("apply", "-f", "-", input=pod("web", team_ns))
    stored = get_json(control_plane, "pod", "web", "-n", team_ns)
    assert stored is not None and stored["metadata"]["labels"] == {"team": "payments"}
    plain_ns = namespace(control_plane)
    result = control_plane.kubectl("apply", "-f", "-", input=pod("web", plain_ns))
    assert (f"Warning: [add-team-label.examples.jspolicy.com]: namespace {plain_ns} has no team label; "
            "pod left unlabelled") in result.stderr  # fmt: skip
    stored = get_json(control_plane, "pod", "web", "-n", plain_ns)
    assert stored is not None and "team" not in (stored["metadata"].get("labels") or {})


def test_an_invalid_jspolicy_is_rejected_by_crds_with_field_paths(control_plane: ControlPlane, server: Replica) -> None:
    bad = json.dumps({"apiVersion": "policy.jspolicy.com/v1beta1", "kind": "JsPolicy",
                      "metadata": {"name": "two.parts"},
                      "spec": {"operations": ["CREATE", "*"], "resources": ["pods"], "timeoutSeconds": 99,
                               "violationPolicy": "deny", "javascript": "allow()"}})  # fmt: skip
    result = control_plane.kubectl("apply", "-f", "-", input=bad, check=False)
    assert result.returncode != 0
    assert 'admission webhook "jspolicy.jspolicy.com" denied the request' in result.stderr
    for path in ("metadata.name", "spec.operations", "spec.timeoutSeconds", "spec.violationPolicy"):
        assert path in result.stderr, path
    assert get_json(control_plane, "jspolicy", "two.parts") is None


def test_deleting_a_policy_removes_its_webhook_configuration(control_plane: ControlPlane, server: Replica) -> None:
    ns = namespace(control_plane)
    path = EXAMPLES / "allowed-registries.yaml"
    bad_image = json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": ns},
                            "spec": {"containers": [{"name": "a", "image": "evil.example.com/x:1"}]}})  # fmt: skip
    apply_policy(control_plane, path, probe=bad_image)
    name = "allowed-registries.examples.jspolicy.com"
    control_plane.kubectl("delete", "-f", str(path))
    wait_for(lambda: not owned_configurations(control_plane, name), what="webhook configuration removed")
    wait_for(lambda: control_plane.kubectl("apply", "--dry-run=server", "-f", "-", input=bad_image,
                                           check=False).returncode == 0, what="requests no longer sent")  # fmt: skip


def test_a_controller_policy_creates_a_quota_for_a_labelled_namespace_and_reacts_to_update(
    control_plane: ControlPlane, server: Replica
) -> None:
    control_plane.kubectl("apply", "-f", str(ROOT / "examples" / "controller-policies" / "namespace-quota.yaml"))
    ns = namespace(control_plane, {"quota": "5"})
    quota = wait_for(lambda: get_json(control_plane, "resourcequota", "pod-quota", "-n", ns), what="quota created")
    assert quota["spec"]["hard"] == {"pods": "5"} and quota["metadata"]["labels"] == {"quota-from": "create"}
    control_plane.kubectl("label", "namespace", ns, "quota=7", "--overwrite")

    def updated() -> dict[str, object] | None:
        found = get_json(control_plane, "resourcequota", "pod-quota", "-n", ns)
        return found if found and found["spec"]["hard"] == {"pods": "7"} else None

    quota = wait_for(updated, what="quota updated")
    assert quota["metadata"]["labels"] == {"quota-from": "update"}  # a real UPDATE event, with oldObject
    unlabelled = namespace(control_plane)
    assert get_json(control_plane, "resourcequota", "pod-quota", "-n", unlabelled) is None
    status = get_json(control_plane, "jspolicy", "namespace-quota.examples.jspolicy.com")
    assert status is not None
    assert {c["type"]: c["status"] for c in status["status"]["conditions"]}["ControllerReady"] == "True"
    # Controller runs are in the replica's metrics, with jsPolicy's names, and the policy's queue in client-go's.
    metrics = server.metrics_text()
    assert (
        'policy_execution_total{code="200",name="namespace-quota.examples.jspolicy.com",type="Controller"}' in metrics
    )
    assert 'workqueue_adds_total{name="namespace-quota.examples.jspolicy.com"}' in metrics
    # controller-runtime's reconcile metrics, for the policy's controller and for jspolicy's own reconciler.
    for controller in ("namespace-quota.examples.jspolicy.com", "jspolicy"):
        success = f'controller_runtime_reconcile_total{{controller="{controller}",result="success"}} '
        assert float(metrics.split(success, 1)[1].split()[0]) >= 1, controller
        assert f'controller_runtime_reconcile_time_seconds_count{{controller="{controller}"}}' in metrics


def test_a_new_certificate_in_the_secret_reaches_the_workers_and_every_caBundle(  # noqa: N802
    control_plane: ControlPlane, server: Replica
) -> None:
    ns = namespace(control_plane)
    apply_policy(control_plane, EXAMPLES / "deny-privileged.yaml", probe=pod("probe", ns, privileged=True))
    now = dt.datetime.now(dt.UTC)
    ca, ca_key = certs.make_ca(now)
    leaf, key = certs.make_leaf(ca, ca_key, ["127.0.0.1", "localhost"], now)
    pem, private = serialization.Encoding.PEM, (serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    data = {"ca.crt": ca.public_bytes(pem), "ca.key": ca_key.private_bytes(pem, *private),
            "tls.crt": leaf.public_bytes(pem), "tls.key": key.private_bytes(pem, *private)}  # fmt: skip
    encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}
    control_plane.kubectl("patch", "secret", "jspolicy-webhook-cert", "-n", "jspolicy", "--type=merge",
                          "-p", json.dumps({"data": encoded}))  # fmt: skip
    bundle = base64.b64encode(data["ca.crt"]).decode()

    def bundles() -> set[str]:
        found = set()
        for name in ("deny-privileged.examples.jspolicy.com", "jspolicy"):
            config = get_json(control_plane, "validatingwebhookconfiguration", name) or {"webhooks": []}
            found |= {w["clientConfig"].get("caBundle", "") for w in config["webhooks"]}
        return found

    wait_for(lambda: bundles() == {bundle}, what="caBundles follow the new CA")
    # The API server trusts only the new CA now, so this works only if the workers serve the new leaf.
    wait_for(lambda: "Privileged containers are not allowed" in control_plane.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=pod("after", ns, privileged=True), check=False).stderr,
        what="served with the new certificate")  # fmt: skip


def test_a_policy_without_code_gets_its_webhook_when_its_bundle_appears(
    control_plane: ControlPlane, server: Replica
) -> None:
    name = "bundled.e2e.jspolicy.com"
    policy = {"apiVersion": "policy.jspolicy.com/v1beta1", "kind": "JsPolicy", "metadata": {"name": name},
              "spec": {"operations": ["CREATE"], "resources": ["configmaps"]}}  # fmt: skip
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(policy))

    def status() -> dict[str, Any]:
        return dict((get_json(control_plane, "jspolicy", name) or {}).get("status") or {})

    missing = wait_for(lambda: status().get("reason") == "BundleMissing" and status(), what="BundleMissing")
    assert missing["phase"] == "Failed" and not owned_configurations(control_plane, name)
    bundle = {"apiVersion": "policy.jspolicy.com/v1beta1", "kind": "JsPolicyBundle", "metadata": {"name": name},
              "spec": {"bundle": encode_bundle('if (request.object.data?.x) deny("bundled code ran");')}}  # fmt: skip
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(bundle))
    wait_for(lambda: owned_configurations(control_plane, name), what="webhook after the bundle")
    assert wait_for(lambda: status().get("phase") == "Synced", what="Synced")
    ns = namespace(control_plane)
    probe = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": ns},
                        "data": {"x": "1"}})  # fmt: skip
    dry_run = ("apply", "--dry-run=server", "-f", "-")
    wait_for(lambda: "bundled code ran" in control_plane.kubectl(*dry_run, input=probe, check=False).stderr,
             what="bundle enforced")  # fmt: skip
    control_plane.kubectl("delete", "jspolicy", name)


def test_requeue_runs_a_controller_policy_again_with_backoff(control_plane: ControlPlane, server: Replica) -> None:
    ns = namespace(control_plane)
    name = "requeue.e2e.jspolicy.com"
    counter = f"{ns}/attempts"
    script = f"""
const seen = get("ConfigMap", "v1", "{counter}", {{cache: false}});
const runs = Number(seen.data.runs) + 1;
update({{...seen, data: {{runs: String(runs)}}}});
if (runs < 3) requeue(`run ${{runs}}: not yet`);
"""
    policy = {"apiVersion": "policy.jspolicy.com/v1beta1", "kind": "JsPolicy", "metadata": {"name": name},
              "spec": {"type": "Controller", "operations": ["CREATE"], "resources": ["configmaps"],
                       "objectSelector": {"matchLabels": {"requeue": "yes"}}, "javascript": script}}  # fmt: skip
    control_plane.kubectl("create", "configmap", "attempts", "-n", ns, "--from-literal=runs=0")
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(policy))
    control_plane.kubectl("create", "configmap", "trigger", "-n", ns)
    control_plane.kubectl("label", "configmap", "trigger", "-n", ns, "requeue=yes")

    def runs() -> int:
        return int(((get_json(control_plane, "configmap", "attempts", "-n", ns) or {}).get("data") or {})["runs"])

    wait_for(lambda: runs() == 3, what="three runs")
    time.sleep(2)  # the third run did not requeue: no fourth
    assert runs() == 3
    requeued = f'controller_runtime_reconcile_total{{controller="{name}",result="requeue"}} 2.0'
    assert requeued in server.metrics_text()
    control_plane.kubectl("delete", "jspolicy", name)


def test_a_warn_policy_lets_the_request_through_with_a_kubectl_warning(
    control_plane: ControlPlane, server: Replica
) -> None:
    ns = namespace(control_plane)
    name = "warn.e2e.jspolicy.com"
    policy = {"apiVersion": "policy.jspolicy.com/v1beta1", "kind": "JsPolicy", "metadata": {"name": name},
              "spec": {"operations": ["CREATE"], "resources": ["configmaps"], "violationPolicy": "Warn",
                       "javascript": 'if (!request.object.data?.owner) deny("configmaps need an owner");'}}  # fmt: skip
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(policy))
    wait_for(lambda: owned_configurations(control_plane, name), what="webhook")

    def warned() -> str:
        result = control_plane.kubectl("create", "configmap", f"c-{uuid.uuid4().hex[:6]}", "-n", ns)
        return result.stderr if "Warning:" in result.stderr else ""

    warning = wait_for(warned, what="warning shown")
    assert f"Warning: [{name}]: configmaps need an owner" in warning
    violations = wait_for(lambda: (get_json(control_plane, "jspolicyviolations", name) or {}).get("status"),
                          what="violation recorded")  # fmt: skip
    assert violations["violations"][0]["action"] == "Warn"  # recorded before violationPolicy applies
    control_plane.kubectl("delete", "jspolicy", name)
