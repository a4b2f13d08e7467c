"""Validation of JsPolicy objects: the rules of jsPolicy's ``/crds`` webhook.

Two stages, as in jsPolicy: a strict decode (unknown fields and wrong types are
a ``BadRequest``), then the field rules (aggregated into one ``Forbidden``
message with field paths). Paths name the real fields (``spec.operations[0]``);
jsPolicy printed them under a ``spec.rules.`` prefix that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jspolicy.resources.fielderrors import FieldError, Path, invalid, not_supported, required
from jspolicy.resources.labels import dns1123_subdomain_errors, validate_label_selector
from jspolicy.resources.policy import CONTROLLER, MAX_AUDIT_LOG_SIZE

_STRING, _INT32, _STRINGS, _STRING_MAP, _SELECTOR, _META, _ANY = (
    "string",
    "int32",
    "[]string",
    "map[string]string",
    "LabelSelector",
    "ObjectMeta",
    "any",
)

_SPEC_FIELDS = {
    "type": _STRING,
    "operations": _STRINGS,
    "resources": _STRINGS,
    "apiGroups": _STRINGS,
    "apiVersions": _STRINGS,
    "scope": _STRING,
    "namespaceSelector": _SELECTOR,
    "objectSelector": _SELECTOR,
    "matchPolicy": _STRING,
    "failurePolicy": _STRING,
    "reinvocationPolicy": _STRING,
    "timeoutSeconds": _INT32,
    "violationPolicy": _STRING,
    "auditPolicy": _STRING,
    "auditLogSize": _INT32,
    "dependencies": _STRING_MAP,
    "javascript": _STRING,
}
_TOP_FIELDS = {"apiVersion": _STRING, "kind": _STRING, "metadata": _META, "spec": "spec", "status": _ANY}
_META_FIELDS = {
    "name": _STRING,
    "generateName": _STRING,
    "namespace": _STRING,
    "selfLink": _STRING,
    "uid": _STRING,
    "resourceVersion": _STRING,
    "generation": "int64",
    "creationTimestamp": _ANY,
    "deletionTimestamp": _ANY,
    "deletionGracePeriodSeconds": "int64",
    "labels": _STRING_MAP,
    "annotations": _STRING_MAP,
    "ownerReferences": _ANY,
    "finalizers": _STRINGS,
    "managedFields": _ANY,
}
_SELECTOR_FIELDS = {"matchLabels": _STRING_MAP, "matchExpressions": _ANY}

OPERATIONS = ("*", "CONNECT", "CREATE", "DELETE", "UPDATE")
# UPDATE is ours: jsPolicy rejected it and only ever sent CREATE; here it asks for real UPDATE events.
CONTROLLER_OPERATIONS = ("*", "CREATE", "DELETE", "UPDATE")
SCOPES = ("*", "Cluster", "Namespaced")


class DecodeError(ValueError):
    """The object does not decode strictly into a JsPolicy (jsPolicy: BadRequest)."""


def decode_strictly(obj: Any) -> None:
    """Reject unknown fields and wrong types, as a strict Go decoder would."""
    if not isinstance(obj, Mapping):
        raise DecodeError("json: cannot unmarshal value into Go value of type v1beta1.JsPolicy")
    _check_fields(obj, _TOP_FIELDS, "")


def _check_fields(obj: Mapping[str, Any], fields: Mapping[str, str], prefix: str) -> None:
    for key, value in obj.items():
        path = f"{prefix}{key}"
        kind = fields.get(key)
        if kind is None:
            raise DecodeError(f'strict decoding error: unknown field "{path}"')
        _check_type(value, kind, path)


def _check_type(value: Any, kind: str, path: str) -> None:
    if value is None or kind == _ANY:
        return
    go_type = {
        _STRING: "string",
        _INT32: "int32",
        "int64": "int64",
        _STRINGS: "[]string",
        _STRING_MAP: "map[string]string",
    }.get(kind, "struct")
    bad = DecodeError(f"json: cannot unmarshal {_json_kind(value)} into Go struct field {path} of type {go_type}")
    if kind == _STRING:
        if not isinstance(value, str):
            raise bad
    elif kind in (_INT32, "int64"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        if kind == _INT32 and not -(2**31) <= value < 2**31:
            raise DecodeError(f"json: cannot unmarshal number {value} into Go struct field {path} of type int32")
    elif kind == _STRINGS:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad
    elif kind == _STRING_MAP:
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise bad
    elif not isinstance(value, Mapping):
        raise bad
    elif kind == "spec":
        _check_fields(value, _SPEC_FIELDS, "spec.")
    elif kind == _META:
        _check_fields(value, _META_FIELDS, "metadata.")
    elif kind == _SELECTOR:
        _check_fields(value, _SELECTOR_FIELDS, path + ".")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def validate_policy(obj: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> list[FieldError]:
    """The field rules of jsPolicy's /crds webhook (call decode_strictly first)."""
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    spec_path = Path("spec")
    errors = _validate_name(str(metadata.get("name") or ""))
    policy_type = spec.get("type") or ""
    errors += _validate_operations(spec.get("operations") or [], policy_type, spec_path.child("operations"))
    errors += _validate_rule(spec, spec_path)
    if policy_type == CONTROLLER and "*" in (spec.get("resources") or []):
        errors.append(
            invalid(spec_path.child("resources"), spec.get("resources"), "controller policies cannot use '*'")
        )
    if old is not None:
        old_type = (old.get("spec") or {}).get("type") or ""
        if old_type != policy_type:
            errors.append(invalid(spec_path.child("type"), policy_type, "type is immutable"))
    errors += _enum(spec, "failurePolicy", ("Fail", "Ignore"), spec_path)
    errors += _enum(spec, "reinvocationPolicy", ("IfNeeded", "Never"), spec_path)
    errors += _enum(spec, "matchPolicy", ("Equivalent", "Exact"), spec_path)
    if policy_type not in ("", "Controller", "Mutating", "Validating"):
        errors.append(not_supported(spec_path.child("type"), policy_type, ("", "Controller", "Mutating", "Validating")))
    timeout = spec.get("timeoutSeconds")
    if timeout is not None and not 1 <= timeout <= 30:
        errors.append(
            invalid(spec_path.child("timeoutSeconds"), timeout, "the timeout value must be between 1 and 30 seconds")
        )
    for selector in ("namespaceSelector", "objectSelector"):
        errors += validate_label_selector(spec.get(selector), spec_path.child(selector))
    audit = spec.get("auditPolicy")
    if audit is not None and audit not in ("Log", "Skip"):
        errors.append(invalid(spec_path.child("auditPolicy"), audit, "needs to be one of [Log Skip]"))
    violation = spec.get("violationPolicy") or ""
    if violation not in ("", "Deny", "Warn", "Dry"):
        errors.append(invalid(spec_path.child("violationPolicy"), violation, "needs to be one of [Deny Warn Dry]"))
    size = spec.get("auditLogSize")
    if size is not None and not 1 <= size <= MAX_AUDIT_LOG_SIZE:
        errors.append(invalid(spec_path.child("auditLogSize"), size, "The audit log size needs to be between 1 and 40"))
    return errors


