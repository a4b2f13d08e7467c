"""``jspolicy test``: policy test suites in YAML, for CI.

A suite file (``*.test.yaml`` when found in a directory) names the policies to
load, optional cluster state, and cases; each case admits one resource to one
policy and checks the outcome. Each case runs on its own copy of the suite's
cluster (plus the case's ``cluster``), so what one case's policy writes is never
seen by the next. The format is documented in docs/testing.md.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jspolicy.admission.request import OPERATIONS, RequestError, UserInfo
from jspolicy.cli.session import CliError, Evaluation, OfflineSession
from jspolicy.cluster.access import ClusterError
from jspolicy.cluster.memory import MemoryCluster
from jspolicy.resources.manifests import TEST_SUITE_SUFFIXES, ManifestError, load_manifests, parse_yaml_documents
from jspolicy.resources.violations import PolicyViolation

SUITE_KEYS = {"policies", "cluster", "cases"}
CASE_KEYS = {
    "name",
    "policy",
    "resource",
    "operation",
    "subresource",
    "requestName",
    "requestNamespace",
    "oldResource",
    "user",
    "groups",
    "cluster",
    "expect",
}
EXPECT_KEYS = {
    "called",
    "allowed",
    "code",
    "reason",
    "message",
    "messageRegex",
    "warnings",
    "warningsContain",
    "patch",
    "mutated",
    "objects",
    "absent",
    "violation",
}
VIOLATION_KEYS = {"action", "message", "messageRegex"}


EXIT_BAD_INPUT = 2


class SuiteError(Exception):
    """A suite or case that cannot run; the message names the file and case."""


@dataclass
class CaseResult:
    label: str
    failures: list[str] = field(default_factory=list)
    prints: list[str] = field(default_factory=list)
    error: str | None = None
    bad_input: bool = False  # the suite's policies do not load or build: exit 2, as in `apply`

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "test",
        help="run policy test suites",
        description="Run YAML policy test suites (files, or directories searched for *.test.yaml). Prints each "
        "case and 'N passed, N failed'; exits 1 when any case fails.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.set_defaults(run=run)


def discover(paths: list[str]) -> list[Path]:
    suites: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            suites.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(TEST_SUITE_SUFFIXES)))
        elif path.is_file():
            suites.append(path)
        else:
            raise CliError(f"{raw}: no such file or directory")
    if not suites:
        raise CliError("no test suites (*.test.yaml) found in " + ", ".join(paths))
    return suites


def run(args: argparse.Namespace) -> int:
    passed = failed = 0
    bad_input = False
    for suite in discover(args.paths):
        for result in run_suite(suite):
            bad_input = bad_input or result.bad_input
            if result.passed:
                passed += 1
                print(f"PASS  {result.label}")
                continue
            failed += 1
            print(f"{'ERROR' if result.error else 'FAIL '} {result.label}")
            for line in [result.error] if result.error else result.failures:
                print(f"      {line}")
            for line in result.prints:
                print(f"      print: {line}")
    print(f"{passed} passed, {failed} failed")
    if bad_input:
        return EXIT_BAD_INPUT
    return 0 if failed == 0 else 1


def run_suite(path: Path) -> Iterator[CaseResult]:
    try:
        suite = _load_suite(path)
        base = path.parent
        policies = [str(base / p) for p in _string_list(suite, "policies", str(path), required=True)]
        shared_state = _objects(suite.get("cluster"), base, f"{path}: cluster")
    except (SuiteError, CliError, ManifestError) as error:
        yield CaseResult(str(path), error=str(error))
        return
    try:
        session = OfflineSession.load(policies, [])
    except (CliError, ManifestError) as error:
        yield CaseResult(str(path), error=str(error), bad_input=True)
        return
    with session:
        suite_session = session.fork(shared_state)
        cases = suite.get("cases")
        if not isinstance(cases, list) or not cases:
            yield CaseResult(str(path), error=f"{path}: 'cases' must be a non-empty list")
            return
        for index, case in enumerate(cases, start=1):
            label = f"{path}: case {index}"
            if isinstance(case, Mapping) and isinstance(case.get("name"), str):
                label = f"{path}: {case['name']}"
            try:
                yield _run_case(suite_session, case, base, label)
            except (SuiteError, CliError, ManifestError, RequestError) as error:
                yield CaseResult(label, error=str(error))


def _load_suite(path: Path) -> Mapping[str, Any]:
    try:
        documents = parse_yaml_documents(path.read_text("utf-8"), str(path))
    except OSError as error:
        raise SuiteError(f"{path}: cannot read: {error}") from None
    if len(documents) != 1 or not isinstance(documents[0], Mapping):
        raise SuiteError(f"{path}: a test suite is one YAML mapping with 'policies' and 'cases'")
    suite = documents[0]
    unknown = set(suite) - SUITE_KEYS
    if unknown:
        raise SuiteError(f"{path}: unknown keys {sorted(unknown)}; a suite has {sorted(SUITE_KEYS)}")
    return suite


def _string_list(mapping: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> list[str]:
    value = mapping.get(key)
    if value is None and not required:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SuiteError(f"{where}: '{key}' must be a path or a list of paths")
    return value


def _objects(value: Any, base: Path, where: str) -> list[Mapping[str, Any]]:
    """Objects given inline or as paths (relative to the suite file)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    objects: list[Mapping[str, Any]] = []
    for item in items:
        if isinstance(item, str):
            objects.extend(m.obj for m in load_manifests([str(base / item)]))
        elif isinstance(item, Mapping) and item.get("kind") and item.get("apiVersion"):
            objects.append(item)
        else:
            raise SuiteError(f"{where}: expected a path or a Kubernetes object with apiVersion and kind")
    return objects


