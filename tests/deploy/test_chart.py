"""The Helm chart renders exactly what ``jspolicy manifests`` prints, and its values change what they say."""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path
from typing import Any

import yaml

from jspolicy.deploy import library, render
from jspolicy.resources.validation import decode_strictly

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "webhook-config" / "chart"
NAMESPACE = "policy-system"
IMAGE = "registry.example/jspolicy:1.2.3"

Key = tuple[str, str, str, str]


def helm_template(helm: Path, *args: str) -> list[dict[str, Any]]:
    command = [str(helm), "template", "jspolicy", str(CHART), "--namespace", NAMESPACE, "--include-crds", *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def keyed(objects: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    table = {}
    for obj in objects:
        metadata = obj["metadata"]
        key = (obj["apiVersion"], obj["kind"], metadata.get("namespace", ""), metadata["name"])
        assert key not in table, key
        table[key] = obj
    return table


def without_namespace(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``jspolicy manifests`` includes the Namespace; ``helm install --create-namespace`` makes it instead."""
    (namespace,) = [o for o in objects if o["kind"] == "Namespace"]
    assert namespace["metadata"]["name"] == NAMESPACE
    return [o for o in objects if o["kind"] != "Namespace"]


def assert_same(helm_objects: list[dict[str, Any]], ours: list[dict[str, Any]]) -> None:
    charted, rendered = keyed(helm_objects), keyed(without_namespace(ours))
    assert sorted(charted) == sorted(rendered)
    for key, obj in rendered.items():
        assert charted[key] == obj, key


def find(objects: list[dict[str, Any]], kind: str, name: str = "jspolicy") -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (only,) = find(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(only)


def test_default_values_render_the_same_objects_as_jspolicy_manifests(helm: Path) -> None:
    assert_same(helm_template(helm, "--set", f"image={IMAGE}"), render(NAMESPACE, IMAGE))


def test_the_default_image_is_the_same_on_both_sides(helm: Path) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == chart["version"] == importlib.metadata.version("jspolicy")
    assert container(helm_template(helm))["image"] == f"jspolicy:{chart['appVersion']}"
    assert_same(helm_template(helm), render(NAMESPACE, f"jspolicy:{chart['appVersion']}"))


def test_shared_values_map_onto_renderer_options(helm: Path) -> None:
    charted = helm_template(
        helm,
        *("--set", f"image={IMAGE}", "--set", "replicaCount=3", "--set", "env.VM_POOL_SIZE=8"),
        *("--set", "env.DEBUG=true", "--set", "policyReports.enabled=true", "--set", "policyReports.maxEvents=7"),
    )
    ours = render(NAMESPACE, IMAGE, replicas=3, env={"VM_POOL_SIZE": "8", "DEBUG": "true"}, policy_reports=True,
                  policy_report_max_events=7)  # fmt: skip
    assert_same(charted, ours)
    assert find(charted, "Deployment")["spec"]["replicas"] == 3


def test_bundler_values_map_onto_renderer_options(helm: Path) -> None:
    registry = "https://npm.company.tld/repository/npm/"
    charted = helm_template(
        helm, *("--set", f"image={IMAGE}", "--set", f"bundler.registry={registry}", "--set", "bundler.tokenSecret=npm")
    )
    assert_same(charted, render(NAMESPACE, IMAGE, npm_registry=registry, npm_token_secret="npm"))
    env = {e["name"]: e for e in container(charted)["env"]}
    assert env["NPM_CONFIG_REGISTRY"]["value"] == registry
    assert env["JSPOLICY_NPM_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "npm", "key": "token"}}
    assert env["JSPOLICY_CACHE_DIR"]["value"] == "/var/cache/jspolicy"
    mounts = {m["mountPath"] for m in container(charted)["volumeMounts"]}
    assert "/var/cache/jspolicy" in mounts


def test_a_single_replica_has_no_disruption_budget_on_both_sides(helm: Path) -> None:
    charted = helm_template(helm, "--set", f"image={IMAGE}", "--set", "replicaCount=1")
    assert_same(charted, render(NAMESPACE, IMAGE, replicas=1))
    assert not [o for o in charted if o["kind"] == "PodDisruptionBudget"]


def test_the_crds_directory_is_webhook_config_crds_yaml() -> None:
    assert (CHART / "crds" / "crds.yaml").read_bytes() == (ROOT / "webhook-config" / "crds.yaml").read_bytes()


def test_chart_only_switches(helm: Path) -> None:
    default = keyed(helm_template(helm))
    off = keyed(
        helm_template(
            helm,
            *("--set", "podDisruptionBudget.create=false", "--set", "webhook.create=false"),
            *("--set", "readinessProbe.enabled=false", "--set", "livenessProbe.enabled=false"),
        )
    )
    gone = {(kind, name) for _, kind, _, name in set(default) - set(off)}
    assert gone == {("PodDisruptionBudget", "jspolicy"), ("ValidatingWebhookConfiguration", "jspolicy")}
    (main,) = off[("apps/v1", "Deployment", NAMESPACE, "jspolicy")]["spec"]["template"]["spec"]["containers"]
    assert "livenessProbe" not in main and "readinessProbe" not in main


def test_deployment_values(helm: Path, tmp_path: Path) -> None:
    values = {
        "imagePullSecrets": [{"name": "pull"}],
        "priorityClassName": "system-cluster-critical",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": None,
        "topologySpreadConstraints": None,
        "jspolicy": {
            "args": ["--log-json"],
            "extraLabels": {"team": "platform"},
            "podLabels": {"tier": "admission"},
            "extraVolumes": [{"name": "npmrc", "secret": {"secretName": "npmrc"}}],
            "extraVolumeMounts": [{"name": "npmrc", "mountPath": "/home/jspolicy/.npmrc", "subPath": ".npmrc"}],
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
        },
        "service": {"targetPort": 9443, "annotations": {"a": "b"}},
        "podDisruptionBudget": {"maxUnavailable": 1},
    }
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    objects = helm_template(helm, "-f", str(path))
    deployment = find(objects, "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    assert deployment["metadata"]["labels"] == {"app.kubernetes.io/name": "jspolicy", "team": "platform"}
    assert deployment["spec"]["template"]["metadata"]["labels"]["tier"] == "admission"
    assert deployment["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "jspolicy"}
    assert spec["imagePullSecrets"] == [{"name": "pull"}]
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"} and spec["tolerations"] == values["tolerations"]
    assert "affinity" not in spec and "topologySpreadConstraints" not in spec
    assert [v["name"] for v in spec["volumes"]] == ["tmp", "bundle-cache", "serving-certs", "npmrc"]
    main = container(objects)
    assert main["args"] == ["--log-json"]
    assert main["volumeMounts"][-1]["name"] == "npmrc"
    assert main["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}}
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports["webhook"] == 9443
    assert {"name": "JSPOLICY_PORT", "value": "9443"} in main["env"]  # the server listens where the Service sends
    assert find(objects, "Service")["metadata"]["annotations"] == {"a": "b"}
    assert find(objects, "PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "jspolicy"}}}  # fmt: skip


def test_service_account_values(helm: Path) -> None:
    objects = helm_template(
        helm,
        *("--set", "serviceAccount.name=policy-engine", "--set", "serviceAccount.clusterRole=view"),
        *("--set", "serviceAccount.annotations.owner=platform"),
    )
    account = find(objects, "ServiceAccount", "policy-engine")
    assert account["metadata"]["annotations"] == {"owner": "platform"}
    assert find(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "policy-engine"
    bindings = [o for o in objects if o["kind"] in ("ClusterRoleBinding", "RoleBinding")]
    assert len(bindings) == 4
    for binding in bindings:
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "policy-engine", "namespace": NAMESPACE}]
    assert find(objects, "ClusterRoleBinding", "jspolicy-extra")["roleRef"]["name"] == "view"
    external = helm_template(helm, "--set", "serviceAccount.create=false", "--set", "rbac.create=false")
    assert not [o for o in external if o["kind"] in ("ServiceAccount", "ClusterRole", "Role", "RoleBinding")]


def test_service_monitor(helm: Path) -> None:
    objects = helm_template(helm, "--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.labels.release=prom")
    monitor = find(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"] == {"app.kubernetes.io/name": "jspolicy", "release": "prom"}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint == {"port": "metrics", "path": "/metrics", "interval": "60s", "scrapeTimeout": "30s"}
    assert monitor["spec"]["selector"]["matchLabels"] == find(objects, "Service")["metadata"]["labels"]


def test_policies_values_become_valid_jspolicies(helm: Path, tmp_path: Path) -> None:
    javascript = 'if (request.namespace === "default") { deny("not in default"); }\n'
    values = {"policies": {"deny-default-namespace.company.tld": {
        "operations": ["CREATE"], "resources": ["*"], "scope": "Namespaced", "javascript": javascript}}}  # fmt: skip
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    (policy,) = [o for o in helm_template(helm, "-f", str(path)) if o["kind"] == "JsPolicy"]
    assert policy["metadata"] == {"name": "deny-default-namespace.company.tld"}
    assert policy["spec"]["javascript"] == javascript
    decode_strictly(policy)


def test_library_values_render_what_jspolicy_manifests_library_prints(helm: Path, tmp_path: Path) -> None:
    names = library.available()
    options = {"allowed-registries": "ghcr.io/acme, registry.example.com", "max-replicas": "10"}
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump({"image": IMAGE, "library": {"policies": names, "options": options}}), "utf-8")
    ours = render(NAMESPACE, IMAGE) + library.objects(names, options)
    assert_same(helm_template(helm, "-f", str(path)), ours)
    assert len([o for o in ours if o["kind"] == "JsPolicy"]) == len(names)


def test_an_unknown_library_policy_fails_the_release(helm: Path) -> None:
    command = [str(helm), "template", "jspolicy", str(CHART), "--set", "library.policies={pod-security-basline}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode != 0
    assert "no library policy named pod-security-basline" in result.stderr


def test_helm_lint_passes(helm: Path) -> None:
    for extra in ([], ["--set", "serviceMonitor.enabled=true", "--set", "policyReports.enabled=true"],
                  ["--set", "library.policies={pod-security-baseline}", "--set", "library.options.a=b"]):  # fmt: skip
        result = subprocess.run([str(helm), "lint", "--strict", str(CHART), *extra], capture_output=True, text=True,
                                check=False, timeout=120)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert "0 chart(s) failed" in result.stdout
