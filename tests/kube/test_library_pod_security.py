"""The library's Pod Security policies as the webhook of a real kube-apiserver, driven with the real kubectl.

The API server's own PodSecurity admission runs too (before webhooks): it denies the Pods of a labelled
namespace but only warns about a Deployment's template, which the library's policies deny at ``kubectl apply``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jspolicy.controlplane.plane import ControlPlane
from tests.kube import test_e2e
from tests.kube.jspolicy_server import ROOT, Replica, get_json, wait_for
from tests.kube.test_e2e import apply_policy, namespace, owned_configurations

server = test_e2e.server  # the fixture: a jspolicy serve as the cluster's webhook, as test_e2e starts it
LIBRARY = ROOT / "policies"
PRIVILEGED = {"privileged": True}
# Baseline allows it; restricted does not (no allowPrivilegeEscalation, capabilities, runAsNonRoot or seccomp).
PLAIN: dict[str, Any] = {}
RESTRICTED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
              "seccompProfile": {"type": "RuntimeDefault"}}  # fmt: skip


@contextmanager
def library_policy(plane: ControlPlane, name: str, probe: str | None = None) -> Iterator[None]:
    """The library policy ``name`` installed (enforced once ``probe`` is refused), and gone again afterwards."""
    apply_policy(plane, LIBRARY / name / "policy.yaml", probe=probe)
    try:
        yield
    finally:
        full = f"{name}.library.jspolicy.com"
        plane.kubectl("delete", "jspolicy", full, "--ignore-not-found")
        wait_for(lambda: not owned_configurations(plane, full), what=f"webhook configuration of {full} removed")


def pod_spec(security_context: dict[str, Any]) -> dict[str, Any]:
    return {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10", "securityContext": security_context}]}


def deployment(name: str, ns: str, security_context: dict[str, Any]) -> str:
    return json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
                       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                                "template": {"metadata": {"labels": {"app": name}},
                                             "spec": pod_spec(security_context)}}})  # fmt: skip


def pod(name: str, ns: str, security_context: dict[str, Any]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
                       "spec": pod_spec(security_context)})  # fmt: skip


def denial(plane: ControlPlane, manifest: str) -> str:
    """kubectl apply's error for a manifest that must be refused."""
    result = plane.kubectl("apply", "-f", "-", input=manifest, check=False)
    assert result.returncode != 0, f"applied: {result.stdout}"
    return result.stderr


def test_the_baseline_policy_denies_a_privileged_deployment_at_create(
    control_plane: ControlPlane, server: Replica
) -> None:
    ns = namespace(control_plane)
    with library_policy(control_plane, "pod-security-baseline", probe=deployment("probe", ns, PRIVILEGED)):
        error = denial(control_plane, deployment("web", ns, PRIVILEGED))
        assert 'admission webhook "pod-security-baseline.library.jspolicy.com" denied the request: ' in error
        assert ('Deployment web violates PodSecurity "baseline:latest": privileged (container "app" must not set '
                "securityContext.privileged=true)") in error  # fmt: skip
        assert get_json(control_plane, "deployment", "web", "-n", ns) is None
        control_plane.kubectl("apply", "-f", "-", input=deployment("web", ns, PLAIN))
        assert get_json(control_plane, "deployment", "web", "-n", ns) is not None


def test_the_label_driven_policy_denies_what_the_api_server_only_warns_about(
    control_plane: ControlPlane, server: Replica
) -> None:
    ns = namespace(control_plane, {"pod-security.kubernetes.io/enforce": "restricted"})
    with library_policy(control_plane, "pod-security", probe=deployment("probe", ns, PLAIN)):
        # The API server's own admission refuses the Pod; the library's policy the Deployment, in the same words.
        builtin = denial(control_plane, pod("p", ns, PLAIN))
        prefix = 'pods "p" is forbidden: violates PodSecurity "restricted:latest": '
        assert prefix in builtin, builtin
        detail = builtin.split(prefix, 1)[1].strip()
        assert detail.startswith('allowPrivilegeEscalation != false (container "app" must set'), detail
        ours = denial(control_plane, deployment("web", ns, PLAIN))
        assert 'admission webhook "pod-security.library.jspolicy.com" denied the request: ' in ours
        assert ours.strip().endswith(f'Deployment web violates PodSecurity "restricted:latest": {detail}'), ours
        control_plane.kubectl("apply", "-f", "-", input=deployment("web", ns, RESTRICTED))
        assert get_json(control_plane, "deployment", "web", "-n", ns) is not None
        # An unlabelled namespace is privileged (the default).
        control_plane.kubectl("apply", "-f", "-", input=deployment("web", namespace(control_plane), PRIVILEGED))
    # A Namespace with an invalid label: the API server's admission words it as the policy's suite expects.
    invalid = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": f"{ns}-x", "labels": {"pod-security.kubernetes.io/enforce": "x"}},
        }
    )
    assert ('is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "x": must be one of '
            "privileged, baseline, restricted") in denial(control_plane, invalid)  # fmt: skip


def test_the_audit_level_is_recorded_and_blocks_nothing(control_plane: ControlPlane, server: Replica) -> None:
    ns = namespace(control_plane, {"pod-security.kubernetes.io/audit": "restricted"})
    enforced = namespace(control_plane, {"pod-security.kubernetes.io/enforce": "baseline"})
    name = "pod-security-audit.library.jspolicy.com"
    pods = itertools.count()

    def recorded() -> list[dict[str, Any]]:
        """Create pods until one's violation is in the record (webhook configurations arrive async)."""
        control_plane.kubectl("apply", "-f", "-", input=pod(f"p{next(pods)}", ns, PLAIN))
        violations = (get_json(control_plane, "jspolicyviolations", name) or {}).get("status") or {}
        return [v for v in violations.get("violations", []) if v.get("requestInfo", {}).get("namespace") == ns]

    with (library_policy(control_plane, "pod-security", probe=deployment("probe", enforced, PRIVILEGED)),
          library_policy(control_plane, "pod-security-audit")):  # fmt: skip
        entry = wait_for(recorded, what="audit violation recorded")[0]
        assert entry["action"] == "Dry"
        assert entry["message"].startswith(f'Pod {entry["requestInfo"]["name"]}: would violate PodSecurity '
                                           '"restricted:latest": allowPrivilegeEscalation != false')  # fmt: skip
        # pod-security, active before the first pod, printed the same violations to the engine's log.
        line = f'audit: Pod p0 in namespace "{ns}" by "admin": would violate PodSecurity "restricted:latest": '
        wait_for(lambda: line in server.log_text(), what="audit line in the log")
