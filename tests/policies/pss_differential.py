"""The library's Pod Security Standards policies against the real kube-apiserver's PodSecurity admission.

    .venv/bin/python -m tests.policies.pss_differential --cases N [--level baseline|restricted]
        [--version latest|v1.x|all] [--seed S]

Each case (tests/policies/pss_strategies.py) goes to the API server (tests/policies/pss_oracle.py) and, as the
API server would send it to a webhook, to the library's policies through the engine's own evaluation path
(jspolicy/cli/session.py, as ``jspolicy test`` runs them) with the labelled Namespaces in its in-memory cluster:
``pod-security`` (the level and version from the namespace's labels) at every level and version, and
``pod-security-baseline`` and ``pod-security-restricted`` (fixed levels) at latest. Allowed or denied and the
ordered list of violated controls must match; so must each control's detail where the API server gives one.

Every case is judged at latest for each level; with ``--version all`` also at older versions, in turn, so each
gets at least ``--older-cases`` (N/10 by default). The regression cases of tests/policies/pss_regressions.yaml
run first; every new disagreement is reduced to a small case and appended there. Exit status 1 on any
disagreement.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, seed, settings

from jspolicy.cli.session import OfflineSession, Skipped, load_programs
from jspolicy.controlplane.plane import ControlPlane
from jspolicy.resources.manifests import load_manifests
from jspolicy.resources.policyset import PolicySet
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.settings import RuntimeSettings
from tests.policies.pss_oracle import (
    PRIVILEGED_NAMESPACE,
    InvalidCaseError,
    Oracle,
    Prepared,
    UpdateRound,
    Verdict,
    namespace_name,
    namespace_object,
    verdict_of_message,
)
from tests.policies.pss_strategies import LEVELS, VERSIONS, Json, cases

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
REGRESSIONS = Path(__file__).with_name("pss_regressions.yaml")
LABELLED = "pod-security"  # the policy that takes its level and version from the namespace's labels
FIXED = {"pod-security-baseline": "baseline", "pod-security-restricted": "restricted"}  # at latest
OLDER = VERSIONS[:-1]
REGRESSIONS_HEADER = """\
# Every disagreement tests/policies/pss_differential.py found between the library's Pod Security policies and
# the kube-apiserver's PodSecurity admission, reduced to a small case. The command and the CI test
# (tests/policies/test_pss_differential.py) run these first. `class` says what differed: `reasons` (allowed
# or denied, or the violated controls) or `details` (a control's detail, or the level:version named).
"""
GENERATION_BATCH = 1000  # hypothesis slows down as one run's examples pile up; fresh runs stay fast


@dataclass(frozen=True, order=True)
class Check:
    """One policy at one level and version."""

    policy: str
    level: str
    version: str

    def namespace(self) -> str:
        return namespace_name(self.level, self.version)

    def to_json(self) -> Json:
        return {"policy": self.policy, "level": self.level, "version": self.version}


@dataclass(frozen=True)
class Comparison:
    case: Json
    check: Check
    oracle: Verdict
    library: Verdict

    @property
    def klass(self) -> str:
        """What differs: "reasons" (the verdict, or the violated controls), "details" (only the text: a control's
        detail, or the level:version the message names), or nothing ("")."""
        if self.oracle.allowed != self.library.allowed or self.oracle.reasons != self.library.reasons:
            return "reasons"
        if self.oracle.named != self.library.named or any(
            mine != theirs for mine, theirs in zip(self.oracle.details, self.library.details, strict=True) if mine
        ):
            return "details"
        return ""

    def signature(self) -> tuple[Any, ...]:
        """Disagreements alike: the same policy and level, and the same controls on one side only (whatever the
        version and the other controls); one of each is reduced, printed and kept."""
        differing = set(self.oracle.reasons) ^ set(self.library.reasons)
        named = self.oracle.named != self.library.named
        return (self.check.policy, self.check.level, self.klass, self.library.allowed, tuple(sorted(differing)), named)

    def to_json(self, found: str) -> Json:
        return {
            "found": found,
            "class": self.klass,
            "check": self.check.to_json(),
            "oracle": self.oracle.to_json(),
            "library": self.library.to_json(),
            "case": self.case,
        }

    def describe(self) -> str:
        return (
            f"{self.check.policy} at {self.check.level}:{self.check.version} ({self.klass})\n"
            f"  api server: {_verdict_text(self.oracle)}\n  library:    {_verdict_text(self.library)}\n"
            f"  case: {json.dumps(self.case, separators=(',', ':'))}"
        )


def _verdict_text(verdict: Verdict) -> str:
    return "allowed" if verdict.allowed else verdict.message


@dataclass
class Row:
    compared: int = 0
    denied: int = 0  # by the API server
    invalid: int = 0  # refused by validation (422), not compared
    reasons: int = 0  # disagreements: allowed or denied, or the violated controls
    details: int = 0  # the same controls, another detail text

    def add(self, other: Row) -> None:
        for name in ("compared", "denied", "invalid", "reasons", "details"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Report:
    rows: dict[Check, Row] = field(default_factory=dict)
    kinds: Counter[str] = field(default_factory=Counter)
    disagreements: list[Comparison] = field(default_factory=list)  # one per signature, reduced where we could
    counts: Counter[tuple[Any, ...]] = field(default_factory=Counter)  # cases per signature
    controls: Counter[str] = field(default_factory=Counter)  # how often the API server named each control
    regressions: int = 0
    seconds: float = 0.0
    generation_seconds: float = 0.0
    requests: int = 0

    def row(self, check: Check) -> Row:
        return self.rows.setdefault(check, Row())

    def failed(self) -> bool:
        return bool(self.disagreements)

    def text(self) -> str:
        """The table: one row per policy, level and version, then the totals."""
        heads = f"{'cases':>7} {'denied':>7} {'422':>4} {'reasons':>8} {'details':>8}"
        lines = [f"{'policy':<24} {'level':<11} {'version':<7} {heads}"]
        total = Row()
        for check in sorted(self.rows, key=lambda c: (c.policy, c.level, VERSIONS.index(c.version))):
            row = self.rows[check]
            total.add(row)
            lines.append(f"{check.policy:<24} {check.level:<11} {check.version:<7} {_cells(row)}")
        lines.append(f"{'total':<44} {_cells(total)}")
        lines.append(
            f"cases by kind: {dict(sorted(self.kinds.items()))}, of which {self.regressions} regression cases; "
            f"{self.requests} API requests; generation {self.generation_seconds:.1f} s, wall time {self.seconds:.1f} s"
        )
        named = ", ".join(f"{control} {count}" for control, count in sorted(self.controls.items()))
        lines.append(f"controls the API server named: {named}")
        return "\n".join(lines)


def _cells(row: Row) -> str:
    return f"{row.compared:>7} {row.denied:>7} {row.invalid:>4} {row.reasons:>8} {row.details:>8}"


@dataclass(frozen=True)
class Plan:
    cases: int = 10_000
    older_cases: int | None = None  # per older version and level; cases // 10 by default
    levels: tuple[str, ...] = LEVELS
    version: str = "all"  # "all", "latest" or one "v1.x"
    seed: int = 0
    threads: int = 16
    policies_root: Path = POLICIES
    policies: tuple[str, ...] = (LABELLED, *FIXED)
    regressions: Path = REGRESSIONS
    minimize: int = 10  # disagreements (distinct signatures) reduced per run
    chunk: int = 500

    def versions_for(self, index: int) -> list[str]:
        """latest, then the older versions in turn: ``cases`` cases give each at least ``older_cases``."""
        if self.version != "all":
            return [self.version]
        wanted = self.cases // 10 if self.older_cases is None else self.older_cases
        if wanted <= 0 or self.cases <= 0:
            return ["latest"]
        per_case = min(len(OLDER), math.ceil(wanted * len(OLDER) / self.cases))
        return ["latest", *(OLDER[(index * per_case + j) % len(OLDER)] for j in range(per_case))]

    def checks_at(self, level: str, version: str) -> list[Check]:
        chosen = [Check(LABELLED, level, version)]
        chosen += [
            Check(name, level, version) for name, fixed in FIXED.items() if fixed == level and version == "latest"
        ]
        return [check for check in chosen if check.policy in self.policies]

    def checks_for(self, index: int) -> list[Check]:
        return [
            c for level in self.levels for version in self.versions_for(index) for c in self.checks_at(level, version)
        ]


class Library:
    """The library's policies as the webhook runs them, with every labelled Namespace in the cluster they read."""

    def __init__(self, root: Path, names: Sequence[str], pool_size: int = 2) -> None:
        paths = [root / name / "policy.yaml" for name in names]
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise SystemExit(f"no such policy: {', '.join(missing)}")
        policies = PolicySet.from_manifests(load_manifests([str(path) for path in paths]))
        self.names = {name: f"{name}.library.jspolicy.com" for name in names}
        unknown = sorted(set(self.names.values()) - set(policies.policies))
        if unknown:
            raise SystemExit(f"{root}: no JsPolicy named {', '.join(unknown)}")
        cluster = [
            namespace_object(namespace_name(level, version), level, version) for level in LEVELS for version in VERSIONS
        ]
        pool = RuntimePool(RuntimeSettings(pool_size=pool_size))
        self.session = OfflineSession(policies, cluster, pool, programs=load_programs(policies))

    def judge(self, check: Check, prepared: Prepared) -> Verdict:
        new, old = prepared.in_namespace(check.namespace())
        policy = self.session.policies.policies[self.names[check.policy]]
        result = self.session.evaluate(policy, prepared.operation(), new, old, subresource=prepared.subresource)
        if isinstance(result, Skipped) or result.outcome.allowed:
            return Verdict(True)  # a policy the API server does not call allows
        return verdict_of_message(result.outcome.message)

    def close(self) -> None:
        self.session.close()


