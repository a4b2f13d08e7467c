"""The guardrail library as the npm package jspolicy-guardrails: published with real ``npm publish`` to the
loopback registry, imported by policies, and the single source of the YAML library policies."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from jspolicy.bundler.origin import needs_bundler
from jspolicy.bundler.tools import npm_path
from tests.authoring.typescript import ensure_typescript
from tests.bundler.jspolicy_run import Run, clean_environment, jspolicy
from tests.guardrail_sync import LIBRARY, bundle, generate
from tests.npmregistry import NpmRegistry

PACKAGE = "jspolicy-guardrails"
VERSION = "0.1.0"
BASELINE_POLICY = LIBRARY / "pod-security-baseline" / "policy.yaml"
BASELINE_SUITE = LIBRARY / "pod-security-baseline" / "pod-security-baseline.test.yaml"
IMPORTING_BASELINE = f"""\
import {{ podSecurityBaseline, podSecurityBaselineViolation }} from "{PACKAGE}";

const violation = podSecurityBaselineViolation(request);
if (violation) deny(violation);
if (podSecurityBaseline(request.object).length !== 0) deny("podSecurityBaseline disagrees with the violation");
"""
TENANCY = f"""\
import {{ allowedRegistries, containersOf, disallowNamespaces, podSpecOf, requireLabels }} from "{PACKAGE}";

const images = containersOf(podSpecOf(request.object)).map((c) => c.image);
const problems = [
  ...disallowNamespaces(request, ["default", /^prod-/]),
  ...allowedRegistries(images, ["registry.example.com", "ghcr.io/acme"]),
  ...requireLabels(request.object, ["team", "cost-center"]),
];
if (problems.length) deny(problems.join("; "));
"""

# A TypeScript policy using every export as documented, and one misuse that must not type-check.
TYPED_USE = f"""\
import {{ allowedRegistries, containersOf, disallowNamespaces, podSecurityBaseline, podSecurityBaselineViolation,
  podSpecOf, podTemplateOf, requireLabels, subjectOf, BASELINE }} from "{PACKAGE}";
declare const request: {{ kind: {{ kind: string }}; name: string; namespace: string; object: any }};
const problems: string[] = [
  ...podSecurityBaseline(request.object),
  ...disallowNamespaces(request, ["a", /^b/]),
  ...allowedRegistries(containersOf(podSpecOf(request.object)).map((c) => c.image), ["ghcr.io"]),
  ...requireLabels(request.object, ["team"]),
];
const message: string | undefined = podSecurityBaselineViolation(request);
const labels = podTemplateOf(request.object)?.metadata.labels;
export const all = [problems, message, labels, subjectOf(request), BASELINE];
"""
TYPED_MISUSE = f"""\
import {{ podSecurityBaseline }} from "{PACKAGE}";
export const shout: string = podSecurityBaseline({{}}).toUpperCase();
"""


@pytest.fixture(scope="module")
def published(guardrails_registry: NpmRegistry) -> NpmRegistry:
    return guardrails_registry


@pytest.fixture(scope="module")
def bundle_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cold build cache for the module: the package is installed from the registry once."""
    yield tmp_path_factory.mktemp("bundles")


def importing_policy(directory: Path, javascript: str, name: str = "guardrails.example.com") -> Path:
    """The library policy's manifest (same match rules) with code that imports the package."""
    manifest = yaml.safe_load(BASELINE_POLICY.read_text("utf-8"))
    manifest["metadata"] = {"name": name}
    manifest["spec"]["javascript"] = javascript
    manifest["spec"]["dependencies"] = {PACKAGE: VERSION}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False), "utf-8")
    return path


def write_resources(path: Path, resources: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump_all(resources, sort_keys=False), "utf-8")
    return path


def pod(name: str, spec: dict[str, Any], namespace: str = "apps", **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, **metadata},
            "spec": spec}  # fmt: skip


def answers(run: Run) -> dict[str, tuple[bool, str]]:
    assert run.returncode in (0, 1), (run.stdout, run.stderr)
    return {f"{r['resource']['kind']}/{r['resource']['name']}": (r["allowed"], r["message"]) for r in run.results()}


