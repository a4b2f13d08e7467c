"""A policy is charged only for its own memory: neither garbage nor memory kept by an earlier run on the same
context counts against the next run's heap limit."""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

import pytest

from jspolicy.admission.evaluate import PolicyEngine
from jspolicy.admission.request import build_request
from jspolicy.cluster.access import WriteResult
from jspolicy.cluster.memory import MemoryCluster
from jspolicy.resources.manifests import parse_yaml_documents
from jspolicy.resources.policy import JsPolicy
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.program import PolicyProgram
from tests.conftest import POD, Evaluate, make_policy
from tests.runtime.conftest import PoolFactory, assert_healthy, evaluator

RUNS = 40
# Long enough that a run on a busy 2-core machine ends by memory (or not at all), never by time.
TIMEOUT = 60
# About 48 MB of garbage per run: three 8 MB strings, each flattened and then upper-cased. On a pool of one
# context mini-racer's limit (checked after every collection, minor ones included) counted the garbage of
# earlier runs: every fourth run failed.
GARBAGE = (
    "const parts = ['x', 'y', 'z'].map((c) => (c.repeat(8e6) + '!').toUpperCase());"
    "if (parts[2].length !== 8e6 + 1) deny('wrong length'); allow()"
)
# About 64 MB of its own (96 MB at its peak): fits the 128 MiB limit of a clean context.
LARGE = (
    "const a = [new Array(4e6).fill(1.5), new Array(4e6).fill(2.5)];"
    "if (a[1][4e6 - 1] !== 2.5) deny('wrong value'); allow()"
)
# Private fields stamped on any object by the "return override" trick (frozen or not, invisible to the
# runtime's cleanup of globals) survive the run on an object every run shares.
BASE = "class Base { constructor(target) { return target } }"
STAMP = f"{BASE} class Stamp extends Base {{ #kept = [new Array(4e6).fill(1.5), new Array(3.5e6).fill(2.5)] }}"  # 60 MB
CHUNKS = (
    f"{BASE} class Stamp extends Base {{ #kept = Array.from({{length: 100}}, (_, i) => new Array(1e5).fill(i + 0.5)) }}"
)
LAST = f"{BASE} class Stamp extends Base {{ #kept = ('\u0119'.repeat(6e7) + '!').slice(1) }}"  # 120 MB at once
KEEPERS = {
    "in chunks": f"{CHUNKS} new Stamp(JSON); allow()",  # 78 MiB of doubles in 800 KB chunks: collections see it grow
    "on globalThis": f"{STAMP} new Stamp(globalThis)",
    "then denied": f"{STAMP} new Stamp(Object.prototype); deny('kept', 'Kept', 409)",
    "after the last collection": f"{LAST} new Stamp(JSON); allow()",  # one allocation: no collection sees it
    "by a promise callback": (  # still running when the next run is posted
        f"{STAMP} Promise.resolve().then(() => {{ const t = Date.now(); while (Date.now() - t < 30);"
        " new Stamp(JSON); new Stamp(Object.prototype) }); allow()"
    ),
}


@pytest.fixture
def solo128(make_pool: PoolFactory) -> RuntimePool:
    return make_pool(pool_size=1, heap_limit_mb=128)


def assert_always_passes(run: Evaluate, source: str, runs: int = RUNS) -> None:
    failures = []
    for index in range(runs):
        outcome = run(source, name="victim", timeoutSeconds=TIMEOUT)
        if not outcome.allowed:
            failures.append(f"run {index}: {outcome.message}")
    assert failures == []


def test_garbage_of_earlier_runs_never_counts(solo128: RuntimePool) -> None:
    run = evaluator(solo128)
    assert_always_passes(run, GARBAGE)
    assert solo128.replaced == 0  # garbage is collected: it costs no context


