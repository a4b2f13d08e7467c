"""Hostile policies: CPU, memory and output bombs end as that policy's failure and the process keeps serving."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.settings import Limits, RuntimeSettings
from tests.conftest import Evaluate
from tests.runtime.conftest import PoolFactory, assert_healthy, evaluator

LIMITS = Limits()
NAME = "test.policies.jspolicy.com"
PREFIX = f"[{NAME}]: "
TRUNCATION_NOTE = 64  # room for "... [truncated N characters]" and similar notes
# A policy that must end at the heap limit gets plenty of time to reach it: on a busy 2-core machine, growing
# a heap to its limit took more than 2 s, and the policy failed by time instead of by memory.
MEMORY_TIMEOUT = 60


@pytest.fixture(scope="module")
def hostile_pool() -> Iterator[RuntimePool]:
    runtime = RuntimePool(RuntimeSettings(pool_size=1, heap_limit_mb=64))
    yield runtime
    runtime.close()


@pytest.fixture
def hostile(hostile_pool: RuntimePool) -> Iterator[Evaluate]:
    run = evaluator(hostile_pool)
    yield run
    assert_healthy(run)


# ---- CPU ---------------------------------------------------------------------------------------------------


def test_tight_loop_times_out(hostile: Evaluate) -> None:
    started = time.monotonic()
    outcome = hostile("while (true) {}", name="spin", timeoutSeconds=1)
    elapsed = time.monotonic() - started
    assert (outcome.allowed, outcome.code, outcome.message) == (False, 500, "script spin timed out")
    assert 0.9 <= elapsed < 3


def test_tight_loop_with_host_calls_times_out(hostile: Evaluate) -> None:
    outcome = hostile("for (;;) { sleep(1000); env('HOME'); }", name="spin", timeoutSeconds=1)
    assert (outcome.allowed, outcome.code, outcome.message) == (False, 500, "script spin timed out")


def test_recursion_overflow_is_a_normal_error(hostile: Evaluate) -> None:
    outcome = hostile("(function f() { return f() + 1 })()")
    assert (outcome.allowed, outcome.code) == (False, 500)
    assert outcome.message.startswith("Uncaught RangeError: Maximum call stack size exceeded")
    assert len(outcome.message) <= LIMITS.message + TRUNCATION_NOTE


# ---- memory ------------------------------------------------------------------------------------------------

BOMBS = [
    "const a = []; for (;;) a.push(new Array(1e6).fill(1.5))",
    "let s = 'x'; for (;;) s = s + s",
    "let s = 'xy'; const parts = []; for (;;) { s = s + s; parts.push(s + '!') }",
    "new Array(1e9).fill(0)",
    "Array.from({length: 1e9})",
    "Array.from({length: 1e9}, (_, i) => i)",
    "'x'.repeat(2 ** 29 - 24).split('')",
    "const a = []; a[1e9] = 1; a.join(',')",
    "const a = []; a.length = 2 ** 32 - 1; a.sort()",
    "const a = []; a.length = 2 ** 32 - 1; a.includes(1)",
    "new Array(1e9).concat([1])",
    "new Array(2 ** 31).map((x) => x)",
    "JSON.stringify(new Array(1e7).fill('aaaaaaaaaa'))",
]


@pytest.mark.parametrize("bomb", BOMBS)
def test_memory_bombs_fail_only_their_policy(hostile: Evaluate, bomb: str) -> None:
    outcome = hostile(bomb, name="bomb", timeoutSeconds=MEMORY_TIMEOUT)
    assert (outcome.allowed, outcome.code) == (False, 500)
    assert "memory limit" in outcome.message or "RangeError" in outcome.message, outcome.message
    assert outcome.violation is not None


@pytest.mark.parametrize(
    "bomb",
    [
        "new Uint8Array(1e9)",
        "new Float64Array(2 ** 28)",
        "new ArrayBuffer(2 ** 31)",
        "new SharedArrayBuffer(1e9)",
        "new DataView(new ArrayBuffer(8))",
        "new WebAssembly.Memory({initial: 65536})",
    ],
)
def test_typed_array_bombs_have_no_constructors(hostile: Evaluate, bomb: str) -> None:
    outcome = hostile(bomb)
    assert (outcome.allowed, outcome.code) == (False, 500)
    assert outcome.message.startswith("Uncaught ReferenceError: ")
    assert "is not defined" in outcome.message.splitlines()[0]


def test_object_property_heap_bomb_fails_only_its_policy(make_pool: PoolFactory) -> None:
    run = evaluator(make_pool(pool_size=1, heap_limit_mb=64))
    bomb = "const o = {}; let i = 0; for (;;) o['k' + i++] = 'v'.repeat(100) + i"
    outcome = run(bomb, name="bomb", timeoutSeconds=MEMORY_TIMEOUT)
    assert (outcome.allowed, outcome.code) == (False, 500)
    assert "memory limit" in outcome.message, outcome.message
    for _ in range(3):
        assert_healthy(run)


def test_deeply_nested_mutation_is_a_policy_failure(hostile: Evaluate) -> None:
    source = "let o = {}; for (let i = 0; i < 5000; i++) o = {o}; mutate({...request.object, deep: o})"
    outcome = hostile(source, type="Mutating")
    assert (outcome.allowed, outcome.code) == (False, 500)


def test_deeply_nested_host_call_argument_is_a_catchable_error(hostile: Evaluate) -> None:
    source = (
        "let o = {}; for (let i = 0; i < 5000; i++) o = {o};"
        "try { create({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'x', namespace: 'shop'}, data: o}) }"
        " catch (e) { deny('caught: ' + (e instanceof Error)) }"
    )
    outcome = hostile(source)
    assert (outcome.code, outcome.message) == (403, "caught: true")


# ---- a context left busy -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wedge", "message"),
    [
        ("(function f() { Promise.resolve().then(f) })();", ""),
        ("(function f() { Promise.resolve().then(f) })(); deny('wedged but decided')", "wedged but decided"),
        ("async function f() { for (;;) await null } f();", ""),
    ],
)
def test_endless_promise_chain_does_not_wedge_the_pool(make_pool: PoolFactory, wedge: str, message: str) -> None:
    runtime = make_pool(pool_size=1)
    run = evaluator(runtime)
    assert run("deny('warm')").message == "warm"
    before = runtime.replaced
    first = run(wedge, name="wedge", timeoutSeconds=2)
    assert (first.allowed, first.message) == (not message, message)
    started = time.monotonic()
    outcome = run("deny('correct answer', 'Checked', 409)", name="next", timeoutSeconds=2)
    assert (outcome.allowed, outcome.code, outcome.reason, outcome.message) == (False, 409, "Checked", "correct answer")
    assert time.monotonic() - started < 1.5
    assert runtime.replaced > before
    assert_healthy(run)


# ---- output bombs ------------------------------------------------------------------------------------------


def test_huge_warning_is_truncated(hostile: Evaluate) -> None:
    outcome = hostile("warn('x'.repeat(10 * 1024 * 1024))")
    assert outcome.allowed
    assert len(outcome.warnings) == 1
    assert outcome.warnings[0].startswith(PREFIX + "xxxx")
    assert len(PREFIX) + LIMITS.warning <= len(outcome.warnings[0]) <= len(PREFIX) + LIMITS.warning + TRUNCATION_NOTE


def test_warning_count_is_capped(hostile: Evaluate) -> None:
    outcome = hostile("for (let i = 0; i < 10000; i++) warn('w' + i); deny('done')")
    assert (outcome.allowed, outcome.message) == (False, "done")
    assert LIMITS.warnings <= len(outcome.warnings) <= LIMITS.warnings + 1
    assert outcome.warnings[:3] == [PREFIX + "w0", PREFIX + "w1", PREFIX + "w2"]


def test_huge_deny_message_and_reason_are_truncated(hostile: Evaluate) -> None:
    outcome = hostile("deny('m'.repeat(10 * 1024 * 1024), 'r'.repeat(1e6), 451)")
    assert (outcome.allowed, outcome.code) == (False, 451)
    assert outcome.message.startswith("mmmm")
    assert LIMITS.message <= len(outcome.message) <= LIMITS.message + TRUNCATION_NOTE
    assert len(outcome.reason) <= LIMITS.reason + TRUNCATION_NOTE
    assert outcome.violation is not None and len(outcome.violation.message.encode()) <= 256


def test_huge_error_message_is_truncated(hostile: Evaluate) -> None:
    outcome = hostile("throw new Error('e'.repeat(5e6))")
    assert outcome.code == 500
    assert len(outcome.message) <= LIMITS.message + TRUNCATION_NOTE


def test_print_spam_is_capped(hostile: Evaluate) -> None:
    outcome = hostile("for (let i = 0; i < 20000; i++) print('line ' + i + ' ' + 'x'.repeat(100)); deny('decided')")
    assert (outcome.allowed, outcome.message) == (False, "decided")
    total = sum(len(line) for line in outcome.raw.prints)
    assert LIMITS.print_total <= total <= LIMITS.print_total + LIMITS.print_line + 200
    assert outcome.raw.prints[0].startswith("line 0 ")


def test_single_huge_print_is_capped(hostile: Evaluate) -> None:
    outcome = hostile("print('p'.repeat(1e7))")
    assert outcome.allowed
    assert len(outcome.raw.prints) == 1
    assert LIMITS.print_line <= len(outcome.raw.prints[0]) <= LIMITS.print_line + TRUNCATION_NOTE


def test_oversized_patched_object_is_an_error(hostile: Evaluate) -> None:
    outcome = hostile(
        "request.object.metadata.annotations = {big: 'x'.repeat(4 * 1024 * 1024)}; mutate(request.object)",
        type="Mutating",
    )
    assert (outcome.allowed, outcome.code, outcome.patch) == (False, 500, None)
    assert "mutate()" in outcome.message


# ---- hostile objects handed to mutate() and deny() ---------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "{...request.object, toJSON() { throw new Error('toJSON') }}",
        "{...request.object, toJSON() { allow() }}",
        "{...request.object, toJSON() { deny('from toJSON') }}",
        "{...request.object, toJSON() { return __jsp.run('x') }}",
        "{...request.object, toJSON() { return 42 }}",
        "{...request.object, toJSON() { return 'x'.repeat(5e6) }}",
        "{...request.object, get spec() { deny('from getter') }}",
        "{...request.object, get spec() { throw new Error('getter') }}",
        "[request.object]",
        "'just a string'",
    ],
)
def test_hostile_mutate_argument_cannot_escape(hostile: Evaluate, value: str) -> None:
    outcome = hostile(f"warn('w'); const hostileValue = {value}; mutate(hostileValue)", type="Mutating")
    assert (outcome.allowed, outcome.code, outcome.patch) == (False, 500, None)
    assert "from toJSON" not in outcome.message and "from getter" not in outcome.message.splitlines()[0]


def test_hostile_to_json_that_spins_times_out(hostile: Evaluate) -> None:
    outcome = hostile(
        "mutate({...request.object, toJSON() { for (;;) {} }})", name="spin", type="Mutating", timeoutSeconds=1
    )
    assert (outcome.allowed, outcome.code, outcome.message) == (False, 500, "script spin timed out")


def test_hostile_to_json_cannot_rewrite_the_decision(hostile: Evaluate) -> None:
    outcome = hostile("deny({toJSON() { allow(); return 'x' }, toString() { return 'str' }}, 'Reason')")
    assert (outcome.allowed, outcome.code, outcome.reason) == (False, 403, "Reason")


@pytest.mark.parametrize(
    "message",
    [
        "{get x() { throw new Error('g') }}",
        "{toString() { for (;;) {} }}",
        "{toJSON() { throw new Error('j') }, toString() { throw new Error('s') }}",
        "Object.create(null)",
        "Symbol('s')",
    ],
)
def test_hostile_deny_message_still_denies(hostile: Evaluate, message: str) -> None:
    outcome = hostile(f"deny({message}, 'Hostile', 422)", timeoutSeconds=1)
    assert (outcome.allowed, outcome.code, outcome.reason) == (False, 422, "Hostile")
    assert isinstance(outcome.message, str)