def test_the_yaml_policy_is_generated_from_the_package_source() -> None:
    """policy.yaml's javascript is exactly what tests.guardrail_sync makes from lib/ now, and runs without npm."""
    results = generate()
    assert [r.manifest for r in results] == sorted(path.parent / "policy.yaml" for path in LIBRARY.glob("*/policy.js"))
    assert BASELINE_POLICY in [r.manifest for r in results]
    for result in results:
        assert not result.stale, f"{result.manifest} is stale: run python -m tests.guardrail_sync"
    spec = yaml.safe_load(BASELINE_POLICY.read_text("utf-8"))["spec"]
    assert "dependencies" not in spec
    assert not needs_bundler(spec["javascript"], None), "the library policy must stay plain inline JavaScript"
    assert "function podSecurity(" in spec["javascript"]  # the package's function, not a copy


def test_the_generator_notices_a_change_in_the_package(tmp_path: Path) -> None:
    """A changed lib/ module changes the generated javascript (so the check above can fail)."""
    library = tmp_path / "policies"
    (library / "lib").mkdir(parents=True)
    (library / "pod-security-baseline").mkdir()
    for file in [*(LIBRARY / "lib").glob("*.js"), LIBRARY / "pod-security-baseline" / "policy.js"]:
        (library / file.relative_to(LIBRARY)).write_text(file.read_text("utf-8"), "utf-8")
    security = library / "lib" / "pod-security.js"
    security.write_text(security.read_text("utf-8").replace('"KILL", ', ""), "utf-8")
    original = bundle(LIBRARY / "pod-security-baseline" / "policy.js")
    changed = bundle(library / "pod-security-baseline" / "policy.js", library)
    assert '"KILL"' in original and '"KILL"' not in changed


