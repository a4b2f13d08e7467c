"""``jspolicy apply``: offline evaluation of the examples and of edge cases."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from jspolicy.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]]]:
    code = main(["apply", *args, "-o", "json"])
    return code, json.loads(capsys.readouterr().out)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_examples_denials_exit_1_and_report_every_called_policy(capsys: pytest.CaptureFixture[str]) -> None:
    code, entries = run_json(
        capsys,
        str(EXAMPLES / "policies"),
        "--resource",
        str(EXAMPLES / "resources"),
        "--cluster",
        str(EXAMPLES / "cluster"),
    )
    assert code == 1
    denied = {(e["policy"].split(".")[0], e["resource"]["name"]) for e in entries if not e["allowed"]}
    assert denied == {
        ("deny-default-namespace", "stray"),
        ("deny-privileged", "debug"),
        ("allowed-registries", "miner"),
        ("unique-ingress-host", "shop-copy"),
    }
    keys = {"policy", "resource", "operation", "allowed", "code", "reason", "message", "warnings", "patch", "mutated"}
    assert all(set(e) == keys for e in entries)
    # Ingresses are only sent to policies whose rules match them.
    ingress_policies = {e["policy"] for e in entries if e["resource"]["kind"] == "Ingress"}
    assert ingress_policies == {
        "deny-default-namespace.examples.jspolicy.com",
        "unique-ingress-host.examples.jspolicy.com",
    }


def test_mutation_reports_patch_and_mutated_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, entries = run_json(
        capsys,
        str(EXAMPLES / "policies"),
        "--resource",
        str(EXAMPLES / "resources" / "web-pod.yaml"),
        "--cluster",
        str(EXAMPLES / "cluster"),
    )
    assert code == 0
    mutation = next(e for e in entries if e["policy"].startswith("add-team-label"))
    assert mutation["patch"] == [{"op": "add", "path": "/metadata/labels", "value": {"team": "payments"}}]
    assert mutation["mutated"]["metadata"]["labels"] == {"team": "payments"}
    assert mutation["resource"] == {"apiVersion": "v1", "kind": "Pod", "namespace": "shop", "name": "web"}
    validating = [e for e in entries if e["policy"] != mutation["policy"]]
    assert validating and all(e["patch"] is None and e["mutated"] is None for e in validating)


def test_validating_policies_see_the_mutated_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policies = write(
        tmp_path,
        "p.yaml",
        """
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: add.label.example.com}
spec:
  type: Mutating
  operations: [CREATE]
  resources: [pods]
  javascript: |
    request.object.metadata.labels = {added: "yes"}; mutate(request.object);
---
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: check.label.example.com}
spec:
  operations: [CREATE]
  resources: [pods]
  javascript: |
    if (request.object.metadata.labels?.added !== "yes") deny("label missing");
""",
    )
    pod = write(tmp_path, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n")
    code, entries = run_json(capsys, policies, "--resource", pod)
    assert code == 0
    assert [e["policy"] for e in entries] == ["add.label.example.com", "check.label.example.com"]
    assert entries[1]["resource"]["namespace"] == "default"


def test_delete_sends_the_object_as_old_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = write(
        tmp_path,
        "p.yaml",
        """
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: protect.example.jspolicy.com}
spec:
  operations: [DELETE]
  resources: [configmaps]
  objectSelector: {matchLabels: {protected: "true"}}
  javascript: |
    if (request.object !== null) deny("object should be null on DELETE");
    deny("protected: " + request.oldObject.metadata.name);
""",
    )
    protected = write(
        tmp_path, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keep, labels: {protected: 'true'}}\n"
    )
    other = write(tmp_path, "other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n")
    code, entries = run_json(capsys, policy, "--resource", protected, "--operation", "DELETE")
    assert code == 1
    assert entries[0]["message"] == "protected: keep"
    assert entries[0]["operation"] == "DELETE"
    code, entries = run_json(capsys, policy, "--resource", other, "--operation", "DELETE")
    assert (code, entries) == (0, [])


def test_namespace_selector_uses_cluster_namespaces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = write(
        tmp_path,
        "p.yaml",
        """
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: prod.example.jspolicy.com}
spec:
  operations: [CREATE]
  resources: [pods]
  namespaceSelector: {matchLabels: {env: prod}}
  javascript: deny("no pods in prod namespaces")
""",
    )
    cluster = write(
        tmp_path,
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: live, labels: {env: prod}}\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: dev}\n",
    )
    in_live = write(tmp_path, "a.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: live}\n")
    in_dev = write(tmp_path, "b.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: dev}\n")
    code, entries = run_json(capsys, policy, "--resource", in_live, "--resource", in_dev, "--cluster", cluster)
    assert code == 1
    assert [e["resource"]["name"] for e in entries] == ["a"]


def test_user_and_groups_reach_the_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = write(
        tmp_path,
        "p.yaml",
        """
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: who.example.jspolicy.com}
spec:
  operations: [CREATE]
  resources: [pods]
  javascript: |
    if (!request.userInfo.groups.includes("admins")) deny(request.userInfo.username + " is not an admin");
