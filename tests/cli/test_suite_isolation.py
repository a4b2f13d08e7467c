"""``jspolicy test``: every case starts from the suite's cluster, never from what earlier cases wrote."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from jspolicy.cli.main import main
from jspolicy.cli.session import Evaluation, OfflineSession
from jspolicy.resources.manifests import Manifest
from jspolicy.resources.policy import JsPolicy
from jspolicy.resources.policyset import PolicySet
from jspolicy.runtime.pool import RuntimePool
from tests.conftest import make_policy

WRITER = """
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: writer.example.com}
spec:
  operations: [CREATE]
  resources: [pods]
  javascript: |
    const ns = request.namespace;
    const made = create({apiVersion: "v1", kind: "ConfigMap", metadata: {name: "marker", namespace: ns}});
    if (!made.ok) deny(`create: ${made.message}`);
    const shared = get("ConfigMap", "v1", `${ns}/shared`);
    if (shared) {
      const changed = update({...shared, data: {v: "changed"}});
      if (!changed.ok) deny(`update: ${changed.message}`);
    }
    const doomed = get("ConfigMap", "v1", `${ns}/doomed`);
    if (doomed && !remove(doomed).ok) deny("remove failed");
---
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {name: checker.example.com}
spec:
  operations: [CREATE]
  resources: [pods]
  javascript: |
    const ns = request.namespace;
    if (get("ConfigMap", "v1", `${ns}/marker`)) deny("marker leaked from an earlier case");
    const names = list("ConfigMap", "v1", {namespace: ns}).map((c) => c.metadata.name).sort();
    const shared = get("ConfigMap", "v1", `${ns}/shared`);
    warn(`configmaps: ${names.join(",")}; shared: ${JSON.stringify(shared && shared.data)}`);
"""

CLUSTER = """
- {apiVersion: v1, kind: ConfigMap, metadata: {name: shared, namespace: shop}, data: {v: "1"}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: doomed, namespace: shop}}
"""

POD = "{apiVersion: v1, kind: Pod, metadata: {name: web, namespace: shop}, spec: {containers: [{name: c, image: x}]}}"
UNTOUCHED = '["[checker.example.com]: configmaps: doomed,shared; shared: {\\"v\\":\\"1\\"}"]'


def write_suite(tmp_path: Path, cases: str) -> str:
    (tmp_path / "policies.yaml").write_text(WRITER)
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump_all(yaml.safe_load(CLUSTER)))
    path = tmp_path / "isolation.test.yaml"
    path.write_text("policies: [policies.yaml]\ncluster: [cluster.yaml]\ncases:\n" + cases)
    return str(path)


def case(name: str, policy: str, expect: str, extra: str = "") -> str:
    return f"  - name: {name}\n    policy: {policy}\n    resource: {POD}\n{extra}    expect: {expect}\n"


def test_writes_of_one_case_are_not_seen_by_the_next(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_suite(
        tmp_path,
        case("writer creates, updates and removes", "writer.example.com", "{allowed: true}")
        + case("checker sees the suite's cluster", "checker.example.com", f"{{allowed: true, warnings: {UNTOUCHED}}}")
        # the same create again: AlreadyExists if the first case's ConfigMap had stayed
        + case("writer again", "writer.example.com", "{allowed: true}")
        + case(
            "writer with its own cluster",
            "writer.example.com",
            "{allowed: true}",
            "    cluster: [{apiVersion: v1, kind: ConfigMap, metadata: {name: extra, namespace: shop}}]\n",
        )
        + case("checker after a case with its own cluster", "checker.example.com", f"{{warnings: {UNTOUCHED}}}"),
    )
    assert main(["test", path]) == 0, capsys.readouterr().out
    assert capsys.readouterr().out.splitlines()[-1] == "5 passed, 0 failed"


def test_a_case_cluster_is_added_to_the_suite_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = "    cluster: [{apiVersion: v1, kind: ConfigMap, metadata: {name: extra, namespace: shop}}]\n"
    shown = '["[checker.example.com]: configmaps: doomed,extra,shared; shared: {\\"v\\":\\"1\\"}"]'
    path = write_suite(tmp_path, case("both", "checker.example.com", f"{{warnings: {shown}}}", extra))
    assert main(["test", path]) == 0, capsys.readouterr().out


def test_forks_copy_the_objects(pool: RuntimePool) -> None:
    """A fork's writes reach neither its parent's cluster nor the objects it was given."""
    writer = make_policy(
        "const cm = get('ConfigMap', 'v1', 'shop/shared');"
        "if (!update({...cm, data: {v: 'changed'}, metadata: {...cm.metadata, labels: {x: 'y'}}}).ok) deny('no');"
        "const made = create({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'new', namespace: 'shop'}});"
        "if (!made.ok) deny('no');",
        resources=["pods"],
    )
    objects: list[dict[str, Any]] = yaml.safe_load(CLUSTER)
    given = copy.deepcopy(objects)
    with OfflineSession(_policy_set(writer), [], pool, owns_pool=False) as base:
        suite = base.fork(objects)
        case_one = suite.fork([])
        pod = yaml.safe_load(POD)
        result = case_one.evaluate(writer, "CREATE", pod)
        assert isinstance(result, Evaluation) and result.outcome.allowed, result
        assert case_one.cluster.get("ConfigMap", "v1", "shop", "new", cached=True) is not None
        assert suite.cluster.get("ConfigMap", "v1", "shop", "new", cached=True) is None
        shared = suite.cluster.get("ConfigMap", "v1", "shop", "shared", cached=True)
        assert shared is not None and shared["data"] == {"v": "1"} and "labels" not in shared["metadata"]
        assert suite.fork([]).cluster.get("ConfigMap", "v1", "shop", "new", cached=True) is None
    assert objects == given


def _policy_set(policy: JsPolicy) -> PolicySet:
    return PolicySet.from_manifests([Manifest(dict(policy.manifest), "test")])
