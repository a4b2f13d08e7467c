"""``jspolicy serve`` answering real HTTPS AdmissionReviews on loopback."""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import Server, pod, post, review

PRIVILEGED = "deny-privileged.examples.jspolicy.com"


@pytest.mark.parametrize("api_version", ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])
def test_validating_answer_in_the_request_version(server: Server, api_version: str) -> None:
    with server.client() as client:
        response = post(client, f"/policy/{PRIVILEGED}", review(pod(privileged=True), api_version=api_version))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == (
        b'{"kind":"AdmissionReview","apiVersion":"' + api_version.encode() + b'","response":{"uid":"u-1",'
        b'"allowed":false,"status":{"metadata":{},"message":"Privileged containers are not allowed: app",'
        b'"reason":"Forbidden","code":403}}}\n'
    )


def test_mutating_answer_carries_a_json_patch(server: Server) -> None:
    with server.client() as client:
        response = post(client, "/policy/add-team-label.examples.jspolicy.com", review(pod()))
    answer = response.json()["response"]
    assert answer["allowed"] is True and answer["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(answer["patch"])) == [
        {"op": "add", "path": "/metadata/labels", "value": {"team": "payments"}}
    ]


def test_crds_validates_jspolicy_objects(server: Server) -> None:
    bad = {
        "apiVersion": "policy.jspolicy.com/v1beta1",
        "kind": "JsPolicy",
        "metadata": {"name": "two.parts"},
        "spec": {"operations": ["CREATE"], "resources": ["pods"], "violationPolicy": "deny"},
    }
    body = review(bad, kind="JsPolicy", resource="jspolicies")
    body["request"]["kind"]["group"], body["request"]["kind"]["version"] = "policy.jspolicy.com", "v1beta1"
    with server.client() as client:
        answer = post(client, "/crds", body).json()["response"]
        assert answer["allowed"] is False and answer["status"]["reason"] == "Forbidden"
        assert answer["status"]["message"] == (
            '[metadata.name: Invalid value: "two.parts": should be a domain with at least three segments separated '
            'by dots, spec.violationPolicy: Invalid value: "deny": needs to be one of [Deny Warn Dry]]'
        )
        bad["metadata"]["name"] = "a.b.c"
        bad["spec"]["violationPolicy"] = "Deny"
        bad["spec"]["surprise"] = True
        answer = post(client, "/crds", body).json()["response"]
        assert answer["status"]["reason"] == "BadRequest" and "spec.surprise" in answer["status"]["message"]
        del bad["spec"]["surprise"]
        assert post(client, "/crds", body).json()["response"]["allowed"] is True


@pytest.mark.parametrize(
    ("path", "headers", "content", "code", "message"),
    [
        ("/policy/x", {"Content-Type": "text/plain"}, b"{}", 400, "contentType=text/plain, expected application/json"),
        ("/policy/x", {"Content-Type": "application/json"}, b"", 400, "request body is empty"),
        ("/policy/x", {"Content-Type": "application/json"}, b"{nope", 400, "couldn't decode the AdmissionReview"),
        ("/policy/x", {"Content-Type": "application/json"}, b'{"kind":"AdmissionReview"}', 400, "has no request"),
        ("/crds", {"Content-Type": "application/json"}, b"[1, 2]", 400, "expected a JSON object"),
        ("/other", {"Content-Type": "application/json"}, b"{}", 400, "wrong request path: /other"),
    ],
)
def test_bad_requests_get_coded_errors(
    server: Server, path: str, headers: dict[str, str], content: bytes, code: int, message: str
) -> None:
    with server.client() as client:
        response = client.post(path, content=content, headers=headers)
    assert response.status_code == 200
    answer = response.json()
    assert "kind" not in answer  # untyped, as jsPolicy writes errors
    assert answer["response"]["allowed"] is False and answer["response"]["status"]["code"] == code
    assert message in answer["response"]["status"]["message"]


def test_unknown_policy_is_a_coded_error(server: Server) -> None:
    with server.client() as client:
        answer = post(client, "/policy/missing.example.jspolicy.com", review(pod())).json()["response"]
    assert answer["status"] == {
        "metadata": {},
        "message": 'jspolicies.policy.jspolicy.com "missing.example.jspolicy.com" not found',
        "code": 400,
    }
    assert answer["uid"] == "u-1"