""",
    )
    pod = write(tmp_path, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\n")
    code, entries = run_json(capsys, policy, "--resource", pod, "--user", "alice", "--group", "dev")
    assert code == 1 and entries[0]["message"] == "alice is not an admin"
    code, _ = run_json(capsys, policy, "--resource", pod, "--user", "bob", "--group", "admins")
    assert code == 0


def test_yaml_and_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    args = [str(EXAMPLES / "policies"), "--resource", str(EXAMPLES / "resources" / "privileged-pod.yaml")]
    assert main(["apply", *args, "-o", "yaml"]) == 1
    entries = yaml.safe_load(capsys.readouterr().out)
    assert any(not e["allowed"] for e in entries)
    assert main(["apply", *args]) == 1
    table = capsys.readouterr().out
    assert "DENIED" in table and "Privileged containers are not allowed: shell" in table
    assert "1 denied" in table


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            "apiVersion: policy.jspolicy.com/v1beta1\nkind: JsPolicy\nmetadata: {name: two.parts}\n"
            "spec: {operations: [CREATE], resources: [pods], javascript: allow()}\n",
            'metadata.name: Invalid value: "two.parts": should be a domain with at least three segments',
        ),
        (
            "apiVersion: policy.jspolicy.com/v1beta1\nkind: JsPolicy\nmetadata: {name: a.b.c}\n"
            "spec: {operations: [CREATE], resources: [pods], timeoutSeconds: 60, javascript: allow()}\n",
            "spec.timeoutSeconds: Invalid value: 60: the timeout value must be between 1 and 30 seconds",
        ),
        (
            "apiVersion: policy.jspolicy.com/v1beta1\nkind: JsPolicy\nmetadata: {name: a.b.c}\n"
            "spec: {operations: [CREATE], resources: [pods]}\n",
            "couldn't find javascript bundle for js policy a.b.c",
        ),
        ("apiVersion: policy.jspolicy.com/v1beta1\nkind: JsPolicy\nmetadata: {name: a.b.c}\nspec: [\n", "invalid YAML"),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", "expected a JsPolicy or JsPolicyBundle"),
    ],
)
def test_bad_policy_input_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: str, expected: str
) -> None:
    policy = write(tmp_path, "broken.yaml", document)
    pod = write(tmp_path, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
    assert main(["apply", policy, "--resource", pod]) == 2
    error = capsys.readouterr().err
    assert "broken.yaml" in error and expected in error


def test_bad_resource_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policies = str(EXAMPLES / "policies")
    unknown = write(tmp_path, "crd-object.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
    assert main(["apply", policies, "--resource", unknown]) == 2
    assert "unknown kind 'Widget'" in capsys.readouterr().err
    assert main(["apply", policies, "--resource", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml: no such file or directory" in capsys.readouterr().err
    pod = str(EXAMPLES / "resources" / "web-pod.yaml")
    assert main(["apply", policies, "--resource", pod, "--operation", "UPDATE"]) == 2
    assert "--old" in capsys.readouterr().err


def test_crds_in_the_cluster_state_make_custom_kinds_known(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crd = write(
        tmp_path,
        "crd.yaml",
        """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Widget, plural: widgets}
  versions: [{name: v1, served: true, storage: true}]
""",
    )
    policy = write(
        tmp_path,
        "p.yaml",
        "apiVersion: policy.jspolicy.com/v1beta1\nkind: JsPolicy\nmetadata: {name: widgets.example.jspolicy.com}\n"
        "spec: {operations: [CREATE], resources: [widgets], apiGroups: [example.com], "
        "javascript: 'deny(request.resource.resource + \" in \" + request.namespace)'}\n",
    )
    widget = write(tmp_path, "w.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: a}\n")
    code, entries = run_json(capsys, policy, "--resource", widget, "--cluster", crd)
    assert code == 1 and entries[0]["message"] == "widgets in a"


def test_console_script_runs_the_readme_command() -> None:
    command = [
        sys.executable,
        "-m",
        "jspolicy",
        "apply",
        str(EXAMPLES / "policies"),
        "--resource",
        str(EXAMPLES / "resources"),
        "--cluster",
        str(EXAMPLES / "cluster"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stderr
    assert "18 evaluations: 14 allowed, 4 denied" in result.stdout


def test_subresource_requests_match_subresource_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = write(
        tmp_path,
        "p.yaml",
        "apiVersion: policy.jspolicy.com/v1beta1\nkind: JsPolicy\nmetadata: {name: status.example.jspolicy.com}\n"
        "spec: {operations: [UPDATE], resources: [pods/status], javascript: 'deny(request.subResource)'}\n",
    )
    pod = write(tmp_path, "pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: a}\n")
    code, entries = run_json(capsys, policy, "--resource", pod, "--operation", "UPDATE", "--old", pod)
    assert (code, entries) == (0, [])  # the main resource is not sent to a pods/status policy
    args = ["--resource", pod, "--operation", "UPDATE", "--old", pod, "--subresource", "status"]
    code, entries = run_json(capsys, policy, *args)
    assert code == 1 and entries[0]["message"] == "status"
