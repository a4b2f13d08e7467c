"""An offline stand-in for a cluster with jspolicy installed.

Policies and bundles from files, cluster state from manifests (what get/list
see and what namespaceSelectors match against), and the API server's part:
build the AdmissionRequest, call only matching policies, mutating policies
first (in name order, each seeing the previous one's result), then validating
ones on the final object. Controller policies get the controller's part
instead: its request, operations and selectors.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jspolicy.admission.evaluate import AdmissionOutcome, PolicyEngine
from jspolicy.admission.matching import CONTROLLER_OPERATIONS, Match, controller_rule, controller_selects, match
from jspolicy.admission.request import RequestError, UserInfo, build_request, controller_request, watched
from jspolicy.bundler.build import Bundler
from jspolicy.bundler.origin import BuildFailedError, CodeSource, manifest_location, resolve_program
from jspolicy.cluster.memory import MemoryCluster
from jspolicy.resources.manifests import Manifest, load_manifests
from jspolicy.resources.policy import CONTROLLER, MUTATING, JsPolicy
from jspolicy.resources.policyset import PolicySet
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.program import PolicyProgram, ProgramError
from jspolicy.runtime.settings import RuntimeSettings


class CliError(Exception):
    """Bad input: the CLI prints the message and exits with status 2."""


@dataclass(frozen=True)
class Evaluation:
    policy: JsPolicy
    operation: str
    resource: Mapping[str, Any]  # the object as sent to this policy
    request: Mapping[str, Any]
    outcome: AdmissionOutcome


@dataclass(frozen=True)
class Skipped:
    policy: JsPolicy
    why: str


class OfflineSession:
    def __init__(
        self,
        policies: PolicySet,
        cluster: Iterable[Mapping[str, Any]],
        pool: RuntimePool,
        *,
        owns_pool: bool = True,
        programs: Mapping[str, PolicyProgram | ProgramError] | None = None,
    ) -> None:
        self.policies = policies
        self.programs = dict(programs) if programs is not None else load_programs(policies, require_code=False)
        self.state = list(cluster)
        self.cluster = MemoryCluster(self.state)
        self.pool = pool
        self.engine = PolicyEngine(self.pool, self.cluster)
        self._owns_pool = owns_pool

    def fork(self, extra_state: Iterable[Mapping[str, Any]] = ()) -> OfflineSession:
        """The same policies and warm pool, with a cluster of its own: this session's objects (deep copies,
        so neither side's writes reach the other) plus ``extra_state``. ``jspolicy test`` forks each case
        from its suite, so a case never sees what an earlier case's policy created, updated or removed."""
        state = copy.deepcopy([*self.state, *extra_state])
        return OfflineSession(self.policies, state, self.pool, owns_pool=False, programs=self.programs)

    @classmethod
    def load(
        cls,
        policy_paths: Iterable[str],
        cluster_paths: Iterable[str] = (),
        settings: RuntimeSettings | None = None,
        *,
        require_code: bool = True,
    ) -> OfflineSession:
        """Policies whose source needs bundling are built here, through the build cache. A policy that does
        not build is bad input; ``require_code``: so is one without code (otherwise it answers a 500)."""
        policy_paths = list(policy_paths)
        policies = PolicySet.from_manifests(load_manifests(policy_paths))
        if not policies.policies:
            raise CliError("no JsPolicy found in " + ", ".join(policy_paths))
        programs = load_programs(policies, require_code=require_code)
        state = [m.obj for m in load_manifests(cluster_paths)]
        return cls(policies, state, RuntimePool(settings or RuntimeSettings.from_env()), programs=programs)

    def program(self, name: str) -> PolicyProgram:
        """The policy's code as loaded; raises the ProgramError it has instead (answered as a 500)."""
        program = self.programs.get(name)
        if program is None:
            raise ProgramError(f"no JsPolicy named {name}")
        if isinstance(program, ProgramError):
            raise program
        return program

    def close(self) -> None:
        if self._owns_pool:
            self.pool.close()

    def __enter__(self) -> OfflineSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def admission_order(self) -> list[JsPolicy]:
        """Mutating policies first, then validating; controller policies are not admission."""
        chosen = [p for p in self.policies.policies.values() if p.type != CONTROLLER]
        return sorted(chosen, key=lambda p: (p.type != MUTATING, p.name))

    def admit(
        self,
        operation: str,
        obj: Mapping[str, Any] | None,
        old: Mapping[str, Any] | None = None,
        *,
        user: UserInfo | None = None,
        only: Iterable[str] | None = None,
        subresource: str = "",
        name: str = "",
        namespace: str = "",
    ) -> list[Evaluation | Skipped]:
        """Send one request through every (or the ``only``) admission policies."""
        wanted = set(only) if only is not None else None
        results: list[Evaluation | Skipped] = []
        current = obj
        for policy in self.admission_order():
            if wanted is not None and policy.name not in wanted:
                continue
            evaluation = self.evaluate(
                policy, operation, current, old, user=user, subresource=subresource, name=name, namespace=namespace
            )
            results.append(evaluation)
            if isinstance(evaluation, Evaluation) and evaluation.outcome.patched_object is not None:
                current = evaluation.outcome.patched_object
        return results

    def evaluate(
        self,
        policy: JsPolicy,
        operation: str,
        obj: Mapping[str, Any] | None,
        old: Mapping[str, Any] | None = None,
        *,
        user: UserInfo | None = None,
        subresource: str = "",
        name: str = "",
        namespace: str = "",
    ) -> Evaluation | Skipped:
        """One policy on one request, if it would be called: the API server's rules for webhook policies,
        the controller's for controller policies (``name``/``namespace``: the target of a CONNECT)."""
        if policy.type == CONTROLLER:
            controller = self._controller_request(policy, operation, obj, old, subresource)
            if isinstance(controller, Skipped):
                return controller
            request = controller
        else:
            request = build_request(
                self.cluster.kinds,
                operation,
                obj,
                old,
                user=user,
                subresource=subresource,
                name=name,
                namespace=namespace,
            )
            matched: Match = match(policy, request, self.cluster.namespace_labels, self.cluster.kinds)
            if not matched.called:
                return Skipped(policy, matched.why)
        try:
            program = self.program(policy.name)
        except ProgramError as error:
            outcome = self.engine.evaluate(policy, error, request)
        else:
            outcome = self.engine.evaluate(policy, program, request)
        subject = request.get("object") or request.get("oldObject") or {}
        return Evaluation(policy, operation, subject, request, outcome)

    def _controller_request(
        self,
        policy: JsPolicy,
        operation: str,
        obj: Mapping[str, Any] | None,
        old: Mapping[str, Any] | None,
        subresource: str,
    ) -> dict[str, Any] | Skipped:
        """The request the controller would send for this event, or why it would not run the policy. A
        deleted object is sent only when it has a deletionTimestamp (a vanished one is a DELETE without
        object); the old object only with UPDATE."""
        subject = obj if obj is not None else old
        if subject is None:
            raise RequestError("no object given")
        if operation in CONTROLLER_OPERATIONS and not subresource:
            watched(self.cluster.kinds, subject)  # an unknown kind is bad input, as for webhook policies
        api_version, kind = str(subject.get("apiVersion", "")), str(subject.get("kind", ""))
        rule = controller_rule(policy, operation, api_version, kind, self.cluster.kinds, subresource)
        if not rule.called:
            return Skipped(policy, rule.why)
        if operation == "UPDATE" and (obj is None or old is None):
            raise RequestError("an UPDATE needs the old object (--old)")
        stored, key = watched(self.cluster.kinds, subject)
        selected = controller_selects(policy, stored, self.cluster.namespace_labels)
        if not selected.called:
            return Skipped(policy, selected.why)
        if operation == "DELETE" and not (stored.get("metadata") or {}).get("deletionTimestamp"):
            return controller_request(operation, None, key=key, old=None)
        previous = watched(self.cluster.kinds, old)[0] if operation == "UPDATE" and old is not None else None
        return controller_request(operation, stored, key=key, old=previous)


def load_programs(policies: PolicySet, *, require_code: bool = True) -> dict[str, PolicyProgram | ProgramError]:
    """Each policy's code, bundled where it must be (one bundler for the whole load)."""
    bundler = Bundler()
    programs: dict[str, PolicyProgram | ProgramError] = {}
    for name in sorted(policies.policies):
        try:
            programs[name] = resolve_program(CodeSource.of(policies, name), bundler)
        except BuildFailedError as error:
            raise CliError(f"{manifest_location(policies, name, str(error))}: {error}") from None
        except ProgramError as error:
            if require_code:
                raise CliError(f"{policies.sources[name]}: {error}") from None
            programs[name] = error
    return programs


def resource_manifests(paths: Iterable[str]) -> list[Manifest]:
    manifests = load_manifests(paths)
    if not manifests:
        raise CliError("no resources found in " + ", ".join(paths))
    return manifests
