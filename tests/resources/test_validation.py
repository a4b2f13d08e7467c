"""The /crds webhook rules: strict decoding, then field rules with Kubernetes-style messages."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from jspolicy.resources.fielderrors import FieldError, Path, aggregate, invalid, required
from jspolicy.resources.manifests import parse_yaml_documents
from jspolicy.resources.policy import API_VERSION
from jspolicy.resources.validation import DecodeError, decode_strictly, validate_policy

DNS1123 = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    r"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
# k8s RegexError joins examples as "'A', " + " or " + "'B', ": two spaces before "or".
QUALIFIED_NAME = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
ALL_OPERATIONS = '"*", "CONNECT", "CREATE", "DELETE", "UPDATE"'
CONTROLLER_OPERATIONS = '"*", "CREATE", "DELETE", "UPDATE"'


def policy(name: str = "deny-default.company.tld", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"operations": ["CREATE"], "resources": ["pods"], "javascript": "allow();"}
    body.update(spec)
    return {"apiVersion": API_VERSION, "kind": "JsPolicy", "metadata": {"name": name}, "spec": body}


def without(obj: dict[str, Any], field: str) -> dict[str, Any]:
    result = copy.deepcopy(obj)
    del result["spec"][field]
    return result


def messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    return [str(error) for error in validate_policy(obj, old)]


# ---- a valid policy ----------------------------------------------------------------------


def test_a_fully_specified_valid_policy_has_no_errors() -> None:
    obj = policy(
        type="Mutating",
        operations=["CREATE", "UPDATE"],
        resources=["pods", "pods/status", "deployments/*", "*/scale"],
        apiGroups=["", "apps"],
        apiVersions=["v1"],
        scope="Namespaced",
        namespaceSelector={
            "matchLabels": {"example.com/team": "shop", "empty": ""},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "staging"]}],
        },
        objectSelector={"matchExpressions": [{"key": "skip", "operator": "DoesNotExist"}]},
        matchPolicy="Exact",
        failurePolicy="Ignore",
        reinvocationPolicy="IfNeeded",
        timeoutSeconds=30,
        violationPolicy="Warn",
        auditPolicy="Skip",
        auditLogSize=40,
        dependencies={"lodash": "^4.17.21"},
    )
    decode_strictly(obj)
    assert validate_policy(obj) == []
    assert validate_policy(obj, old=obj) == []


def test_the_minimal_policy_is_valid() -> None:
    assert validate_policy(policy()) == []


# ---- metadata.name -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.b", "deny-default", "policy.company"])
def test_names_need_three_segments(name: str) -> None:
    assert messages(policy(name)) == [
        f'metadata.name: Invalid value: "{name}": should be a domain with at least three segments separated by dots'
    ]


@pytest.mark.parametrize("name", ["a.b.c", "deny-default-namespace.company.tld", "x1.y-2.z3.w4"])
def test_fully_qualified_names_are_accepted(name: str) -> None:
    assert messages(policy(name)) == []


def test_an_uppercase_name_gets_the_dns1123_message() -> None:
    assert messages(policy("Add-PSA-Labels.company.tld")) == [
        f'metadata.name: Invalid value: "Add-PSA-Labels.company.tld": {DNS1123}'
    ]


@pytest.mark.parametrize("name", ["-a.b.c", "a.b.c-", "a..b.c", "a_b.c.d", "a b.c.d"])
def test_malformed_subdomains_get_the_dns1123_message(name: str) -> None:
    assert messages(policy(name)) == [f'metadata.name: Invalid value: "{name}": {DNS1123}']


def test_a_name_longer_than_253_characters() -> None:
    name = "a" * 250 + ".b.c"
    assert len(name) == 254
    assert messages(policy(name)) == [f'metadata.name: Invalid value: "{name}": must be no more than 253 characters']


def test_an_empty_or_missing_name_is_required() -> None:
    assert messages(policy("")) == ["metadata.name: Required value"]
    obj = policy()
    del obj["metadata"]
    assert messages(obj) == ["metadata.name: Required value"]


def test_a_trailing_newline_makes_the_name_invalid() -> None:
    assert messages(policy("a.b.c\n")) == [f'metadata.name: Invalid value: "a.b.c\\n": {DNS1123}']


# ---- operations ----------------------------------------------------------------------------


def test_operations_are_required() -> None:
    assert messages(without(policy(), "operations")) == ["spec.operations: Required value"]
    assert messages(policy(operations=[])) == ["spec.operations: Required value"]


@pytest.mark.parametrize("operations", [["*"], ["CREATE"], ["CREATE", "UPDATE", "DELETE", "CONNECT"]])
def test_supported_operations(operations: list[str]) -> None:
    assert messages(policy(operations=operations)) == []


def test_wildcard_operation_must_be_alone() -> None:
    errors = validate_policy(policy(operations=["*", "CREATE"]))
    assert [(e.kind, e.path, e.detail) for e in errors] == [
        ("Invalid", "spec.operations", "if '*' is present, must not specify other operations")
    ]


def test_wildcard_operation_message_renders_the_go_slice_type() -> None:
    assert messages(policy(operations=["*", "CREATE"])) == [
        'spec.operations: Invalid value: []v1.OperationType{"*", "CREATE"}: '
        "if '*' is present, must not specify other operations"
    ]


@pytest.mark.parametrize("operation", ["PATCH", "create", "", "GET"])
def test_unsupported_operations_list_the_sorted_supported_values(operation: str) -> None:
    assert messages(policy(operations=["CREATE", operation])) == [
        f'spec.operations[1]: Unsupported value: "{operation}": supported values: {ALL_OPERATIONS}'
    ]


def test_controller_policies_accept_update_and_reject_connect() -> None:
    obj = policy(type="Controller", operations=["CREATE", "UPDATE", "DELETE", "CONNECT"])
    assert messages(obj) == [
        f'spec.operations[3]: Unsupported value: "CONNECT": supported values: {CONTROLLER_OPERATIONS}',
    ]


@pytest.mark.parametrize("operations", [["*"], ["CREATE"], ["DELETE"], ["CREATE", "DELETE"]])
def test_controller_policies_accept_create_delete_and_wildcard(operations: list[str]) -> None:
    assert messages(policy(type="Controller", operations=operations)) == []


def test_update_is_fine_for_webhook_policies() -> None:
    for policy_type in ("", "Validating", "Mutating"):
        assert messages(policy(type=policy_type, operations=["UPDATE", "CONNECT"])) == []


def test_controller_policies_cannot_use_the_wildcard_resource() -> None:
    errors = validate_policy(policy(type="Controller", resources=["*"]))
    assert [(e.kind, e.path) for e in errors] == [("Invalid", "spec.resources")]
    assert validate_policy(policy(type="Validating", resources=["*"])) == []


# ---- resources -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resources",
    [
        ["pods"],
        ["pods", "services", "configmaps"],
        ["*"],
        ["*/*"],
        ["pods/*"],
        ["pods/status", "pods/log"],
        ["*/scale"],
        ["*", "*/scale"],
        ["pods", "pods/status"],
        # order-dependent quirks of the Kubernetes overlap check
        ["pods/log", "pods/*"],
        ["deployments/scale", "*/scale"],
        ["pods", "*"],
    ],
)
def test_accepted_resource_lists(resources: list[str]) -> None:
    assert messages(policy(resources=resources)) == []


def test_resources_are_required() -> None:
    assert messages(without(policy(), "resources")) == ["spec.resources: Required value"]
    assert messages(policy(resources=[])) == ["spec.resources: Required value"]


def test_empty_resource_entries_are_required() -> None:
    assert messages(policy(resources=["pods", ""])) == ["spec.resources[1]: Required value"]


def test_subresource_after_resource_wildcard_overlaps() -> None:
    assert messages(policy(resources=["pods/*", "pods/log"])) == [
        "spec.resources[1]: Invalid value: \"pods/log\": if 'pods/*' is present, must not specify pods/log"
    ]


def test_resource_after_subresource_wildcard_overlaps() -> None:
    assert messages(policy(resources=["*/scale", "deployments/scale"])) == [
        'spec.resources[1]: Invalid value: "deployments/scale": '
        "if '*/scale' is present, must not specify deployments/scale"
    ]


def test_single_wildcard_before_a_plain_resource_overlaps() -> None:
    assert messages(policy(resources=["*", "pods"])) == [
        'spec.resources: Invalid value: []string{"*", "pods"}: '
        "if '*' is present, must not specify other resources without subresources"
    ]


def test_double_wildcard_must_be_alone() -> None:
    assert messages(policy(resources=["*/*", "pods"])) == [
        'spec.resources: Invalid value: []string{"*/*", "pods"}: '
        "if '*/*' is present, must not specify other resources"
    ]
    assert messages(policy(resources=["pods/log", "*/*"])) == [
        'spec.resources: Invalid value: []string{"pods/log", "*/*"}: '
        "if '*/*' is present, must not specify other resources"
    ]


def test_double_wildcard_followed_by_a_subresource_wildcard_reports_both() -> None:
    assert messages(policy(resources=["*/*", "pods/*"])) == [
        "spec.resources[1]: Invalid value: \"pods/*\": if '*/*' is present, must not specify pods/*",
        'spec.resources: Invalid value: []string{"*/*", "pods/*"}: if \'*/*\' is present, must not specify other '
        "resources",
    ]


# ---- apiGroups, apiVersions, scope ---------------------------------------------------------


def test_api_group_wildcard_must_be_alone() -> None:
    assert messages(policy(apiGroups=["*", "apps"])) == [
        'spec.apiGroups: Invalid value: []string{"*", "apps"}: if \'*\' is present, must not specify other API groups'
    ]


def test_api_groups_may_name_the_core_group() -> None:
    assert messages(policy(apiGroups=["", "apps"])) == []
    assert messages(policy(apiGroups=[])) == []


def test_api_version_wildcard_must_be_alone() -> None:
    assert messages(policy(apiVersions=["v1", "*"])) == [
        'spec.apiVersions: Invalid value: []string{"v1", "*"}: if \'*\' is present, must not specify other API versions'
    ]


def test_empty_api_version_entries_are_required() -> None:
    assert messages(policy(apiVersions=["v1", ""])) == ["spec.apiVersions[1]: Required value"]
    assert messages(policy(apiVersions=[""])) == ["spec.apiVersions[0]: Required value"]


@pytest.mark.parametrize("scope", ["*", "Cluster", "Namespaced"])
def test_supported_scopes(scope: str) -> None:
    assert messages(policy(scope=scope)) == []


@pytest.mark.parametrize("scope", ["cluster", "", "All"])
def test_unsupported_scopes(scope: str) -> None:
    assert messages(policy(scope=scope)) == [
        f'spec.scope: Unsupported value: "{scope}": supported values: "*", "Cluster", "Namespaced"'
    ]


# ---- enums ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "good", "bad", "supported"),
    [
        ("failurePolicy", ["Fail", "Ignore"], ["fail", "", "Retry"], '"Fail", "Ignore"'),
        ("reinvocationPolicy", ["Never", "IfNeeded"], ["never", "", "Always"], '"IfNeeded", "Never"'),
        ("matchPolicy", ["Exact", "Equivalent"], ["exact", "", "Loose"], '"Equivalent", "Exact"'),
    ],
)
def test_webhook_enums(field: str, good: list[str], bad: list[str], supported: str) -> None:
    for value in good:
        assert messages(policy(**{field: value})) == []
    for value in bad:
        assert messages(policy(**{field: value})) == [
            f'spec.{field}: Unsupported value: "{value}": supported values: {supported}'
        ]


@pytest.mark.parametrize("policy_type", ["", "Validating", "Mutating", "Controller"])
def test_supported_types(policy_type: str) -> None:
    assert messages(policy(type=policy_type, operations=["CREATE"])) == []


@pytest.mark.parametrize("policy_type", ["validating", "Webhook", "Background"])
def test_unsupported_types(policy_type: str) -> None:
    assert messages(policy(type=policy_type)) == [
        f'spec.type: Unsupported value: "{policy_type}": supported values: "", "Controller", "Mutating", "Validating"'
    ]


def test_type_is_immutable_on_update() -> None:
    old = policy(type="Validating")
    new = policy(type="Mutating")
    assert messages(new, old) == ['spec.type: Invalid value: "Mutating": type is immutable']
    assert messages(policy(type="Validating"), old) == []
    assert messages(policy(type="Controller"), policy(type="Mutating")) == [
        'spec.type: Invalid value: "Controller": type is immutable'
    ]


def test_type_change_is_only_checked_on_update() -> None:
    assert messages(policy(type="Mutating")) == []
    assert messages(policy(type="Mutating"), old=None) == []


# ---- timeoutSeconds ------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [0, 31, -1, 600])
def test_out_of_range_timeouts(timeout: int) -> None:
    assert messages(policy(timeoutSeconds=timeout)) == [
        f"spec.timeoutSeconds: Invalid value: {timeout}: the timeout value must be between 1 and 30 seconds"
    ]


@pytest.mark.parametrize("timeout", [1, 10, 30])
def test_in_range_timeouts(timeout: int) -> None:
    assert messages(policy(timeoutSeconds=timeout)) == []


# ---- label selectors -----------------------------------------------------------------------


def selector_messages(which: str, selector: dict[str, Any]) -> list[str]:
    spec: dict[str, Any] = {which: selector}
    return messages(policy(**spec))


@pytest.mark.parametrize("which", ["namespaceSelector", "objectSelector"])
@pytest.mark.parametrize("operator", ["In", "NotIn"])
def test_set_operators_need_values(which: str, operator: str) -> None:
    for expression in ({"key": "env", "operator": operator}, {"key": "env", "operator": operator, "values": []}):
        assert selector_messages(which, {"matchExpressions": [expression]}) == [
            f"spec.{which}.matchExpressions[0].values: Required value: "
            "must be specified when `operator` is 'In' or 'NotIn'"
        ]


@pytest.mark.parametrize("operator", ["Exists", "DoesNotExist"])
def test_existence_operators_forbid_values(operator: str) -> None:
    expressions = [{"key": "a", "operator": "Exists"}, {"key": "env", "operator": operator, "values": ["x"]}]
    assert selector_messages("objectSelector", {"matchExpressions": expressions}) == [
        "spec.objectSelector.matchExpressions[1].values: Forbidden: "
        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
    ]


@pytest.mark.parametrize("operator", ["Equals", "in", "Gt", ""])
def test_unknown_selector_operators(operator: str) -> None:
    expression = {"key": "env", "operator": operator, "values": ["1"]}
    assert selector_messages("namespaceSelector", {"matchExpressions": [expression]}) == [
        f'spec.namespaceSelector.matchExpressions[0].operator: Invalid value: "{operator}": '
        "not a valid selector operator"
    ]


def test_a_missing_operator_is_the_empty_string() -> None:
    assert selector_messages("objectSelector", {"matchExpressions": [{"key": "env"}]}) == [
        'spec.objectSelector.matchExpressions[0].operator: Invalid value: "": not a valid selector operator'
    ]


def test_bad_expression_key_is_reported_on_the_key_path() -> None:
    expression = {"key": "bad key", "operator": "Exists"}
    errors = validate_policy(policy(objectSelector={"matchExpressions": [expression]}))
    assert [(e.kind, e.path, e.value) for e in errors] == [
        ("Invalid", "spec.objectSelector.matchExpressions[0].key", '"bad key"')
    ]
    assert errors[0].detail.startswith("name part must consist of alphanumeric characters")


def test_bad_key_message_matches_kubernetes_exactly() -> None:
    expression = {"key": "bad key", "operator": "Exists"}
    assert selector_messages("objectSelector", {"matchExpressions": [expression]}) == [
        f'spec.objectSelector.matchExpressions[0].key: Invalid value: "bad key": name part {QUALIFIED_NAME}'
    ]


def test_bad_match_label_value_message_matches_kubernetes_exactly() -> None:
    assert selector_messages("namespaceSelector", {"matchLabels": {"app": "bad value"}}) == [
        f'spec.namespaceSelector.matchLabels: Invalid value: "bad value": {LABEL_VALUE}'
    ]


def test_bad_match_label_value_is_reported_on_match_labels() -> None:
    errors = validate_policy(policy(namespaceSelector={"matchLabels": {"app": "bad value"}}))
    assert [(e.kind, e.path, e.value) for e in errors] == [
        ("Invalid", "spec.namespaceSelector.matchLabels", '"bad value"')
    ]
    assert errors[0].detail.startswith("a valid label must be an empty string or consist of alphanumeric")


def test_bad_expression_values_are_reported_per_index() -> None:
    expression = {"key": "env", "operator": "In", "values": ["ok", "-bad"]}
    errors = validate_policy(policy(objectSelector={"matchExpressions": [expression]}))
    assert [(e.path, e.value) for e in errors] == [("spec.objectSelector.matchExpressions[0].values[1]", '"-bad"')]


def test_label_key_prefix_must_be_a_lowercase_subdomain() -> None:
    assert selector_messages("objectSelector", {"matchLabels": {"Example.com/app": "x"}}) == [
        f'spec.objectSelector.matchLabels: Invalid value: "Example.com/app": prefix part {DNS1123}'
    ]


def test_label_keys_with_two_slashes() -> None:
    assert selector_messages("objectSelector", {"matchLabels": {"a/b/c": "x"}}) == [
        f'spec.objectSelector.matchLabels: Invalid value: "a/b/c": a qualified name {QUALIFIED_NAME} '
        "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
    ]


def test_label_key_parts_must_be_non_empty() -> None:
    assert selector_messages("objectSelector", {"matchLabels": {"/app": "x"}}) == [
        'spec.objectSelector.matchLabels: Invalid value: "/app": prefix part must be non-empty'
    ]


def test_long_label_keys_and_values() -> None:
    long = "a" * 64
    assert selector_messages("objectSelector", {"matchLabels": {long: "x"}}) == [
        f'spec.objectSelector.matchLabels: Invalid value: "{long}": name part must be no more than 63 characters'
    ]
    assert selector_messages("objectSelector", {"matchLabels": {"app": long}}) == [
        f'spec.objectSelector.matchLabels: Invalid value: "{long}": must be no more than 63 characters'
    ]
    assert selector_messages("objectSelector", {"matchLabels": {"a" * 63: "b" * 63}}) == []


def test_a_trailing_newline_makes_a_label_value_invalid() -> None:
    errors = validate_policy(policy(objectSelector={"matchLabels": {"app": "web\n"}}))
    assert [(e.path, e.value) for e in errors] == [("spec.objectSelector.matchLabels", '"web\\n"')]


def test_empty_selectors_are_valid() -> None:
    assert messages(policy(namespaceSelector={}, objectSelector={"matchLabels": {}, "matchExpressions": []})) == []


# ---- auditPolicy, violationPolicy, auditLogSize ---------------------------------------------


@pytest.mark.parametrize("value", ["Log", "Skip"])
def test_supported_audit_policies(value: str) -> None:
    assert messages(policy(auditPolicy=value)) == []


@pytest.mark.parametrize("value", ["log", "", "Dry"])
def test_unsupported_audit_policies(value: str) -> None:
    assert messages(policy(auditPolicy=value)) == [
        f'spec.auditPolicy: Invalid value: "{value}": needs to be one of [Log Skip]'
    ]


@pytest.mark.parametrize("value", ["Deny", "Warn", "Dry", ""])
def test_supported_violation_policies(value: str) -> None:
    assert messages(policy(violationPolicy=value)) == []


@pytest.mark.parametrize("value", ["deny", "warn", "DENY", "Log"])
def test_violation_policy_is_case_sensitive(value: str) -> None:
    assert messages(policy(violationPolicy=value)) == [
        f'spec.violationPolicy: Invalid value: "{value}": needs to be one of [Deny Warn Dry]'
    ]


@pytest.mark.parametrize("size", [0, 41, -3])
def test_out_of_range_audit_log_sizes(size: int) -> None:
    assert messages(policy(auditLogSize=size)) == [
        f"spec.auditLogSize: Invalid value: {size}: The audit log size needs to be between 1 and 40"
    ]


@pytest.mark.parametrize("size", [1, 20, 40])
def test_in_range_audit_log_sizes(size: int) -> None:
    assert messages(policy(auditLogSize=size)) == []


# ---- aggregation ---------------------------------------------------------------------------


def test_one_error_is_rendered_bare() -> None:
    assert aggregate(validate_policy(policy(timeoutSeconds=0))) == (
        "spec.timeoutSeconds: Invalid value: 0: the timeout value must be between 1 and 30 seconds"
    )


def test_several_errors_are_bracketed_in_rule_order() -> None:
    obj = policy(
        "a.b",
        operations=[],
        resources=["*", "pods"],
        scope="cluster",
        failurePolicy="",
        timeoutSeconds=31,
        auditPolicy="log",
        violationPolicy="deny",
        auditLogSize=0,
    )
    assert aggregate(validate_policy(obj)) == (
        '[metadata.name: Invalid value: "a.b": should be a domain with at least three segments separated by dots, '
        "spec.operations: Required value, "
        'spec.resources: Invalid value: []string{"*", "pods"}: '
        "if '*' is present, must not specify other resources without subresources, "
        'spec.scope: Unsupported value: "cluster": supported values: "*", "Cluster", "Namespaced", '
        'spec.failurePolicy: Unsupported value: "": supported values: "Fail", "Ignore", '
        "spec.timeoutSeconds: Invalid value: 31: the timeout value must be between 1 and 30 seconds, "
        'spec.auditPolicy: Invalid value: "log": needs to be one of [Log Skip], '
        'spec.violationPolicy: Invalid value: "deny": needs to be one of [Deny Warn Dry], '
        "spec.auditLogSize: Invalid value: 0: The audit log size needs to be between 1 and 40]"
    )


def test_identical_errors_are_reported_once() -> None:
    selector = {"matchLabels": {"a": "bad value", "b": "bad value"}}
    errors = validate_policy(policy(objectSelector=selector))
    assert len(errors) == 2 and str(errors[0]) == str(errors[1])
    assert aggregate(errors) == str(errors[0])
    both = [*errors, *validate_policy(policy(timeoutSeconds=0))]
    text = aggregate(both)
    assert text.startswith('[spec.objectSelector.matchLabels: Invalid value: "bad value"')
    assert text.count("bad value") == 1 and text.endswith("between 1 and 30 seconds]")


def test_aggregate_dedups_by_rendered_text_and_keeps_first_order() -> None:
    a = required(Path("spec").child("operations"))
    b = invalid(Path("spec").child("timeoutSeconds"), 0, "bad")
    assert aggregate([a, b, a]) == "[spec.operations: Required value, spec.timeoutSeconds: Invalid value: 0: bad]"
    assert aggregate([a, a]) == "spec.operations: Required value"


def test_field_error_rendering() -> None:
    assert str(FieldError("Forbidden", "spec.x", "nope")) == "spec.x: Forbidden: nope"
    assert str(FieldError("Required", "spec.x")) == "spec.x: Required value"
    assert str(required(Path())) == "<nil>: Required value"
    assert str(Path("spec").child("resources").index(3)) == "spec.resources[3]"
    assert str(invalid(Path("spec").child("ok"), True, "d")) == "spec.ok: Invalid value: true: d"


# ---- jsPolicy's documented sample -----------------------------------------------------------

DOCS_SAMPLE = """
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata:
  name: "policy-name.company.tld"
