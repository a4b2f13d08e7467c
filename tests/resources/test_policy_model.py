"""JsPolicy's effective defaults: what an unset or empty field means."""

from __future__ import annotations

from typing import Any

import pytest

from jspolicy.resources.policy import API_VERSION, JsPolicy


def make(spec: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> JsPolicy:
    manifest: dict[str, Any] = {"apiVersion": API_VERSION, "kind": "JsPolicy"}
    if metadata is not None:
        manifest["metadata"] = metadata
    if spec is not None:
        manifest["spec"] = spec
    return JsPolicy(manifest)


@pytest.mark.parametrize("spec", [None, {}, {"operations": ["CREATE"], "resources": ["pods"]}])
def test_defaults_of_an_unset_spec(spec: dict[str, Any] | None) -> None:
    policy = make(spec)
    assert policy.type == "Validating"
    assert policy.api_groups == ["*"]
    assert policy.api_versions == ["*"]
    assert policy.scope == "*"
    assert policy.failure_policy == "Fail"
    assert policy.match_policy == "Equivalent"
    assert policy.reinvocation_policy == "Never"
    assert policy.timeout_seconds == 10
    assert policy.violation_policy == "Deny"
    assert policy.audit_policy == "Log"
    assert policy.audit_log_size == 20
    assert policy.namespace_selector == {}
    assert policy.object_selector == {}
    assert policy.dependencies == {}
    assert policy.javascript == ""


def test_empty_values_mean_the_default() -> None:
    policy = make(
        {
            "type": "",
            "apiGroups": [],
            "apiVersions": [],
            "scope": "",
            "failurePolicy": "",
            "matchPolicy": "",
            "reinvocationPolicy": "",
            "timeoutSeconds": 0,
            "violationPolicy": "",
            "auditPolicy": "",
            "auditLogSize": 0,
            "namespaceSelector": None,
            "javascript": None,
        }
    )
    assert (policy.type, policy.api_groups, policy.api_versions, policy.scope) == ("Validating", ["*"], ["*"], "*")
    assert (policy.failure_policy, policy.match_policy, policy.reinvocation_policy) == ("Fail", "Equivalent", "Never")
    assert (policy.timeout_seconds, policy.violation_policy, policy.audit_policy) == (10, "Deny", "Log")
    assert policy.audit_log_size == 20
    assert policy.namespace_selector == {}
    assert policy.javascript == ""


def test_set_values_are_used() -> None:
    spec: dict[str, Any] = {
        "type": "Mutating",
        "operations": ["CREATE", "UPDATE"],
        "resources": ["pods", "pods/status"],
        "apiGroups": ["", "apps"],
        "apiVersions": ["v1"],
        "scope": "Namespaced",
        "namespaceSelector": {"matchLabels": {"team": "shop"}},
        "objectSelector": {"matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]},
        "failurePolicy": "Ignore",
        "matchPolicy": "Exact",
        "reinvocationPolicy": "IfNeeded",
        "timeoutSeconds": 3,
        "violationPolicy": "Dry",
        "auditPolicy": "Skip",
        "auditLogSize": 7,
        "dependencies": {"lodash": "^4"},
        "javascript": "allow();",
    }
    policy = make(spec, {"name": "p.example.com", "labels": {"a": "b"}, "annotations": {"c": "d"}})
    assert policy.name == "p.example.com"
    assert policy.labels == {"a": "b"} and policy.annotations == {"c": "d"}
    assert policy.type == "Mutating"
    assert policy.operations == ["CREATE", "UPDATE"]
    assert policy.resources == ["pods", "pods/status"]
    assert policy.api_groups == ["", "apps"]
    assert policy.api_versions == ["v1"]
    assert policy.scope == "Namespaced"
    assert policy.namespace_selector == {"matchLabels": {"team": "shop"}}
    assert policy.object_selector == spec["objectSelector"]
    assert (policy.failure_policy, policy.match_policy, policy.reinvocation_policy) == ("Ignore", "Exact", "IfNeeded")
    assert (policy.timeout_seconds, policy.violation_policy, policy.audit_policy) == (3, "Dry", "Skip")
    assert policy.audit_log_size == 7
    assert policy.dependencies == {"lodash": "^4"}
    assert policy.javascript == "allow();"


@pytest.mark.parametrize("policy_type", ["Validating", "Mutating", "Controller"])
def test_explicit_types(policy_type: str) -> None:
    assert make({"type": policy_type}).type == policy_type


@pytest.mark.parametrize(("size", "effective"), [(1, 1), (10, 10), (20, 20), (39, 39), (40, 40)])
def test_every_valid_audit_log_size_is_honoured(size: int, effective: int) -> None:
    # jsPolicy used the value only when 0 <= n < 40, so 40 became 20; every value validation accepts counts here.
    assert make({"auditLogSize": size}).audit_log_size == effective


@pytest.mark.parametrize("size", [0, -1, 41, 1000, "10", None])
def test_invalid_audit_log_sizes_fall_back_to_20(size: Any) -> None:
    assert make({"auditLogSize": size}).audit_log_size == 20


def test_operations_and_resources_have_no_default() -> None:
    policy = make({})
    assert policy.operations == [] and policy.resources == []


def test_lists_are_copies() -> None:
    spec: dict[str, Any] = {"operations": ["CREATE"], "apiGroups": ["apps"]}
    policy = make(spec)
    policy.operations.append("DELETE")
    policy.api_groups.append("batch")
    assert spec == {"operations": ["CREATE"], "apiGroups": ["apps"]}


def test_missing_metadata_gives_an_empty_name() -> None:
    policy = make({})
    assert policy.name == "" and policy.labels == {} and policy.annotations == {}
