"""Guard for the pinned mini-racer internals that jspolicy/runtime/v8.py binds to.

If the wheel changes, these tests fail loudly before anything subtler breaks: the
version pin, the private symbols, and the synchronous host-call channel end to end.
"""

from __future__ import annotations

import importlib.metadata
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from jspolicy.admission.evaluate import PolicyEngine
from jspolicy.admission.request import build_request
from jspolicy.bundler.origin import CodeSource, resolve_program
from jspolicy.cluster.memory import MemoryCluster
from jspolicy.runtime import v8
from jspolicy.runtime.context import PolicyContext
from jspolicy.runtime.program import PolicyProgram, RawResult
from jspolicy.runtime.settings import RuntimeSettings
from tests.conftest import make_policy, pod
from tests.runtime.conftest import PoolFactory

DLL_FUNCTIONS = [
    "mr_init_context",
    "mr_eval",
    "mr_cancel_task",
    "mr_make_js_callback",
    "mr_set_object_item",
    "mr_call_function",
    "mr_free_context",
    "mr_alloc_string_val",
    "mr_alloc_int_val",
    "mr_free_value",
    "mr_set_hard_memory_limit",
    "mr_hard_memory_limit_reached",
    "mr_set_soft_memory_limit",
    "mr_soft_memory_limit_reached",
    "mr_low_memory_notification",
    "mr_heap_stats",
]
BIG = 200 * 1024
TEXT = "é😀"
UNITS = len(TEXT.encode("utf-16-le")) // 2  # JS string length of TEXT (3)


def test_installed_mini_racer_is_the_pinned_version() -> None:
    assert importlib.metadata.version("mini-racer") == v8.PINNED_MINI_RACER
    assert v8.installed_mini_racer_version() == v8.PINNED_MINI_RACER


def test_private_module_symbols_exist() -> None:
    from py_mini_racer import _dll  # noqa: PLC0415 - the import itself is under test

    assert callable(_dll.init_mini_racer)
    assert callable(_dll.MR_CALLBACK)
    callback = _dll.MR_CALLBACK(lambda callback_id, raw: None)  # the signature v8.Isolate relies on
    assert callback is not None


@pytest.mark.parametrize("name", DLL_FUNCTIONS)
def test_library_functions_exist(name: str) -> None:
    assert callable(getattr(v8.library(), name))


def test_v8_version_is_readable() -> None:
    major = v8.v8_version().split(".")[0]
    assert major.isdigit() and int(major) >= 10


def test_the_soft_limit_flag_is_the_verdict_of_the_last_collection() -> None:
    """runtime/context.py relies on it: set by a collection that sees more, cleared by one that sees less
    and by setting the limit."""
    isolate = v8.Isolate(lambda: None)
    try:
        isolate.collect_garbage()
        limit = isolate.heap_used() + 16 * 1024 * 1024
        isolate.set_soft_memory_limit(limit)
        isolate.eval("globalThis.kept = new Array(4e6).fill(1.5)")  # 32 MB, live
        assert isolate.heap_used() > limit
        isolate.set_soft_memory_limit(limit)
        assert not isolate.soft_memory_limit_reached()
        isolate.collect_garbage()
        assert isolate.soft_memory_limit_reached()
        isolate.eval("globalThis.kept = null")
        isolate.collect_garbage()
        assert not isolate.soft_memory_limit_reached()
    finally:
        isolate.close()


# ---- a context with a scripted host ------------------------------------------------------------------------