def generate(count: int, start_seed: int) -> list[Json]:
    """``count`` cases from pss_strategies.cases, the same for the same seed."""
    drawn: list[Json] = []
    batch = 0
    while len(drawn) < count:
        wanted = min(GENERATION_BATCH, count - len(drawn))

        @seed(start_seed * 1_000_003 + batch)
        @settings(
            max_examples=wanted,
            phases=[Phase.generate],
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(cases())
        def collect(case: Json) -> None:
            drawn.append(case)

        before = len(drawn)
        collect()
        batch += 1
        if len(drawn) == before:
            break
    return drawn[:count]


def load_regressions(path: Path) -> list[Json]:
    if not path.is_file():
        return []
    entries = yaml.safe_load(path.read_text()) or []
    if not isinstance(entries, list):
        raise SystemExit(f"{path}: not a list of regression cases")
    return entries


def save_regressions(path: Path, found: Sequence[Comparison]) -> int:
    """Append what is not kept yet (the same case at the same check); how many were new."""
    entries = load_regressions(path)
    known = {_key(entry["check"], entry["case"]) for entry in entries}
    today = dt.date.today().isoformat()
    new = [c.to_json(today) for c in found if _key(c.check.to_json(), c.case) not in known]
    if new:
        body = yaml.safe_dump([*entries, *new], sort_keys=False, width=120, allow_unicode=True)
        path.write_text(REGRESSIONS_HEADER + body)
    return len(new)


def _key(check: Json, case: Json) -> str:
    return json.dumps([check, case], sort_keys=True)


Item = tuple[int, Json, list[Check], Prepared]  # a case's index in its chunk, the case, its checks, as prepared
OracleJudge = Callable[[int, Json, str, str], Verdict]


class Differential:
    """One run: the oracle, the library and a thread pool for both."""

    def __init__(self, plan: Plan, oracle: Oracle, library: Library, executor: ThreadPoolExecutor) -> None:
        self.plan = plan
        self.oracle = oracle
        self.library = library
        self.executor = executor
        self.report = Report()

    def setup(self) -> None:
        self.oracle.ensure_namespace(PRIVILEGED_NAMESPACE)
        wanted = [(level, version) for level in LEVELS for version in VERSIONS]
        list(self.executor.map(lambda lv: self.oracle.ensure_namespace(namespace_name(*lv), *lv), wanted))
        list(self.executor.map(lambda lv: self.oracle.wait_enforced(namespace_name(*lv), *lv), wanted))

    def run(self, generated: Sequence[Json]) -> Report:
        """The regression cases, then ``generated``; every disagreement counted, one per signature kept."""
        started = time.monotonic()
        regressions = load_regressions(self.plan.regressions)
        work = [(e["case"], [Check(**e["check"])]) for e in regressions if e["check"]["policy"] in self.plan.policies]
        self.report.regressions = len(work)
        work += [(case, self.plan.checks_for(index)) for index, case in enumerate(generated)]
        found: dict[tuple[Any, ...], Comparison] = {}
        for start in range(0, len(work), self.plan.chunk):
            chunk = work[start : start + self.plan.chunk]
            self.report.kinds.update(case["kind"] for case, _ in chunk)
            comparisons, invalid = self.judge(chunk)
            for check in invalid:
                self.report.row(check).invalid += 1
            for comparison in comparisons:
                self._count(comparison, found)
            print(f"  {start + len(chunk)}/{len(work)} cases, {time.monotonic() - started:.0f} s", file=sys.stderr)
        self.report.disagreements = self._reduced(list(found.values()))
        self.report.seconds = time.monotonic() - started
        self.report.requests = self.oracle.requests
        return self.report

    def _count(self, comparison: Comparison, found: dict[tuple[Any, ...], Comparison]) -> None:
        row = self.report.row(comparison.check)
        row.compared += 1
        row.denied += not comparison.oracle.allowed
        self.report.controls.update(comparison.oracle.reasons)
        klass = comparison.klass
        if klass:
            setattr(row, klass, getattr(row, klass) + 1)
            signature = comparison.signature()
            self.report.counts[signature] += 1
            found.setdefault(signature, comparison)

    def judge(self, work: Sequence[tuple[Json, list[Check]]]) -> tuple[list[Comparison], list[Check]]:
        """Each case at each of its checks, and the checks a 422 left out."""
        prepared = list(self.executor.map(self._prepare, (case for case, _ in work)))
        invalid = [
            check for (_, checks), ready in zip(work, prepared, strict=True) if ready is None for check in checks
        ]
        items = [
            (i, case, checks, ready)
            for i, ((case, checks), ready) in enumerate(zip(work, prepared, strict=True))
            if ready
        ]
        creates = [item for item in items if item[1]["kind"] == "create"]
        updates = [item for item in items if item[1]["kind"] != "create"]

        def create(_: int, case: Json, level: str, version: str) -> Verdict:
            return self.oracle.judge_create(namespace_name(level, version), case["pod"])

        comparisons = self._judge_items(creates, create, invalid)
        if updates:
            round_ = UpdateRound(self.oracle, f"pss-u{self.oracle.unique_name('r')}", _level_versions(updates))
            try:
                stored = [
                    self.executor.submit(round_.store, key, case, level, version)
                    for key, case, checks, _ in updates
                    for level, version in _level_versions_of(checks)
                ]
                for future in stored:
                    future.result()
                round_.arm()
                comparisons += self._judge_items(updates, round_.judge, invalid)
            finally:
                round_.close()
        return comparisons, invalid

    def _prepare(self, case: Json) -> Prepared | None:
        try:
            return self.oracle.prepare(case)
        except InvalidCaseError:
            return None

    def _judge_items(self, items: Sequence[Item], oracle: OracleJudge, invalid: list[Check]) -> list[Comparison]:
        """The oracle's verdict once per (level, version) of each case, the library's for each check there."""

        def judge(
            key: int, case: Json, checks: list[Check], ready: Prepared, level: str, version: str
        ) -> list[Comparison]:
            here = [check for check in checks if (check.level, check.version) == (level, version)]
            try:
                verdict = oracle(key, case, level, version)
            except InvalidCaseError:
                invalid.extend(here)  # list.append is atomic: the threads may share it
                return []
            return [Comparison(case, check, verdict, self.library.judge(check, ready)) for check in here]

        futures = [
            self.executor.submit(judge, key, case, checks, ready, level, version)
            for key, case, checks, ready in items
            for level, version in _level_versions_of(checks)
        ]
        return [comparison for future in futures for comparison in future.result()]

    # -- reducing a disagreement -------------------------------------------------------------------------------

    def _reduced(self, found: list[Comparison]) -> list[Comparison]:
        """The first ``minimize`` disagreements reduced, the others as found."""
        return [self.reduce(c) for c in found[: self.plan.minimize]] + found[self.plan.minimize :]

    def reduce(self, comparison: Comparison, budget: int = 400) -> Comparison:
        """Delete parts of the case while it still disagrees the same way (its class): greedy, in passes, until
        a pass deletes nothing or the budget of tries is spent."""
        check = comparison.check
        print(f"  reducing a disagreement of {check.policy} at {check.level}:{check.version}", file=sys.stderr)
        best, tries, changed = comparison, 0, True
        while changed and tries < budget:
            changed, index = False, 0
            while tries < budget:
                paths = list(_deletable(best.case))
                if index >= len(paths):
                    break
                tries += 1
                result, _ = self.judge([(_without(best.case, paths[index]), [check])])
                if result and result[0].klass == comparison.klass:
                    best, changed = result[0], True
                else:
                    index += 1
        return best


def _level_versions_of(checks: Sequence[Check]) -> list[tuple[str, str]]:
    return sorted({(check.level, check.version) for check in checks})


def _level_versions(items: Sequence[Item]) -> list[tuple[str, str]]:
    return sorted({lv for _, _, checks, _ in items for lv in _level_versions_of(checks)})


REQUIRED = {("kind",), ("pod",), ("pod", "apiVersion"), ("pod", "kind"), ("pod", "metadata"), ("pod", "spec")}
REQUIRED.add(("pod", "metadata", "name"))
REQUIRED_KEYS = {"name", "image"}  # of any container, volume or sysctl


def _deletable(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to delete, larger parts first; never what every case needs (the API server refuses the rest)."""
    if isinstance(value, dict):
        for key, child in value.items():
            here = (*path, key)
            if here not in REQUIRED and not (key in REQUIRED_KEYS and len(path) > 2):
                yield here
            yield from _deletable(child, here)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*path, index)
            yield from _deletable(child, (*path, index))


def _without(case: Json, path: tuple[Any, ...]) -> Json:
    """A copy of ``case`` without ``path``; an emptied dict or list goes too."""
    result = copy.deepcopy(case)
    parents = [result]
    for step in path[:-1]:
        parents.append(parents[-1][step])
    del parents[-1][path[-1]]
    for depth in range(len(path) - 1, 0, -1):
        if parents[depth] in ({}, []) and path[:depth] not in REQUIRED:
            del parents[depth - 1][path[depth - 1]]
        else:
            break
    return result


# -- the command -----------------------------------------------------------------------------------------------


def run(plan: Plan, oracle: Oracle) -> Report:
    """Generate, compare, reduce and keep the disagreements: the whole run on a started control plane."""
    with ExitStack() as stack:
        executor = stack.enter_context(ThreadPoolExecutor(plan.threads))
        library = Library(plan.policies_root, plan.policies)
        stack.callback(library.close)
        started = time.monotonic()
        generated = generate(plan.cases, plan.seed) if plan.cases > 0 else []
        generation = time.monotonic() - started
        differential = Differential(plan, oracle, library, executor)
        differential.setup()
        report = differential.run(generated)
        report.generation_seconds = generation
        report.seconds += generation
        save_regressions(plan.regressions, report.disagreements)
        return report


def print_report(report: Report, out: Callable[[str], None] = print) -> None:
    out(report.text())
    for comparison in report.disagreements:
        out(f"\n{report.counts[comparison.signature()]} case(s) like this one: {comparison.describe()}")


def parse_args(argv: Sequence[str] | None) -> Plan:
    parser = argparse.ArgumentParser(
        prog="python -m tests.policies.pss_differential", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cases", type=int, default=10_000, help="cases per level at latest (default 10000)")
    parser.add_argument("--older-cases", type=int, help="cases per level at each older version (default cases/10)")
    parser.add_argument("--level", choices=LEVELS, help="one level (default both)")
    parser.add_argument("--version", default="all", help="latest, v1.x or all (default: latest and every older one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=16, help="concurrent API requests")
    parser.add_argument("--policies", type=Path, default=POLICIES, help="the library's directory (default policies/)")
    parser.add_argument("--regressions", type=Path, default=REGRESSIONS)
    parser.add_argument("--minimize", type=int, default=10, help="disagreements to reduce (default 10)")
    args = parser.parse_args(argv)
    if args.version not in ("all", *VERSIONS):
        parser.error(f"--version: one of all, latest, v1.0 ... {OLDER[-1]}")
    return Plan(
        cases=args.cases,
        older_cases=args.older_cases,
        levels=(args.level,) if args.level else LEVELS,
        version=args.version,
        seed=args.seed,
        threads=args.threads,
        policies_root=args.policies,
        regressions=args.regressions,
        minimize=args.minimize,
    )


def main(argv: Sequence[str] | None = None) -> int:
    plan = parse_args(argv)
    print("starting etcd and kube-apiserver ...", file=sys.stderr)
    with ControlPlane() as plane:
        report = run(plan, Oracle.of(plane, plan.threads))
    print_report(report)
    return 1 if report.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
