"""Controller policies take their status codes from the evaluation's outcome, the one the webhook answers
from: the ``policy_execution_total`` code label, the violation entry and the log line agree with it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

import pytest

from jspolicy.admission.evaluate import AdmissionOutcome, PolicyEngine, respond
from jspolicy.cluster.informer import InformerFactory
from jspolicy.cluster.memory import MemoryCluster
from jspolicy.controller.policies import CONTROLLER_ACTION, Key, _Identity, _Runner
from jspolicy.resources.policy import JsPolicy
from jspolicy.resources.violations import PolicyViolation
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.program import ErrorKind, PolicyProgram, RawResult
from jspolicy.service.metrics import REQUEUE, SUCCESS, Metrics
from tests.conftest import make_policy, pod

KEY: Key = ("v1", "Pod", "shop", "web")
NAME = "codes.policies.jspolicy.com"
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}

# javascript, extra spec, the code the webhook would answer under violationPolicy Deny, whether it requeues
CASES: dict[str, tuple[str, dict[str, Any], int, bool]] = {
    "allow": ("allow();", {}, 200, False),
    "deny": ('deny("no pods here");', {}, 403, False),
    "deny with a custom code": ('deny("not valid", "Invalid", 422);', {}, 422, False),
    "throw": ('throw new Error("boom");', {}, 500, False),
    "timeout": ("while (true) {}", {"timeoutSeconds": 1}, 500, False),
    "requeue": ('requeue("later");', {}, 200, True),
    "deny under Warn": ('deny("no", "Teapot", 418);', {"violationPolicy": "Warn"}, 418, False),
    "throw under Dry": ('throw new Error("boom");', {"violationPolicy": "Dry"}, 500, False),
}


class _Cache:
    def __init__(self, objects: Mapping[tuple[str, str], Mapping[str, Any]]) -> None:
        self._objects = objects

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._objects.get((namespace, name))


class _Informers:
    """The watch caches ``_Runner._process`` reads: the Namespace and the Pod."""

    def informer(self, api_version: str, kind: str) -> _Cache:
        if (api_version, kind) == ("v1", "Namespace"):
            return _Cache({("", "shop"): NAMESPACE})
        assert (api_version, kind) == ("v1", "Pod")
        return _Cache({("shop", "web"): pod()})


class _SpyEngine(PolicyEngine):
    """The real engine, keeping the outcome it handed to the controller."""

    outcomes: list[AdmissionOutcome]

    def evaluate(self, *args: Any, **kwargs: Any) -> AdmissionOutcome:
        outcome = super().evaluate(*args, **kwargs)
        self.outcomes.append(outcome)
        return outcome


def _executions(metrics: Metrics, policy: JsPolicy) -> dict[str, float]:
    """policy_execution_total of ``policy`` by code label."""
    found: dict[str, float] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "policy_execution_total" and sample.labels["name"] == policy.name:
                assert sample.labels["type"] == "Controller"
                found[sample.labels["code"]] = sample.value
    return found


@pytest.mark.parametrize("case", CASES)
def test_metric_violation_and_log_take_the_outcomes_code(
    case: str, pool: RuntimePool, caplog: pytest.LogCaptureFixture
) -> None:
    javascript, spec, code, requeues = CASES[case]
    policy = make_policy(javascript, name=NAME, type="Controller", resources=["pods"], **spec)
    program = PolicyProgram.of(policy.name, policy.javascript)
    engine = _SpyEngine(pool, MemoryCluster([NAMESPACE, pod()]))
    engine.outcomes = []
    metrics = Metrics()
    recorded: list[tuple[JsPolicy, PolicyViolation]] = []
    runner = _Runner(policy, program, _Identity(program.key, (("v1", "Pod"),)), cast(InformerFactory, _Informers()),
                     engine, lambda p, v: recorded.append((p, v)), metrics)  # fmt: skip
    try:
        with caplog.at_level(logging.INFO, logger="jspolicy.controller.policies"):
            result = runner._process(KEY)
    finally:
        runner.queue.close()

    [outcome] = engine.outcomes
    verdict = outcome.verdict
    assert verdict.code == code  # the webhook's answer for this result under violationPolicy Deny
    if policy.violation_policy == "Deny":
        assert (outcome.code, outcome.allowed) == (verdict.code, verdict.allowed)  # what the webhook labels with
    assert _executions(metrics, policy) == {str(verdict.code): 1.0}
    assert result == (REQUEUE if requeues else SUCCESS)
    assert (runner.queue.failures(KEY) > 0) is requeues

    if verdict.allowed:
        assert recorded == []
        return
    [(recorded_policy, violation)] = recorded
    assert recorded_policy is policy
    assert (violation.action, violation.code, violation.reason, violation.message) == (
        CONTROLLER_ACTION, verdict.code, verdict.reason, verdict.message)  # fmt: skip
    if outcome.violation is not None:  # the entry a webhook policy would have written, bar the action
        assert (outcome.violation.code, outcome.violation.reason) == (violation.code, violation.reason)
    assert f"controller policy {NAME} on {'/'.join(KEY)}: {verdict.message}" in caplog.messages


# Raw results whose fields a re-derivation from them would read differently from the webhook's answer.
RAW: dict[str, tuple[RawResult, int]] = {
    "an error that kept a denial's code": (RawResult(deny=True, code=422, error="unreadable", ran=True), 500),
    "an error without a run": (RawResult.failure(ErrorKind.UNAVAILABLE, "no context in time"), 500),
    "a code without a denial": (RawResult(code=422, ran=True), 200),
    "a denial with an empty reason": (RawResult(deny=True, reason="", message="no", ran=True), 403),
}


class _FixedEngine:
    """Answers every evaluation from one raw result, through the webhook's own post-processing."""

    def __init__(self, raw: RawResult) -> None:
        self.raw = raw
        self.outcomes: list[AdmissionOutcome] = []

    def evaluate(self, policy: JsPolicy, _program: Any, request: Mapping[str, Any]) -> AdmissionOutcome:
        self.outcomes.append(respond(policy, self.raw, request))
        return self.outcomes[-1]


@pytest.mark.parametrize("case", RAW)
def test_raw_fields_do_not_leak_past_the_outcome(case: str) -> None:
    raw, code = RAW[case]
    policy = make_policy("allow();", name=NAME, type="Controller", resources=["pods"])
    engine, metrics = _FixedEngine(raw), Metrics()
    recorded: list[PolicyViolation] = []
    runner = _Runner(policy, cast(Any, None), _Identity("", (("v1", "Pod"),)), cast(InformerFactory, _Informers()),
                     cast(PolicyEngine, engine), lambda _p, v: recorded.append(v), metrics)  # fmt: skip
    try:
        assert runner._process(KEY) == SUCCESS
    finally:
        runner.queue.close()
    [outcome] = engine.outcomes
    assert outcome.code == outcome.verdict.code == code
    assert _executions(metrics, policy) == {str(code): 1.0}
    assert [(v.code, v.reason, v.message) for v in recorded] == (
        [] if outcome.allowed else [(outcome.code, outcome.reason, outcome.message)])  # fmt: skip
