"""Build failures are bad input that names the file and line, tools are bounded, and the bundle runs like a
webpack commonjs bundle. Real esbuild and npm, no registry needed (``file:`` packages, fake tools)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from jspolicy.bundler import npm
from jspolicy.bundler.build import MAX_ENCODED_BUNDLE, BuildSettings, Bundler, InlineSource
from jspolicy.bundler.errors import BuildError
from jspolicy.bundler.tools import ToolError, esbuild_path, npm_environment
from tests.bundler.jspolicy_run import Run, clean_environment, jspolicy

ROOT = Path(__file__).resolve().parents[2]
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"},
       "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}  # fmt: skip


def policy_yaml(javascript: str, dependencies: dict[str, str] | None = None, name: str = "p.example.com") -> str:
    lines = ["apiVersion: policy.jspolicy.com/v1beta1", "kind: JsPolicy", f"metadata: {{name: {name}}}", "spec:",
             '  operations: ["CREATE"]', '  resources: ["pods"]']  # fmt: skip
    if dependencies:
        lines.append(f"  dependencies: {json.dumps(dependencies)}")
    lines.append("  javascript: |")
    lines += ["    " + line for line in javascript.splitlines()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "pod.yaml").write_text(json.dumps(POD))
    return tmp_path


def run(workdir: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    return jspolicy(list(args), clean_environment(env or {}, workdir / "bundle-cache"), workdir)


def test_a_syntax_error_in_plain_javascript_is_bad_input_naming_the_file_line(workdir: Path) -> None:
    (workdir / "policy.yaml").write_text(policy_yaml('const a = 1;\nif (a) {\n  deny("x"\n}'))
    result = run(workdir, "apply", "policy.yaml", "-r", "pod.yaml")
    assert result.returncode == 2, result
    # line 3 of the javascript is line 10 of the file (the block starts after line 7)
    assert "policy.yaml:10: js policy p.example.com: spec.javascript line 3: SyntaxError:" in result.stderr


def test_a_syntax_error_in_bundled_javascript_names_the_line(workdir: Path) -> None:
    (workdir / "policy.yaml").write_text(policy_yaml('import * as m from "./m";\nconst = 1;\n'))
    result = run(workdir, "apply", "policy.yaml", "-r", "pod.yaml")
    assert result.returncode == 2, result
    assert "policy.yaml:9: js policy p.example.com: spec.javascript:2:6: Expected identifier" in result.stderr


def test_an_unresolvable_import_names_the_module(workdir: Path) -> None:
    (workdir / "policy.yaml").write_text(policy_yaml('import { f } from "not-installed";\nf();\n'))
    result = run(workdir, "apply", "policy.yaml", "-r", "pod.yaml")
    assert result.returncode == 2, result
    assert 'spec.javascript:1:18: Could not resolve "not-installed"' in result.stderr


@pytest.mark.parametrize("command", ["test", "review", "serve", "webhook-config"])
def test_every_command_that_reads_policies_refuses_one_that_does_not_build(workdir: Path, command: str) -> None:
    (workdir / "policy.yaml").write_text(policy_yaml('deny("x";'))
    (workdir / "p.test.yaml").write_text(
        "policies: [policy.yaml]\ncases:\n  - resource: pod.yaml\n    expect: {allowed: true}\n"
    )
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "1",
              "operation": "CREATE", "object": POD}}  # fmt: skip
    (workdir / "review.json").write_text(json.dumps(review))
    args = {
        "test": ["test", "p.test.yaml"],
        "review": ["review", "--policy", "policy.yaml", "--request", "review.json"],
        # Refused before anything listens (a port of 0 and a cert dir of its own keep it harmless otherwise).
        "serve": ["serve", "--policies", "policy.yaml", "--port", "0", "--cert-dir", str(workdir / "certs")],
        "webhook-config": ["webhook-config", "--url", "https://127.0.0.1:8443", "--policies", "policy.yaml",
                           "--cert-dir", str(workdir / "certs")],
    }[command]  # fmt: skip
    result = run(workdir, *args)
    assert result.returncode == 2, result
    assert "policy.yaml:8" in result.stdout + result.stderr
    assert "spec.javascript line 1: SyntaxError" in result.stdout + result.stderr


def write_package(directory: Path, source: str, name: str = "local-rules") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "package.json").write_text(json.dumps({"name": name, "version": "1.0.0", "main": "index.js"}))
    (directory / "index.js").write_text(source)
    return directory


def test_a_file_dependency_is_bundled_and_esm_exports_run_like_webpack_commonjs(workdir: Path) -> None:
    write_package(workdir / "rules", "exports.banned = (image) => image.endsWith(':latest');\n")
    source = ('import { banned } from "local-rules";\nexport const checked = [];\n'
              'for (const c of request.object.spec.containers) if (banned(c.image)) deny(c.name + " uses :latest");\n'
              'exports.seen = true;\n')  # fmt: skip
    (workdir / "policy.yaml").write_text(policy_yaml(source, {"local-rules": "file:rules"}))
    latest = {**POD, "spec": {"containers": [{"name": "web", "image": "nginx:latest"}]}}
    (workdir / "latest.yaml").write_text(json.dumps(latest))
    result = run(workdir, "apply", "policy.yaml", "-r", "pod.yaml", "-r", "latest.yaml", "-o", "json")
    assert result.returncode == 1, result
    assert [(r["allowed"], r["message"]) for r in result.results()] == [(True, ""), (False, "web uses :latest")]


def test_the_cache_is_keyed_by_a_file_dependencys_content(workdir: Path) -> None:
    package = write_package(workdir / "rules", "exports.word = () => 'one';\n")
    (workdir / "policy.yaml").write_text(policy_yaml('import { word } from "local-rules";\ndeny(word());\n',
                                                     {"local-rules": "file:rules"}))  # fmt: skip
    first = run(workdir, "apply", "policy.yaml", "-r", "pod.yaml", "-o", "json")
    (package / "index.js").write_text("exports.word = () => 'two';\n")
    second = run(workdir, "apply", "policy.yaml", "-r", "pod.yaml", "-o", "json")
    assert [r["message"] for r in first.results() + second.results()] == ["one", "two"]


def test_a_cluster_bundler_refuses_file_dependencies(tmp_path: Path) -> None:
    bundler = Bundler(BuildSettings(cache_dir=tmp_path, allow_file_dependencies=False))
    with pytest.raises(BuildError, match=r"dependency x is a file: path \(file:/tmp\), which only the CLI"):
        bundler.build(InlineSource("p.example.com", 'import "x";', {"x": "file:/tmp"}))


@pytest.mark.parametrize("spec", [{"Bad Name": "1"}, {"ok": 3}, {"../up": "1"}])
def test_dependencies_must_be_npm_names_and_specs(tmp_path: Path, spec: dict[str, object]) -> None:
    with pytest.raises(BuildError, match="is not an npm package spec"):
        Bundler(BuildSettings(cache_dir=tmp_path)).build(InlineSource("p.example.com", "allow();", spec))  # type: ignore[arg-type]


def test_a_bundle_too_big_for_a_jspolicybundle_is_refused(workdir: Path) -> None:
    noise = os.urandom(MAX_ENCODED_BUNDLE).hex()  # incompressible: gzip cannot save it
    write_package(workdir / "big", f"exports.blob = {json.dumps(noise)};\n", name="big")
    bundler = Bundler(BuildSettings(cache_dir=workdir / "cache"))
    source = InlineSource("big.example.com", 'import { blob } from "big";\nif (!blob) deny("x");', {"big": "file:big"},
                          workdir)  # fmt: skip
    with pytest.raises(BuildError, match=f"over the {MAX_ENCODED_BUNDLE} bytes a JsPolicyBundle may take"):
        bundler.build(source)


def fake_tool(path: Path, script: str) -> Path:
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_npm_that_hangs_is_killed_at_bundle_timeout(workdir: Path) -> None:
    npm = fake_tool(workdir / "npm", "sleep 60\n")
    (workdir / "policy.yaml").write_text(policy_yaml('import x from "x";\nx();', {"x": "^1"}))
    result = run(
        workdir, "apply", "policy.yaml", "-r", "pod.yaml", env={"JSPOLICY_NPM": str(npm), "BUNDLE_TIMEOUT": "1"}
    )
    assert result.returncode == 2, result
    assert "npm install of dependencies x@^1 failed: npm did not finish within 1 s (BUNDLE_TIMEOUT)" in result.stderr


def test_without_npm_the_error_says_what_to_install(workdir: Path) -> None:
    (workdir / "policy.yaml").write_text(policy_yaml('import x from "x";\nx();', {"x": "^1"}))
    result = run(workdir, "apply", "policy.yaml", "-r", "pod.yaml", env={"JSPOLICY_NPM": str(workdir / "no-npm")})
    assert result.returncode == 2, result
    assert "needs npm" in result.stderr and "install Node.js" in result.stderr


def test_plain_policies_need_no_bundling_tools(workdir: Path) -> None:
    (workdir / "policy.yaml").write_text(policy_yaml('deny("plain");'))
    env = {"JSPOLICY_NPM": str(workdir / "no-npm"), "JSPOLICY_ESBUILD": str(workdir / "no-esbuild")}
    result = run(workdir, "apply", "policy.yaml", "-r", "pod.yaml", env=env)
    assert result.returncode == 1 and "plain" in result.stdout, result


def test_an_esbuild_that_does_not_match_its_pinned_integrity_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry (or a mirror) serving other bytes under the pinned version never gets them run."""
    package = tmp_path / "package" / "bin"
    package.mkdir(parents=True)
    (package / "esbuild").write_text("#!/bin/sh\necho pwned\n")
    with tarfile.open(tmp_path / "forged.tgz", "w:gz") as archive:
        archive.add(tmp_path / "package", arcname="package")
    npm = fake_tool(tmp_path / "npm", f'cp {tmp_path / "forged.tgz"} "$PWD/esbuild-forged.tgz"\n')
    monkeypatch.setenv("JSPOLICY_NPM", str(npm))
    monkeypatch.setenv("JSPOLICY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("JSPOLICY_ESBUILD", raising=False)
    with pytest.raises(ToolError, match="does not match its pinned integrity"):
        esbuild_path(log=False)
    assert not list((tmp_path / "cache").rglob("esbuild/*/esbuild"))


@pytest.mark.parametrize("target", ["absolute", "relative", "text"])
def test_a_policy_cannot_import_files_of_the_building_machine(tmp_path: Path, target: str) -> None:
    """A tenant's JsPolicy must not read the leader's files into a JsPolicyBundle it can read back."""
    secret = tmp_path / "secret.json"
    secret.write_text('{"token": "s3cr3t"}')
    bundler = Bundler(BuildSettings(cache_dir=tmp_path / "cache" / "deep", allow_file_dependencies=False))
    path = str(secret) if target != "relative" else "../" * 12 + str(secret).lstrip("/")
    attributes = ' with { type: "text" }' if target == "text" else ""
    source = InlineSource("p.example.com", f'import x from "{path}"{attributes};\ndeny(JSON.stringify(x));\n', {})
    with pytest.raises(BuildError) as refused:
        bundler.build(source)
    assert f'may not import "{path}": a policy imports only its npm dependencies' in str(refused.value)
    assert "s3cr3t" not in str(refused.value)
    assert not list((tmp_path / "cache").rglob("*.js"))  # nothing of it was cached either


def test_a_dependency_cannot_import_files_outside_the_installed_packages(workdir: Path) -> None:
    """The package a policy names is the tenant's too: what it imports is guarded the same way."""
    (workdir / "secret.txt").write_text("TOPSECRET")
    write_package(workdir / "sneaky", f'module.exports = require("{workdir / "secret.txt"}");\n', name="sneaky")
    bundler = Bundler(BuildSettings(cache_dir=workdir / "cache"))
    source = InlineSource("p.example.com", 'import s from "sneaky";\ndeny(s);\n', {"sneaky": "file:sneaky"}, workdir)
    with pytest.raises(BuildError, match="a policy imports only its npm dependencies") as refused:
        bundler.build(source)
    assert "TOPSECRET" not in str(refused.value)


def test_a_dev_zero_import_is_refused_before_it_is_read(tmp_path: Path) -> None:
    bundler = Bundler(BuildSettings(cache_dir=tmp_path / "cache", allow_file_dependencies=False))
    source = InlineSource("p.example.com", 'import z from "/dev/zero" with { type: "text" };\ndeny(z);\n', {})
    with pytest.raises(BuildError, match='may not import "/dev/zero"'):
        bundler.build(source)


@pytest.mark.parametrize("spec", ["../lib", "/opt/lib", "~/lib", "git+file:///srv/repo.git"])
def test_a_cluster_bundler_refuses_every_kind_of_local_path(tmp_path: Path, spec: str) -> None:
    bundler = Bundler(BuildSettings(cache_dir=tmp_path, allow_file_dependencies=False))
    with pytest.raises(BuildError, match=r"file: path|is a git repository"):
        bundler.build(InlineSource("p.example.com", 'import "x";', {"x": spec}))


def test_only_registry_auth_tls_and_proxy_lines_of_a_project_npmrc_are_used(tmp_path: Path) -> None:
    """A cloned repository's .npmrc must not make `jspolicy apply` run a program (git=, script-shell=, ...)."""
    (tmp_path / ".npmrc").write_text(
        "registry=https://npm.company.tld/\ngit=./evil.sh\nscript-shell=./evil.sh\n"
        "//npm.company.tld/:_authToken=${TOKEN}\nnode-gyp=./evil.sh\ncafile=ca.pem\n"
    )
    assert npm.project_npmrc(tmp_path) == (
        "registry=https://npm.company.tld/\n//npm.company.tld/:_authToken=${TOKEN}\ncafile=ca.pem\n"
    )


@pytest.mark.parametrize("spec", ["github:someone/repo", "someone/repo#main", "git+https://example.com/r.git",
                                  "git@github.com:someone/repo.git"])  # fmt: skip
@pytest.mark.parametrize("cli", [True, False])
def test_git_dependencies_are_refused_everywhere(tmp_path: Path, spec: str, cli: bool) -> None:
    """A clone runs a nested npm with the repository's own .npmrc (global=true once replaced /usr/bin/git)."""
    bundler = Bundler(BuildSettings(cache_dir=tmp_path, allow_file_dependencies=cli))
    with pytest.raises(BuildError, match="is a git repository"):
        bundler.build(InlineSource("p.example.com", 'import "x";', {"x": spec}))


@pytest.mark.parametrize("spec", ["FiLe:../x", ".x/../../../../tmp/backup.tgz", "c:/x", ".", "http://127.0.0.1:1/x.tgz",
                                  "npm:../x"])  # fmt: skip
def test_a_cluster_bundler_accepts_only_registry_versions_ranges_tags_and_aliases(tmp_path: Path, spec: str) -> None:
    bundler = Bundler(BuildSettings(cache_dir=tmp_path, allow_file_dependencies=False))
    with pytest.raises(BuildError, match=r"file: path|not a version, range or tag"):
        bundler.build(InlineSource("p.example.com", 'import "x";', {"x": spec}))


def test_npm_runs_with_git_and_global_installs_disabled(tmp_path: Path) -> None:
    env = npm_environment(tmp_path)
    assert (env["npm_config_git"], env["npm_config_global"], env["npm_config_ignore_scripts"]) == (
        "/bin/false", "false", "true")  # fmt: skip


def test_a_template_string_require_cannot_glob_files_of_the_building_machine(tmp_path: Path) -> None:
    """esbuild expands require(`../x/${n}.js`) to every matching file without resolving each: they are
    checked when loaded, and the error names none of them."""
    secret = tmp_path / "host" / "secretpkg"
    secret.mkdir(parents=True)
    (secret / "index.js").write_text('module.exports = "HOST-SECRET";')
    cache = tmp_path / "cache"
    bundler = Bundler(BuildSettings(cache_dir=cache, allow_file_dependencies=False))
    source = InlineSource("p.example.com", "const n = globalThis.x;\nrequire(`../../host/secretpkg/${n}.js`);", {})
    with pytest.raises(BuildError, match="reads files outside the policy and its npm dependencies") as refused:
        bundler.build(source)
    assert "secretpkg" not in str(refused.value) and "HOST-SECRET" not in str(refused.value)


def test_dependencies_over_the_install_limit_are_refused(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tarball dependency is unpacked into node_modules (a `file:` directory would only be linked)."""
    package = write_package(workdir / "big", f"exports.blob = {json.dumps('z' * 200_000)};\n", name="big")
    packed = subprocess.run(["npm", "pack", "--silent"], cwd=package, capture_output=True, text=True, check=True)
    tarball = package / packed.stdout.strip().splitlines()[-1]
    monkeypatch.setattr(npm, "MAX_INSTALL_BYTES", 100_000)
    bundler = Bundler(BuildSettings(cache_dir=workdir / "cache"))
    source = InlineSource("big.example.com", 'import { blob } from "big";\ndeny(blob);', {"big": f"file:{tarball}"})
    with pytest.raises(BuildError, match="the dependencies take more than 100000 bytes"):
        bundler.build(source)
