"""AdmissionReview in and out: parsing v1/v1beta1 and answering byte-for-byte like jsPolicy."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from jspolicy.admission.evaluate import AdmissionOutcome
from jspolicy.admission.review import V1, V1BETA1, ReviewError, error_response, parse_review, render, response_for
from tests.conftest import Evaluate, pod

REQUEST: dict[str, Any] = {
    "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
    "kind": {"group": "", "version": "v1", "kind": "Pod"},
    "resource": {"group": "", "version": "v1", "resource": "pods"},
    "namespace": "shop",
    "operation": "CREATE",
    "userInfo": {"username": "alice"},
    "object": pod(),
}


def body(**review: Any) -> bytes:
    return json.dumps(review).encode("utf-8")


def answer(outcome: AdmissionOutcome, uid: str = "u1", api_version: str | None = V1) -> bytes:
    return render(api_version, response_for(outcome, uid))


# ---- parse_review ------------------------------------------------------------------------


def test_parse_v1() -> None:
    review = parse_review(body(apiVersion=V1, kind="AdmissionReview", request=REQUEST))
    assert review.api_version == V1
    assert review.request == REQUEST
    assert review.uid == "705ab4f5-6393-11e8-b7cc-42010a800002"


def test_parse_v1beta1() -> None:
    review = parse_review(body(apiVersion=V1BETA1, kind="AdmissionReview", request=REQUEST))
    assert review.api_version == V1BETA1
    assert review.request["operation"] == "CREATE"


def test_parse_text_and_bytes_alike() -> None:
    text = json.dumps({"apiVersion": V1, "kind": "AdmissionReview", "request": REQUEST})
    assert parse_review(text) == parse_review(text.encode("utf-8"))


def test_a_missing_api_version_and_kind_default_to_v1() -> None:
    review = parse_review(body(request=REQUEST))
    assert review.api_version == V1


def test_big_integers_in_the_object_survive_parsing() -> None:
    text = '{"request": {"uid": "u", "operation": "CREATE", "object": {"spec": {"v": 12345678901234567890123}}}}'
    assert parse_review(text).request["object"]["spec"]["v"] == 12345678901234567890123


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "couldn't decode the AdmissionReview"),
        (b"{not json", "couldn't decode the AdmissionReview"),
        (b"\xff\xfe", "couldn't decode the AdmissionReview"),
        (b"[]", "couldn't decode the AdmissionReview: expected a JSON object"),
        (b'{"apiVersion": "admission.k8s.io/v1"}', "the AdmissionReview has no request"),
        (b'{"request": null}', "the AdmissionReview has no request"),
        (b'{"request": []}', "the AdmissionReview has no request"),
        (
            b'{"apiVersion": "admission.k8s.io/v2", "request": {}}',
            "unsupported AdmissionReview apiVersion 'admission.k8s.io/v2'; "
            "expected admission.k8s.io/v1 or admission.k8s.io/v1beta1",
        ),
        (b'{"kind": "Review", "request": {}}', "expected kind AdmissionReview, got 'Review'"),
        (b'{"request": {"operation": "CREATE"}}', "request.uid is missing or not a string"),
        (b'{"request": {"uid": "u"}}', "request.operation is missing or not a string"),
        (b'{"request": {"uid": 5, "operation": "CREATE"}}', "request.uid is missing or not a string"),
    ],
)
def test_parse_errors(raw: bytes, message: str) -> None:
    with pytest.raises(ReviewError) as caught:
        parse_review(raw)
    assert str(caught.value).startswith(message)


# ---- rendering, byte for byte ------------------------------------------------------------


def test_an_allowed_outcome(evaluate: Evaluate) -> None:
    outcome = evaluate("allow();")
    assert answer(outcome) == (
        b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1",'
        b'"response":{"uid":"u1","allowed":true,"status":{"metadata":{},"code":200}}}\n'
    )


def test_falling_off_the_end_is_allowed(evaluate: Evaluate) -> None:
    assert answer(evaluate("const x = 1;"), uid="abc") == (
        b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1",'
        b'"response":{"uid":"abc","allowed":true,"status":{"metadata":{},"code":200}}}\n'
    )


def test_a_default_deny(evaluate: Evaluate) -> None:
    assert answer(evaluate("deny('no pods in default');")) == (
        b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"u1","allowed":false,'
        b'"status":{"metadata":{},"message":"no pods in default","reason":"Forbidden","code":403}}}\n'
    )


def test_a_deny_with_custom_reason_and_code(evaluate: Evaluate) -> None:
    assert answer(evaluate("deny('slow down', 'TooManyRequests', 429);")) == (
        b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"u1","allowed":false,'
        b'"status":{"metadata":{},"message":"slow down","reason":"TooManyRequests","code":429}}}\n'
    )


def test_a_javascript_error_is_a_500_without_reason(evaluate: Evaluate) -> None:
    outcome = evaluate("warn('lost'); throw 'broken';")
    assert answer(outcome) == (
        b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"u1","allowed":false,'
        b'"status":{"metadata":{},"message":"broken","code":500}}}\n'
    )


def test_an_uncaught_error_message_keeps_its_stack(evaluate: Evaluate) -> None:
    outcome = evaluate("throw new Error('boom');")
    response = json.loads(answer(outcome))["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 500
    assert "reason" not in response["status"]
    assert response["status"]["message"].startswith("Uncaught Error: boom")


def test_warnings_are_prefixed_and_listed_last(evaluate: Evaluate) -> None:
    outcome = evaluate("warn('first'); warn('second');", name="warns.company.tld")
    assert answer(outcome) == (
        b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"u1","allowed":true,'
        b'"status":{"metadata":{},"code":200},'
        b'"warnings":["[warns.company.tld]: first","[warns.company.tld]: second"]}}\n'
    )


def test_warnings_survive_a_deny(evaluate: Evaluate) -> None:
    response = json.loads(answer(evaluate("warn('w'); deny('d');")))["response"]
    assert response["allowed"] is False
    assert response["warnings"] == ["[test.policies.jspolicy.com]: w"]
    assert list(response) == ["uid", "allowed", "status", "warnings"]


def test_violation_policy_warn_turns_a_deny_into_a_warning(evaluate: Evaluate) -> None:
    outcome = evaluate("warn('w'); deny('d');", violationPolicy="Warn")
    assert answer(outcome) == (
        b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"u1","allowed":true,'
        b'"status":{"metadata":{},"code":200},'
        b'"warnings":["[test.policies.jspolicy.com]: w","[test.policies.jspolicy.com]: d"]}}\n'
    )


def test_html_characters_are_escaped_like_go(evaluate: Evaluate) -> None:
    outcome = evaluate("deny('<b>Tom & Jerry</b> \\u2028 é');")
    assert answer(outcome) == (
        b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"u1","allowed":false,'
        b'"status":{"metadata":{},"message":"\\u003cb\\u003eTom \\u0026 Jerry\\u003c/b\\u003e \\u2028 '
        + "é".encode()
        + b'","reason":"Forbidden","code":403}}}\n'
    )


def test_a_patch_response(evaluate: Evaluate) -> None:
    js = "request.object.metadata.annotations = {zeta: '1', alpha: '<2>'}; mutate(request.object);"
    outcome = evaluate(js, type="Mutating")
    rendered = answer(outcome)
    response = json.loads(rendered)["response"]
    assert list(response) == ["uid", "allowed", "status", "patch", "patchType"]
    assert response["patchType"] == "JSONPatch"
    assert response["status"] == {"metadata": {}, "code": 200}
    patch = base64.b64decode(response["patch"], validate=True)
    assert patch == b'[{"op":"add","path":"/metadata/annotations","value":{"alpha":"\\u003c2\\u003e","zeta":"1"}}]'
    assert json.loads(patch) == [{"op": "add", "path": "/metadata/annotations", "value": {"alpha": "<2>", "zeta": "1"}}]


def test_patch_operations_keep_op_path_value_order() -> None:
    outcome = AdmissionOutcome(
        policy="p",
        allowed=True,
        patch=[
            {"value": {"b": [1, {"z": None, "a": True}], "a": 12345678901234567890123}, "path": "/x", "op": "add"},
            {"path": "/y", "op": "remove"},
            {"op": "replace", "value": "&", "path": "/a~1b"},
        ],
    )
    response = json.loads(answer(outcome))["response"]
    assert base64.b64decode(response["patch"]) == (
        b'[{"op":"add","path":"/x","value":{"a":12345678901234567890123,"b":[1,{"a":true,"z":null}]}},'
        b'{"op":"remove","path":"/y"},'
        b'{"op":"replace","path":"/a~1b","value":"\\u0026"}]'
    )


def test_a_patch_with_warnings(evaluate: Evaluate) -> None:
    outcome = evaluate("warn('w'); request.object.metadata.labels.x = 'y'; mutate(request.object);", type="Mutating")
    response = json.loads(answer(outcome))["response"]
    assert list(response) == ["uid", "allowed", "status", "patch", "patchType", "warnings"]
    assert json.loads(base64.b64decode(response["patch"])) == [
        {"op": "add", "path": "/metadata/labels/x", "value": "y"}
    ]


def test_dry_mode_drops_the_patch(evaluate: Evaluate) -> None:
    js = "request.object.metadata.labels.x = 'y'; mutate(request.object);"
    outcome = evaluate(js, type="Mutating", violationPolicy="Dry")
    assert b"patch" not in answer(outcome)


def test_v1beta1_requests_are_answered_in_v1beta1(evaluate: Evaluate) -> None:
    review = parse_review(body(apiVersion=V1BETA1, kind="AdmissionReview", request=REQUEST))
    rendered = render(review.api_version, response_for(evaluate("deny('x');"), review.uid))
    assert rendered == (
        b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","response":'
        b'{"uid":"705ab4f5-6393-11e8-b7cc-42010a800002","allowed":false,'
        b'"status":{"metadata":{},"message":"x","reason":"Forbidden","code":403}}}\n'
    )


def test_error_responses() -> None:
    assert error_response(400, "bad path") == {
        "uid": "",
        "allowed": False,
        "status": {"metadata": {}, "message": "bad path", "code": 400},
    }
    assert render(None, error_response(400, "unknown policy <x>")) == (
        b'{"response":{"uid":"","allowed":false,"status":{"metadata":{},"message":"unknown policy \\u003cx\\u003e",'
        b'"code":400}}}\n'
    )
    assert render(V1, error_response(500, "boom", uid="u9")) == (
        b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1",'
        b'"response":{"uid":"u9","allowed":false,"status":{"metadata":{},"message":"boom","code":500}}}\n'
    )


def test_a_missing_bundle_is_a_500_deny() -> None:
    # What respond() makes of a ProgramError, rendered.
    outcome = AdmissionOutcome(
        policy="p", allowed=False, code=500, message="couldn't find javascript bundle for js policy p"
    )
    assert render(V1, response_for(outcome, "u")) == (
        b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"u","allowed":false,'
        b'"status":{"metadata":{},"message":"couldn\'t find javascript bundle for js policy p","code":500}}}\n'
    )


# ---- lone surrogates from JavaScript -------------------------------------------------------


def test_a_lone_surrogate_in_a_deny_message(evaluate: Evaluate) -> None:
    outcome = evaluate("deny('bad \\ud800 end');")
    assert outcome.message == "bad \ufffd end"
    rendered = answer(outcome)
    rendered.decode("utf-8")
    assert json.loads(rendered)["response"]["status"]["message"] == "bad \ufffd end"


def test_lone_surrogates_in_warnings_and_patches(evaluate: Evaluate) -> None:
    warned = evaluate("warn('w \\udc00');")
    assert json.loads(answer(warned))["response"]["warnings"] == ["[test.policies.jspolicy.com]: w \ufffd"]
    mutated = evaluate("request.object.metadata.labels.x = '\\ud800'; mutate(request.object);", type="Mutating")
    patch = json.loads(base64.b64decode(json.loads(answer(mutated))["response"]["patch"]))
    assert patch == [{"op": "add", "path": "/metadata/labels/x", "value": "\ufffd"}]
