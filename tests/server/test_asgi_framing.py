"""The admission endpoints' own ASGI framing (server/app.py), driven message by message."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jspolicy.admission.evaluate import PolicyEngine
from jspolicy.cluster.memory import MemoryCluster
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.settings import RuntimeSettings
from jspolicy.server.app import AdmissionApp, WebhookState, create_app
from jspolicy.server.store import PolicyStore
from jspolicy.service.metrics import Metrics
from tests.server.conftest import pod, review

POLICY = """apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: deny.test.jspolicy.com}
spec:
  operations: ["*"]
  resources: ["*"]
  javascript: "deny('denied ' + request.name)"
"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[AdmissionApp]:
    (tmp_path / "policy.yaml").write_text(POLICY)
    store = PolicyStore([str(tmp_path)])
    assert store.reload()
    pool = RuntimePool(RuntimeSettings(pool_size=1))
    yield create_app(WebhookState(store, PolicyEngine(pool, MemoryCluster()), Metrics(), max_in_flight=4))
    pool.close()


def call(
    app: AdmissionApp,
    path: str,
    chunks: list[dict[str, Any]],
    *,
    method: str = "POST",
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", content_type.encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8443),
    }
    pending = list(chunks)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        await asyncio.sleep(3600)  # a real server would wait for the client
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(start["status"]), body


def body_of(name: str) -> bytes:
    document = review(pod())
    document["request"]["name"] = name
    return json.dumps(document).encode()


def test_a_body_in_several_chunks_is_answered_whole(app: AdmissionApp) -> None:
    data = body_of("split")
    chunks = [{"type": "http.request", "body": data[i : i + 100], "more_body": True} for i in range(0, len(data), 100)]
    chunks.append({"type": "http.request", "body": b"", "more_body": False})
    status, answer = call(app, "/policy/deny.test.jspolicy.com", chunks)
    assert status == 200
    assert json.loads(answer)["response"]["status"]["message"] == "denied split"


def test_a_client_that_leaves_mid_body_gets_no_answer_and_breaks_nothing(app: AdmissionApp) -> None:
    data = body_of("gone")
    status, answer = call(
        app,
        "/policy/deny.test.jspolicy.com",
        [{"type": "http.request", "body": data[:50], "more_body": True}, {"type": "http.disconnect"}],
    )
    assert (status, answer) == (499, b"")
    status, answer = call(app, "/policy/deny.test.jspolicy.com", [{"type": "http.request", "body": body_of("next")}])
    assert json.loads(answer)["response"]["status"]["message"] == "denied next"


CHARSET = "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("method", "path", "content_type", "message"),
    [
        ("GET", "/policy/deny.test.jspolicy.com", "application/json", None),
        ("POST", "/policy/", "application/json", None),
        ("POST", "/policy/a/b", "application/json", None),
        ("POST", "/floor", "application/json", None),  # only with --bench-floor
        ("POST", "/crds", CHARSET, f"contentType={CHARSET}, expected application/json"),
    ],
)
def test_other_requests_get_coded_errors(
    app: AdmissionApp, method: str, path: str, content_type: str, message: str | None
) -> None:
    status, answer = call(
        app, path, [{"type": "http.request", "body": body_of("x")}], method=method, content_type=content_type
    )
    assert status == 200
    response = json.loads(answer)["response"]
    assert response["allowed"] is False
    expected = message if message is not None else f"wrong request path: {path}"
    assert (response["status"]["code"], response["status"]["message"]) == (400, expected)


def test_a_non_json_number_is_a_400_naming_it_not_an_error_in_the_runtime(app: AdmissionApp) -> None:
    """A 20-digit number takes the exact decoder, which alone would read NaN and pass it on to V8."""
    data = body_of("nan").replace(b'"nginx:1.27"', b'"nginx", "a": NaN, "b": 123456789012345678901')
    status, answer = call(app, "/policy/deny.test.jspolicy.com", [{"type": "http.request", "body": data}])
    response = json.loads(answer)["response"]
    assert (status, response["status"]["code"]) == (200, 400)
    assert response["status"]["message"] == "couldn't decode the AdmissionReview: NaN is not valid JSON"


def test_an_update_whose_old_policy_does_not_decode_is_a_bad_request(app: AdmissionApp) -> None:
    policy = {"apiVersion": "policy.jspolicy.com/v1beta1", "kind": "JsPolicy", "metadata": {"name": "a.b.c"},
              "spec": {"operations": ["CREATE"], "resources": ["pods"], "javascript": "allow()"}}  # fmt: skip
    document = review(policy, kind="JsPolicy", resource="jspolicies", operation="UPDATE")
    document["request"]["oldObject"] = {**policy, "spec": 5}
    status, answer = call(app, "/crds", [{"type": "http.request", "body": json.dumps(document).encode()}])
    response = json.loads(answer)["response"]
    assert (status, response["allowed"], response["status"]["reason"]) == (200, False, "BadRequest")
    assert response["status"]["message"].startswith("oldObject: json: cannot unmarshal number")
