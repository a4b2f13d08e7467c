"""Faults under continuous traffic: policy files replaced, a worker killed, the certificate renewed."""

from __future__ import annotations

import os
import signal
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jspolicy.service import certs
from tests.server.conftest import Server, pod, post, review, start_server

POLICY = """apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {{name: version.test.jspolicy.com}}
spec:
  operations: ["*"]
  resources: ["*"]
  javascript: "deny('{answer}')"
"""


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("faults")
    source = directory / "version.yaml"
    source.write_text(POLICY.format(answer="v1"))
    running = start_server(directory, [source])
    yield running
    running.stop()


def hammer(
    server: Server, check: Callable[[dict[str, object]], str | None]
) -> tuple[threading.Event, list[str], list[threading.Thread], list[int]]:
    """Two threads sending requests until stopped; ``check`` returns a problem or None."""
    stop = threading.Event()
    problems: list[str] = []
    counts = [0]

    def loop() -> None:
        with server.client() as client:
            while not stop.is_set():
                try:
                    answer = post(client, "/policy/version.test.jspolicy.com", review(pod())).json()["response"]
                except Exception as error:
                    problems.append(f"request failed: {error!r}")
                    continue
                problem = check(answer)
                counts[0] += 1
                if problem:
                    problems.append(problem)

    threads = [threading.Thread(target=loop) for _ in range(2)]
    for thread in threads:
        thread.start()
    return stop, problems, threads, counts


def finish(stop: threading.Event, threads: list[threading.Thread]) -> None:
    stop.set()
    for thread in threads:
        thread.join()


def message(answer: dict[str, object]) -> str:
    status = answer.get("status")
    return str(status.get("message")) if isinstance(status, dict) else ""


def wait_for(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def current_answer(server: Server) -> str:
    with server.client() as client:
        return message(post(client, "/policy/version.test.jspolicy.com", review(pod())).json()["response"])


def test_policy_file_replaced_during_traffic(faulty: Server) -> None:
    path = faulty.policies / "version.yaml"
    stop, problems, threads, counts = hammer(
        faulty, lambda a: None if message(a) in ("v1", "v2") else f"unexpected answer {a}"
    )
    try:
        time.sleep(0.5)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(POLICY.format(answer="v2"))
        os.replace(temporary, path)
        wait_for(lambda: current_answer(faulty) == "v2")
        time.sleep(0.5)
    finally:
        finish(stop, threads)
    assert problems == [] and counts[0] > 20


def logged(server: Server, text: str) -> int:
    return server.log.read_text().count(text)


def every_worker_logs(server: Server, text: str, change: Callable[[], None]) -> None:
    """Make ``change`` and wait until each worker has logged ``text`` once more: workers reload independently."""
    before = logged(server, text)
    change()
    wait_for(lambda: logged(server, text) >= before + len(server.readiness()["workers"]))


def test_a_bad_file_keeps_the_last_good_version(faulty: Server) -> None:
    path = faulty.policies / "version.yaml"
    every_worker_logs(faulty, "loaded 1 policies", lambda: path.write_text(POLICY.format(answer="good")))
    bad = "apiVersion: policy.jspolicy.com/v1beta1\nkind: JsPolicy\nmetadata: {name: two.parts}\nspec: ["
    every_worker_logs(faulty, "policies not reloaded", lambda: path.write_text(bad))
    assert {current_answer(faulty) for _ in range(10)} == {"good"}
    path.write_text(POLICY.format(answer="fixed"))
    wait_for(lambda: current_answer(faulty) == "fixed")


def test_a_killed_worker_is_replaced(faulty: Server) -> None:
    victim = faulty.readiness()["workers"][0]["pid"]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: faulty.readiness()["ready"] and victim not in {w["pid"] for w in faulty.readiness()["workers"]},
             timeout=90)  # fmt: skip
    assert current_answer(faulty) == "fixed"


def test_a_worker_started_on_a_broken_file_serves_nothing_until_it_loads(faulty: Server) -> None:
    path = faulty.policies / "version.yaml"
    bad = "apiVersion: policy.jspolicy.com/v1beta1\nkind: JsPolicy\nmetadata: {name: two.parts}\nspec: ["
    every_worker_logs(faulty, "policies not reloaded", lambda: path.write_text(bad))
    victim = faulty.readiness()["workers"][0]["pid"]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: "serves nothing until they do" in faulty.log.read_text(), timeout=90)
    # The replacement knows no policy; the surviving worker answers every request with its last good version.
    assert not faulty.readiness()["ready"]
    assert {current_answer(faulty) for _ in range(20)} == {"fixed"}
    every_worker_logs(faulty, "loaded 1 policies", lambda: path.write_text(POLICY.format(answer="again")))
    wait_for(lambda: faulty.readiness()["ready"])
    assert {current_answer(faulty) for _ in range(10)} == {"again"}


def serving_names(server: Server, *, sni: bool = True) -> set[str]:
    context = ssl.create_default_context(cafile=server.ca)
    context.check_hostname = sni  # without SNI there is no name to check; the chain still is
    port = int(server.url.rsplit(":", 1)[1])
    name = "localhost" if sni else None
    with ssl.create_connection(("127.0.0.1", port)) as raw, context.wrap_socket(raw, server_hostname=name) as s:
        leaf = s.getpeercert()
    assert leaf is not None
    return {value for _, value in leaf["subjectAltName"]}


def test_certificate_renewal_during_traffic(faulty: Server) -> None:
    assert "renewed.example.com" not in serving_names(faulty)
    stop, problems, threads, counts = hammer(faulty, lambda a: None if a.get("uid") == "u-1" else f"bad {a}")
    try:
        time.sleep(0.5)
        certs.ensure(Path(faulty.cert_dir), [*certs.default_sans(), "renewed.example.com"])
        wait_for(lambda: "renewed.example.com" in serving_names(faulty))
        wait_for(lambda: "renewed.example.com" in serving_names(faulty, sni=False))  # clients sending no server name
        time.sleep(0.5)
    finally:
        finish(stop, threads)
    assert problems == [] and counts[0] > 20
