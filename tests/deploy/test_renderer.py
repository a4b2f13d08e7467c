"""The install manifests: least-privilege RBAC, a hardened pod, probes on the health port, one namespace everywhere."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from jspolicy.cli.main import main
from jspolicy.deploy import default_image, dump, render
from jspolicy.deploy.renderer import TEMPLATES, template_text

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "tenant-guard"
IMAGE = "registry.example/jspolicy:1.2.3"
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                  "ValidatingWebhookConfiguration"}  # fmt: skip
CERT_DIR = "/tmp/k8s-webhook-server/serving-certs"


def objects(**options: Any) -> list[dict[str, Any]]:
    return render(NAMESPACE, IMAGE, **options)


def find(items: list[dict[str, Any]], kind: str, name: str = "jspolicy") -> dict[str, Any]:
    (found,) = [o for o in items if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def pod_spec(items: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(find(items, "Deployment")["spec"]["template"]["spec"])


def container(items: list[dict[str, Any]]) -> dict[str, Any]:
    (only,) = pod_spec(items)["containers"]
    return dict(only)


def rules(items: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(o["kind"], r) for o in items if o["kind"] in ("ClusterRole", "Role") for r in o.get("rules", [])]


def test_every_object_of_an_install_in_apply_order() -> None:
    kinds = [(o["kind"], o["metadata"]["name"]) for o in objects()]
    assert kinds[0] == ("Namespace", NAMESPACE)
    assert [name for kind, name in kinds[1:4]] == [
        "jspolicies.policy.jspolicy.com", "jspolicybundles.policy.jspolicy.com",
        "jspolicyviolations.policy.jspolicy.com"]  # fmt: skip
    assert set(kinds[4:]) == {
        ("ServiceAccount", "jspolicy"), ("ClusterRole", "jspolicy"), ("ClusterRoleBinding", "jspolicy"),
        ("ClusterRole", "jspolicy-policy-access"), ("ClusterRoleBinding", "jspolicy-policy-access"),
        ("Role", "jspolicy"), ("RoleBinding", "jspolicy"), ("Service", "jspolicy"), ("Deployment", "jspolicy"),
        ("PodDisruptionBudget", "jspolicy"), ("ValidatingWebhookConfiguration", "jspolicy")}  # fmt: skip
    assert len(kinds) == 15


def test_the_crds_are_webhook_config_crds_yaml() -> None:
    crds = [o for o in objects() if o["kind"] == "CustomResourceDefinition"]
    assert crds == [d for d in yaml.safe_load_all((ROOT / "webhook-config" / "crds.yaml").read_text()) if d]


def test_the_namespace_is_substituted_everywhere() -> None:
    items = objects()
    for obj in items:
        metadata = obj["metadata"]
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in metadata, obj["kind"]
        else:
            assert metadata["namespace"] == NAMESPACE, obj["kind"]
        for subject in obj.get("subjects", []):
            assert subject == {"kind": "ServiceAccount", "name": "jspolicy", "namespace": NAMESPACE}
    text = dump(items)
    assert "${" not in text
    assert "namespace: jspolicy" not in text
    assert container(items)["image"] == IMAGE
    env = {e["name"]: e for e in container(items)["env"]}
    assert env["KUBE_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


def test_no_wildcards_and_no_powerful_verbs() -> None:
    found = rules(objects(policy_reports=True))
    assert found
    for kind, rule in found:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], (kind, rule)
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), rule
        assert not {"clusterroles", "clusterrolebindings", "roles", "rolebindings"} & set(rule["resources"])
        assert not {"pods", "nodes", "serviceaccounts", "serviceaccounts/token"} & set(rule["resources"])


def test_no_binding_to_a_builtin_role() -> None:
    items = objects()
    refs = [(o["kind"], o["roleRef"]["kind"], o["roleRef"]["name"]) for o in items if o["kind"].endswith("Binding")]
    assert sorted(refs) == [
        ("ClusterRoleBinding", "ClusterRole", "jspolicy"),
        ("ClusterRoleBinding", "ClusterRole", "jspolicy-policy-access"),
        ("RoleBinding", "Role", "jspolicy"),
    ]
    assert "cluster-admin" not in dump(items)


def test_secrets_and_leases_only_in_its_namespace_and_only_its_own() -> None:
    cluster_resources = {res for kind, rule in rules(objects()) if kind == "ClusterRole" for res in rule["resources"]}
    assert not {"secrets", "configmaps", "leases", "events"} & cluster_resources
    role = find(objects(), "Role")
    for rule in role["rules"]:
        if set(rule["resources"]) & {"secrets", "leases", "configmaps"} and rule["verbs"] != ["create"]:
            assert rule["resourceNames"] in (["jspolicy-webhook-cert"], ["jspolicy-controller"]), rule


def test_the_policy_access_role_is_aggregated_and_bound() -> None:
    items = objects()
    access = find(items, "ClusterRole", "jspolicy-policy-access")
    assert access["aggregationRule"] == {
        "clusterRoleSelectors": [{"matchLabels": {"policy.jspolicy.com/aggregate-to-jspolicy": "true"}}]}  # fmt: skip
    assert "rules" not in access  # Kubernetes fills them in; an applied empty list would fight the aggregator
    binding = find(items, "ClusterRoleBinding", "jspolicy-policy-access")
    assert binding["roleRef"]["name"] == "jspolicy-policy-access"


def test_what_the_server_itself_needs_is_granted() -> None:
    granted = {(group, res, verb) for _, r in rules(objects()) for group in r["apiGroups"] for res in r["resources"]
               for verb in r["verbs"]}  # fmt: skip
    needed = [("policy.jspolicy.com", "jspolicies", "watch"), ("policy.jspolicy.com", "jspolicies/status", "update"),
              ("policy.jspolicy.com", "jspolicybundles", "create"),
              ("policy.jspolicy.com", "jspolicyviolations/status", "update"),
              ("admissionregistration.k8s.io", "validatingwebhookconfigurations", "patch"),
              ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", "delete"),
              ("", "namespaces", "watch"), ("", "secrets", "create"), ("coordination.k8s.io", "leases", "update"),
              ("", "events", "create"), ("events.k8s.io", "events", "create")]  # fmt: skip
    for item in needed:
        assert item in granted, item
    assert ("", "namespaces", "create") not in granted
    assert ("policy.jspolicy.com", "jspolicies", "update") not in granted  # the spec is the user's


def test_the_pod_is_hardened() -> None:
    items = objects()
    spec = pod_spec(items)
    assert spec["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000,
                                       "seccompProfile": {"type": "RuntimeDefault"}}  # fmt: skip
    context = container(items)["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["runAsNonRoot"] is True and context["runAsUser"] == 1000
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "privileged" not in context and "hostNetwork" not in spec and "hostPID" not in spec
    resources = container(items)["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    assert spec["terminationGracePeriodSeconds"] >= 10


def test_writable_paths_are_empty_dirs_and_the_cert_dir_is_the_servers() -> None:
    items = objects()
    volumes = {v["name"]: v for v in pod_spec(items)["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container(items)["volumeMounts"]}
    assert set(mounts) == {"/tmp", CERT_DIR, "/var/cache/jspolicy"}
    for name in mounts.values():
        assert set(volumes[name]) == {"name", "emptyDir"}
    assert volumes[mounts[CERT_DIR]]["emptyDir"]["medium"] == "Memory"
    assert volumes[mounts["/var/cache/jspolicy"]]["emptyDir"]["sizeLimit"] == "2Gi"  # the bundler's, bounded
    env = {e["name"]: e.get("value") for e in container(items)["env"]}
    assert env["JSPOLICY_CERT_DIR"] == CERT_DIR
    assert env["JSPOLICY_CACHE_DIR"] == "/var/cache/jspolicy"


def test_probes_hit_the_health_port_and_the_service_the_webhook_port() -> None:
    items = objects()
    main_container = container(items)
    ports = {p["name"]: p["containerPort"] for p in main_container["ports"]}
    assert ports == {"webhook": 8443, "metrics": 8080, "health": 9080}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = main_container[probe]["httpGet"]
        assert get["path"] == path
        assert ports.get(get["port"], get["port"]) == 9080
    assert main_container["command"] == ["jspolicy", "serve"]
    service = find(items, "Service")
    assert {(p["name"], p["port"], ports[p["targetPort"]]) for p in service["spec"]["ports"]} == {
        ("webhook", 443, 8443), ("metrics", 8080, 8080)}  # fmt: skip


def test_two_replicas_rolled_without_losing_a_webhook_and_spread() -> None:
    items = objects()
    deployment = find(items, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}  # fmt: skip
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert find(items, "Service")["spec"]["selector"] == labels
    pdb = find(items, "PodDisruptionBudget")
    assert pdb["spec"] == {"minAvailable": 1, "selector": {"matchLabels": labels}}
    spec = pod_spec(items)
    (preferred,) = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred["podAffinityTerm"]["labelSelector"]["matchLabels"] == labels
    (spread,) = spec["topologySpreadConstraints"]
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"  # preferred, never blocks scheduling
    assert find(objects(replicas=3), "Deployment")["spec"]["replicas"] == 3
    assert not [o for o in objects(replicas=1) if o["kind"] == "PodDisruptionBudget"]  # it would block drains


def test_the_core_webhook_configuration_ships_empty() -> None:
    webhook = find(objects(), "ValidatingWebhookConfiguration")
    assert "webhooks" not in webhook
    assert webhook["apiVersion"] == "admissionregistration.k8s.io/v1"


def test_no_secret_in_the_manifests() -> None:
    assert not [o for o in objects() if o["kind"] == "Secret"]


def test_extra_env_and_policy_reports() -> None:
    items = objects(env={"VM_POOL_SIZE": "8", "DEBUG": "true"}, policy_reports=True, policy_report_max_events=7)
    env = [(e["name"], e.get("value")) for e in container(items)["env"]]
    assert env[3:] == [("ENABLE_POLICY_REPORTS", "true"), ("POLICY_REPORT_MAX_EVENTS", "7"), ("DEBUG", "true"),
                       ("VM_POOL_SIZE", "8")]  # fmt: skip
    report_rules = [r for _, r in rules(items) if "wgpolicyk8s.io" in r["apiGroups"]]
    assert report_rules and not [r for _, r in rules(objects()) if "wgpolicyk8s.io" in r["apiGroups"]]


@pytest.mark.parametrize(
    ("namespace", "image", "options", "message"),
    [
        ("Bad_NS", IMAGE, {}, "DNS-1123"),
        (NAMESPACE, "", {}, "image"),
        (NAMESPACE, "a b", {}, "image"),
        (NAMESPACE, IMAGE, {"replicas": 0}, "replicas"),
        (NAMESPACE, IMAGE, {"env": {"KUBE_NAMESPACE": "x"}}, "cannot be overridden"),
        (NAMESPACE, IMAGE, {"env": {"1BAD": "x"}}, "environment variable"),
    ],
)
def test_bad_input_is_refused(namespace: str, image: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render(namespace, image, **options)


def test_templates_use_only_known_placeholders() -> None:
    for name in TEMPLATES:
        assert set(re.findall(r"\$\{(\w+)\}", template_text(name))) <= {"NAMESPACE", "IMAGE", "REPLICAS"}, name


def test_the_pod_passes_the_baseline_library_policy(tmp_path: Path) -> None:
    """Dogfooding: the Pod the Deployment makes is allowed by our own Pod Security baseline policy."""
    items = objects()
    deployment = find(items, "Deployment")
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "jspolicy-0", "namespace": NAMESPACE, **deployment["spec"]["template"]["metadata"]},
           "spec": deployment["spec"]["template"]["spec"]}  # fmt: skip
    path = tmp_path / "pod.yaml"
    path.write_text(yaml.safe_dump(pod))
    policy = ROOT / "policies" / "pod-security-baseline" / "policy.yaml"
    assert main(["apply", str(policy), "--resource", str(path)]) == 0


def test_cli_prints_the_render(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["manifests", "--namespace", NAMESPACE, "--image", IMAGE, "--replicas", "3", "--env", "VM_POOL_SIZE=8"]
    assert main(argv) == 0
    printed = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert printed == render(NAMESPACE, IMAGE, replicas=3, env={"VM_POOL_SIZE": "8"})
    assert main(["manifests"]) == 0
    defaults = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert container(defaults)["image"] == default_image() and defaults[0]["metadata"]["name"] == "jspolicy"


@pytest.mark.parametrize("argv", [["--namespace", "Nope"], ["--env", "NOEQUALS"], ["--replicas", "0"]])
def test_cli_bad_input_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifests", *argv]) == 2
    assert capsys.readouterr().err.startswith("error: ")
