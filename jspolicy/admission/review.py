"""AdmissionReview in and out, v1 and v1beta1, byte-for-byte as jsPolicy answers.

jsPolicy writes responses with Go's encoding/json through controller-runtime:
struct field order (``kind`` before ``apiVersion``), ``status.metadata: {}``,
``status.code`` 200 when nothing else was set, the patch as base64 of a JSON
array, and a trailing newline. The answer uses the request's own apiVersion.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jspolicy import fastjson, gojson
from jspolicy.admission.evaluate import AdmissionOutcome

V1 = "admission.k8s.io/v1"
V1BETA1 = "admission.k8s.io/v1beta1"
KIND = "AdmissionReview"


TOO_DEEP = f"couldn't decode the AdmissionReview: nested deeper than {fastjson.MAX_DEPTH} levels"


class ReviewError(ValueError):
    """The body is not an AdmissionReview this server can answer (a 400)."""


@dataclass(frozen=True)
class Review:
    api_version: str
    request: dict[str, Any]
    request_json: str = ""  # the request as the policy receives it

    @property
    def uid(self) -> str:
        return str(self.request.get("uid") or "")


def parse_review(body: bytes | str) -> Review:
    """Decode an AdmissionReview (v1 or v1beta1); raises ReviewError."""
    try:
        document = fastjson.loads(body)
    except RecursionError:
        raise ReviewError(TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ReviewError(f"couldn't decode the AdmissionReview: {error}") from None
    if not isinstance(document, dict):
        raise ReviewError("couldn't decode the AdmissionReview: expected a JSON object")
    api_version = document.get("apiVersion") or V1
    if api_version not in (V1, V1BETA1):
        raise ReviewError(f"unsupported AdmissionReview apiVersion {api_version!r}; expected {V1} or {V1BETA1}")
    kind = document.get("kind") or KIND
    if kind != KIND:
        raise ReviewError(f"expected kind AdmissionReview, got {kind!r}")
    request = document.get("request")
    if not isinstance(request, dict):
        raise ReviewError("the AdmissionReview has no request")
    for field in ("uid", "operation"):
        if not isinstance(request.get(field), str):
            raise ReviewError(f"request.{field} is missing or not a string")
    _check_types(request)
    # The request goes to V8 as JSON text: encoded here, once, so that what cannot be encoded again
    # (nesting past the encoder's limit) is a 400 and not an error while answering.
    try:
        request_json = fastjson.dumps(request)
    except (fastjson.TooDeepError, RecursionError):
        raise ReviewError(TOO_DEEP) from None
    return Review(api_version, request, request_json)


_STRING_FIELDS = ("name", "namespace", "subResource", "requestSubResource")
_GVK_FIELDS = {"kind": "kind", "requestKind": "kind", "resource": "resource", "requestResource": "resource"}


def _check_types(request: dict[str, Any]) -> None:
    """What Go's decoder into admissionv1.AdmissionRequest refuses (unknown fields are ignored)."""

    def refuse(field: str, expected: str) -> ReviewError:
        return ReviewError(f"couldn't decode the AdmissionReview: request.{field} must be {expected}")

    for field in _STRING_FIELDS:
        if request.get(field) is not None and not isinstance(request[field], str):
            raise refuse(field, "a string")
    for field, last in _GVK_FIELDS.items():
        value = request.get(field)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(
            isinstance(value.get(key), str | None) for key in ("group", "version", last)
        ):
            raise refuse(field, f"an object with string group, version and {last}")
    user = request.get("userInfo")
    if user is not None:
        if not isinstance(user, dict):
            raise refuse("userInfo", "an object")
        if not all(isinstance(user.get(key), str | None) for key in ("username", "uid")):
            raise refuse("userInfo", "an object with string username and uid")
        groups = user.get("groups")
        if groups is not None and not (isinstance(groups, list) and all(isinstance(g, str) for g in groups)):
            raise refuse("userInfo.groups", "a list of strings")
        extra = user.get("extra")
        if extra is not None and not (
            isinstance(extra, dict)
            and all(isinstance(v, list) and all(isinstance(i, str) for i in v) for v in extra.values())
        ):
            raise refuse("userInfo.extra", "a map of string lists")
    for field in ("object", "oldObject", "options"):
        if request.get(field) is not None and not isinstance(request[field], dict):
            raise refuse(field, "an object")
    if request.get("dryRun") is not None and not isinstance(request["dryRun"], bool):
        raise refuse("dryRun", "a boolean")


def _status(code: int, reason: str = "", message: str = "") -> dict[str, Any]:
    status: dict[str, Any] = {"metadata": {}}
    if message:
        status["message"] = message
    if reason:
        status["reason"] = reason
    status["code"] = code
    return status


def _patch_bytes(patch: list[dict[str, Any]]) -> bytes:
    """[]jsonpatch.Operation: struct fields op, path, value; values are Go maps (sorted keys)."""
    parts = []
    for op in patch:
        text = '{"op":' + gojson.marshal(op["op"]) + ',"path":' + gojson.marshal(op["path"])
        if "value" in op:
            text += ',"value":' + gojson.marshal(op["value"], sort_keys=True)
        parts.append(text + "}")
    return ("[" + ",".join(parts) + "]").encode("utf-8")


def response_for(outcome: AdmissionOutcome, uid: str) -> dict[str, Any]:
    """The AdmissionResponse, fields in Go struct order."""
    response: dict[str, Any] = {"uid": uid, "allowed": outcome.allowed}
    response["status"] = _status(outcome.code, outcome.reason, outcome.message)
    if outcome.patch:
        response["patch"] = base64.b64encode(_patch_bytes(outcome.patch)).decode("ascii")
        response["patchType"] = "JSONPatch"
    if outcome.warnings:
        response["warnings"] = list(outcome.warnings)
    return response


def error_response(code: int, message: str, uid: str = "") -> dict[str, Any]:
    """admission.Errored(code, err): how request-level failures are answered."""
    return {"uid": uid, "allowed": False, "status": _status(code, message=message)}


def render(api_version: str | None, response: Mapping[str, Any]) -> bytes:
    """The body jsPolicy writes: typed when the request's version is known, untyped otherwise."""
    review: dict[str, Any] = {}
    if api_version:
        review["kind"] = KIND
        review["apiVersion"] = api_version
    review["response"] = dict(response)
    return (gojson.marshal(review) + "\n").encode("utf-8")
