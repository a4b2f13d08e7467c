"""Failure modes with a real API server: jspolicy down (failurePolicy), restart under its own Fail
policies, and two replicas handing the leader Lease over."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jspolicy.controlplane.plane import ControlPlane
from tests.kube.jspolicy_server import (
    ROOT,
    get_json,
    install_crds,
    lease_holder,
    remove_everything,
    start_replica,
    wait_for,
)

POLICY = """apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {{name: {name}}}
spec:
  operations: ["*"]
  resources: ["{resources}"]
  failurePolicy: {failure}
  namespaceSelector:
    matchExpressions: [{{key: kubernetes.io/metadata.name, operator: {operator}, values: [fp-ignore]}}]
  javascript: |
    if (request.object?.metadata?.labels?.verdict === "deny") deny("denied by {name}");
"""


@pytest.fixture(autouse=True)
def cleanup(control_plane: ControlPlane) -> Iterator[None]:
    yield
    remove_everything(control_plane)


def configmap(namespace: str, verdict: str = "allow") -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": f"cm-{uuid.uuid4().hex[:6]}", "namespace": namespace,
                                    "labels": {"verdict": verdict}}})  # fmt: skip


def enforced(plane: ControlPlane, namespace: str) -> bool:
    return plane.kubectl("apply", "--dry-run=server", "-f", "-", input=configmap(namespace, "deny"),
                         check=False).returncode != 0  # fmt: skip


def test_failure_policies_while_jspolicy_is_down_and_a_clean_restart_under_its_own_fail_policies(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    install_crds(control_plane)
    control_plane.kubectl("create", "ns", "fp-ignore")
    control_plane.kubectl("create", "ns", "fp-fail")
    replica = start_replica(control_plane, tmp_path, "fp-a")
    port = replica.port
    try:
        wait_for(lambda: lease_holder(control_plane) == "fp-a", what="leader")
        ignore = POLICY.format(name="ignore.failure.jspolicy.com", resources="configmaps", failure="Ignore",
                               operator="In")  # fmt: skip
        # Fail on everything else: jspolicy must still restart with this installed (no write of its own is blocked).
        fail = POLICY.format(name="fail.failure.jspolicy.com", resources="*", failure="Fail", operator="NotIn")
        control_plane.kubectl("apply", "-f", "-", input=ignore)
        control_plane.kubectl("apply", "-f", "-", input=fail)
        wait_for(lambda: enforced(control_plane, "fp-fail") and enforced(control_plane, "fp-ignore"),
                 what="policies enforced")  # fmt: skip
        replica.stop()
        # Down: Ignore lets requests through, Fail blocks them.
        wait_for(lambda: not enforced(control_plane, "fp-ignore"), what="Ignore lets through")
        control_plane.kubectl("apply", "-f", "-", input=configmap("fp-ignore"))
        wait_for(lambda: "failed calling webhook" in control_plane.kubectl(
            "apply", "--dry-run=server", "-f", "-", input=configmap("fp-fail"), check=False).stderr,
            what="Fail blocks")  # fmt: skip
        blocked = control_plane.kubectl("apply", "-f", "-", input=configmap("fp-fail"), check=False)
        assert blocked.returncode != 0 and 'failed calling webhook "fail.failure.jspolicy.com"' in blocked.stderr
        # Restart on the same address with the Fail policy and the fail-closed /crds webhook still installed.
        replica = start_replica(control_plane, tmp_path / "again", "fp-b", port=port)
        wait_for(lambda: lease_holder(control_plane) == "fp-b", what="restarted leader")
        wait_for(lambda: control_plane.kubectl("apply", "-f", "-", input=configmap("fp-fail"),
                                               check=False).returncode == 0, what="requests served again")  # fmt: skip
        assert enforced(control_plane, "fp-fail")
        assert "Traceback" not in replica.log_text()
    finally:
        replica.stop()


def test_only_the_lease_holder_runs_controller_policies_and_killing_it_hands_over(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    install_crds(control_plane)
    control_plane.kubectl("apply", "-f", str(ROOT / "examples" / "controller-policies" / "namespace-quota.yaml"))
    replicas = {name: start_replica(control_plane, tmp_path / name, name) for name in ("ha-a", "ha-b")}
    try:
        leader = wait_for(lambda: lease_holder(control_plane) in replicas and lease_holder(control_plane),
                          what="a leader")  # fmt: skip
        follower = next(name for name in replicas if name != leader)
        started = "controller policy namespace-quota.examples.jspolicy.com started"
        wait_for(lambda: started in replicas[leader].log_text(), what="controller policy on the leader")
        assert started not in replicas[follower].log_text()
        replicas[leader].stop(signal.SIGKILL)
        wait_for(lambda: lease_holder(control_plane) == follower, timeout=60, what="hand-over")
        wait_for(lambda: started in replicas[follower].log_text(), what="controller policy on the new leader")
        name = f"ha-{uuid.uuid4().hex[:6]}"
        control_plane.kubectl("create", "ns", name)
        control_plane.kubectl("label", "ns", name, "quota=3")
        quota = wait_for(lambda: get_json(control_plane, "resourcequota", "pod-quota", "-n", name), what="quota")
        assert quota["spec"]["hard"] == {"pods": "3"}
    finally:
        for replica in replicas.values():
            replica.stop()
