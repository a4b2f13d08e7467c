"""``jspolicy test`` runs Controller policies by the controller's rules, not the API server's."""

from __future__ import annotations

from pathlib import Path

import pytest

from jspolicy.cli.main import main

# What the policy was sent, as its denial message.
SHOW = """\
    deny(`${request.operation} ${request.kind.kind} ${request.namespace}/${request.name} uid=${request.uid} ` +
      `user=${JSON.stringify(request.userInfo)} resource=${request.resource.resource} ` +
      `object=${request.object ? request.object.kind : null} old=${"oldObject" in request}`);
"""

POLICIES = (
    """
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: shop-only.example.com}
spec:
  type: Controller
  operations: [CREATE, DELETE]
  resources: [namespaces, clusterroles, pods]
  namespaceSelector: {matchLabels: {team: shop}}
  javascript: |
"""
    + SHOW
    + """---
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: everywhere.example.com}
spec:
  type: Controller
  operations: ["*"]
  resources: [pods]
  javascript: |
"""
    + SHOW
)

CLUSTER = """
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: shop}}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
"""


def pod(namespace: str, extra: str = "") -> str:
    return f"{{apiVersion: v1, kind: Pod, metadata: {{name: web, namespace: {namespace}{extra}}}, spec: {{}}}}"


CASES = f"""
  - name: a Namespace is never checked against the namespaceSelector
    policy: shop-only.example.com
    resource: {{apiVersion: v1, kind: Namespace, metadata: {{name: dev}}}}
    expect: {{called: true, message: "CREATE Namespace /dev uid= user={{}} resource= object=Namespace old=false"}}
  - name: nor is a ClusterRole
    policy: shop-only.example.com
    resource: {{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {{name: reader}}}}
    expect: {{message: "CREATE ClusterRole /reader uid= user={{}} resource= object=ClusterRole old=false"}}
  - name: a pod in a selected namespace
    policy: shop-only.example.com
    resource: {pod("shop")}
    expect: {{message: "CREATE Pod shop/web uid= user={{}} resource= object=Pod old=false"}}
  - name: a pod in a namespace the selector does not match
    policy: shop-only.example.com
    resource: {pod("other")}
    expect: {{called: false}}
  - name: a vanished pod is a DELETE without object
    policy: shop-only.example.com
    operation: DELETE
    resource: {pod("shop")}
    expect: {{message: "DELETE Pod shop/web uid= user={{}} resource= object=null old=false"}}
  - name: a pod being deleted is a DELETE with it
    policy: shop-only.example.com
    operation: DELETE
    resource: {pod("shop", ", deletionTimestamp: '2024-01-01T00:00:00Z'")}
    expect: {{message: "DELETE Pod shop/web uid= user={{}} resource= object=Pod old=false"}}
  - name: no kube-system exclusion (that is the webhooks')
    policy: everywhere.example.com
    resource: {pod("kube-system")}
    expect: {{message: "CREATE Pod kube-system/web uid= user={{}} resource= object=Pod old=false"}}
  - name: a change is a CREATE unless the policy lists UPDATE
    policy: everywhere.example.com
    operation: UPDATE
    resource: {pod("shop")}
    oldResource: {pod("shop")}
    expect: {{called: false}}
  - name: the controller never sends CONNECT
    policy: everywhere.example.com
    operation: CONNECT
    subresource: exec
    requestName: web
    resource: {{apiVersion: v1, kind: PodExecOptions, command: [sh]}}
    expect: {{called: false}}
  - name: nor subresources
    policy: everywhere.example.com
    operation: CREATE
    subresource: status
    resource: {pod("shop")}
    expect: {{called: false}}
"""


def test_controller_policies_follow_the_controller(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policies.yaml").write_text(POLICIES)
    (tmp_path / "cluster.yaml").write_text(CLUSTER)
    path = tmp_path / "controller.test.yaml"
    path.write_text("policies: [policies.yaml]\ncluster: [cluster.yaml]\ncases:" + CASES)
    code = main(["test", str(path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines()[-1] == "10 passed, 0 failed"


def test_why_a_controller_policy_is_not_called(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "policies.yaml").write_text(POLICIES)
    (tmp_path / "cluster.yaml").write_text(CLUSTER)
    path = tmp_path / "controller.test.yaml"
    path.write_text(
        "policies: [policies.yaml]\ncluster: [cluster.yaml]\ncases:\n"
        f"  - {{policy: shop-only.example.com, resource: {pod('other')}, expect: {{called: true}}}}\n"
        f"  - {{policy: everywhere.example.com, operation: UPDATE, resource: {pod('a')}, oldResource: {pod('a')},"
        " expect: {called: true}}\n"
    )
    assert main(["test", str(path)]) == 1
    out = capsys.readouterr().out
    assert "got called=False (namespaceSelector does not match namespace 'other')" in out
    assert "the controller sends a change as CREATE unless the policy lists UPDATE in operations" in out
