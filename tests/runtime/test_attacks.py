"""Attacks found in review, each kept as a regression test.

Hostile policies reaching the runtime's internals from promise callbacks,
hiding globals from the change check, bypassing the array-length guard with a
changing getter, outliving their deadline in fetchSync or readFileSync, and
load patterns that used to condemn healthy contexts.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jspolicy.admission.request import UserInfo
from jspolicy.cluster.memory import MemoryCluster
from jspolicy.runtime.host import HostFunctions
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.program import PolicyProgram
from jspolicy.runtime.settings import RuntimeSettings
from tests.conftest import Evaluate, evaluator, pod


@pytest.fixture
def solo_pool() -> Iterator[RuntimePool]:
    runtime = RuntimePool(RuntimeSettings(pool_size=1))
    yield runtime
    runtime.close()


SPY_NAME = "spy.attacker.example.com"
SPY = 'print("STOLEN " + JSON.stringify(request.object.metadata) + " " + request.userInfo.username)'


def test_a_promise_callback_cannot_run_a_policy_on_the_next_request(solo_pool: RuntimePool) -> None:
    run = evaluator(solo_pool)
    key = PolicyProgram.of(SPY_NAME, SPY).key
    victim = 'if (request.object.metadata.name === "secret-pod") deny("no")'
    run(victim, name="victim.policies.example.com")
    run(SPY, name=SPY_NAME)  # the program is loaded in the one context
    poller = f"(function poll() {{ try {{ __jsp.run({key!r}) }} catch (e) {{ Promise.resolve().then(poll) }} }})();"
    run(poller, name="attacker.policies.example.com")
    secret = pod(metadata={"name": "secret-pod", "namespace": "prod", "annotations": {"token": "s3cr3t"}})
    outcome = run(victim, secret, name="victim.policies.example.com", user=UserInfo(username="alice"))
    assert (outcome.allowed, outcome.code, outcome.message) == (False, 403, "no")
    assert outcome.raw.prints == []


def test_a_descriptor_getter_cannot_hide_a_global_from_the_next_policy(solo_pool: RuntimePool) -> None:
    run = evaluator(solo_pool)
    hide = """
      const d = {enumerable: false, configurable: true};
      Object.defineProperty(d, 'get', {enumerable: true, get() {
        try { __jsp.globalsClean(); } catch (e) {}
        return function () { allow(); };
      }});
      Object.defineProperty(globalThis, 'self', d);
    """
    run(hide, name="a.policies.example.com")
    lodash_style = "var freeSelf = typeof self == 'object' && self; deny('privileged pods are not allowed')"
    for _ in range(3):
        outcome = run(lodash_style, name="b.policies.example.com")
        assert (outcome.allowed, outcome.message) == (False, "privileged pods are not allowed")


@pytest.mark.parametrize(
    "source",
    [
        "let n = 0; Array.from({get length() { return n++ === 0 ? 1 : 1e9 }})",
        "let n = 0; Array.prototype.join.call({get length() { return n++ === 0 ? 1 : 2**32 - 1 }}, '')",
        "Array.prototype.fill.call(new Proxy([], {get: (t, k) => k === 'length' ? 1e9 : t[k]}), 0)",
    ],
)
def test_a_changing_length_cannot_slip_past_the_guard(evaluate: Evaluate, source: str) -> None:
    started = time.monotonic()
    outcome = evaluate(source, timeoutSeconds=2)
    assert (outcome.allowed, outcome.code) == (False, 500)
    assert "plain length" in outcome.message
    assert time.monotonic() - started < 2
    assert evaluate("deny('still serving')").message == "still serving"


def test_long_strings_still_work_with_string_methods(evaluate: Evaluate) -> None:
    source = """
      const s = 'x'.repeat(5e6) + '\\ny';
      if (s.split('\\n').length !== 2 || s.replace('y', 'z').endsWith('z') !== true) deny('broken');
      deny('ok ' + 'a'.padStart(3, '-'));
    """
    assert evaluate(source).message == "ok --a"
    assert "exceeds the jspolicy limit" in evaluate("'\\u1234'.repeat(2**28).normalize('NFKD')").message


@pytest.fixture
def dripping_server() -> Iterator[int]:
    """Answers headers one byte every 0.3 s for 12 s: per-read timeouts never fire."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                connection.recv(4096)
                try:
                    connection.sendall(b"HTTP/1.1 200 OK\r\nX-A: ")
                    for _ in range(40):
                        if stop.wait(0.3):
                            return
                        connection.sendall(b"a")
                except OSError:
                    continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    server.close()


def test_fetch_sync_ends_at_the_deadline_even_when_the_server_drips(evaluate: Evaluate, dripping_server: int) -> None:
    started = time.monotonic()
    outcome = evaluate(
        f"try {{ fetchSync('http://127.0.0.1:{dripping_server}/') }} catch (e) {{ deny(String(e)) }}",
        timeoutSeconds=2,
    )
    elapsed = time.monotonic() - started
    assert outcome.allowed is False and elapsed < 4
    assert outcome.message.startswith("fetchSync:") or outcome.message.endswith("timed out")


def test_read_file_sync_refuses_pipes(evaluate: Evaluate, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    started = time.monotonic()
    outcome = evaluate(f"deny(String(readFileSync({str(fifo)!r})))", timeoutSeconds=2)
    assert outcome.message == "undefined" and time.monotonic() - started < 1


def test_a_request_that_gets_the_context_late_does_not_condemn_it(solo_pool: RuntimePool) -> None:
    host = HostFunctions(cluster=MemoryCluster(()), settings=solo_pool.settings, policy="p")
    quick = PolicyProgram.of("quick.example.jspolicy.com", "allow()")
    slow = PolicyProgram.of("slow.example.jspolicy.com", "const t = Date.now(); while (Date.now() - t < 900) {}")
    request = '{"uid":"1","operation":"CREATE"}'
    solo_pool.evaluate(quick, request, host, timeout=1.0)
    results = []
    for _ in range(3):
        worker = threading.Thread(target=lambda: solo_pool.evaluate(slow, request, host, timeout=1.0))
        worker.start()
        time.sleep(0.02)
        results.append(solo_pool.evaluate(quick, request, host, timeout=1.0))
        worker.join()
    assert [r.error for r in results] == [None, None, None]
    assert solo_pool.replaced == 0
