"""ENABLE_POLICY_REPORTS=true: webhook denials become PolicyReport results, apiVersion with its group."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from jspolicy.controlplane.plane import ControlPlane
from tests.kube.jspolicy_server import get_json, install_crds, remove_everything, start_replica, wait_for

POLICY = {
    "apiVersion": "policy.jspolicy.com/v1beta1",
    "kind": "JsPolicy",
    "metadata": {"name": "reports.e2e.jspolicy.com", "annotations": {"policy.jspolicy.com/severity": "medium"}},
    "spec": {"operations": ["CREATE"], "resources": ["deployments"], "apiGroups": ["apps"],
             "javascript": 'if (request.object.metadata.labels?.team === undefined) deny("deployments need a team");'},
}  # fmt: skip


def deployment(namespace: str) -> str:
    """A new Deployment each time: once one got in before the webhook was active, retries must still CREATE."""
    template = {"metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}  # fmt: skip
    return json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": f"web-{uuid.uuid4().hex[:6]}", "namespace": namespace},
                       "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": template}})  # fmt: skip


def test_denials_are_written_to_the_namespace_policy_report(control_plane: ControlPlane, tmp_path: Path) -> None:
    install_crds(control_plane)
    replica = start_replica(control_plane, tmp_path, "reports", env={"ENABLE_POLICY_REPORTS": "true"})
    ns = f"pr-{uuid.uuid4().hex[:6]}"
    try:
        control_plane.kubectl("create", "ns", ns)
        control_plane.kubectl("apply", "-f", "-", input=json.dumps(POLICY))
        wait_for(lambda: "deployments need a team" in control_plane.kubectl(
            "create", "-f", "-", input=deployment(ns), check=False).stderr, what="denied")  # fmt: skip

        def report_with_results() -> dict[str, Any] | None:
            found = get_json(control_plane, "policyreports", f"js-policy-report-ns-{ns}", "-n", ns)
            return found if found and found.get("results") else None  # created first, results written next

        report = wait_for(report_with_results, what="policy report results")
        result = report["results"][0]
        assert (result["policy"], result["result"], result["source"]) == (
            "reports.e2e.jspolicy.com",
            "fail",
            "JsPolicy",
        )
        assert result["resources"][0]["apiVersion"] == "apps/v1"  # jsPolicy wrote "v1"
        assert result["severity"] == "medium" and result["message"] == "deployments need a team"
        # Instead of JsPolicyViolations, not in addition.
        assert get_json(control_plane, "jspolicyviolations", "reports.e2e.jspolicy.com") is None
    finally:
        replica.stop()
        remove_everything(control_plane)
