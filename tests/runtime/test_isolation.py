"""No state survives from one evaluation to the next, and policies cannot break the runtime."""

from __future__ import annotations

import pytest

from jspolicy.runtime.pool import RuntimePool
from tests.conftest import POD, Evaluate
from tests.runtime.conftest import evaluator, js_value

# ---- globals left behind -----------------------------------------------------------------------------------

LEAKS = [
    ("globalThis.leak = 1", "typeof leak"),
    ("leak2 = 1", "typeof leak2"),
    ("this.leak3 = 1", "typeof leak3"),
    ("(0, eval)('var leak4 = 1; function leak4fn() {}')", "typeof leak4 === typeof leak4fn ? typeof leak4 : 'mixed'"),
    ("Object.defineProperty(globalThis, 'hidden', {value: 1})", "typeof hidden"),
    ("Object.defineProperty(globalThis, 'hidden', {value: 1, configurable: true})", "typeof hidden"),
    ("Object.defineProperty(globalThis, 'hidden', {get() { return 1 }, enumerable: true})", "typeof hidden"),
    ("Reflect.defineProperty(globalThis, 'hidden', {value: 1})", "typeof hidden"),
    ("Object.defineProperties(globalThis, {hidden: {value: 1}})", "typeof hidden"),
    ("globalThis.__defineGetter__('hidden', () => 1)", "typeof hidden"),
    ("globalThis[Symbol.for('jsp.leak')] = 1", "typeof globalThis[Symbol.for('jsp.leak')]"),
    (
        "Object.defineProperty(globalThis, Symbol.for('jsp.leak'), {value: 1})",
        "typeof globalThis[Symbol.for('jsp.leak')]",
    ),
    (
        "globalThis[Symbol('private')] = 1",
        "Object.getOwnPropertySymbols(globalThis).some((s) => s.description === 'private') ? 'leaked' : 'undefined'",
    ),
]


@pytest.mark.parametrize(("setup", "probe"), LEAKS)
def test_globals_do_not_leak_into_the_next_evaluation(solo: RuntimePool, setup: str, probe: str) -> None:
    run = evaluator(solo)
    assert js_value(run, probe, setup=setup, name="writer") != "undefined"  # the write worked in its own run
    for _ in range(2):
        assert js_value(run, probe, name="reader") == "undefined"
        assert js_value(run, probe, name="writer") == "undefined"


@pytest.mark.parametrize(("setup", "probe"), LEAKS[:2] + LEAKS[4:5] + LEAKS[10:11])
def test_globals_do_not_leak_on_the_shared_pool(evaluate: Evaluate, setup: str, probe: str) -> None:
    evaluate(setup, name="writer")
    for _ in range(4):  # two contexts: every one of them is probed
        assert js_value(evaluate, probe, name="reader") == "undefined"


def test_non_enumerable_global_defined_through_a_proxy_does_not_leak(solo: RuntimePool) -> None:
    run = evaluator(solo)
    run(
        "Object.defineProperty(new Proxy(globalThis, {}), 'smuggled', {value: 'secret', configurable: true})",
        name="writer",
    )
    assert js_value(run, "typeof smuggled", name="reader") == "undefined"


def test_captured_stack_on_the_global_object_does_not_leak(solo: RuntimePool) -> None:
    run = evaluator(solo)
    run(
        "const o = { ['s3cr3t_' + request.name]() { Error.captureStackTrace(globalThis) } }; o['s3cr3t_web']()",
        name="writer",
    )
    assert js_value(run, "Object.getOwnPropertyNames(globalThis).includes('stack')", name="reader") is False


@pytest.mark.parametrize("holder", ["__jsp_policy_body", "arguments.callee"])
def test_policy_function_properties_do_not_persist(solo: RuntimePool, holder: str) -> None:
    run = evaluator(solo)
    source = f"const h = {holder}; h.count = (h.count || 0) + 1; deny(String(h.count))"
    assert [run(source).message for _ in range(3)] == ["1", "1", "1"]