def _validate_name(name: str) -> list[FieldError]:
    """validation.IsFullyQualifiedName: policy names are webhook names."""
    path = Path("metadata").child("name")
    if not name:
        return [required(path)]
    problems = dns1123_subdomain_errors(name)
    if problems:
        return [invalid(path, name, ",".join(problems))]
    if len(name.split(".")) < 3:
        return [invalid(path, name, "should be a domain with at least three segments separated by dots")]
    return []


def _validate_operations(operations: list[str], policy_type: str, path: Path) -> list[FieldError]:
    if not operations:
        return [required(path)]
    errors = []
    if len(operations) > 1 and "*" in operations:
        errors.append(
            invalid(path, operations, "if '*' is present, must not specify other operations", "v1.OperationType")
        )
    allowed = CONTROLLER_OPERATIONS if policy_type == CONTROLLER else OPERATIONS
    for i, operation in enumerate(operations):
        if operation not in allowed:
            errors.append(not_supported(path.index(i), operation, allowed))
    return errors


def _validate_rule(spec: Mapping[str, Any], path: Path) -> list[FieldError]:
    """admissionregistration validateRule, on the effective (defaulted) values."""
    errors: list[FieldError] = []
    groups = spec.get("apiGroups") or ["*"]
    if len(groups) > 1 and "*" in groups:
        errors.append(invalid(path.child("apiGroups"), groups, "if '*' is present, must not specify other API groups"))
    versions = spec.get("apiVersions") or ["*"]
    if len(versions) > 1 and "*" in versions:
        errors.append(
            invalid(path.child("apiVersions"), versions, "if '*' is present, must not specify other API versions")
        )
    for i, version in enumerate(versions):
        if version == "":
            errors.append(required(path.child("apiVersions").index(i)))
    errors += validate_resources(spec.get("resources") or [], path.child("resources"))
    scope = spec.get("scope")
    if scope is not None and scope not in SCOPES:
        errors.append(not_supported(path.child("scope"), scope, SCOPES))
    return errors


def validate_resources(resources: list[str], path: Path) -> list[FieldError]:
    """admissionregistration validateResources, including its order-dependent overlap checks."""
    if not resources:
        return [required(path)]
    errors: list[FieldError] = []
    with_all_subresources: set[str] = set()
    with_all_resources: set[str] = set()
    has_double_wildcard = has_single_wildcard = has_plain = False
    for i, resource in enumerate(resources):
        if resource == "":
            errors.append(required(path.index(i)))
            continue
        has_double_wildcard = has_double_wildcard or resource == "*/*"
        has_single_wildcard = has_single_wildcard or resource == "*"
        name, slash, subresource = resource.partition("/")
        if not slash:
            has_plain = resource != "*"
            continue
        if name in with_all_subresources:
            errors.append(invalid(path.index(i), resource, f"if '{name}/*' is present, must not specify {resource}"))
        if subresource in with_all_resources:
            errors.append(
                invalid(path.index(i), resource, f"if '*/{subresource}' is present, must not specify {resource}")
            )
        if subresource == "*":
            with_all_subresources.add(name)
        if name == "*":
            with_all_resources.add(subresource)
    if len(resources) > 1 and has_double_wildcard:
        errors.append(invalid(path, resources, "if '*/*' is present, must not specify other resources"))
    if has_single_wildcard and has_plain:
        errors.append(
            invalid(path, resources, "if '*' is present, must not specify other resources without subresources")
        )
    return errors


def _enum(spec: Mapping[str, Any], field: str, allowed: tuple[str, ...], path: Path) -> list[FieldError]:
    value = spec.get(field)
    if value is None or value in allowed:
        return []
    return [not_supported(path.child(field), value, allowed)]