spec:
  type: Validating
  operations: ["CREATE"]
  resources: ["*"]
  objectSelector: {}
  namespaceSelector: {}
  scope: Namespaced
  apiGroups: ["*"]
  apiVersions: ["*"]
  matchPolicy: "Equivalent"
  violationPolicy: "deny"
  failurePolicy: ""
  reinvocationPolicy: "Never"
  auditPolicy: ""
  auditLogSize: 10
  dependencies:
    "@jspolicy/package-1": "^1.0.0"
    "@jspolicy/package-2": "~2.0.0"
  javascript: "/* JS CODE HERE */"
  timeoutSeconds: 10
status:
  phase: "Synced"
  message: "This is a human-readable error (if any)"
  reason: "error_reason_if_any"
  bundleHash: ""
"""


def test_the_reference_docs_sample_is_rejected() -> None:
    (sample,) = parse_yaml_documents(DOCS_SAMPLE, "policy-crd.mdx")
    decode_strictly(sample)  # it decodes; the field rules reject it
    assert aggregate(validate_policy(sample)) == (
        '[spec.failurePolicy: Unsupported value: "": supported values: "Fail", "Ignore", '
        'spec.auditPolicy: Invalid value: "": needs to be one of [Log Skip], '
        'spec.violationPolicy: Invalid value: "deny": needs to be one of [Deny Warn Dry]]'
    )
    fixed = copy.deepcopy(sample)
    fixed["spec"].update(violationPolicy="Deny", failurePolicy="Fail", auditPolicy="Log")
    assert validate_policy(fixed) == []


# ---- strict decoding -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda o: o["spec"].update(foo=1), "spec.foo"),
        (lambda o: o.update(foo=1), "foo"),
        (lambda o: o["metadata"].update(bogus="x"), "metadata.bogus"),
        (lambda o: o["spec"].update(objectSelector={"matchLabel": {}}), "spec.objectSelector.matchLabel"),
        (lambda o: o["spec"].update(namespaceSelector={"labels": {}}), "spec.namespaceSelector.labels"),
        (lambda o: o["spec"].update(rules=[]), "spec.rules"),
    ],
)
def test_unknown_fields_are_rejected(mutate: Any, field: str) -> None:
    obj = policy()
    mutate(obj)
    with pytest.raises(DecodeError) as caught:
        decode_strictly(obj)
    assert str(caught.value) == f'strict decoding error: unknown field "{field}"'


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeoutSeconds", "10"),
        ("timeoutSeconds", True),
        ("timeoutSeconds", 1.5),
        ("timeoutSeconds", 2**31),
        ("auditLogSize", "20"),
        ("operations", "CREATE"),
        ("operations", ["CREATE", 1]),
        ("resources", {"pods": True}),
        ("type", 1),
        ("javascript", ["allow()"]),
        ("dependencies", {"lodash": 4}),
        ("dependencies", ["lodash"]),
        ("objectSelector", "app=web"),
        ("namespaceSelector", {"matchLabels": {"a": 1}}),
    ],
)
def test_wrong_types_are_rejected(field: str, value: Any) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_strictly(policy(**{field: value}))
    assert f"spec.{field}" in str(caught.value)


def test_wrong_type_message_names_the_go_field_type() -> None:
    with pytest.raises(DecodeError) as caught:
        decode_strictly(policy(timeoutSeconds="10"))
    assert str(caught.value) == "json: cannot unmarshal string into Go struct field spec.timeoutSeconds of type int32"


def test_non_objects_and_bad_metadata_are_rejected() -> None:
    with pytest.raises(DecodeError):
        decode_strictly(["not", "an", "object"])
    with pytest.raises(DecodeError):
        decode_strictly({**policy(), "spec": "x"})
    with pytest.raises(DecodeError):
        decode_strictly({**policy(), "metadata": {"name": 5}})
    with pytest.raises(DecodeError):
        decode_strictly({**policy(), "metadata": {"name": "a.b.c", "labels": {"x": None, "y": 2}}})


def test_known_fields_and_nulls_decode() -> None:
    obj = policy(timeoutSeconds=None, scope=None, namespaceSelector=None)
    obj["metadata"].update(
        labels={"a": "b"},
        annotations={"policy.jspolicy.com/severity": "high"},
        uid="u",
        resourceVersion="1",
        generation=3,
        creationTimestamp="2024-01-01T00:00:00Z",
        finalizers=["x"],
        managedFields=[{"manager": "kubectl"}],
        ownerReferences=[],
    )
    obj["status"] = {"phase": "Synced", "anything": {"goes": True}}
    decode_strictly(obj)