def test_regexp_statics_do_not_leak_the_previous_match(solo: RuntimePool) -> None:
    run = evaluator(solo)
    run("if (/token=(\\w+)/.exec('token=s3cr3t')) allow()", name="writer")
    value = js_value(run, "[RegExp.$1, RegExp.lastMatch, RegExp.input]", name="reader")
    assert "s3cr3t" not in "".join(value)


# ---- built-ins cannot be changed ---------------------------------------------------------------------------

CHANGES = [
    ("Array.prototype.includes = () => false", "[1].includes(1)", True),
    ("Object.prototype.polluted = 1", "typeof ({}).polluted", "undefined"),
    ("({}).__proto__.polluted = 1", "typeof ({}).polluted", "undefined"),
    ("JSON.parse = () => 42", "JSON.parse('[1]')[0]", 1),
    ("JSON.stringify = () => 'fake'", "JSON.stringify({a: 1})", '{"a":1}'),
    ("String.prototype.trim = () => 'x'", "' a '.trim()", "a"),
    ("Math.max = () => 0", "Math.max(1, 2)", 2),
    ("Array.prototype.map = function () { return [] }", "[1, 2].map((x) => x * 2)", [2, 4]),
    ("Promise.prototype.then = null", "typeof Promise.prototype.then", "function"),
    ("Function.prototype.call = null", "typeof Function.prototype.call", "function"),
    ("Date.now = () => 0", "Date.now() > 0", True),
]


@pytest.mark.parametrize(("change", "probe", "expected"), CHANGES)
def test_sloppy_builtin_changes_are_ignored(solo: RuntimePool, change: str, probe: str, expected: object) -> None:
    run = evaluator(solo)
    assert js_value(run, probe, setup=f"{change};") == expected  # silently ignored in the same run
    assert js_value(run, probe, name="other") == expected


@pytest.mark.parametrize(("change", "probe", "expected"), CHANGES)
def test_strict_builtin_changes_throw(solo: RuntimePool, change: str, probe: str, expected: object) -> None:
    run = evaluator(solo)
    outcome = run(f"'use strict';\n{change};\nallow()")
    assert (outcome.allowed, outcome.code) == (False, 500)
    assert outcome.message.startswith("Uncaught TypeError: ")
    assert js_value(run, probe, setup="'use strict';", name="other") == expected


@pytest.mark.parametrize("strict", ["", "'use strict';"])
def test_override_taming_keeps_ordinary_assignments_working(solo: RuntimePool, strict: str) -> None:
    run = evaluator(solo)
    setup = (
        f"{strict}\n"
        "class E extends Error { constructor(m) { super(m); this.name = 'E' } }\n"
        "const e = new E('boom');\n"
        "const o = {}; o.toString = () => 'custom'; o.constructor = 'ctor'; o.valueOf = () => 7;\n"
        "function F() {} F.prototype.toString = function () { return 'F!' };\n"
        "const err = new Error('m'); err.message = 'changed'; err.name = 'Renamed';\n"
        "const fn = function () {}; fn.toString = () => 'fn';\n"
    )
    value = js_value(
        run,
        "[e.name, e.message, String(e), e instanceof Error, e instanceof E, String(o), o.constructor, o + 1,"
        " String(new F()), String(err), String(fn), Object.keys(o)]",
        setup=setup,
    )
    assert value == [
        "E",
        "boom",
        "E: boom",
        True,
        True,
        "custom",
        "ctor",
        8,
        "F!",
        "Renamed: changed",
        "fn",
        ["toString", "constructor", "valueOf"],
    ]
    # ...while the prototypes themselves stay untouched for the next run.
    assert js_value(run, "[String({}), String(new Error('x')), new Error('x').name]") == [
        "[object Object]",
        "Error: x",
        "Error",
    ]


@pytest.mark.parametrize("strict", ["", "'use strict';"])
def test_tamed_prototype_properties_cannot_be_replaced(solo: RuntimePool, strict: str) -> None:
    run = evaluator(solo)
    outcome = run(f"{strict}\nObject.prototype.toString = () => 'hacked';\nError.prototype.name = 'Hacked';")
    assert outcome.code == 500 and "TypeError" in outcome.message
    assert js_value(run, "[String({}), new TypeError('t').name]") == ["[object Object]", "TypeError"]


