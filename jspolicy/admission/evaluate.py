"""The one evaluation path: a policy, an AdmissionRequest, and what to answer.

The webhook, controller policies and the offline CLI all go through
``PolicyEngine.steps`` (the webhook awaits it on its event loop, the others
call ``evaluate``). It runs the policy's JavaScript, turns the raw
result into an admission response the way jsPolicy's handler does (deny, then
patch for Mutating policies, then allow; errors are a 500 denial), prefixes
warnings with ``[<policy>]: ``, notes the violation to record, and applies the
violationPolicy table (docs/compatibility.md).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from jspolicy import fastjson
from jspolicy.admission.patch import Patch, diff
from jspolicy.cluster.access import ClusterAccess
from jspolicy.resources.policy import AUDIT_SKIP, DRY, MUTATING, WARN, JsPolicy
from jspolicy.resources.violations import PolicyViolation
from jspolicy.runtime.host import HostFunctions
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.program import ErrorKind, PolicyProgram, ProgramError, RawResult
from jspolicy.runtime.steps import Steps, drive, drive_async

FORBIDDEN = "Forbidden"


@dataclass(frozen=True)
class Verdict:
    """What the policy's result means before violationPolicy softens it: controller policies, which
    have no admission answer, report this (the code the webhook would answer under ``Deny``)."""

    allowed: bool
    code: int
    reason: str
    message: str


@dataclass
class AdmissionOutcome:
    """What the webhook answers for one policy, after violationPolicy."""

    policy: str
    allowed: bool
    code: int = 200
    reason: str = ""
    message: str = ""
    warnings: list[str] = field(default_factory=list)
    patch: Patch | None = None
    patched_object: Any = None
    violation: PolicyViolation | None = None
    raw: RawResult = field(default_factory=RawResult)
    duration_seconds: float = 0.0
    verdict: Verdict = Verdict(True, 200, "", "")


class PolicyEngine:
    def __init__(self, pool: RuntimePool, cluster: ClusterAccess) -> None:
        self.pool = pool
        self.cluster = cluster

    def evaluate(
        self,
        policy: JsPolicy,
        program: PolicyProgram | ProgramError,
        request: Mapping[str, Any],
        *,
        request_json: str | None = None,
    ) -> AdmissionOutcome:
        """Evaluate ``policy`` on ``request`` (an AdmissionRequest) on this thread; never raises
        for policy faults."""
        return drive(self.steps(policy, program, request, request_json=request_json))

    async def evaluate_async(
        self,
        policy: JsPolicy,
        program: PolicyProgram | ProgramError,
        request: Mapping[str, Any],
        limiter: anyio.CapacityLimiter | None = None,
        *,
        request_json: str | None = None,
    ) -> AdmissionOutcome:
        """``evaluate`` from an event loop, without a worker thread unless the pool is busy
        (``limiter`` bounds the threads that then take over)."""
        return await drive_async(self.steps(policy, program, request, request_json=request_json), limiter)

    def steps(
        self,
        policy: JsPolicy,
        program: PolicyProgram | ProgramError,
        request: Mapping[str, Any],
        *,
        request_json: str | None = None,
    ) -> Steps[AdmissionOutcome]:
        started = time.perf_counter()
        host = HostFunctions(
            cluster=self.cluster, settings=self.pool.settings, policy=policy.name, dry_run=request.get("dryRun") is True
        )
        if isinstance(program, ProgramError):
            raw = RawResult.failure(ErrorKind.EXCEPTION, str(program))
        else:
            text = request_json if request_json is not None else fastjson.dumps(request)
            raw = yield from self.pool.run(program, text, host, timeout=float(policy.timeout_seconds))
        raw.prints = host.prints
        outcome = respond(policy, raw, request)
        outcome.duration_seconds = time.perf_counter() - started
        return outcome


def respond(policy: JsPolicy, raw: RawResult, request: Mapping[str, Any]) -> AdmissionOutcome:
    """jsPolicy's handler and webhook post-processing, applied to one raw result."""
    prefix = f"[{policy.name}]: "
    outcome = AdmissionOutcome(policy=policy.name, allowed=True, raw=raw)
    if raw.error is not None:
        # admission.Errored(500, err): jsPolicy returns no warnings with an error.
        outcome.allowed, outcome.code, outcome.message = False, 500, raw.error
    else:
        outcome.warnings = [prefix + w for w in raw.warnings]
        if raw.deny:
            outcome.allowed = False
            outcome.code = raw.code if raw.code else 403
            outcome.reason = raw.reason or FORBIDDEN
            outcome.message = raw.message or ""
        elif raw.patched is not None and policy.type == MUTATING:
            try:
                changes = diff(request.get("object"), fastjson.loads_from_js(raw.patched))
            except (ValueError, RecursionError):
                outcome.allowed, outcome.code, outcome.warnings = False, 500, []
                outcome.message = "mutate(): the patched object is nested too deeply"
            else:
                if changes.patch:
                    outcome.patch = changes.patch
                    outcome.patched_object = changes.result
    outcome.verdict = Verdict(outcome.allowed, outcome.code, outcome.reason, outcome.message)
    if not outcome.allowed and policy.audit_policy != AUDIT_SKIP:
        outcome.violation = PolicyViolation.for_request(
            request,
            action=policy.violation_policy,
            code=outcome.code,
            reason=outcome.reason,
            message=outcome.message,
        )
    return _apply_violation_policy(policy, outcome, prefix)


def _apply_violation_policy(policy: JsPolicy, outcome: AdmissionOutcome, prefix: str) -> AdmissionOutcome:
    mode = policy.violation_policy
    if not outcome.allowed and mode == WARN:
        outcome.warnings.append(prefix + outcome.message)
    if not outcome.allowed and mode in (WARN, DRY):
        outcome.allowed, outcome.code, outcome.reason, outcome.message = True, 200, "", ""
    if outcome.allowed and mode == DRY:
        outcome.patch = outcome.patched_object = None
    return outcome