def _single(value: Any, base: Path, where: str) -> Mapping[str, Any] | None:
    objects = _objects(value, base, where)
    if value is not None and len(objects) != 1:
        raise SuiteError(f"{where}: expected exactly one object, found {len(objects)}")
    return objects[0] if objects else None


def _run_case(session: OfflineSession, case: Any, base: Path, label: str) -> CaseResult:
    if not isinstance(case, Mapping):
        raise SuiteError(f"{label}: a case must be a mapping")
    unknown = set(case) - CASE_KEYS
    if unknown:
        raise SuiteError(f"{label}: unknown keys {sorted(unknown)}; a case has {sorted(CASE_KEYS)}")
    expect = case.get("expect")
    if not isinstance(expect, Mapping) or not expect:
        raise SuiteError(f"{label}: 'expect' must be a mapping")
    unknown = set(expect) - EXPECT_KEYS
    if unknown:
        raise SuiteError(f"{label}: unknown expectations {sorted(unknown)}; use {sorted(EXPECT_KEYS)}")
    operation = case.get("operation", "CREATE")
    if operation not in OPERATIONS:
        raise SuiteError(f"{label}: operation must be one of {', '.join(OPERATIONS)}")
    names = sorted(session.policies.policies)
    policy_name = case.get("policy") or (names[0] if len(names) == 1 else None)
    if policy_name not in session.policies.policies:
        raise SuiteError(f"{label}: name the policy to test with 'policy' (loaded: {', '.join(names)})")
    resource = _single(case.get("resource"), base, f"{label}: resource")
    old = _single(case.get("oldResource"), base, f"{label}: oldResource")
    if resource is None and old is None:
        raise SuiteError(f"{label}: give the 'resource' to admit (a path or an inline object)")
    user = None
    if case.get("user") is not None or case.get("groups") is not None:
        groups = _string_list(case, "groups", label)
        user = UserInfo(username=str(case.get("user") or "kubernetes-admin"), groups=[*groups, "system:authenticated"])
    request_name, request_namespace = _connect_target(case, operation, label)
    wanted = _named_objects(expect.get("objects"), base, f"{label}: expect.objects")
    absent = _named_objects(expect.get("absent"), base, f"{label}: expect.absent")
    extra = _objects(case.get("cluster"), base, f"{label}: cluster")
    target = session.fork(extra)  # a fresh copy per case: earlier cases' writes stay behind
    subresource = str(case.get("subresource") or "")
    policy = session.policies.policies[policy_name]
    result = target.evaluate(
        policy,
        operation,
        resource,
        old,
        user=user,
        subresource=subresource,
        name=request_name,
        namespace=request_namespace,
    )
    outcome = _check(label, expect, result)
    outcome.failures.extend(_cluster_failures(target.cluster, wanted, absent, label))
    return outcome


def _connect_target(case: Mapping[str, Any], operation: str, label: str) -> tuple[str, str]:
    """``requestName``/``requestNamespace``: what a CONNECT goes to (the pod of an exec), since its options
    object has no metadata; other requests are named by their object, so the keys are refused there."""
    values: list[str] = []
    for key in ("requestName", "requestNamespace"):
        value = case.get(key)
        if value is not None and (operation != "CONNECT" or not isinstance(value, str) or not value):
            why = "a non-empty string" if operation == "CONNECT" else "only for CONNECT (others use metadata)"
            raise SuiteError(f"{label}: '{key}' is {why}")
        values.append(value or "")
    return values[0], values[1]