# ---- helpers cannot be replaced ----------------------------------------------------------------------------


def test_sloppy_reassignment_of_helpers_has_no_effect(solo: RuntimePool) -> None:
    run = evaluator(solo)
    outcome = run("deny = () => {}; allow = () => {}; globalThis.warn = null; warn('real'); deny('still real')")
    assert (outcome.allowed, outcome.message, outcome.warnings) == (
        False,
        "still real",
        ["[test.policies.jspolicy.com]: real"],
    )
    assert run("deny('next')").message == "next"


def test_strict_reassignment_of_helpers_throws(solo: RuntimePool) -> None:
    run = evaluator(solo)
    outcome = run("'use strict';\ndeny = () => {};")
    assert outcome.code == 500 and outcome.message.startswith("Uncaught TypeError: ")
    assert run("deny('next')").message == "next"


@pytest.mark.parametrize(
    "attack",
    [
        "globalThis.get = () => ({fake: true})",
        "Object.defineProperty(globalThis, 'get', {value: () => ({fake: true})})",
        "delete globalThis.get",
        "Object.defineProperty(globalThis, '__jsp', {value: null})",
        "__jsp = null",
    ],
)
def test_get_cannot_be_replaced(solo: RuntimePool, attack: str) -> None:
    run = evaluator(solo)
    run(f"{attack}; allow()", cluster=[POD])
    assert js_value(run, "get('Pod', 'v1', 'shop/web').metadata.name", cluster=[POD]) == "web"


@pytest.mark.parametrize(
    "attack",
    [
        "Object.freeze(globalThis)",
        "Object.seal(globalThis)",
        "Object.preventExtensions(globalThis)",
        "Object.setPrototypeOf(globalThis, null)",
        "Object.setPrototypeOf(globalThis, {inherited: 'x'})",
        "globalThis.__proto__ = {inherited: 'x'}",
    ],
)
def test_global_object_attacks_do_not_break_the_next_evaluation(solo: RuntimePool, attack: str) -> None:
    run = evaluator(solo)
    run(f"{attack}; allow()")
    value = js_value(
        run, "[implicitGlobal, typeof inherited, typeof Object, [3, 1, 2].sort()]", setup="implicitGlobal = 5;"
    )
    assert value == [5, "undefined", "function", [1, 2, 3]]
    assert js_value(run, "typeof implicitGlobal") == "undefined"


# ---- what policies cannot reach ----------------------------------------------------------------------------

REMOVED = [
    "ArrayBuffer",
    "SharedArrayBuffer",
    "Uint8Array",
    "Float64Array",
    "BigInt64Array",
    "DataView",
    "Atomics",
    "WebAssembly",
    "WeakRef",
    "FinalizationRegistry",
    "setTimeout",
    "setInterval",
    "clearTimeout",
    "require",
    "process",
    "Buffer",
    "__jsp_host_raw",
    "__jsp_sab",
]


@pytest.mark.parametrize("name", REMOVED)
def test_unsafe_globals_are_undefined(evaluate: Evaluate, name: str) -> None:
    assert js_value(evaluate, f"[typeof {name}, typeof globalThis[{name!r}], {name!r} in globalThis]") == [
        "undefined",
        "undefined",
        False,
    ]


@pytest.mark.parametrize(
    "call", ["__jsp.run('x')", "__jsp.load('x', 'y')", "__jsp.unload('x')", "__jsp.globalsClean()"]
)
def test_internal_entry_points_refuse_policy_code(evaluate: Evaluate, call: str) -> None:
    uncaught = evaluate(f"{call}; allow()")
    assert (uncaught.allowed, uncaught.code) == (False, 500)
    assert "jspolicy: not allowed" in uncaught.message
    caught = evaluate(f"warn('w'); try {{ {call} }} catch (e) {{ }} deny('own decision')")
    assert (caught.allowed, caught.message) == (False, "own decision")
    assert caught.warnings == ["[test.policies.jspolicy.com]: w"]
    assert evaluate("deny('next')").message == "next"
