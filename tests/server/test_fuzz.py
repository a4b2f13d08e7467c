"""Property-based fuzzing of the webhook endpoints with malformed, truncated, oversized and type-confused bodies.

Every answer must be a well-formed coded AdmissionReview (HTTP 200) or a clean 4xx, the server must stay
up, and a normal request right after must still be answered correctly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.conftest import Server, pod, post, review

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
REQUEST_FIELDS = ["uid", "kind", "resource", "operation", "userInfo", "object", "oldObject", "name", "namespace",
                  "dryRun", "options", "subResource"]  # fmt: skip


@st.composite
def confused_reviews(draw: st.DrawFn) -> bytes:
    """A valid review with some fields replaced by values of the wrong type."""
    body: dict[str, Any] = review(pod(privileged=draw(st.booleans())))
    for field in draw(st.lists(st.sampled_from(REQUEST_FIELDS), max_size=4)):
        body["request"][field] = draw(json_values)
    if draw(st.booleans()):
        body[draw(st.sampled_from(["apiVersion", "kind", "request"]))] = draw(json_values)
    return json.dumps(body).encode()


@st.composite
def truncated(draw: st.DrawFn) -> bytes:
    body = json.dumps(review(pod())).encode()
    return body[: draw(st.integers(min_value=0, max_value=len(body) - 1))]


bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    json_values.map(lambda value: json.dumps(value).encode()),
    truncated(),
    confused_reviews(),
)


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as connection:
        yield connection


def assert_well_formed(response: httpx.Response) -> None:
    if 400 <= response.status_code < 500:
        return
    assert response.status_code == 200, response.text
    answer = response.json()["response"]
    assert isinstance(answer["allowed"], bool)
    status = answer["status"]
    assert isinstance(status["code"], int) and status["metadata"] == {}
    if not answer["allowed"]:
        assert status["code"] in (400, 403, 413, 429, 500)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, path=st.sampled_from(["/policy/deny-privileged.examples.jspolicy.com", "/crds",
                                          "/policy/add-team-label.examples.jspolicy.com"]))  # fmt: skip
def test_fuzzed_bodies_get_coded_answers(client: httpx.Client, body: bytes, path: str) -> None:
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert_well_formed(response)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content_type=st.text(max_size=40), body=st.binary(max_size=100))
def test_fuzzed_content_types(client: httpx.Client, content_type: str, body: bytes) -> None:
    try:
        response = client.post("/crds", content=body, headers={"Content-Type": content_type})
    except (httpx.LocalProtocolError, UnicodeEncodeError):
        return  # not a valid header value: the client refuses to send it
    assert_well_formed(response)


def test_normal_requests_still_work_after_fuzzing(server: Server, client: httpx.Client) -> None:
    answer = post(client, "/policy/deny-privileged.examples.jspolicy.com", review(pod(privileged=True))).json()
    assert answer["response"]["status"]["code"] == 403
    assert server.process.poll() is None and server.readiness()["ready"]
