"""CONNECT requests (``kubectl exec`` and friends) in ``jspolicy test`` suites and ``jspolicy apply``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jspolicy.cli.main import main

POLICY = """
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: no-exec-in-prod.example.com}
spec:
  operations: [CONNECT]
  resources: ["pods/exec"]
  javascript: |
    if (request.namespace === "prod") {
      deny(`no exec into ${request.namespace}/${request.name} (${request.object.command.join(" ")})`);
    }
    warn(JSON.stringify({kind: request.kind, resource: request.resource, subResource: request.subResource,
      name: request.name, namespace: request.namespace, object: request.object, oldObject: request.oldObject}));
"""

EXEC = "{apiVersion: v1, kind: PodExecOptions, command: [sh, -c, id], container: web, stdin: true, tty: true}"
SENT = {
    "kind": {"group": "", "version": "v1", "kind": "PodExecOptions"},
    "resource": {"group": "", "version": "v1", "resource": "pods"},
    "subResource": "exec",
    "name": "web",
    "namespace": "dev",
    "object": {
        "apiVersion": "v1",
        "kind": "PodExecOptions",
        "command": ["sh", "-c", "id"],
        "container": "web",
        "stdin": True,
        "tty": True,
    },
    "oldObject": None,
}


def write_suite(tmp_path: Path, cases: str) -> str:
    (tmp_path / "policy.yaml").write_text(POLICY)
    path = tmp_path / "exec.test.yaml"
    path.write_text("policies: [policy.yaml]\ncases:\n" + cases)
    return str(path)


def test_exec_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    warning = json.dumps(["[no-exec-in-prod.example.com]: " + json.dumps(SENT, separators=(",", ":"))])
    path = write_suite(
        tmp_path,
        f"""
  - name: exec into a pod in prod is denied
    operation: CONNECT
    subresource: exec
    requestName: web
    requestNamespace: prod
    resource: {EXEC}
    expect: {{allowed: false, code: 403, message: "no exec into prod/web (sh -c id)"}}
  - name: exec elsewhere is allowed, the request as the API server sends it
    operation: CONNECT
    subresource: exec
    requestName: web
    requestNamespace: dev
    resource: {EXEC}
    expect: {{allowed: true, warnings: {warning}}}
  - name: the subresource defaults to the options' own
    operation: CONNECT
    requestName: web
    requestNamespace: prod
    resource: {EXEC}
    expect: {{allowed: false}}
  - name: creating a pod is not an exec
    resource: {{apiVersion: v1, kind: Pod, metadata: {{name: web, namespace: prod}}}}
    expect: {{called: false}}
  - name: attach is not exec
    operation: CONNECT
    subresource: attach
    requestName: web
    requestNamespace: prod
    resource: {{apiVersion: v1, kind: PodAttachOptions, container: web, stdin: true}}
    expect: {{called: false}}
""",
    )
    code = main(["test", path])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[-1] == "5 passed, 0 failed"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (f"operation: CONNECT, subresource: exec, resource: {EXEC}", "needs the pod's name"),
        (f"operation: CONNECT, subresource: attach, requestName: web, resource: {EXEC}", "not pods/attach"),
        (
            "requestName: web, resource: {apiVersion: v1, kind: Pod, metadata: {name: web}}",
            "'requestName' is only for CONNECT",
        ),
        (f"operation: CONNECT, requestName: '', resource: {EXEC}", "'requestName' is a non-empty string"),
    ],
)
def test_bad_connect_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, expected: str) -> None:
    path = write_suite(tmp_path, f"  - {{name: bad, {case}, expect: {{allowed: true}}}}\n")
    assert main(["test", path]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"ERROR {path}: bad") and expected in out, out


def test_apply_connect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    (tmp_path / "exec.yaml").write_text(EXEC)
    base = [str(tmp_path / "policy.yaml"), "-r", str(tmp_path / "exec.yaml"), "--operation", "CONNECT"]
    assert main(["apply", *base, "--subresource", "exec", "--name", "web", "--namespace", "prod"]) == 1
    out = capsys.readouterr().out
    assert "PodExecOptions prod/web  CONNECT    DENIED  no exec into prod/web (sh -c id)" in out
    assert main(["apply", *base, "--name", "web", "--namespace", "dev", "-o", "json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["allowed"] is True
    assert entry["resource"] == {"apiVersion": "v1", "kind": "PodExecOptions", "namespace": "dev", "name": "web"}
    assert entry["warnings"] == ["[no-exec-in-prod.example.com]: " + json.dumps(SENT, separators=(",", ":"))]


def test_apply_name_is_only_for_connect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    (tmp_path / "pod.yaml").write_text("{apiVersion: v1, kind: Pod, metadata: {name: web}}")
    assert main(["apply", str(tmp_path / "policy.yaml"), "-r", str(tmp_path / "pod.yaml"), "--name", "x"]) == 2
    assert "--name and --namespace are for --operation CONNECT" in capsys.readouterr().err
