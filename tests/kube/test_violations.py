"""ViolationWriter against a real kube-apiserver: JsPolicyViolations and PolicyReports."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import kubernetes.client
import pytest

from jspolicy.admission.request import build_request
from jspolicy.cluster.rest import ApiError, RestClient, resource_path
from jspolicy.cluster.violations import VIOLATIONS, ViolationWriter
from jspolicy.resources.kinds import KindRegistry
from jspolicy.resources.policy import API_VERSION, JsPolicy
from jspolicy.resources.violations import PolicyViolation
from tests.conftest import pod
from tests.kube.livecluster import new_namespace

KINDS = KindRegistry.builtin()


@pytest.fixture
def writers(api: kubernetes.client.ApiClient) -> Iterator[list[ViolationWriter]]:
    """Writers made by a test, closed after it."""
    made: list[ViolationWriter] = []
    yield made
    for writer in made:
        writer.close(timeout=10)


def _writer(writers: list[ViolationWriter], api: kubernetes.client.ApiClient, **options: Any) -> ViolationWriter:
    writer = ViolationWriter(api, **{"flush_interval": 0.05, **options})
    writers.append(writer)
    return writer


def _policy(api: kubernetes.client.ApiClient, annotations: Mapping[str, str] | None = None, **spec: Any) -> JsPolicy:
    """A JsPolicy created in the cluster, so it has the uid the ownerReference needs."""
    metadata: dict[str, Any] = {"name": f"p{uuid.uuid4().hex[:8]}.tests.jspolicy.com"}
    if annotations:
        metadata["annotations"] = dict(annotations)
    body = {
        "apiVersion": API_VERSION,
        "kind": "JsPolicy",
        "metadata": metadata,
        "spec": {"operations": ["CREATE"], "resources": ["pods"], "javascript": "allow()", **spec},
    }
    created = RestClient(api).request("POST", "/apis/policy.jspolicy.com/v1beta1/jspolicies", body=body)
    return JsPolicy(created)


def _violation(message: str, obj: Mapping[str, Any] | None = None, *, action: str = "Deny") -> PolicyViolation:
    request = build_request(KINDS, "CREATE", obj or pod())
    return PolicyViolation.for_request(request, action=action, code=403, reason="Forbidden", message=message)


def _read(api: kubernetes.client.ApiClient, path: str) -> Any:
    return RestClient(api).request("GET", path)


def _violations(api: kubernetes.client.ApiClient, policy: JsPolicy) -> Any:
    return _read(api, resource_path(VIOLATIONS, name=policy.name))


def _messages(api: kubernetes.client.ApiClient, policy: JsPolicy) -> list[str]:
    return [v["message"] for v in _violations(api, policy)["status"]["violations"]]


def test_violations_are_written_with_an_owner_reference(
    api: kubernetes.client.ApiClient, writers: list[ViolationWriter]
) -> None:
    policy = _policy(api)
    writer = _writer(writers, api)
    recorded = [_violation(f"m{i}") for i in range(3)]
    for violation in recorded:
        writer.record(policy, violation)
    assert writer.flush(30)
    stored = _violations(api, policy)
    assert stored["status"]["violations"] == [v.to_status_entry() for v in recorded]
    assert stored["spec"] == {}
    assert stored["metadata"]["ownerReferences"] == [
        {
            "apiVersion": API_VERSION,
            "kind": "JsPolicy",
            "name": policy.name,
            "uid": policy.metadata["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert (writer.written, writer.failed, writer.dropped) == (3, 0, 0)


def test_the_log_is_trimmed_fifo_to_the_audit_log_size(
    api: kubernetes.client.ApiClient, writers: list[ViolationWriter]
) -> None:
    policy = _policy(api, auditLogSize=3)
    writer = _writer(writers, api)
    writer.record(policy, _violation("m0"))
    writer.record(policy, _violation("m1"))
    assert writer.flush(30)
    assert _messages(api, policy) == ["m0", "m1"]
    for i in range(2, 6):
        writer.record(policy, _violation(f"m{i}"))
    assert writer.flush(30)
    assert _messages(api, policy) == ["m3", "m4", "m5"]


def test_skip_policies_write_nothing(api: kubernetes.client.ApiClient, writers: list[ViolationWriter]) -> None:
    policy = _policy(api, auditPolicy="Skip")
    writer = _writer(writers, api)
    writer.record(policy, _violation("ignored"))
    assert writer.flush(30)
    assert writer.written == 0
    with pytest.raises(Exception, match="not found"):
        _violations(api, policy)


def test_two_writers_lose_nothing_under_conflicts(
    api: kubernetes.client.ApiClient, writers: list[ViolationWriter]
) -> None:
    """Two replicas writing the same object: conflicts are retried with a fresh read, nothing is lost.
    Rounds repeat (at most five) until the writers really collided."""
    first = _writer(writers, api, flush_interval=0.0, retries=50)
    second = _writer(writers, api, flush_interval=0.0, retries=50)
    for _ in range(5):
        policy = _policy(api, auditLogSize=40)

        def write(writer: ViolationWriter, prefix: str, policy: JsPolicy = policy) -> None:
            for i in range(20):
                writer.record(policy, _violation(f"{prefix}{i}"))
                time.sleep(0.002)

        threads = [threading.Thread(target=write, args=(w, p)) for w, p in ((first, "a"), (second, "b"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert first.flush(60) and second.flush(60)
        messages = _messages(api, policy)
        assert sorted(messages) == sorted([f"a{i}" for i in range(20)] + [f"b{i}" for i in range(20)])
        for prefix in "ab":  # each writer's entries keep their order
            assert [m for m in messages if m[0] == prefix] == [f"{prefix}{i}" for i in range(20)]
        if first.conflicts + second.conflicts:
            break
    assert first.conflicts + second.conflicts > 0, "the writers never collided"
    assert first.failed == second.failed == 0


def test_conflicts_beyond_the_retries_are_dropped_not_retried_forever(
    api: kubernetes.client.ApiClient, writers: list[ViolationWriter]
) -> None:
    """jsPolicy recursed without bound on a persistent conflict; here the batch is dropped and counted."""
    policy = _policy(api)
    writer = _writer(writers, api, retries=2)
    writer.record(policy, _violation("first"))
    assert writer.flush(30)
    path = resource_path(VIOLATIONS, name=policy.name)
    rest = RestClient(api)
    stop = threading.Event()

    def interfere() -> None:  # keeps moving the resourceVersion under the writer
        tick = 0
        while not stop.is_set():
            tick += 1
            current = rest.request("GET", path)
            current["metadata"]["annotations"] = {"tick": f"{threading.get_ident()}-{tick}"}
            with contextlib.suppress(ApiError):
                rest.request("PUT", path, body=current)

    others = [threading.Thread(target=interfere) for _ in range(4)]
    for thread in others:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while writer.failed == 0 and time.monotonic() < deadline:
            writer.record(policy, _violation("contended"))
            assert writer.flush(30)
    finally:
        stop.set()
        for thread in others:
            thread.join()
    assert writer.failed > 0
    assert writer.conflicts >= 3  # the first try and both retries
    writer.record(policy, _violation("after"))
    assert writer.flush(30)
    assert _messages(api, policy)[-1] == "after"


def test_record_drops_the_oldest_when_full() -> None:
    """An unreachable API server must not slow admission down: record() only queues."""
    configuration = kubernetes.client.Configuration()
    configuration.host = "https://127.0.0.1:1"
    with kubernetes.client.ApiClient(configuration) as unreachable:
        writer = ViolationWriter(unreachable, flush_interval=60, max_pending=100, retries=0)
        policy = JsPolicy({"apiVersion": API_VERSION, "kind": "JsPolicy", "metadata": {"name": "p.tests.jspolicy.com"}})
        violation = _violation("m")
        for _ in range(5000):  # that record() never waits for a write: test_record_does_not_wait_for_a_busy_writer
            writer.record(policy, violation)
        assert writer.dropped == 4900
        writer.close(timeout=30)
        assert writer.failed == 100
        assert writer.written == 0


def test_record_does_not_wait_for_a_busy_writer(
    api: kubernetes.client.ApiClient, writers: list[ViolationWriter]
) -> None:
    """While the writer is stuck in a write, record() keeps queueing: it never waits for the API server."""
    policy = _policy(api)
    writer = _writer(writers, api, flush_interval=0.0)
    writing, release = threading.Event(), threading.Event()
    write_batch = writer._write_batch

    def stuck_write(batch: list[Any]) -> None:
        writing.set()
        release.wait(120)
        write_batch(batch)

    writer._write_batch = stuck_write  # type: ignore[method-assign]
    writer.record(policy, _violation("m0"))
    assert writing.wait(60)

    def record_the_rest() -> None:
        for i in range(1, 500):
            writer.record(policy, _violation(f"m{i}"))

    recorder = threading.Thread(target=record_the_rest)
    recorder.start()
    recorder.join(60)
    finished_while_stuck = not recorder.is_alive() and not release.is_set()
    release.set()
    recorder.join(60)
    assert finished_while_stuck
    assert writer.flush(60)
    assert _messages(api, policy) == [f"m{i}" for i in range(480, 500)]  # the default auditLogSize, 20


def test_policy_reports(api: kubernetes.client.ApiClient, writers: list[ViolationWriter]) -> None:
    ns = new_namespace(api, "reports")
    policy = _policy(
        api, annotations={"policy.jspolicy.com/category": "Pod Security", "policy.jspolicy.com/severity": "medium"}
    )
    writer = _writer(writers, api, policy_reports=True, max_events=3)
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns}}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": ns}}
    denied = _violation("no deployments here", deployment)
    writer.record(policy, denied, resource_uid="uid-1")
    writer.record(policy, _violation("dry", config, action="Dry"))
    writer.record(policy, _violation("namespaces are watched", namespace, action="Warn"))
    writer.record(policy, _violation("from a controller", config, action="Controller"))
    assert writer.flush(30)

    report = _read(api, f"/apis/wgpolicyk8s.io/v1alpha2/namespaces/{ns}/policyreports/js-policy-report-ns-{ns}")
    assert report["metadata"]["ownerReferences"][0]["uid"] == policy.metadata["uid"]
    assert report["summary"] == {"pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 1}
    first, second = report["results"]
    assert first == {
        "source": "JsPolicy",
        "policy": policy.name,
        "result": "fail",
        "category": "Pod Security",
        "severity": "medium",
        "message": "no deployments here",
        "timestamp": {"seconds": first["timestamp"]["seconds"], "nanos": 0},
        # apiVersion is group/version: jsPolicy wrote the version alone.
        "resources": [{"kind": "Deployment", "namespace": ns, "name": "web", "apiVersion": "apps/v1", "uid": "uid-1"}],
        "properties": {
            "operation": "CREATE",
            "reason": "Forbidden",
            "code": "403",
            "userinfo.username": "kubernetes-admin",
        },
    }
    assert abs(first["timestamp"]["seconds"] - time.time()) < 120
    assert (second["result"], second["message"]) == ("skip", "dry")

    cluster_report = _read(api, "/apis/wgpolicyk8s.io/v1alpha2/clusterpolicyreports/js-cluster-policy-report")
    ours = [r for r in cluster_report["results"] if r["policy"] == policy.name]
    assert [(r["result"], r["message"], r["resources"][0]["kind"]) for r in ours] == [
        ("warn", "namespaces are watched", "Namespace")
    ]
    # Controller policies always write JsPolicyViolations.
    assert [v["action"] for v in _violations(api, policy)["status"]["violations"]] == ["Controller"]

    for i in range(3):
        writer.record(policy, _violation(f"again {i}", deployment))
    assert writer.flush(30)
    report = _read(api, f"/apis/wgpolicyk8s.io/v1alpha2/namespaces/{ns}/policyreports/js-policy-report-ns-{ns}")
    assert [r["message"] for r in report["results"]] == ["again 0", "again 1", "again 2"]  # max_events, oldest out
    assert report["summary"] == {"pass": 0, "fail": 3, "warn": 0, "error": 0, "skip": 0}
