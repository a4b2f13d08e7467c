"""The library's Pod Security policies agree with the real kube-apiserver's PodSecurity admission
(tests/policies/pss_differential.py; the full-size run is its command), and the comparison catches a policy
that does not."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from jspolicy.controlplane.plane import ControlPlane
from tests.policies.pss_differential import FIXED, LABELLED, POLICIES, REGRESSIONS, Plan, load_regressions, run
from tests.policies.pss_oracle import Oracle, split_items, verdict_of_message
from tests.policies.pss_strategies import LEVELS, VERSIONS

SEED = 20260
# What k8s.io/pod-security-admission v0.36.3 names each control in its messages (policy/check_*.go).
CONTROLS = {
    *("host namespaces", "privileged", "non-default capabilities", "hostPath volumes", "hostPort"),
    *("forbidden AppArmor profile", "seLinuxOptions", "procMount", "seccompProfile", "forbidden sysctls"),
    *("hostProcess", "probe or lifecycle host", "restricted volume types", "allowPrivilegeEscalation != false"),
    *("runAsNonRoot != true", "runAsUser=0", "unrestricted capabilities"),
}
# A hole no PodSecurity level has: hostPID pods allowed.
HOLE = "if (((request.object || {}).spec || {}).hostPID === true) allow();\n"
HOST_PID_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "pss", "labels": {"app": "web"}, "annotations": {"example.com/team": "payments"}},
    "spec": {
        "hostPID": True,
        "containers": [
            {"name": "app", "image": "registry.k8s.io/pause:3.10", "securityContext": {"runAsNonRoot": True}},
            {"name": "side", "image": "registry.k8s.io/pause:3.10", "ports": [{"containerPort": 8080}]},
        ],
    },
}


def test_the_api_servers_message_splits_into_controls_and_details() -> None:
    message = (
        'pods "p" is forbidden: violates PodSecurity "restricted:v1.20": forbidden AppArmor profiles (container "c" '
        'and annotation must not set AppArmor profile type to "Unconfined", '
        '"container.apparmor.security.beta.kubernetes.io/c="unconfined""), non-default capabilities (container "c" '
        'must not include "", "a,b" in securityContext.capabilities.add), host namespaces (hostNetwork=true), '
        'seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set), '
        "allowPrivilegeEscalation != false"
    )
    verdict = verdict_of_message(message)
    assert not verdict.allowed
    assert verdict.named == "restricted:v1.20"
    assert verdict.reasons == (
        "forbidden AppArmor profiles",
        "non-default capabilities",
        "host namespaces",
        "seLinuxOptions",
        "allowPrivilegeEscalation != false",
    )
    assert verdict.details[1] == 'container "c" must not include "", "a,b" in securityContext.capabilities.add'
    assert verdict.details[3] == 'pod set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set'
    assert verdict.details[4] == ""


def test_a_problem_joined_after_the_controls_is_not_one_of_them() -> None:
    message = 'Pod web violates PodSecurity "baseline:latest": hostPort (container "a" uses hostPort 80); other (x)'
    assert split_items(message.split(": ", 1)[1]) == [("hostPort", 'container "a" uses hostPort 80')]
    verdict = verdict_of_message("Pod web: not a PodSecurity message")
    assert (verdict.reasons, verdict.named) == (("Pod web: not a PodSecurity message",), "")


def test_the_library_agrees_with_the_api_server(control_plane: ControlPlane) -> None:
    """300 cases per level at latest, 24 at each older version: a couple of minutes on two cores."""
    plan = Plan(cases=300, older_cases=24, seed=SEED, threads=12, minimize=5)
    report = run(plan, Oracle.of(control_plane, plan.threads))
    shown = [report.text(), *(c.describe() for c in report.disagreements)]
    assert not report.failed(), "\n\n".join(shown) + f"\n(kept in {REGRESSIONS})"
    rows = {(check.policy, check.level, check.version): row for check, row in report.rows.items()}
    wanted = {(LABELLED, level, version) for level in LEVELS for version in VERSIONS}
    wanted |= {(name, level, "latest") for name, level in FIXED.items()}
    assert set(rows) == wanted
    for level in LEVELS:
        latest = rows[(LABELLED, level, "latest")]
        assert latest.compared >= 300
        assert 0 < latest.denied < latest.compared  # both verdicts were put to the test
        assert latest.invalid <= latest.compared // 20  # the strategies draw valid pods
    assert min(row.compared for key, row in rows.items() if key[2] != "latest") >= 24
    assert set(report.kinds) == {"create", "ephemeral", "metadata", "image"}
    assert set(report.controls) >= CONTROLS  # each control was put to the test


def _library(root: Path, hole: str) -> Path:
    """A copy of the library's three Pod Security policies with ``hole`` put before their code."""
    for name in (LABELLED, *FIXED):
        document = yaml.safe_load((POLICIES / name / "policy.yaml").read_text())
        document["spec"]["javascript"] = hole + document["spec"]["javascript"]
        (root / name).mkdir(parents=True)
        (root / name / "policy.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return root


@pytest.mark.parametrize("hole", ["", HOLE], ids=["as it is", "with a hole"])
def test_a_disagreement_fails_the_run_and_is_kept_reduced(
    control_plane: ControlPlane, tmp_path: Path, hole: str
) -> None:
    """The regression file's cases run first: this one disagrees only with the hole, and is kept reduced to
    what makes it disagree (hostPID and a container)."""
    regressions = tmp_path / "regressions.yaml"
    seeded: dict[str, Any] = {"check": {"policy": LABELLED, "level": "baseline", "version": "v1.0"}}
    seeded["case"] = {"kind": "create", "pod": HOST_PID_POD}
    regressions.write_text(yaml.safe_dump([seeded]))
    plan = Plan(cases=0, policies_root=_library(tmp_path / "policies", hole), regressions=regressions)
    report = run(plan, Oracle.of(control_plane, plan.threads))
    kept = load_regressions(regressions)
    if not hole:
        assert not report.failed(), report.text()
        assert kept == [seeded]
        return
    assert report.failed()
    [disagreement] = report.disagreements
    assert (disagreement.oracle.reasons, disagreement.library.allowed) == (("host namespaces",), True)
    reduced = copy.deepcopy(disagreement.case["pod"])
    assert reduced["spec"].pop("hostPID") is True
    assert len(reduced["spec"].pop("containers")) == 1
    assert reduced == {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pss"}, "spec": {}}
    assert [entry["case"] for entry in kept] == [seeded["case"], disagreement.case]
    assert kept[1]["class"] == "reasons" and kept[1]["check"] == seeded["check"]
