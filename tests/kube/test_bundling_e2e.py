"""The leader bundles JsPolicies with npm dependencies, against a real npm registry on loopback, and the
real kube-apiserver enforces them: BundleCompiled, the JsPolicyBundle, scripts never run, npm's own
message on failure, and the last good bundle kept while a broken edit fails."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jspolicy.bundler.origin import BUNDLE_HASH_ANNOTATION
from jspolicy.bundler.tools import esbuild_api_path, esbuild_path
from jspolicy.controlplane.plane import ControlPlane
from jspolicy.resources.bundle import bundle_hash, decode_bundle
from tests.conftest import GUARDRAILS
from tests.kube.jspolicy_server import Replica, get_json, install_crds, lease_holder, remove_everything, start_replica
from tests.kube.jspolicy_server import wait_for as wait_long
from tests.npmregistry import NpmRegistry

TEAMS_SOURCE = """export const TEAMS = ["payments", "search"];
export function teamProblem(obj) {
  const team = ((obj && obj.metadata && obj.metadata.labels) || {}).team;
  return TEAMS.includes(team) ? null : `team ${JSON.stringify(team ?? null)} is not one of ${TEAMS.join(", ")}`;
}
"""
POLICY_SOURCE = 'import { teamProblem } from "team-rules";\nconst problem = teamProblem(request.object);\n' \
    'if (problem) deny(problem);\n'  # fmt: skip


def wait_for(predicate: Any, what: str) -> Any:
    return wait_long(predicate, timeout=120, what=what)  # a cold npm install and esbuild run come first


def write_package(directory: Path, name: str, version: str, files: dict[str, str], **extra: Any) -> Path:
    directory.mkdir(parents=True)
    manifest = {"name": name, "version": version, "main": "index.js", "license": "MIT", **extra}
    (directory / "package.json").write_text(json.dumps(manifest))
    for file, text in files.items():
        (directory / file).write_text(text)
    return directory


@pytest.fixture(scope="module")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("postinstall") / "ran"


@pytest.fixture(scope="module")
def server(
    control_plane: ControlPlane, npm_registry: NpmRegistry, marker: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replica]:
    packages = tmp_path_factory.mktemp("packages")
    npm_registry.publish(write_package(packages / "team-rules", "team-rules", "1.0.0", {"index.js": TEAMS_SOURCE}))
    script = f"node -e \"require('fs').writeFileSync({json.dumps(str(marker))}, 'ran')\""
    npm_registry.publish(write_package(packages / "with-postinstall", "with-postinstall", "1.0.0",
                                       {"index.js": "module.exports = { ok: () => true };\n"},
                                       scripts={"postinstall": script}))  # fmt: skip
    install_crds(control_plane)
    home = tmp_path_factory.mktemp("bundling")
    env = {
        **npm_registry.env(),
        # What the image does: esbuild ships with it, nothing is fetched from a pod.
        "JSPOLICY_ESBUILD": str(esbuild_path()),
        "JSPOLICY_ESBUILD_API": str(esbuild_api_path()),
        "JSPOLICY_CACHE_DIR": str(home / "cache"),  # cold: every dependency comes from the loopback registry
    }
    replica = start_replica(control_plane, home, "bundling", env=env)
    wait_for(lambda: lease_holder(control_plane) == "bundling", what="leader lease")
    yield replica
    replica.stop()
    remove_everything(control_plane)


def namespace(plane: ControlPlane) -> str:
    name = f"b-{uuid.uuid4().hex[:8]}"
    plane.kubectl("create", "namespace", name)
    return name


def apply_policy(plane: ControlPlane, name: str, javascript: str, dependencies: dict[str, str]) -> None:
    policy = {"apiVersion": "policy.jspolicy.com/v1beta1", "kind": "JsPolicy", "metadata": {"name": name},
              "spec": {"operations": ["CREATE"], "resources": ["configmaps"], "dependencies": dependencies,
                       "javascript": javascript}}  # fmt: skip
    plane.kubectl("apply", "-f", "-", input=json.dumps(policy))


def compiled(plane: ControlPlane, name: str, digest: str | None = None) -> dict[str, Any] | None:
    """The BundleCompiled condition once the status reports on the current source (or ``digest``)."""
    status = (get_json(plane, "jspolicy", name) or {}).get("status") or {}
    for condition in status.get("conditions") or []:
        current = digest is None or status.get("bundleHash") == digest or condition["status"] == "False"
        if condition["type"] == "BundleCompiled" and current:
            return dict(condition)
    return None


def config_map(name: str, namespace_: str, team: str | None) -> str:
    labels = {"team": team} if team else {}
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"},
                       "metadata": {"name": name, "namespace": namespace_, "labels": labels}})  # fmt: skip


def dry_run(plane: ControlPlane, manifest: str) -> tuple[int, str]:
    result = plane.kubectl("apply", "--dry-run=server", "-f", "-", input=manifest, check=False)
    return result.returncode, result.stderr


def test_a_policy_with_npm_dependencies_is_bundled_by_the_leader_and_enforced(
    control_plane: ControlPlane, server: Replica
) -> None:
    name = "teams.bundling.jspolicy.com"
    apply_policy(control_plane, name, POLICY_SOURCE, {"team-rules": "^1.0.0"})
    digest = bundle_hash(POLICY_SOURCE, {"team-rules": "^1.0.0"})
    condition = wait_for(lambda: compiled(control_plane, name, digest), what="BundleCompiled")
    assert condition["status"] == "True", condition
    bundle = get_json(control_plane, "jspolicybundle", name)
    assert bundle is not None
    assert bundle["metadata"]["annotations"][BUNDLE_HASH_ANNOTATION] == digest
    assert bundle["metadata"]["ownerReferences"][0]["name"] == name
    assert "teamProblem" in decode_bundle(bundle["spec"]["bundle"])  # the package is inside the bundle
    where = namespace(control_plane)
    _, stderr = wait_for(lambda: (r := dry_run(control_plane, config_map("x", where, None)))[0] and r,
                            what="the webhook enforcing")  # fmt: skip
    assert "team null is not one of payments, search" in stderr
    assert dry_run(control_plane, config_map("y", where, "search"))[0] == 0
    status = get_json(control_plane, "jspolicy", name)["status"]  # type: ignore[index]
    assert status["phase"] == "Synced" and status["bundleHash"] == digest


def test_a_broken_edit_keeps_the_last_good_bundle_enforcing(control_plane: ControlPlane, server: Replica) -> None:
    name = "edit.bundling.jspolicy.com"
    dependencies = {"team-rules": "1.0.0"}
    apply_policy(control_plane, name, POLICY_SOURCE, dependencies)
    good = bundle_hash(POLICY_SOURCE, dependencies)
    assert wait_for(lambda: compiled(control_plane, name, good), what="first bundle")["status"] == "True"
    first = get_json(control_plane, "jspolicybundle", name)["spec"]["bundle"]  # type: ignore[index]
    broken = POLICY_SOURCE.replace("deny(problem);", "deny(problem;")
    apply_policy(control_plane, name, broken, dependencies)
    condition = wait_for(lambda: (c := compiled(control_plane, name)) and c["status"] == "False" and c,
                         what="CompileFailed")  # fmt: skip
    assert condition["reason"] == "CompileFailed"
    assert "spec.javascript:3:" in condition["message"] and "keeps enforcing" in condition["message"]
    status = get_json(control_plane, "jspolicy", name)["status"]  # type: ignore[index]
    assert status["bundleHash"] == good  # it names the source the served bundle was built from
    assert get_json(control_plane, "jspolicybundle", name)["spec"]["bundle"] == first  # type: ignore[index]
    where = namespace(control_plane)
    _, stderr = wait_for(lambda: (r := dry_run(control_plane, config_map("x", where, "nobody")))[0] and r,
                            what="the old bundle enforcing")  # fmt: skip
    assert '"nobody" is not one of' in stderr


def test_an_unknown_package_gets_npms_message_and_no_webhook(control_plane: ControlPlane, server: Replica) -> None:
    name = "unknown.bundling.jspolicy.com"
    apply_policy(control_plane, name, 'import x from "no-such-package-here";\nx();\n', {"no-such-package-here": "^1"})
    condition = wait_for(lambda: compiled(control_plane, name), what="BundleCompiled")
    assert condition["status"] == "False" and condition["reason"] == "CompileFailed"
    assert "no-such-package-here" in condition["message"] and "404" in condition["message"]
    assert get_json(control_plane, "jspolicybundle", name) is None
    configurations = get_json(control_plane, "validatingwebhookconfigurations") or {}
    owners = [o.get("name") for item in configurations.get("items", [])
              for o in item["metadata"].get("ownerReferences") or []]  # fmt: skip
    assert name not in owners


def test_a_dependencys_postinstall_script_never_runs(
    control_plane: ControlPlane, server: Replica, marker: Path
) -> None:
    name = "scripts.bundling.jspolicy.com"
    source = 'import { ok } from "with-postinstall";\nif (!ok()) deny("not ok");\n'
    apply_policy(control_plane, name, source, {"with-postinstall": "1.0.0"})
    digest = bundle_hash(source, {"with-postinstall": "1.0.0"})
    assert wait_for(lambda: compiled(control_plane, name, digest), what="BundleCompiled")["status"] == "True"
    assert not marker.exists()


def test_inline_typescript_is_bundled_by_the_leader_and_enforced(control_plane: ControlPlane, server: Replica) -> None:
    name = "typescript.bundling.jspolicy.com"
    source = (
        "interface Meta { labels?: Record<string, string> }\n"
        "const meta: Meta = request.object?.metadata ?? {};\n"
        'if (meta.labels?.team !== "search") deny(`team must be search, not ${meta.labels?.team}`);\n'
    )
    policy = {"apiVersion": "policy.jspolicy.com/v1beta1", "kind": "JsPolicy",
              "metadata": {"name": name, "annotations": {"policy.jspolicy.com/language": "typescript"}},
              "spec": {"operations": ["CREATE"], "resources": ["configmaps"], "javascript": source}}  # fmt: skip
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(policy))
    digest = bundle_hash(source, None)
    assert wait_for(lambda: compiled(control_plane, name, digest), what="BundleCompiled")["status"] == "True"
    bundle = get_json(control_plane, "jspolicybundle", name) or {}
    assert bundle["metadata"]["annotations"][BUNDLE_HASH_ANNOTATION] == f"{digest}/typescript"
    assert "interface" not in decode_bundle(bundle["spec"]["bundle"])
    where = namespace(control_plane)
    _, stderr = wait_for(lambda: (r := dry_run(control_plane, config_map("x", where, "payments")))[0] and r,
                         what="the webhook enforcing")  # fmt: skip
    assert "team must be search, not payments" in stderr


def test_a_policy_importing_the_guardrail_package_is_bundled_and_enforced(
    control_plane: ControlPlane, guardrails_registry: NpmRegistry, server: Replica
) -> None:
    """The library published to the registry; a tenant's policy names it in `dependencies` and imports it."""
    name = "guardrails.bundling.jspolicy.com"
    version = json.loads((GUARDRAILS / "package.json").read_text())["version"]
    source = 'import { podSecurityBaselineViolation } from "jspolicy-guardrails";\n' \
        "const violation = podSecurityBaselineViolation(request);\nif (violation) deny(violation);\n"  # fmt: skip
    policy = {"apiVersion": "policy.jspolicy.com/v1beta1", "kind": "JsPolicy", "metadata": {"name": name},
              "spec": {"operations": ["CREATE", "UPDATE"], "resources": ["pods"],
                       "dependencies": {"jspolicy-guardrails": version}, "javascript": source}}  # fmt: skip
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(policy))
    digest = bundle_hash(source, {"jspolicy-guardrails": version})
    condition = wait_for(lambda: compiled(control_plane, name, digest), what="BundleCompiled")
    assert condition["status"] == "True", condition
    where = namespace(control_plane)
    privileged = json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root", "namespace": where},
                             "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                                      "securityContext": {"privileged": True}}]}})  # fmt: skip
    _, stderr = wait_for(lambda: (r := dry_run(control_plane, privileged))[0] and r, what="the guardrail enforcing")
    assert 'violates PodSecurity "baseline:latest"' in stderr and "privileged" in stderr
    compliant = privileged.replace('"securityContext": {"privileged": true}', '"securityContext": {}')
    assert dry_run(control_plane, compliant)[0] == 0
