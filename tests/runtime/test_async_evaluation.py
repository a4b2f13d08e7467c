"""The webhook's way of evaluating: the same steps driven on an asyncio loop (runtime/steps.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

import pytest

from jspolicy.admission.evaluate import AdmissionOutcome, PolicyEngine
from jspolicy.admission.request import build_request
from jspolicy.bundler.origin import CodeSource, resolve_program
from jspolicy.cluster.memory import MemoryCluster
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.settings import RuntimeSettings
from tests.conftest import POD, make_policy

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "a"}}}

CASES = [
    ("deny('no', 'Nope', 409)", {}),
    ("warn('careful'); warn({a: 1}); allow()", {}),
    ("if (request.object.metadata.name === 'web') deny('web is taken')", {}),
    ("const ns = get('Namespace', 'v1', 'shop'); mutate({...request.object, metadata: "
     "{...request.object.metadata, labels: {team: ns.metadata.labels.team}}})", {"type": "Mutating"}),
    ("throw new Error('boom')", {}),
    ("exit()", {}),
    ("deny('dry')", {"violationPolicy": "Dry"}),
]  # fmt: skip


def _fields(outcome: AdmissionOutcome) -> tuple[Any, ...]:
    return (outcome.allowed, outcome.code, outcome.reason, outcome.message, outcome.warnings, outcome.patch)


@pytest.fixture
def engine() -> Any:
    pool = RuntimePool(RuntimeSettings(pool_size=1))
    yield PolicyEngine(pool, MemoryCluster([NAMESPACE]))
    pool.close()


async def _ticking(evaluation: Coroutine[Any, Any, AdmissionOutcome]) -> tuple[AdmissionOutcome, int]:
    """The outcome, and how often a 10 ms ticker ran on the same loop meanwhile."""
    task = asyncio.create_task(evaluation)
    ticks = 0
    while not task.done():
        ticks += 1
        await asyncio.sleep(0.01)
    return task.result(), ticks


def _request(engine: PolicyEngine) -> dict[str, Any]:
    return build_request(engine.cluster.kinds, "CREATE", POD)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("javascript", "spec"), CASES)
def test_the_loop_answers_exactly_as_a_thread_does(engine: PolicyEngine, javascript: str, spec: Any) -> None:
    policy = make_policy(javascript, **spec)
    program = resolve_program(CodeSource(policy), None)
    request = _request(engine)
    on_thread = engine.evaluate(policy, program, request)
    on_loop = asyncio.run(engine.evaluate_async(policy, program, request))
    assert _fields(on_loop) == _fields(on_thread)


def test_a_slow_policy_leaves_the_loop_free(engine: PolicyEngine) -> None:
    policy = make_policy("sleep(400); deny('late')")
    program = resolve_program(CodeSource(policy), None)
    request = _request(engine)

    outcome, ticks = asyncio.run(_ticking(engine.evaluate_async(policy, program, request)))
    assert (outcome.allowed, outcome.message) == (False, "late")
    assert ticks >= 10  # a blocked loop would have ticked once or twice in those 400 ms


def test_an_endless_loop_times_out_on_the_loop_too(engine: PolicyEngine) -> None:
    stuck = make_policy("while (true) {}", timeoutSeconds=1)
    quick = make_policy("deny('fine')", name="quick.policies.jspolicy.com")
    request = _request(engine)

    async def scenario() -> tuple[AdmissionOutcome, AdmissionOutcome]:
        first = await engine.evaluate_async(stuck, resolve_program(CodeSource(stuck), None), request)
        return first, await engine.evaluate_async(quick, resolve_program(CodeSource(quick), None), request)

    timed_out, after = asyncio.run(scenario())
    assert (timed_out.allowed, timed_out.code) == (False, 500)
    assert "timed out" in timed_out.message
    assert (after.allowed, after.message) == (False, "fine")


def test_a_busy_pool_is_waited_for_in_a_thread(engine: PolicyEngine) -> None:
    """One context, three reviews at once: the two that find it busy wait off the loop, and all answer."""
    policy = make_policy("sleep(150); deny(request.name)")
    program = resolve_program(CodeSource(policy), None)

    async def scenario() -> list[AdmissionOutcome]:
        requests = [{**_request(engine), "name": f"pod-{i}"} for i in range(3)]
        return list(await asyncio.gather(*(engine.evaluate_async(policy, program, r) for r in requests)))

    started = time.monotonic()
    outcomes = asyncio.run(scenario())
    assert [o.message for o in outcomes] == ["pod-0", "pod-1", "pod-2"]
    assert time.monotonic() - started >= 0.45  # one context: the runs took turns


def test_a_cancelled_review_finishes_before_its_context_is_reused(engine: PolicyEngine) -> None:
    """The caller giving up must not hand a context still running JavaScript to the next review."""
    slow = make_policy("sleep(300); deny('slow')")
    quick = make_policy("deny('quick')", name="quick.policies.jspolicy.com")
    request = _request(engine)

    async def scenario() -> AdmissionOutcome:
        task = asyncio.create_task(engine.evaluate_async(slow, resolve_program(CodeSource(slow), None), request))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await engine.evaluate_async(quick, resolve_program(CodeSource(quick), None), request)

    after = asyncio.run(scenario())
    assert (after.allowed, after.code, after.message) == (False, 403, "quick")
    assert engine.pool.replaced == 0  # the context was neither wedged nor replaced


def test_a_context_left_busy_is_replaced_without_stalling_the_loop(engine: PolicyEngine) -> None:
    """An endless promise chain keeps the isolate thread busy after its run; the next review notices,
    frees that isolate off the loop, and answers on a fresh context."""
    wedge = make_policy("(function f() { Promise.resolve().then(f) })();", name="wedge.policies.jspolicy.com")
    after = make_policy("deny('fresh context')", name="after.policies.jspolicy.com")
    request = _request(engine)

    async def scenario() -> tuple[AdmissionOutcome, int]:
        await engine.evaluate_async(wedge, resolve_program(CodeSource(wedge), None), request)
        return await _ticking(engine.evaluate_async(after, resolve_program(CodeSource(after), None), request))

    outcome, ticks = asyncio.run(scenario())
    assert (outcome.allowed, outcome.message) == (False, "fresh context")
    assert engine.pool.replaced >= 1
    assert ticks >= 10  # the 250 ms start grace passed on a loop that kept running
