"""PolicyReport output (``wgpolicyk8s.io/v1alpha2``, docs/cluster.md): where a violation goes and what it looks like.

jsPolicy's mapping, with its bug fixed: ``resources[0].apiVersion`` is
``group/version`` of the request's kind, not the version alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from jspolicy.resources.kinds import KindInfo
from jspolicy.resources.policy import JsPolicy
from jspolicy.resources.violations import PolicyViolation

GROUP, VERSION = "wgpolicyk8s.io", "v1alpha2"
POLICY_REPORT = KindInfo(GROUP, VERSION, "PolicyReport", "policyreports", True)
CLUSTER_POLICY_REPORT = KindInfo(GROUP, VERSION, "ClusterPolicyReport", "clusterpolicyreports", False)
CLUSTER_REPORT_NAME = "js-cluster-policy-report"
NAMESPACE_REPORT_PREFIX = "js-policy-report-ns-"
CATEGORY_ANNOTATION = "policy.jspolicy.com/category"
SEVERITY_ANNOTATION = "policy.jspolicy.com/severity"
SOURCE = "JsPolicy"
SUMMARY_KEYS = ("pass", "fail", "warn", "error", "skip")
_RESULTS = {"Deny": "fail", "Warn": "warn", "Controller": "pass"}
_SEVERITIES = ("low", "medium", "high")


def report_target(violation: PolicyViolation) -> tuple[KindInfo, str, str]:
    """(kind, namespace, name) of the report a violation belongs in."""
    namespace = violation.request_info.get("namespace", "")
    if namespace and violation.request_info.get("kind") != "Namespace":
        return POLICY_REPORT, namespace, NAMESPACE_REPORT_PREFIX + namespace
    return CLUSTER_POLICY_REPORT, "", CLUSTER_REPORT_NAME


def result_status(action: str) -> str:
    """Deny -> fail, Warn -> warn, Controller -> pass, anything else (Dry) -> skip."""
    return _RESULTS.get(action, "skip")


def build_result(policy: JsPolicy, violation: PolicyViolation, resource_uid: str = "") -> dict[str, Any]:
    """One ``results[]`` entry."""
    info = violation.request_info
    resource = {
        "kind": info.get("kind", ""),
        "namespace": info.get("namespace", ""),
        "name": info.get("name", ""),
        "apiVersion": info.get("apiVersion", ""),
        "uid": resource_uid,
    }
    properties = {
        "operation": info.get("operation", ""),
        "reason": violation.reason,
        "code": str(violation.code),
        "userinfo.username": violation.user_info.get("username", ""),
    }
    if violation.user_info.get("uid"):
        properties["userinfo.uuid"] = violation.user_info["uid"]
    result: dict[str, Any] = {
        "source": SOURCE,
        "policy": policy.name,
        "result": result_status(violation.action),
        "message": violation.message,
        "timestamp": {"seconds": _epoch_seconds(violation.timestamp), "nanos": 0},
        "resources": [{k: v for k, v in resource.items() if v}],
        "properties": {k: v for k, v in properties.items() if v},
    }
    category = policy.annotations.get(CATEGORY_ANNOTATION)
    if category:
        result["category"] = category
    severity = policy.annotations.get(SEVERITY_ANNOTATION)
    if severity is not None:
        result["severity"] = severity if severity in _SEVERITIES else "high"
    return result


def new_report(info: KindInfo, namespace: str, name: str, owner: Mapping[str, Any] | None) -> dict[str, Any]:
    """An empty report; ``owner`` (the first policy to write to it) becomes its ownerReference."""
    metadata: dict[str, Any] = {"name": name}
    if info.namespaced:
        metadata["namespace"] = namespace
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    return {
        "apiVersion": info.api_version,
        "kind": info.kind,
        "metadata": metadata,
        "summary": dict.fromkeys(SUMMARY_KEYS, 0),
        "results": [],
    }


def append_results(report: Mapping[str, Any], results: list[dict[str, Any]], max_events: int) -> dict[str, Any]:
    """``report`` with ``results`` appended, the oldest dropped beyond ``max_events``, the summary kept in step."""
    summary = {key: int((report.get("summary") or {}).get(key) or 0) for key in SUMMARY_KEYS}
    kept = list(report.get("results") or [])
    for result in results:
        kept.append(result)
        summary[result["result"]] = summary.get(result["result"], 0) + 1
    while len(kept) > max(max_events, 0):
        dropped = kept.pop(0)
        status = str(dropped.get("result") or "") if isinstance(dropped, Mapping) else ""
        if status in summary:
            summary[status] = max(0, summary[status] - 1)
    return {**report, "summary": summary, "results": kept}


def _epoch_seconds(timestamp: str) -> int:
    try:
        return int(datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
    except ValueError:
        return int(datetime.now(UTC).timestamp())
