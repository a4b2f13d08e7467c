"""``jspolicy review``: the exact bytes the webhook answers, for v1 and v1beta1."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pytest

from jspolicy.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "debug", "namespace": "shop"},
    "spec": {"containers": [{"name": "shell", "image": "busybox", "securityContext": {"privileged": True}}]},
}


def review_file(tmp_path: Path, api_version: str, obj: dict[str, Any], uid: str = "7f6b") -> str:
    request = {
        "uid": uid,
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "name": obj["metadata"]["name"],
        "namespace": obj["metadata"]["namespace"],
        "operation": "CREATE",
        "userInfo": {"username": "alice"},
        "object": obj,
        "oldObject": None,
        "dryRun": False,
    }
    path = tmp_path / "review.json"
    path.write_text(json.dumps({"apiVersion": api_version, "kind": "AdmissionReview", "request": request}))
    return str(path)


def run_review(capsysbinary: pytest.CaptureFixture[bytes], *args: str) -> tuple[int, bytes]:
    code = main(["review", *args])
    return code, capsysbinary.readouterr().out


@pytest.mark.parametrize("api_version", ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"])
def test_denial_bytes_in_the_request_version(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], api_version: str
) -> None:
    request = review_file(tmp_path, api_version, POD)
    policy = str(EXAMPLES / "policies" / "deny-privileged.yaml")
    code, body = run_review(capsysbinary, "--policy", policy, "--request", request)
    assert code == 1
    assert body == (
        b'{"kind":"AdmissionReview","apiVersion":"' + api_version.encode() + b'","response":{"uid":"7f6b",'
        b'"allowed":false,"status":{"metadata":{},"message":"Privileged containers are not allowed: shell",'
        b'"reason":"Forbidden","code":403}}}\n'
    )


def test_allowed_bytes(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    compliant = json.loads(json.dumps(POD))
    compliant["spec"]["containers"][0]["securityContext"] = {}
    request = review_file(tmp_path, "admission.k8s.io/v1", compliant, uid="abc")
    policy = str(EXAMPLES / "policies" / "deny-privileged.yaml")
    code, body = run_review(capsysbinary, "--policy", policy, "--request", request)
    assert code == 0
    assert body == (
        b'{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","response":{"uid":"abc","allowed":true,'
        b'"status":{"metadata":{},"code":200}}}\n'
    )


def test_mutation_answer_carries_a_base64_json_patch(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    request = review_file(tmp_path, "admission.k8s.io/v1", POD)
    policy = str(EXAMPLES / "policies" / "add-team-label.yaml")
    code, body = run_review(
        capsysbinary, "--policy", policy, "--request", request, "--cluster", str(EXAMPLES / "cluster")
    )
    assert code == 0
    response = json.loads(body)["response"]
    assert list(response) == ["uid", "allowed", "status", "patch", "patchType"]
    assert response["patchType"] == "JSONPatch"
    patch = base64.b64decode(response["patch"])
    assert patch == b'[{"op":"add","path":"/metadata/labels","value":{"team":"payments"}}]'


def test_request_from_stdin(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    request = Path(review_file(tmp_path, "admission.k8s.io/v1", POD)).read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(request)))
    policy = str(EXAMPLES / "policies" / "deny-privileged.yaml")
    code, body = run_review(capsysbinary, "--policy", policy, "--request", "-")
    assert code == 1 and json.loads(body)["response"]["status"]["code"] == 403


def test_a_missing_bundle_is_answered_like_the_webhook(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "apiVersion: policy.jspolicy.com/v1beta1\nkind: JsPolicy\nmetadata: {name: bundled.example.jspolicy.com}\n"
        "spec: {operations: [CREATE], resources: [pods]}\n"
    )
    code, body = run_review(capsysbinary, "--policy", str(policy), "--request", review_file(tmp_path, "", POD))
    assert code == 1
    assert json.loads(body)["response"]["status"] == {
        "metadata": {},
        "message": "couldn't find javascript bundle for js policy bundled.example.jspolicy.com",
        "code": 500,
    }


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "couldn't decode the AdmissionReview"),
        ('{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}', "has no request"),
        ('{"apiVersion": "admission.k8s.io/v2", "request": {}}', "unsupported AdmissionReview apiVersion"),
    ],
)
def test_bad_requests_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    policy = str(EXAMPLES / "policies" / "deny-privileged.yaml")
    assert main(["review", "--policy", policy, "--request", str(path)]) == 2
    assert expected in capsys.readouterr().err


def test_several_policies_need_a_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = review_file(tmp_path, "admission.k8s.io/v1", POD)
    assert main(["review", "--policy", str(EXAMPLES / "policies"), "--request", request]) == 2
    assert "choose one with --name" in capsys.readouterr().err
    name = "deny-privileged.examples.jspolicy.com"
    assert main(["review", "--policy", str(EXAMPLES / "policies"), "--request", request, "--name", name]) == 1
