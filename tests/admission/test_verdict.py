"""One source for what a policy's result means: the verdict controller policies report is the answer
the webhook gives under violationPolicy Deny, whatever violationPolicy softens it to."""

from __future__ import annotations

from typing import Any

import pytest

from jspolicy.admission.evaluate import respond
from jspolicy.resources.policy import JsPolicy
from jspolicy.runtime.program import ErrorKind, RawResult

REQUEST: dict[str, Any] = {"uid": "u", "operation": "CREATE", "object": {"metadata": {"name": "x"}}}

RESULTS = {
    "allow": RawResult(ran=True),
    "deny": RawResult(deny=True, message="no", ran=True),
    "deny with code": RawResult(deny=True, code=422, reason="Invalid", message="bad", ran=True),
    "throw": RawResult.failure(ErrorKind.EXCEPTION, "Uncaught Error: x", ran=True),
    "timeout": RawResult.failure(ErrorKind.TIMEOUT, "script p timed out", ran=True),
    "requeue": RawResult(reschedule=True, ran=True),
}
EXPECTED = {"allow": 200, "deny": 403, "deny with code": 422, "throw": 500, "timeout": 500, "requeue": 200}


def policy(violation_policy: str) -> JsPolicy:
    return JsPolicy({"apiVersion": "policy.jspolicy.com/v1beta1", "kind": "JsPolicy", "metadata": {"name": "p"},
                     "spec": {"violationPolicy": violation_policy, "javascript": "allow()"}})  # fmt: skip


@pytest.mark.parametrize("case", RESULTS)
def test_the_verdict_is_the_deny_mode_answer(case: str) -> None:
    enforced = respond(policy("Deny"), RESULTS[case], REQUEST)
    assert (enforced.verdict.code, enforced.verdict.allowed) == (enforced.code, enforced.allowed)
    assert enforced.verdict.code == EXPECTED[case]
    for softened in ("Warn", "Dry"):
        outcome = respond(policy(softened), RESULTS[case], REQUEST)
        assert outcome.verdict == enforced.verdict
        assert outcome.allowed  # the answer is softened, the verdict is not
        if outcome.violation is not None:
            assert outcome.violation.code == enforced.verdict.code
