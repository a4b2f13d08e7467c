"""``jspolicy test``: ``expect.objects`` and ``expect.absent`` check the case's cluster after the case, so a
suite can test what a (controller) policy create()s, update()s and remove()s."""

from __future__ import annotations

from pathlib import Path

import pytest

from jspolicy.cli.main import main

# A controller policy that keeps a ConfigMap per labelled Namespace, as the library's tenant defaults do.
POLICY = """
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: marker.example.com}
spec:
  type: Controller
  operations: [CREATE]
  resources: [namespaces]
  javascript: |
    const ns = request.object.metadata.name;
    if (!(request.object.metadata.labels || {}).marked) allow();
    const stale = get("ConfigMap", "v1", `${ns}/stale`);
    if (stale) remove(stale);
    const made = create({apiVersion: "v1", kind: "ConfigMap", metadata: {name: "marker", namespace: ns,
      labels: {by: "policy"}}, data: {tenant: ns, ports: "53"}, list: [{a: 1, b: true}]});
    if (!made.ok) deny(made.message);
"""

CLUSTER = "{apiVersion: v1, kind: ConfigMap, metadata: {name: stale, namespace: shop}}"
MARKED = "{apiVersion: v1, kind: Namespace, metadata: {name: shop, labels: {marked: 'yes'}}}"
MARKER = "apiVersion: v1, kind: ConfigMap, metadata: {name: marker, namespace: shop"


def run_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str], cases: str) -> tuple[int, list[str]]:
    (tmp_path / "policy.yaml").write_text(POLICY)
    (tmp_path / "cluster.yaml").write_text(CLUSTER)
    path = tmp_path / "objects.test.yaml"
    path.write_text(f"policies: [policy.yaml]\ncluster: [cluster.yaml]\ncases:\n{cases}")
    code = main(["test", str(path)])
    return code, capsys.readouterr().out.splitlines()


def test_objects_and_absent_pass_on_what_the_policy_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "marker.yaml").write_text(f"{{{MARKER}}}, data: {{tenant: shop}}}}\n")
    code, out = run_suite(
        tmp_path,
        capsys,
        f"""
  - name: a subset of the created object, inline and from a file
    resource: {MARKED}
    expect:
      objects:
        - {{{MARKER}, labels: {{by: policy}}}}, data: {{ports: "53"}}, list: [{{b: true}}]}}
        - marker.yaml
      absent: [{{apiVersion: v1, kind: ConfigMap, metadata: {{name: stale, namespace: shop}}}}]
  - name: an object the cluster held before counts too, and a cluster-scoped one has no namespace
    resource: {{apiVersion: v1, kind: Namespace, metadata: {{name: plain}}}}
    cluster: [{{apiVersion: v1, kind: Namespace, metadata: {{name: plain}}}}]
    expect:
      objects:
        - {{apiVersion: v1, kind: ConfigMap, metadata: {{name: stale, namespace: shop}}}}
        - {{apiVersion: v1, kind: Namespace, metadata: {{name: plain}}}}
      absent: [{{{MARKER}}}}}]
""",
    )
    assert code == 0, "\n".join(out)
    assert out[-1] == "2 passed, 0 failed"


def test_each_difference_is_a_failure_naming_the_object_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run_suite(
        tmp_path,
        capsys,
        f"""
  - name: wrong value
    resource: {MARKED}
    expect: {{objects: [{{{MARKER}}}, data: {{tenant: other}}}}]}}
  - name: missing key
    resource: {MARKED}
    expect: {{objects: [{{{MARKER}}}, data: {{owner: shop}}}}]}}
  - name: a list of another length
    resource: {MARKED}
    expect: {{objects: [{{{MARKER}}}, list: [{{a: 1}}, {{a: 2}}]}}]}}
  - name: a boolean is not the number 1
    resource: {MARKED}
    expect: {{objects: [{{{MARKER}}}, list: [{{b: 1}}]}}]}}
  - name: not created
    resource: {{apiVersion: v1, kind: Namespace, metadata: {{name: shop}}}}
    expect: {{objects: [{{{MARKER}}}}}]}}
  - name: still there
    resource: {MARKED}
    expect: {{absent: [{{{MARKER}}}}}]}}
""",
    )
    assert code == 1
    failures = [line.strip() for line in out if line.startswith("      ")]
    assert failures == [
        'ConfigMap shop/marker: data.tenant is "shop", expected "other"',
        'ConfigMap shop/marker: data.owner is missing, expected "shop"',
        'ConfigMap shop/marker: list is [{"a": 1, "b": true}], expected 2 items like [{"a": 1}, {"a": 2}]',
        "ConfigMap shop/marker: list[0].b is true, expected 1",
        "expected ConfigMap shop/marker, not found",
        failures[5],
    ]
    assert failures[5].startswith('expected no ConfigMap shop/marker, found {"apiVersion": "v1", "kind": "ConfigMap"')
    assert out[-1] == "0 passed, 6 failed"


def test_not_called_cases_check_the_cluster_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pod = "{apiVersion: v1, kind: Pod, metadata: {name: web, namespace: shop}, spec: {}}"
    code, out = run_suite(
        tmp_path,
        capsys,
        f"""
  - name: a pod is not watched, and the stale ConfigMap stays
    resource: {pod}
    expect: {{called: false, absent: [{{apiVersion: v1, kind: ConfigMap, metadata: {{name: stale, namespace: shop}}}}]}}
""",
    )
    assert code == 1
    assert out[1].strip().startswith("expected no ConfigMap shop/stale, found")


@pytest.mark.parametrize(
    ("expect", "error"),
    [
        ("{objects: [{apiVersion: v1, kind: ConfigMap, metadata: {namespace: shop}}]}", "needs metadata.name"),
        ("{absent: [{kind: ConfigMap, metadata: {name: x}}]}", "expected a path or a Kubernetes object"),
        ("{objects: [{apiVersion: x.example.com/v1, kind: Widget, metadata: {name: w}}]}", 'kind "Widget"'),
        ("{objects: [missing.yaml]}", "missing.yaml"),
    ],
)
def test_objects_that_cannot_be_looked_up_are_suite_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], expect: str, error: str
) -> None:
    code, out = run_suite(tmp_path, capsys, f"  - name: bad\n    resource: {MARKED}\n    expect: {expect}\n")
    assert code == 1
    assert out[0].startswith("ERROR") and error in out[1], out