class ScriptedHost:
    """Answers host calls like HostFunctions would, with canned data."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []
        self.prints: list[str] = []

    def call(self, op: str, args: list[Any], deadline: float) -> Any:
        self.calls.append((op, args))
        if op == "get":
            return {"kind": args[0], "name": args[2], "big": TEXT + "x" * BIG + TEXT}
        if op == "env":
            if args[0] == "EXPLODE":
                raise ValueError("host exploded")
            return f"value-of-{args[0]}"
        if op == "create":
            return {"ok": True, "object": {"size": len(json.dumps(args[0]))}}
        return None

    def print(self, line: str) -> None:
        self.prints.append(line)


@pytest.fixture(scope="module")
def context() -> Iterator[PolicyContext]:
    ctx = PolicyContext(RuntimeSettings(channel_bytes=64 * 1024))
    yield ctx
    ctx.close()


def evaluate(ctx: PolicyContext, source: str, request: dict[str, Any] | None = None, timeout: float = 2.0) -> RawResult:
    host = ScriptedHost()
    result = ctx.evaluate(
        PolicyProgram.of("guard", source), json.dumps(request or {"text": TEXT}), host, time.monotonic() + timeout
    )
    result.prints = host.prints
    return result


def test_host_call_round_trip(context: PolicyContext) -> None:
    result = evaluate(context, "deny(env('A') + '|' + env('B'))")
    assert (result.deny, result.message) == (True, "value-of-A|value-of-B")


def test_host_calls_inside_array_map(context: PolicyContext) -> None:
    result = evaluate(context, "deny(JSON.stringify(['x', 'y', 'z'].map((n) => env(n))))")
    assert json.loads(result.message or "") == ["value-of-x", "value-of-y", "value-of-z"]


def test_reply_larger_than_the_channel(context: PolicyContext) -> None:
    assert context.settings.channel_bytes < 2 * BIG  # the reply must be chunked
    result = evaluate(
        context,
        "const o = get('Pod', 'v1', 'ns/x'); const middle = o.big.slice(3, -3);"
        "deny(JSON.stringify([o.big.length, o.big.slice(0, 3), o.big.slice(-3), o.name, /^x+$/.test(middle)]))",
    )
    assert json.loads(result.message or "") == [BIG + 2 * UNITS, TEXT, TEXT, "ns/x", True]


def test_request_larger_than_the_channel(context: PolicyContext) -> None:
    result = evaluate(context, "const r = create({data: 'é'.repeat(100000) + '😀'}); deny(String(r.object.size))")
    assert result.message == str(len(json.dumps({"data": "é" * 100000 + "😀"})))


def test_input_larger_than_the_channel(context: PolicyContext) -> None:
    big = TEXT * 50000
    result = evaluate(context, "deny(String(request.text.length) + request.text.slice(-3))", request={"text": big})
    assert len(big) * 2 > context.settings.channel_bytes
    assert result.message == f"{50000 * UNITS}{TEXT}"


def test_non_ascii_text_round_trips(context: PolicyContext) -> None:
    result = evaluate(
        context, "print(request.text, env(request.text)); warn(request.text); deny(request.text + btoa(request.text))"
    )
    assert result.message == TEXT + "w6nwn5iA"
    assert result.warnings == [TEXT]
    assert result.prints == [f"{TEXT} value-of-{TEXT}"]


def test_python_exception_in_the_host_is_a_catchable_js_error(context: PolicyContext) -> None:
    result = evaluate(
        context, "try { env('EXPLODE') } catch (e) { deny([e instanceof Error, e.message].join('|')) } allow()"
    )
    assert result.message == "true|ValueError: host exploded"


def test_host_loop_times_out_and_the_context_still_works(context: PolicyContext) -> None:
    started = time.monotonic()
    result = evaluate(context, "for (;;) { env('X') }", timeout=1.0)
    assert result.error == "script guard timed out"
    assert time.monotonic() - started < 2.5
    after = evaluate(context, "deny(env('after'))")
    assert (after.deny, after.message, after.error) == (True, "value-of-after", None)
    assert context.globals_clean()


# ---- concurrency -------------------------------------------------------------------------------------------


def test_threads_share_a_pool_and_get_their_own_answers(make_pool: PoolFactory) -> None:
    runtime = make_pool(pool_size=2)
    cluster = MemoryCluster()
    engine = PolicyEngine(runtime, cluster)
    policy = make_policy("warn(request.name); if (request.name.endsWith('7')) deny(request.name); allow()")
    program = resolve_program(CodeSource(policy), None)
    failures: list[str] = []

    def worker(thread: int) -> None:
        for i in range(200):
            name = f"t{thread}-{i}"
            request = build_request(cluster.kinds, "CREATE", pod(metadata={"name": name, "namespace": "shop"}))
            outcome = engine.evaluate(policy, program, request)
            expected_allowed = not name.endswith("7")
            if outcome.allowed != expected_allowed or outcome.warnings != [f"[{policy.name}]: {name}"]:
                failures.append(f"{name}: {outcome.allowed} {outcome.message} {outcome.warnings}")
            if not expected_allowed and outcome.message != name:
                failures.append(f"{name}: wrong message {outcome.message}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert runtime.replaced == 0  # no context was found broken along the way
