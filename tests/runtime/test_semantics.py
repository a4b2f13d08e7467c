"""How a policy run ends and what the webhook makes of it: terminal helpers, errors, violationPolicy
(docs/compatibility.md)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from jspolicy.admission.evaluate import AdmissionOutcome
from tests.conftest import Evaluate
from tests.runtime.conftest import PoolFactory, evaluator

NAME = "test.policies.jspolicy.com"
PREFIX = f"[{NAME}]: "


# ---- the first terminal call wins --------------------------------------------------------------------------


def test_only_the_first_deny_counts(evaluate: Evaluate) -> None:
    outcome = evaluate("deny('first', 'One', 401); deny('second', 'Two', 402)")
    assert (outcome.allowed, outcome.code, outcome.reason, outcome.message) == (False, 401, "One", "first")


def test_nothing_after_a_terminal_call_runs(evaluate: Evaluate) -> None:
    outcome = evaluate("deny('stop'); print('after'); warn('after')")
    assert outcome.message == "stop"
    assert outcome.raw.prints == [] and outcome.warnings == []


def test_deny_inside_a_callback_ends_the_whole_policy(evaluate: Evaluate) -> None:
    outcome = evaluate("[1, 2, 3].forEach((i) => { if (i === 2) deny('at ' + i); warn('saw ' + i); }); deny('end')")
    assert outcome.message == "at 2"
    assert outcome.warnings == [PREFIX + "saw 1"]


def test_deny_after_mutate_is_impossible(evaluate: Evaluate) -> None:
    outcome = evaluate("request.object.metadata.labels.x = 'y'; mutate(request.object); deny('late')", type="Mutating")
    assert (outcome.allowed, outcome.code) == (True, 200)
    assert outcome.patch == [{"op": "add", "path": "/metadata/labels/x", "value": "y"}]


def test_mutate_after_deny_is_impossible(evaluate: Evaluate) -> None:
    outcome = evaluate("deny('first'); mutate({...request.object, extra: 1})", type="Mutating")
    assert (outcome.allowed, outcome.message, outcome.patch) == (False, "first", None)


# ---- termination cannot be caught --------------------------------------------------------------------------


def test_try_catch_cannot_catch_deny(evaluate: Evaluate) -> None:
    outcome = evaluate("try { deny('denied') } catch (e) { allow() }")
    assert (outcome.allowed, outcome.message) == (False, "denied")


def test_finally_blocks_do_not_run_after_a_terminal_call(evaluate: Evaluate) -> None:
    outcome = evaluate("try { allow() } catch (e) { deny('caught') } finally { warn('finally'); deny('finally ran') }")
    assert outcome.allowed and outcome.warnings == []


def test_nested_try_blocks_do_not_see_termination(evaluate: Evaluate) -> None:
    source = """
    function inner() {
      try { deny('inner') } finally { warn('inner finally') }
    }
    try { inner() } catch (e) { warn('outer catch: ' + e) } finally { deny('outer finally') }
    """
    outcome = evaluate(source)
    assert (outcome.allowed, outcome.message, outcome.warnings) == (False, "inner", [])


def test_strict_mode_policy_cannot_catch_deny(evaluate: Evaluate) -> None:
    outcome = evaluate("'use strict';\ntry { deny('strict') } catch (e) { allow() }")
    assert (outcome.allowed, outcome.message) == (False, "strict")


def test_warnings_before_a_caught_deny_are_kept(evaluate: Evaluate) -> None:
    outcome = evaluate("warn('sync'); try { deny('sync deny') } catch (e) {}")
    assert (outcome.allowed, outcome.message, outcome.warnings) == (False, "sync deny", [PREFIX + "sync"])


def test_iterator_cleanup_after_a_terminal_call_cannot_change_the_result(evaluate: Evaluate) -> None:
    # Policy text deliberately free of try/catch/finally: the runtime then ends runs by throwing a sentinel.
    source = """
    const copy = JSON.parse(JSON.stringify(request.object));
    const steps = { [Symbol.iterator]() { return {
      next() { return { done: false, value: 1 }; },
      return() { copy.metadata.labels.late = 'after mutate'; return {}; },
    }; } };
    for (const step of steps) { copy.metadata.labels.early = 'before mutate'; mutate(copy); }
    """
    outcome = evaluate(source, type="Mutating")
    assert outcome.allowed
    assert outcome.patch == [{"op": "add", "path": "/metadata/labels/early", "value": "before mutate"}]


def test_iterator_cleanup_cannot_change_the_result_of_a_try_policy(evaluate: Evaluate) -> None:
    source = """
    const copy = JSON.parse(JSON.stringify(request.object));
    const steps = { [Symbol.iterator]() { return {
      next() { return { done: false, value: 1 }; },
      return() { copy.metadata.labels.late = 'after mutate'; return {}; },
    }; } };
    try { for (const step of steps) { copy.metadata.labels.early = 'before mutate'; mutate(copy); } } catch (e) {}
    """
    outcome = evaluate(source, type="Mutating")
    assert outcome.patch == [{"op": "add", "path": "/metadata/labels/early", "value": "before mutate"}]


# ---- warnings and falling off the end ----------------------------------------------------------------------


def test_falling_off_the_end_allows_with_warnings(evaluate: Evaluate) -> None:
    outcome = evaluate("warn('a'); if (request.namespace === 'shop') { warn('b') }")
    assert (outcome.allowed, outcome.code, outcome.reason, outcome.message) == (True, 200, "", "")
    assert outcome.warnings == [PREFIX + "a", PREFIX + "b"]
    assert outcome.violation is None


def test_warnings_survive_deny_and_try_blocks(evaluate: Evaluate) -> None:
    outcome = evaluate("warn('a'); try { warn('b'); deny('no') } catch (e) { warn('c') }")
    assert (outcome.allowed, outcome.warnings) == (False, [PREFIX + "a", PREFIX + "b"])


# ---- exceptions --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "frames"),
    [
        ("throw new Error('boom')", ["at my-policy:1:7"]),
        ("const a = 1;\n\n    throw new Error('boom' + '')", ["at my-policy:3:11"]),
        (
            "function check() {\n  throw new Error('boom')\n}\n\ncheck()",
            ["at check (my-policy:2:9)", "at my-policy:5:1"],
        ),
        ("'use strict';\nconst f = () => { throw new Error('boom') };\n[1].map(f);", ["at f (my-policy:2:25)"]),
    ],
)
def test_uncaught_error_is_a_500_with_policy_frames(evaluate: Evaluate, source: str, frames: list[str]) -> None:
    outcome = evaluate(source, name="my-policy")
    assert (outcome.allowed, outcome.code) == (False, 500)
    assert outcome.message.startswith("Uncaught Error: boom\n")
    lines = [line.strip() for line in outcome.message.splitlines()[1:]]
    for frame in frames:
        assert frame in lines
    assert not any("jspolicy-runtime" in line or "__jsp" in line for line in lines)
    assert outcome.warnings == []  # jsPolicy returns no warnings with an error


def test_runtime_type_error_names_its_line(evaluate: Evaluate) -> None:
    outcome = evaluate("warn('x');\ntry { JSON.parse('{') } catch (e) {}\nnull.boom;", name="my-policy")
    assert (outcome.allowed, outcome.code) == (False, 500)
    assert outcome.message.startswith("Uncaught TypeError: ")
    assert re.search(r"^\s+at my-policy:3:\d+$", outcome.message, re.MULTILINE)


def test_uncaught_error_of_an_error_subclass(evaluate: Evaluate) -> None:
    source = (
        "class PolicyError extends Error { constructor(m) { super(m); this.name = 'PolicyError' } }\n"
        "throw new PolicyError('custom')"
    )
    outcome = evaluate(source, name="sub")
    assert outcome.code == 500
    assert outcome.message.startswith("Uncaught PolicyError: custom\n")
    assert "at sub:2:7" in outcome.message


@pytest.mark.parametrize(
    ("thrown", "message"), [("'x'", "x"), ("42", "42"), ("null", "null"), ("undefined", "undefined")]
)
def test_throwing_a_value_without_a_stack(evaluate: Evaluate, thrown: str, message: str) -> None:
    outcome = evaluate(f"throw {thrown}")
    assert (outcome.allowed, outcome.code, outcome.message) == (False, 500, message)


def test_uncaught_status_object_from_get(evaluate: Evaluate) -> None:
    outcome = evaluate("get('Pod', 'v1')")
    assert (outcome.allowed, outcome.code) == (False, 500)
    assert outcome.message.startswith("WrongArguments: ")
    assert "three arguments expected" in outcome.message


def test_uncaught_retrieve_object_error(evaluate: Evaluate) -> None:
    outcome = evaluate("get('NoSuchKind', 'v1', 'x')")
    assert outcome.code == 500 and outcome.message.startswith("RetrieveObject: ")


@pytest.mark.parametrize("source", ["syntax error here(", "const = 1", "if (true) {", "deny('a'))", "}"])
def test_syntax_error_is_a_500(evaluate: Evaluate, source: str) -> None:
    outcome = evaluate(source)
    assert (outcome.allowed, outcome.code) == (False, 500)
    assert outcome.message.startswith("Uncaught SyntaxError: ")


def test_source_that_closes_the_wrapper_is_a_syntax_error(evaluate: Evaluate) -> None:
    outcome = evaluate("}); print('load time'); (function () {")
    assert (outcome.allowed, outcome.code) == (False, 500)
    assert outcome.message.startswith("Uncaught SyntaxError: ")


def test_timeout_is_a_500_and_the_pool_keeps_working(evaluate: Evaluate) -> None:
    outcome = evaluate("while (true) {}", name="spinner", timeoutSeconds=1)
    assert (outcome.allowed, outcome.code, outcome.message) == (False, 500, "script spinner timed out")
    assert outcome.violation is not None
    for i in range(4):  # the shared pool has two contexts: hit both
        after = evaluate(f"deny('next {i}')", name="next")
        assert (after.allowed, after.code, after.message) == (False, 403, f"next {i}")


def test_timeout_in_a_policy_with_try_finally(evaluate: Evaluate) -> None:
    outcome = evaluate(
        "try { for (;;) {} } catch (e) { allow() } finally { allow() }", name="spinner", timeoutSeconds=1
    )
    assert (outcome.allowed, outcome.code, outcome.message) == (False, 500, "script spinner timed out")


# ---- violationPolicy -----------------------------------------------------------------------------------------

RAW = {
    "allowed": ("warn('w');", "Validating"),
    "patched": ("warn('w'); request.object.metadata.labels.x = 'y'; mutate(request.object);", "Mutating"),
    "denied": ("warn('w'); deny('nope', 'Custom', 409);", "Validating"),
    "error": ("warn('w'); throw new Error('boom');", "Validating"),
}
PATCH = [{"op": "add", "path": "/metadata/labels/x", "value": "y"}]


def _run(evaluate: Evaluate, raw: str, mode: str, **spec: Any) -> AdmissionOutcome:
    source, policy_type = RAW[raw]
    return evaluate(source, type=policy_type, violationPolicy=mode, **spec)


@pytest.mark.parametrize("mode", ["Deny", "Warn", "Dry"])
def test_violation_policy_allowed_stays_allowed(evaluate: Evaluate, mode: str) -> None:
    outcome = _run(evaluate, "allowed", mode)
    assert (outcome.allowed, outcome.code, outcome.patch) == (True, 200, None)
    assert outcome.warnings == [PREFIX + "w"]
    assert outcome.violation is None


@pytest.mark.parametrize(("mode", "patch"), [("Deny", PATCH), ("Warn", PATCH), ("Dry", None)])
def test_violation_policy_patch(evaluate: Evaluate, mode: str, patch: list[dict[str, str]] | None) -> None:
    outcome = _run(evaluate, "patched", mode)
    assert (outcome.allowed, outcome.code) == (True, 200)
    assert outcome.patch == patch
    if patch is None:
        assert outcome.patched_object is None
    assert outcome.warnings == [PREFIX + "w"]
    assert outcome.violation is None


def test_violation_policy_deny_keeps_the_denial(evaluate: Evaluate) -> None:
    outcome = _run(evaluate, "denied", "Deny")
    assert (outcome.allowed, outcome.code, outcome.reason, outcome.message) == (False, 409, "Custom", "nope")
    assert outcome.warnings == [PREFIX + "w"]


def test_violation_policy_warn_turns_a_denial_into_a_warning(evaluate: Evaluate) -> None:
    outcome = _run(evaluate, "denied", "Warn")
    assert (outcome.allowed, outcome.code) == (True, 200)
    assert outcome.warnings == [PREFIX + "w", PREFIX + "nope"]


def test_violation_policy_dry_allows_a_denial_silently(evaluate: Evaluate) -> None:
    outcome = _run(evaluate, "denied", "Dry")
    assert (outcome.allowed, outcome.code) == (True, 200)
    assert outcome.warnings == [PREFIX + "w"]


def test_violation_policy_deny_keeps_errors(evaluate: Evaluate) -> None:
    outcome = _run(evaluate, "error", "Deny")
    assert (outcome.allowed, outcome.code) == (False, 500)
    assert outcome.message.startswith("Uncaught Error: boom")


def test_violation_policy_warn_turns_an_error_into_a_warning(evaluate: Evaluate) -> None:
    outcome = _run(evaluate, "error", "Warn")
    assert (outcome.allowed, outcome.code) == (True, 200)
    assert outcome.warnings[-1].startswith(PREFIX + "Uncaught Error: boom")


def test_violation_policy_dry_allows_an_error(evaluate: Evaluate) -> None:
    outcome = _run(evaluate, "error", "Dry")
    assert (outcome.allowed, outcome.code) == (True, 200)
    assert not any("boom" in warning for warning in outcome.warnings)


@pytest.mark.parametrize("mode", ["Deny", "Warn", "Dry"])
def test_violations_are_recorded_for_denials_in_every_mode(evaluate: Evaluate, mode: str) -> None:
    outcome = _run(evaluate, "denied", mode)
    assert outcome.violation is not None
    assert (outcome.violation.action, outcome.violation.code, outcome.violation.reason) == (mode, 409, "Custom")
    assert outcome.violation.message == "nope"
    assert outcome.violation.request_info["name"] == "web"


@pytest.mark.parametrize("mode", ["Deny", "Warn", "Dry"])
def test_violations_are_recorded_for_errors_in_every_mode(evaluate: Evaluate, mode: str) -> None:
    outcome = _run(evaluate, "error", mode)
    assert outcome.violation is not None
    assert (outcome.violation.action, outcome.violation.code) == (mode, 500)
    assert outcome.violation.message.startswith("Uncaught Error: boom")


@pytest.mark.parametrize("mode", ["Deny", "Warn", "Dry"])
@pytest.mark.parametrize("raw", ["denied", "error"])
def test_no_violation_when_audit_is_skipped(evaluate: Evaluate, mode: str, raw: str) -> None:
    outcome = _run(evaluate, raw, mode, auditPolicy="Skip")
    assert outcome.violation is None
    assert outcome.allowed is (mode != "Deny")


# ---- declarations and GLOBAL_CONTEXT -----------------------------------------------------------------------

DECLARATIONS = """
var counter = 0;
let list = [];
const limit = 2;
function add(x) { counter++; list.push(x); }
class Box { constructor(v) { this.v = v } }
add(new Box(request.name).v);
if (counter !== 1 || list.length !== 1 || limit !== 2) deny('stale state: ' + counter + '/' + list.length);
warn(list.join(','));
"""


def test_top_level_declarations_work_repeatedly(evaluate: Evaluate, make_pool: PoolFactory) -> None:
    solo = evaluator(make_pool(pool_size=1))
    for run in (solo, evaluate):
        for _ in range(3):
            outcome = run(DECLARATIONS)
            assert outcome.allowed, outcome.message
            assert outcome.warnings == [PREFIX + "web"]


def test_strict_mode_declarations_work_repeatedly(make_pool: PoolFactory) -> None:
    run = evaluator(make_pool(pool_size=1))
    for _ in range(3):
        outcome = run("'use strict';\n" + DECLARATIONS)
        assert outcome.allowed, outcome.message


GLOBAL_CONTEXT = """
let calls = 0;
function helper() { calls++; return request.namespace + ':' + calls; }
function denyIf(condition, message) { if (condition) deny(message); }
"""


def test_global_context_functions_are_visible_and_read_request(make_pool: PoolFactory) -> None:
    run = evaluator(make_pool(global_context=GLOBAL_CONTEXT))
    for _ in range(3):  # the GLOBAL_CONTEXT declarations are fresh for every run
        outcome = run("deny(helper())")
        assert outcome.message == "shop:1"
    other = run("deny(helper())", obj=_pod_in("prod"))
    assert other.message == "prod:1"


def test_global_context_helper_can_end_the_policy(make_pool: PoolFactory) -> None:
    run = evaluator(make_pool(global_context=GLOBAL_CONTEXT))
    outcome = run("denyIf(request.namespace === 'shop', 'from helper'); warn('after')")
    assert (outcome.allowed, outcome.message, outcome.warnings) == (False, "from helper", [])
    allowed = run("denyIf(false, 'never'); warn('after')")
    assert allowed.allowed and allowed.warnings == [PREFIX + "after"]


def test_global_context_keeps_policy_line_numbers(make_pool: PoolFactory) -> None:
    run = evaluator(make_pool(global_context=GLOBAL_CONTEXT))
    outcome = run("helper();\n\n  throw new Error('boom')", name="with-gc")
    assert outcome.message.startswith("Uncaught Error: boom\n")
    assert "at with-gc:3:9" in outcome.message


def _pod_in(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
    }


def test_error_messages_name_the_policy_even_with_odd_characters(evaluate: Evaluate) -> None:
    outcome = evaluate("throw new Error('boom')", name="odd.name-1")
    assert re.search(r"^\s+at odd\.name-1:1:7$", outcome.message, re.MULTILINE)
