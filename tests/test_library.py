"""The guardrail library's own rules, for every policy in policies/: the shape each one must have."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import library_docs

LIBRARY = Path(__file__).resolve().parent.parent / "policies"
POLICIES = sorted(path.parent.name for path in LIBRARY.glob("*/policy.yaml"))
SEVERITIES = {"low", "medium", "high", "critical"}
SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease", "jspolicy"}
AGGREGATE = {"policy.jspolicy.com/aggregate-to-jspolicy": "true"}
# The Pod Security Standards policies judge every namespace, as the API server's own admission does.
TENANCY = [name for name in POLICIES if not name.startswith("pod-security")]


def policy_of(name: str) -> dict[str, Any]:
    (policy,) = [d for d in yaml.safe_load_all((LIBRARY / name / "policy.yaml").read_text("utf-8")) if d]
    return dict(policy)


def cases_of(name: str) -> list[dict[str, Any]]:
    suites = sorted((LIBRARY / name).glob("*.test.yaml"))
    assert suites, f"policies/{name} has no *.test.yaml suite"
    return [case for suite in suites for case in yaml.safe_load(suite.read_text("utf-8"))["cases"]]


def test_the_library_has_thirty_tenancy_guardrails() -> None:
    assert len(TENANCY) >= 30, TENANCY


@pytest.mark.parametrize("name", POLICIES)
def test_a_policy_is_named_and_described(name: str) -> None:
    policy = policy_of(name)
    assert policy["kind"] == "JsPolicy"
    assert policy["metadata"]["name"] == f"{name}.library.jspolicy.com"
    annotations = policy["metadata"]["annotations"]
    assert annotations["policy.jspolicy.com/severity"] in SEVERITIES
    assert annotations["policy.jspolicy.com/category"].strip()
    assert len(annotations["policy.jspolicy.com/description"]) > 20
    assert (LIBRARY / name / "policy.js").is_file(), "the code is generated from policy.js (tests/guardrail_sync.py)"


@pytest.mark.parametrize("name", POLICIES)
def test_a_suite_covers_allow_deny_and_not_called(name: str) -> None:
    expectations = [case.get("expect", {}) for case in cases_of(name)]
    called = [e for e in expectations if e.get("called", True)]
    assert any(e.get("called") is False for e in expectations), "no not-called case"
    spec = policy_of(name)["spec"]
    if spec.get("type") == "Controller":
        assert any("objects" in e or "absent" in e for e in called), "no case checks what the controller writes"
        return
    if spec.get("violationPolicy") == "Dry":  # it never denies: its denials are the violations it records
        assert any(isinstance(e.get("violation"), dict) for e in called), "no case records a violation"
        assert any("violation" in e and e["violation"] is None for e in called), "no case records none"
        return
    assert any(e.get("allowed") is True for e in called), "no allow case"
    assert any(e.get("allowed") is False for e in called), "no deny case"


@pytest.mark.parametrize("name", TENANCY)
def test_a_tenancy_guardrail_is_not_called_for_system_namespaces(name: str) -> None:
    spec = policy_of(name)["spec"]
    terms = (spec.get("namespaceSelector") or {}).get("matchExpressions", [])
    excluded = {
        value
        for term in terms
        if term.get("key") == "kubernetes.io/metadata.name" and term.get("operator") == "NotIn"
        for value in term.get("values", [])
    }
    assert excluded >= SYSTEM_NAMESPACES, spec.get("namespaceSelector")


@pytest.mark.parametrize("name", POLICIES)
def test_a_policy_that_reads_the_cluster_brings_its_rbac(name: str) -> None:
    code = (LIBRARY / name / "policy.yaml").read_text("utf-8")
    reads = re.search(r"(?<![.\w])(?:get|list|create|update|remove)\(", code) is not None
    rbac = LIBRARY / name / "policy.rbac.yaml"
    if not reads:
        return
    assert rbac.is_file(), "the policy calls cluster helpers but has no policy.rbac.yaml"
    (role,) = [d for d in yaml.safe_load_all(rbac.read_text("utf-8")) if d]
    assert (role["kind"], role["metadata"]["name"]) == ("ClusterRole", f"jspolicy-library-{name}")
    assert role["metadata"]["labels"].items() >= AGGREGATE.items()
    if "jspolicy-guardrails" in code:  # it reads the options ConfigMap
        granted = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
                   for resource in rule["resources"] for verb in rule["verbs"]}  # fmt: skip
        assert {("", "configmaps", verb) for verb in ("get", "list", "watch")} <= granted


def test_docs_list_every_policy() -> None:
    current = library_docs.DOC.read_text("utf-8")
    assert library_docs.rendered(current) == current, "stale: run python -m tests.library_docs"
    for name in POLICIES:
        assert f"### {name}\n" in current