def _check(label: str, expect: Mapping[str, Any], result: Any) -> CaseResult:
    outcome = CaseResult(label)
    called = isinstance(result, Evaluation)
    if expect.get("called", True) != called:
        why = "" if called else f" ({result.why})"
        outcome.failures.append(f"expected called={expect.get('called', True)}, got called={called}{why}")
        return outcome
    if not called:
        return outcome
    admission = result.outcome
    outcome.prints = list(admission.raw.prints)
    actual = {
        "allowed": admission.allowed,
        "code": admission.code,
        "reason": admission.reason,
        "message": admission.message,
        "warnings": admission.warnings,
        "patch": admission.patch,
        "mutated": admission.patched_object,
    }
    for key in ("allowed", "code", "reason", "message", "warnings", "patch", "mutated"):
        if key in expect and expect[key] != actual[key]:
            outcome.failures.append(f"expected {key}={_show(expect[key])}, got {key}={_show(actual[key])}")
    if "messageRegex" in expect and not re.search(str(expect["messageRegex"]), admission.message):
        outcome.failures.append(f"message {_show(admission.message)} does not match /{expect['messageRegex']}/")
    for needle in expect.get("warningsContain") or []:
        if not any(str(needle) in warning for warning in admission.warnings):
            outcome.failures.append(f"no warning contains {_show(needle)} (warnings: {_show(admission.warnings)})")
    if "violation" in expect:
        outcome.failures += _violation_failures(expect["violation"], admission.violation)
    if outcome.failures and "message" not in expect and "messageRegex" not in expect and admission.message:
        outcome.failures.append(f"(message: {_show(admission.message)})")
    return outcome


def _violation_failures(expected: Any, recorded: PolicyViolation | None) -> list[str]:
    """``expect.violation``: null for none recorded, or the recorded one's action and message (or messageRegex)."""
    if expected is None:
        return [] if recorded is None else [f"expected no violation, got {_show(recorded.message)} ({recorded.action})"]
    if not isinstance(expected, Mapping) or not set(expected) <= VIOLATION_KEYS:
        return [f"expect.violation must be null or a mapping of {', '.join(sorted(VIOLATION_KEYS))}"]
    if recorded is None:
        return ["expected a violation, none was recorded"]
    failures = [
        f"expected violation {key}={_show(expected[key])}, got {_show(getattr(recorded, key))}"
        for key in ("action", "message")
        if key in expected and expected[key] != getattr(recorded, key)
    ]
    if "messageRegex" in expected and not re.search(str(expected["messageRegex"]), recorded.message):
        failures.append(f"violation message {_show(recorded.message)} does not match /{expected['messageRegex']}/")
    return failures


def _named_objects(value: Any, base: Path, where: str) -> list[Mapping[str, Any]]:
    """``expect.objects``/``expect.absent``: objects (inline or paths) named by apiVersion, kind and metadata.name."""
    objects = _objects(value, base, where)
    if any(not isinstance(o.get("metadata"), Mapping) or not o["metadata"].get("name") for o in objects):
        raise SuiteError(f"{where}: each object needs metadata.name (and metadata.namespace when namespaced)")
    return objects


def _cluster_failures(
    cluster: MemoryCluster, wanted: list[Mapping[str, Any]], absent: list[Mapping[str, Any]], label: str
) -> list[str]:
    """What the case's cluster holds after the case, against ``expect.objects`` (each found, matching as a
    subset) and ``expect.absent`` (none found): how a suite checks what a policy create()d or update()d."""
    failures: list[str] = []
    for expected, must_exist in [*((o, True) for o in wanted), *((o, False) for o in absent)]:
        metadata = expected["metadata"]
        namespace, name = str(metadata.get("namespace") or ""), str(metadata["name"])
        try:
            found = cluster.get(str(expected["kind"]), str(expected["apiVersion"]), namespace, name, cached=False)
        except ClusterError as error:
            raise SuiteError(f"{label}: {error.message}") from None
        subject = f"{expected['kind']} {namespace + '/' if namespace else ''}{name}"
        if not must_exist:
            if found is not None:
                failures.append(f"expected no {subject}, found {_show(found)}")
        elif found is None:
            failures.append(f"expected {subject}, not found")
        elif (where := _mismatch(expected, found, "")) is not None:
            failures.append(f"{subject}: {where}")
    return failures


def _mismatch(wanted: Any, actual: Any, path: str) -> str | None:
    """Where ``actual`` differs from ``wanted`` read as a subset: a mapping's keys are those it names, a list has
    as many items, each matched the same way, and other values are equal (a boolean is no number)."""
    where = path or "the object"
    if isinstance(wanted, Mapping):
        if not isinstance(actual, Mapping):
            return f"{where} is {_show(actual)}, expected a mapping"
        for key, value in wanted.items():
            inner = f"{path}.{key}" if path else str(key)
            if key not in actual:
                return f"{inner} is missing, expected {_show(value)}"
            if (found := _mismatch(value, actual[key], inner)) is not None:
                return found
        return None
    if isinstance(wanted, list):
        if not isinstance(actual, list) or len(actual) != len(wanted):
            return f"{where} is {_show(actual)}, expected {len(wanted)} items like {_show(wanted)}"
        for index, (item, found_item) in enumerate(zip(wanted, actual, strict=True)):
            if (found := _mismatch(item, found_item, f"{path}[{index}]")) is not None:
                return found
        return None
    if wanted != actual or isinstance(wanted, bool) != isinstance(actual, bool):
        return f"{where} is {_show(actual)}, expected {_show(wanted)}"
    return None


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