def test_memory_of_its_own_fits_after_garbage(solo128: RuntimePool) -> None:
    run = evaluator(solo128)
    for _ in range(RUNS // 4):
        assert_always_passes(run, GARBAGE, runs=2)
        assert_always_passes(run, LARGE, runs=2)
    assert solo128.replaced == 0


@pytest.mark.parametrize("keeper", KEEPERS.values(), ids=KEEPERS.keys())
def test_memory_kept_by_a_policy_never_counts(solo128: RuntimePool, keeper: str) -> None:
    run = evaluator(solo128)
    assert run(keeper, name="keeper", timeoutSeconds=TIMEOUT).code in (200, 409)
    assert_always_passes(run, LARGE)
    assert solo128.replaced == 1  # the keeper's context, and only that one
    assert_healthy(run)


def test_a_context_that_kept_memory_is_replaced_at_once(solo128: RuntimePool) -> None:
    run = evaluator(solo128)
    assert run("allow()").allowed
    assert solo128.replaced == 0
    assert run(KEEPERS["in chunks"], name="keeper", timeoutSeconds=TIMEOUT).allowed
    assert solo128.replaced == 1  # when the keeper's run ends, before any other policy runs there


class CountingCluster(MemoryCluster):
    """Counts the objects policies create."""

    def __init__(self) -> None:
        super().__init__()
        self.creates = 0

    def create(self, obj: Mapping[str, Any], *, dry_run: bool) -> WriteResult:
        self.creates += 1
        return super().create(obj, dry_run=dry_run)


def test_a_run_that_changed_something_never_runs_twice(solo128: RuntimePool) -> None:
    assert evaluator(solo128)(KEEPERS["after the last collection"], name="keeper", timeoutSeconds=TIMEOUT).allowed
    cluster = CountingCluster()
    created = "create({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'once', namespace: 'shop'}});"
    policy = make_policy(created + LARGE, name="victim", timeoutSeconds=TIMEOUT)
    program = PolicyProgram.of(policy.name, policy.javascript)
    outcome = PolicyEngine(solo128, cluster).evaluate(policy, program, build_request(cluster.kinds, "CREATE", POD))
    assert cluster.creates == 1  # charged for the kept memory (if it was not seen before) rather than run again
    assert outcome.allowed or "memory limit" in outcome.message, outcome.message
    assert_always_passes(evaluator(solo128), LARGE)


def test_a_context_left_busy_after_a_large_run_is_replaced(solo128: RuntimePool) -> None:
    run = evaluator(solo128)
    source = (
        "const junk = Array.from({length: 100}, (_, i) => new Array(1e5).fill(i + 0.5));"  # 78 MiB: collections see it
        "(function f() { Promise.resolve().then(f) })();"  # the collection after the run must not wait behind this
        "deny('decided', 'Decided', 409)"
    )
    outcome = run(source, timeoutSeconds=TIMEOUT)
    assert (outcome.code, outcome.message) == (409, "decided")
    assert_always_passes(run, LARGE, runs=3)
    assert solo128.replaced == 1


def _big_program(index: int, functions: int = 4000) -> str:
    """~380 KB of code that all runs (~1.5 MB of V8 heap after three runs): 24 hold more than the slack."""
    checks = "\n".join(
        f"function check{k}(o) {{ return o.metadata.name.length + {k} + {index} }}" for k in range(functions)
    )
    calls = " + ".join(f"check{k}(request.object)" for k in range(functions))
    return f"{checks}\nif (({calls}) < 0) deny('never'); allow();"


def test_a_normal_policy_keeps_its_context(solo128: RuntimePool) -> None:
    run = evaluator(solo128)
    text = resources.files("jspolicy.library").joinpath("pod-security-baseline/policy.yaml").read_text("utf-8")
    baseline = JsPolicy(parse_yaml_documents(text, "policy.yaml")[0])
    for _ in range(200):
        assert run(baseline).allowed
    for index in range(24):  # loaded code is not memory kept by a policy
        for _ in range(3):
            assert run(_big_program(index), name=f"big{index}").allowed
    assert_always_passes(run, GARBAGE, runs=3)  # makes the context collect and look at its heap
    assert run(baseline).allowed
    assert solo128.replaced == 0