def test_npm_pack_lists_only_the_package_files() -> None:
    result = subprocess.run([str(npm_path()), "pack", "--dry-run", "--json"], cwd=LIBRARY, capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    files = {entry["path"] for entry in json.loads(result.stdout)[0]["files"]}
    modules = {f"lib/{file.name}" for file in (LIBRARY / "lib").iterdir() if file.suffix in (".js", ".ts")}
    assert {"lib/index.js", "lib/index.d.ts", "lib/pod-security.js", "lib/options.js"} <= modules
    assert files == {"package.json", "README.md", *modules}


def test_the_types_declare_every_export_and_nothing_else() -> None:
    declared = set(
        re.findall(r"(?m)^export declare (?:function|const|class) (\w+)", (LIBRARY / "lib" / "index.d.ts").read_text())
    )
    script = "import('./lib/index.js').then((m) => console.log(JSON.stringify(Object.keys(m))))"
    result = subprocess.run(
        ["node", "-e", script], cwd=LIBRARY, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    exported = set(json.loads(result.stdout))
    assert exported == declared
    assert {"podSecurityBaseline", "disallowNamespaces", "allowedRegistries", "requireLabels", "podSpecOf",
            "containersOf"} <= exported  # fmt: skip


def test_the_types_check_with_tsc(tmp_path: Path) -> None:
    """A TypeScript policy using the package type-checks; a misuse is a type error (the types are not `any`)."""
    modules = tmp_path / "node_modules"
    modules.mkdir()
    (modules / PACKAGE).symlink_to(LIBRARY, target_is_directory=True)
    (tmp_path / "ok.ts").write_text(TYPED_USE, "utf-8")
    (tmp_path / "bad.ts").write_text(TYPED_MISUSE, "utf-8")
    tsc = ensure_typescript()
    flags = ["--noEmit", "--strict", "--module", "esnext", "--moduleResolution", "bundler", "--target", "es2020",
             "--types", "", "--pretty", "false"]  # fmt: skip
    ok = subprocess.run([*tsc, *flags, "ok.ts"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run(
        [*tsc, *flags, "bad.ts"], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert bad.returncode != 0 and "toUpperCase" in bad.stdout and "string[]" in bad.stdout, bad.stdout + bad.stderr


def test_a_policy_importing_the_package_denies_as_the_yaml_policy_does(
    published: NpmRegistry, bundle_cache: Path, tmp_path: Path
) -> None:
    resources = write_resources(tmp_path / "resources.yaml", [
        pod("privileged", {"containers": [{"name": "app", "image": "x", "securityContext": {"privileged": True}}]}),
        pod("compliant", {"containers": [{"name": "app", "image": "x",
                                          "securityContext": {"capabilities": {"add": ["CHOWN"]}}}]}),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "apps"},
         "spec": {"template": {"spec": {"hostIPC": True, "containers": [{"name": "app", "image": "x"}]}}}},
    ])  # fmt: skip
    env = clean_environment(published.env(), bundle_cache)
    imported = answers(jspolicy(["apply", str(importing_policy(tmp_path / "p", IMPORTING_BASELINE)), "-r",
                                 str(resources), "-o", "json"], env, tmp_path))  # fmt: skip
    library = answers(jspolicy(["apply", str(BASELINE_POLICY), "-r", str(resources), "-o", "json"], env, tmp_path))
    assert imported == library
    assert imported == {
        "Pod/privileged": (False, 'Pod privileged violates PodSecurity "baseline:latest": privileged (container "app" '
                                  "must not set securityContext.privileged=true)"),
        "Pod/compliant": (True, ""),
        "Deployment/web": (False, 'Deployment web violates PodSecurity "baseline:latest": '
                                  "host namespaces (hostIPC=true)"),
    }  # fmt: skip


def test_every_case_of_the_library_suite_passes_through_the_package(
    published: NpmRegistry, bundle_cache: Path, tmp_path: Path
) -> None:
    importing_policy(tmp_path, IMPORTING_BASELINE, name="pod-security-baseline.library.jspolicy.com")
    suite = yaml.safe_load(BASELINE_SUITE.read_text("utf-8"))
    assert suite["policies"] == ["policy.yaml"]
    (tmp_path / "imported.test.yaml").write_text(yaml.safe_dump(suite, sort_keys=False), "utf-8")
    run = jspolicy(["test", str(tmp_path)], clean_environment(published.env(), bundle_cache), tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(suite['cases'])} passed, 0 failed" in run.stdout, run.stdout


def test_the_tenancy_helpers(published: NpmRegistry, bundle_cache: Path, tmp_path: Path) -> None:
    labels = {"team": "shop", "cost-center": "42"}
    resources = write_resources(tmp_path / "resources.yaml", [
        pod("fine", {"containers": [{"name": "a", "image": "registry.example.com/shop/web:1"}],
                     "initContainers": [{"name": "i", "image": "ghcr.io/acme/init@sha256:00"}]}, "shop", labels=labels),
        pod("hub", {"containers": [{"name": "a", "image": "nginx"}],
                    "ephemeralContainers": [{"name": "d", "image": "registry.example.com.evil.io/x"}]},
            "shop", labels=labels),
        pod("unlabelled", {"containers": [{"name": "a", "image": "ghcr.io/acme/web"}]}, "shop", labels={"team": ""}),
        pod("in-default", {"containers": [{"name": "a", "image": "ghcr.io/acme/web"}]}, "default", labels=labels),
        {"apiVersion": "batch/v1", "kind": "CronJob",
         "metadata": {"name": "nightly", "namespace": "prod-eu", "labels": labels},
         "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": {
             "containers": [{"name": "a", "image": "ghcr.io/acmecorp/job"}]}}}}}},
    ])  # fmt: skip
    run = jspolicy(["apply", str(importing_policy(tmp_path / "p", TENANCY)), "-r", str(resources), "-o", "json"],
                   clean_environment(published.env(), bundle_cache), tmp_path)  # fmt: skip
    allowed = '("registry.example.com", "ghcr.io/acme")'
    assert answers(run) == {
        "Pod/fine": (True, ""),
        "Pod/hub": (False, f'image "nginx" is not from an allowed registry {allowed}; '
                           f'image "registry.example.com.evil.io/x" is not from an allowed registry {allowed}'),
        "Pod/unlabelled": (False, 'label "cost-center" is required'),
        "Pod/in-default": (False, 'namespace "default" is not allowed'),
        "CronJob/nightly": (False, 'namespace "prod-eu" is not allowed (it matches /^prod-/); '
                                   f'image "ghcr.io/acmecorp/job" is not from an allowed registry {allowed}'),
    }  # fmt: skip