def test_a_body_over_the_limit_is_refused_without_reading_it_all(server: Server) -> None:
    huge = b'{"request": "' + b"x" * (8 * 1024 * 1024) + b'"}'
    with server.client() as client:
        answer = client.post("/policy/x", content=huge, headers={"Content-Type": "application/json"}).json()
    assert answer["response"]["status"]["code"] == 413


def test_health_readiness_and_metrics(server: Server) -> None:
    assert httpx.get(f"{server.health}/healthz").json() == {"status": "ok"}
    readiness = server.readiness()
    assert readiness["ready"] is True and readiness["certificate"] is True
    assert len(readiness["workers"]) == 2 and all(w["ready"] for w in readiness["workers"])
    with server.client() as client:
        post(client, f"/policy/{PRIVILEGED}", review(pod(privileged=True)))
    metrics = httpx.get(f"{server.metrics}/metrics").text
    assert f'policy_execution_total{{code="403",name="{PRIVILEGED}",type="Validating"}}' in metrics
    assert f'policy_execution_duration_seconds_bucket{{le="0.15",name="{PRIVILEGED}",type="Validating"}}' in metrics
    assert 'controller_runtime_webhook_requests_total{code="200",webhook="/policy/"}' in metrics
    assert 'controller_runtime_webhook_latency_seconds_count{webhook="/policy/"}' in metrics
    prefix = "controller_runtime_webhook_latency_seconds_bucket{"
    lines = [line for line in metrics.splitlines() if line.startswith(prefix) and '"/policy/"' in line]
    latency_buckets = {line.split('le="')[1].split('"')[0] for line in lines}
    assert latency_buckets == {
        "0.005",
        "0.01",
        "0.025",
        "0.05",
        "0.1",
        "0.25",
        "0.5",
        "1.0",
        "2.5",
        "5.0",
        "10.0",
        "+Inf",
    }


def test_hostile_policies_fail_alone_while_a_normal_policy_keeps_answering(server: Server) -> None:
    failures: list[str] = []
    stop = threading.Event()

    def normal_traffic() -> None:
        with server.client() as client:
            while not stop.is_set():
                answer = post(client, f"/policy/{PRIVILEGED}", review(pod(privileged=True))).json()["response"]
                if answer["status"].get("code") != 403:
                    failures.append(json.dumps(answer))

    threads = [threading.Thread(target=normal_traffic) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        with server.client() as client:
            started = time.monotonic()
            spin = post(client, "/policy/spin.hostile.jspolicy.com", review(pod())).json()["response"]
            assert spin["status"] == {"metadata": {}, "message": "script spin.hostile.jspolicy.com timed out",
                                      "code": 500}  # fmt: skip
            assert 0.9 < time.monotonic() - started < 10
            bomb = post(client, "/policy/bomb.hostile.jspolicy.com", review(pod())).json()["response"]
            assert bomb["status"]["code"] == 500 and "memory limit" in bomb["status"]["message"]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    readiness = server.readiness()
    assert readiness["ready"] and all(w["alive"] for w in readiness["workers"])


def test_policies_cannot_read_the_serving_keys(server: Server) -> None:
    def read(path: Path) -> str:
        obj = pod()
        obj["metadata"]["annotations"] = {"path": str(path)}
        with server.client() as client:
            return str(
                post(client, "/policy/keys.hostile.jspolicy.com", review(obj)).json()["response"]["status"]["message"]
            )

    assert read(server.cert_dir / "tls.key") == "undefined"
    assert read(server.cert_dir / "ca.key") == "undefined"
    assert read(server.policies / "hostile.yaml").startswith("# Policies that misbehave")  # other files stay readable


def test_serving_certificate_is_signed_by_a_separate_ca(server: Server) -> None:
    context = ssl.create_default_context(cafile=server.ca)
    port = int(server.url.rsplit(":", 1)[1])
    with ssl.create_connection(("127.0.0.1", port)) as raw, context.wrap_socket(raw, server_hostname="localhost") as s:
        leaf = s.getpeercert()
    assert leaf is not None
    subject = dict(item[0] for item in leaf["subject"])
    issuer = dict(item[0] for item in leaf["issuer"])
    assert issuer["commonName"] == "jspolicy webhook CA" and subject != issuer
    names = {value for _, value in leaf["subjectAltName"]}
    assert {"localhost", "127.0.0.1", "jspolicy.jspolicy.svc"} <= names
