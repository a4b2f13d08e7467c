"""What parse_review accepts can be answered; what it cannot answer is a 400 that names the problem."""

from __future__ import annotations

import json

import pytest

from jspolicy import fastjson
from jspolicy.admission.review import ReviewError, error_response, parse_review, render


def body(obj: object, uid: str = "u") -> str:
    request = {"uid": uid, "operation": "CREATE", "object": obj}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})


@pytest.mark.parametrize("escaped", ["\\ud800", "\\udc00", "x\\ud83dy", "\\ude00\\ud83d"])
def test_a_lone_surrogate_becomes_the_replacement_character_as_go_decodes_it(escaped: str) -> None:
    text = body({"metadata": {"name": "n", "annotations": {escaped.replace("\\", "\\\\"): "v"}}})
    text = text.replace('"uid": "u"', f'"uid": "{escaped}"').replace('"name": "n"', f'"name": "{escaped}"')
    review = parse_review(text.encode())
    assert "\ufffd" in review.uid and "\ufffd" in review.request["object"]["metadata"]["name"]
    render(review.api_version, error_response(400, "x", review.uid))  # answerable
    fastjson.dumps(review.request)  # and can be passed on to V8


def test_a_valid_escaped_pair_is_kept_next_to_a_big_integer() -> None:
    """A 20-digit number sends the body down the exact slow path; a real pair must survive it."""
    review = parse_review(body({"n": 10**20, "s": "\\ud83d\\ude00"}).replace("\\\\", "\\").encode())
    assert review.request["object"] == {"n": 10**20, "s": "\U0001f600"}


def nested(depth: int) -> bytes:
    return body({"a": "[" * depth + "]" * depth}).replace('"[', "[").replace(']"', "]").encode()


@pytest.mark.parametrize("depth", [260, 1000, 1020, 5000, 10_000])
def test_nesting_too_deep_to_pass_on_is_a_400_naming_it(depth: int) -> None:
    with pytest.raises(ReviewError, match="nested deeper than 254 levels"):
        parse_review(nested(depth))


@pytest.mark.parametrize("depth", [100, 245])
def test_nesting_that_can_be_passed_on_is_answerable(depth: int) -> None:
    review = parse_review(nested(depth))
    assert fastjson.loads(review.request_json) == review.request


def test_many_brackets_that_do_not_nest_are_fine() -> None:
    review = parse_review(body({"items": [{"a": [1]} for _ in range(2000)]}).encode())
    assert len(review.request["object"]["items"]) == 2000
