"""Policies with npm dependencies built against a real registry on loopback (verdaccio, no uplinks).

What users rely on: packages come from the configured registry, their install scripts never run,
a missing package or a refused token is a build error in npm's own words, and a built policy is
served from the cache when the registry is gone.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

from jspolicy.bundler.tools import npm_path
from tests.bundler.jspolicy_run import Run, clean_environment, jspolicy
from tests.npmregistry import NpmRegistry

UNREACHABLE = "http://127.0.0.1:9/"  # the discard port: nothing listens on loopback


def team_package(directory: Path, name: str, marker: Path) -> Path:
    """A package whose postinstall script writes ``marker``: it exists only if install scripts ran."""
    directory.mkdir(parents=True)
    manifest = {"name": name, "version": "1.0.0", "main": "index.js", "license": "Apache-2.0",
                "scripts": {"postinstall": "node postinstall.js"}}  # fmt: skip
    script = f"require('fs').writeFileSync({json.dumps(str(marker))}, 'postinstall ran');\n"
    (directory / "postinstall.js").write_text(script, "utf-8")
    (directory / "package.json").write_text(json.dumps(manifest, indent=2), "utf-8")
    (directory / "index.js").write_text('exports.teams = ["payments", "search"];\n', "utf-8")
    return directory


def write_policy(directory: Path, dependencies: dict[str, str], package: str, extra_line: str = "") -> Path:
    javascript = (
        f'import {{ teams }} from "{package}";\n'
        "const team = (request.object.metadata.labels || {}).team;\n"
        'if (!teams.includes(team)) deny(`team must be one of ${teams.join(", ")}, got ${team}`);\n'
        f"{extra_line}"
    )
    policy = {"apiVersion": "policy.jspolicy.com/v1beta1", "kind": "JsPolicy",
              "metadata": {"name": "team.registry.example.com"},
              "spec": {"operations": ["CREATE"], "resources": ["pods"], "dependencies": dependencies,
                       "javascript": javascript}}  # fmt: skip
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False), "utf-8")
    return path


def write_pods(directory: Path) -> Path:
    pods = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "shop", "labels": labels},
             "spec": {"containers": [{"name": "app", "image": "nginx"}]}}
            for name, labels in (("paid", {"team": "payments"}), ("stray", {}))]  # fmt: skip
    path = directory / "pods.yaml"
    path.write_text(yaml.safe_dump_all(pods), "utf-8")
    return path


def apply(policy: Path, pods: Path, env: dict[str, str]) -> Run:
    return jspolicy(["apply", str(policy), "-r", str(pods), "-o", "json"], env, policy.parent)


def assert_team_answers(run: Run) -> None:
    assert run.returncode == 1, run.stderr  # 1: something was denied
    answers = {r["resource"]["name"]: (r["allowed"], r["message"]) for r in run.results()}
    assert answers == {"paid": (True, ""), "stray": (False, "team must be one of payments, search, got undefined")}


def test_a_registry_dependency_is_bundled_without_its_install_scripts_and_then_served_from_the_cache(
    npm_registry: NpmRegistry, tmp_path: Path
) -> None:
    marker = tmp_path / "postinstall-ran"
    npm_registry.publish(team_package(tmp_path / "package", "jspolicy-test-teams", marker))
    policy = write_policy(tmp_path / "policy", {"jspolicy-test-teams": "^1.0.0"}, "jspolicy-test-teams")
    pods = write_pods(tmp_path)
    cache = tmp_path / "bundles"

    assert_team_answers(apply(policy, pods, clean_environment(npm_registry.env(), cache)))
    assert not marker.exists(), "the dependency's postinstall script ran during the build"
    assert list((cache / "deps").iterdir()), "nothing was installed into the build cache"

    # The registry gone: the built policy answers from the cache, and an edit of its code (same
    # dependencies) is bundled from the cached node_modules.
    offline = clean_environment({**npm_registry.env(), "NPM_CONFIG_REGISTRY": UNREACHABLE}, cache)
    assert_team_answers(apply(policy, pods, offline))
    edited = write_policy(tmp_path / "edited", {"jspolicy-test-teams": "^1.0.0"}, "jspolicy-test-teams", "// v2\n")
    assert_team_answers(apply(edited, pods, offline))
    # ...while a cold cache really needs the registry (so the runs above did not reach it).
    # (npm retries a refused connection for longer than BUNDLE_TIMEOUT by default; the user's npm config
    # decides, so this test sets fetch-retries=0 to see npm's own error.)
    no_retries = {**npm_registry.env(), "NPM_CONFIG_REGISTRY": UNREACHABLE, "npm_config_fetch_retries": "0"}
    cold = apply(policy, pods, clean_environment(no_retries, tmp_path / "cold"))
    assert cold.returncode == 2, cold.stdout
    assert "jspolicy-test-teams" in cold.stderr and "ECONNREFUSED" in cold.stderr, cold.stderr

    # The control: the same package installed by npm with scripts enabled does write the marker.
    control = tmp_path / "control"
    control.mkdir()
    (control / "package.json").write_text('{"name": "control", "version": "1.0.0", "private": true}', "utf-8")
    env = {**clean_environment(npm_registry.env(), cache), "npm_config_cache": str(tmp_path / "npm-cache")}
    command = [str(npm_path()), "install", "jspolicy-test-teams@1.0.0", "--no-audit", "--no-fund"]
    installed = subprocess.run(command, cwd=control, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert installed.returncode == 0, installed.stderr
    assert marker.read_text("utf-8") == "postinstall ran"


def test_an_unknown_package_is_a_build_error_in_npms_words(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    policy = write_policy(tmp_path / "policy", {"jspolicy-no-such-package": "1.0.0"}, "jspolicy-no-such-package")
    run = apply(policy, write_pods(tmp_path), clean_environment(npm_registry.env(), tmp_path / "bundles"))
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "team.registry.example.com" in run.stderr and "jspolicy-no-such-package" in run.stderr, run.stderr
    assert "404 Not Found" in run.stderr, run.stderr  # npm's own "E404 … 404 Not Found - GET <url>"
    assert npm_registry.url in run.stderr, run.stderr


def test_a_private_registry_needs_the_token_and_jspolicy_npm_token_provides_it(
    private_npm_registry: NpmRegistry, tmp_path: Path
) -> None:
    registry = private_npm_registry
    registry.publish(team_package(tmp_path / "package", "jspolicy-private-teams", tmp_path / "marker"))
    policy = write_policy(tmp_path / "policy", {"jspolicy-private-teams": "1.0.0"}, "jspolicy-private-teams")
    pods = write_pods(tmp_path)
    anonymous = registry.env(auth=False)  # the registry, an empty user config: no token anywhere

    refused = apply(policy, pods, clean_environment(anonymous, tmp_path / "bundles"))
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    assert "jspolicy-private-teams" in refused.stderr and "E401" in refused.stderr, refused.stderr
    assert "authenticat" in refused.stderr.lower(), refused.stderr

    with_token = clean_environment({**anonymous, "JSPOLICY_NPM_TOKEN": registry.token}, tmp_path / "bundles")
    assert_team_answers(apply(policy, pods, with_token))
    # The token is passed by name (${JSPOLICY_NPM_TOKEN} in the build's .npmrc), never written to disk.
    for file in (tmp_path / "bundles").rglob(".npmrc"):
        assert registry.token not in file.read_text("utf-8"), file
    assert not (tmp_path / "marker").exists()


def test_the_registry_fixture_really_is_loopback_only(npm_registry: NpmRegistry, tmp_path: Path) -> None:
    """No uplink: a package that exists on the public registry is a 404 here."""
    env = {**os.environ, **npm_registry.env(), "npm_config_cache": str(tmp_path / "npm-cache")}
    viewed = subprocess.run([str(npm_path()), "view", "lodash", "version"], env=env, capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert viewed.returncode != 0 and "404" in viewed.stderr, (viewed.stdout, viewed.stderr)
    assert npm_registry.url.startswith("http://127.0.0.1:") and npm_registry.url.endswith("/")
