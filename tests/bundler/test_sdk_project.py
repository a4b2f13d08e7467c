"""A project in the loft-sh/jspolicy-sdk layout builds with ``jspolicy build``, and its bundles answer like
the ones the SDK's own ``tsc && webpack`` (with @jspolicy/webpack-plugin) writes.

The fixture (tests/fixtures/sdk-project) is installed once per module with ``npm ci`` from its lockfile
(the machine's npm cache; the first run downloads from the registry), compiled the SDK's way into
``policies/``, and built with ``jspolicy build`` into another directory. Both sets of bundles then
answer the same requests through the same engine.
"""

from __future__ import annotations

import base64
import gzip
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from jspolicy.admission.request import UserInfo
from jspolicy.bundler.tools import esbuild_api_path, esbuild_path
from jspolicy.cli.session import Evaluation, OfflineSession
from jspolicy.resources.manifests import load_manifests
from jspolicy.resources.policyset import PolicySet
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.settings import RuntimeSettings

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sdk-project"
POLICIES = ("add-labels", "resource-warnings", "validate-pods")
COMMAND_TIMEOUT = 900.0
GENERATED = {"node_modules", "dist", "policies"}  # at the top of the project (src/policies is its source)


def _copy_project(source: Path, target: Path) -> None:
    """The project's sources and configuration, without what npm, tsc and webpack write."""
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.name in GENERATED or entry.name.endswith(".tsbuildinfo"):
            continue
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name)
        else:
            shutil.copy2(entry, target / entry.name)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not on PATH: these tests need Node.js 18+ with npm", pytrace=False)
    return found


def _run(command: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=dict(env) if env is not None else None, capture_output=True,
                          text=True, timeout=COMMAND_TIMEOUT, check=False)  # fmt: skip


def _must(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        pytest.fail(f"{what} failed ({result.returncode}):\n{result.stderr}\n{result.stdout}", pytrace=False)


def _build_env(cache: Path) -> dict[str, str]:
    """A fresh jspolicy cache with the machine's pinned esbuild (fetched here once if need be)."""
    env = {k: v for k, v in os.environ.items() if k not in ("JSPOLICY_BUNDLE_CACHE", "JSPOLICY_CACHE_DIR")}
    env.update({"JSPOLICY_ESBUILD": str(esbuild_path()), "JSPOLICY_ESBUILD_API": str(esbuild_api_path()),
                "JSPOLICY_CACHE_DIR": str(cache)})  # fmt: skip
    return env


def jspolicy_build(root: Path, out: Path | None, cache: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # An absolute project path: see the note on project.typecheck in test_type_error_in_own_file_fails_the_build.
    args = [sys.executable, "-m", "jspolicy", "build", str(root.resolve()), *extra]
    if out is not None:
        args += ["--out", str(out)]
    return _run(args, root, _build_env(cache))


@dataclass(frozen=True)
class Project:
    root: Path
    webpack_out: Path  # policies/, written by PolicyBundlePlugin
    jspolicy_out: Path  # written by jspolicy build --out


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    npm = _tool("npm")
    _tool("node")
    root = tmp_path_factory.mktemp("sdk") / "project"
    _copy_project(FIXTURE, root)
    _must(_run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"], root), "npm ci")
    # The SDK's `npm run compile`: tsc to dist/, then webpack with PolicyBundlePlugin into policies/.
    _must(_run([npm, "run", "compile"], root), "the SDK's compile (tsc && webpack)")
    out = tmp_path_factory.mktemp("jspolicy-out")
    _must(jspolicy_build(root, out, tmp_path_factory.mktemp("cache")), "jspolicy build")
    return Project(root, root / "policies", out)


@pytest.fixture(scope="module")
def module_pool() -> Iterator[RuntimePool]:
    runtime = RuntimePool(RuntimeSettings(pool_size=1))
    yield runtime
    runtime.close()


def _bundles(directory: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for name in POLICIES:
        document = yaml.safe_load((directory / f"{name}.bundle.yaml").read_text("utf-8"))
        assert isinstance(document, dict)
        found[name] = document
    return found


def _javascript(bundle: Mapping[str, Any]) -> str:
    return gzip.decompress(base64.b64decode(bundle["spec"]["bundle"])).decode("utf-8")


def test_the_same_file_names_and_manifests_as_the_webpack_plugin(project: Project) -> None:
    expected = sorted(f"{name}{suffix}" for name in POLICIES for suffix in (".yaml", ".bundle.yaml"))
    assert sorted(p.name for p in project.webpack_out.iterdir()) == expected
    assert sorted(p.name for p in project.jspolicy_out.iterdir()) == expected
    for name in POLICIES:
        source = (project.root / "src" / "policies" / name / "policy.yaml").read_bytes()
        assert (project.webpack_out / f"{name}.yaml").read_bytes() == source
        assert (project.jspolicy_out / f"{name}.yaml").read_bytes() == source
    webpack, ours = _bundles(project.webpack_out), _bundles(project.jspolicy_out)
    for name in POLICIES:
        assert set(ours[name]) == set(webpack[name]) == {"apiVersion", "kind", "metadata", "spec"}
        for key in ("apiVersion", "kind", "metadata"):
            assert ours[name][key] == webpack[name][key], (name, key)
        assert ours[name]["kind"] == "JsPolicyBundle"
        assert set(ours[name]["spec"]) == set(webpack[name]["spec"]) == {"bundle"}
    # Labels in policy.yaml travel into the bundle's metadata, as the plugin copies them.
    assert ours["validate-pods"]["metadata"]["labels"] == {"fixture": "sdk-project"}


def test_the_bundles_resolve_helpers_and_drop_type_only_imports(project: Project) -> None:
    for name, bundle in _bundles(project.jspolicy_out).items():
        javascript = _javascript(bundle)
        # Nothing left for run time: no client-node, no @jspolicy/types.
        assert re.search(r"(?<![\w$.])require\(", javascript) is None, name
        assert "@kubernetes/client-node" not in javascript and "@jspolicy/types" not in javascript, name
    assert "ghcr.io/example/" in _javascript(_bundles(project.jspolicy_out)["validate-pods"])  # from src/lib/images.ts


def _container(name: str, image: str, memory: str | None = "64Mi") -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": image}
    if memory is not None:
        container["resources"] = {"limits": {"memory": memory}}
    return container


def _pod(*containers: dict[str, Any], labels: Mapping[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "web", "namespace": "shop"}
    if labels is not None:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": {"containers": list(containers), **spec}}


GOOD = "ghcr.io/example/web:1.4.2"
USER = UserInfo(username="Jane.Doe@example.com", groups=["system:authenticated"])
# (operation, object, old): deny, allow, warn and mutate, alone and together.
REQUESTS: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("CREATE", _pod(_container("web", GOOD)), None),
    ("CREATE", _pod(_container("web", "docker.io/nginx:1.27")), None),
    ("CREATE", _pod(_container("web", "ghcr.io/example/web:latest"), _container("db", "ghcr.io/example/db")), None),
    ("CREATE", _pod(_container("web", GOOD), hostNetwork=True, initContainers=[_container("init", "busybox")]), None),
    ("CREATE", _pod(_container("web", GOOD, None), _container("sidecar", GOOD, None)), None),
    ("CREATE", _pod(*(_container(f"c{i}", GOOD, None) for i in range(3))), None),
    ("CREATE", _pod(_container("web", GOOD), labels={"fixture.jspolicy.com/created-by": "someone"}), None),
    ("CREATE", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}}, None),
    ("UPDATE", _pod(_container("web", "quay.io/x:1")), _pod(_container("web", GOOD))),
]


def _answer(evaluation: Evaluation) -> tuple[Any, ...]:
    outcome = evaluation.outcome
    return (evaluation.policy.name, outcome.allowed, outcome.code, outcome.reason, outcome.message,
            outcome.warnings, outcome.patch)  # fmt: skip


def _answers(directory: Path, pool: RuntimePool) -> list[list[tuple[Any, ...]]]:
    policies = PolicySet.from_manifests(load_manifests([str(directory)]))
    assert sorted(policies.policies) == sorted(f"{name}.fixture.jspolicy.com" for name in POLICIES)
    session = OfflineSession(policies, [], pool, owns_pool=False)
    answers = []
    for operation, obj, old in REQUESTS:
        evaluations = session.admit(operation, obj, old, user=USER)
        answers.append([_answer(e) for e in evaluations if isinstance(e, Evaluation)])
    return answers


def test_jspolicy_bundles_answer_like_webpack_bundles(project: Project, module_pool: RuntimePool) -> None:
    webpack = _answers(project.webpack_out, module_pool)
    ours = _answers(project.jspolicy_out, module_pool)
    assert ours == webpack
    flat = [answer for request in webpack for answer in request]
    # Not vacuously equal: every kind of answer is there, and none is an error of the runtime.
    assert all(code != 500 for _, _, code, *_ in flat), flat
    denied = [a for a in flat if not a[1]]
    assert {a[0] for a in denied} == {"validate-pods.fixture.jspolicy.com", "resource-warnings.fixture.jspolicy.com"}
    assert any("docker.io/nginx:1.27" in a[4] and "is not from ghcr.io/example/" in a[4] for a in denied)
    assert any("spec.hostNetwork must not be true" in a[4] and "spec.initContainers[0]" in a[4] for a in denied)
    assert any(a[4] == "3 containers have no memory limit (at most 2 may)" for a in denied)
    warned = [a for a in flat if a[5]]
    prefix = "[resource-warnings.fixture.jspolicy.com]: "
    expected_warnings = [f"{prefix}container web has no memory limit", f"{prefix}container sidecar has no memory limit"]
    assert any(a[1] and a[5] == expected_warnings for a in warned), warned
    patches = [a[6] for a in flat if a[6]]
    assert len(patches) == 7  # every CREATE but the pre-labelled pod
    assert {"op": "add", "path": "/metadata/labels", "value": {
        "fixture.jspolicy.com/created-by": "jane.doe-example.com", "fixture.jspolicy.com/operation": "create"}} in [
        op for patch in patches for op in patch]  # fmt: skip
    # The pre-labelled pod: add-labels runs but leaves it as it is.
    assert [(a[0], a[1], a[6]) for a in webpack[6]] == [
        ("add-labels.fixture.jspolicy.com", True, None),
        ("resource-warnings.fixture.jspolicy.com", True, None),
        ("validate-pods.fixture.jspolicy.com", True, None),
    ]


def test_policy_yaml_beside_index_ts_answers_like_webpack_bundles(project: Project, module_pool: RuntimePool) -> None:
    """`jspolicy apply src/policies` builds each entry itself (no JsPolicyBundle, no tsc)."""
    policies = PolicySet.from_manifests(load_manifests([str(project.root / "src" / "policies")]))
    assert not policies.bundles
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JSPOLICY_ESBUILD", str(esbuild_path()))
        patch.setenv("JSPOLICY_ESBUILD_API", str(esbuild_api_path()))
        session = OfflineSession(policies, [], module_pool, owns_pool=False)
    answers = []
    for operation, obj, old in REQUESTS:
        answers.append([_answer(e) for e in session.admit(operation, obj, old, user=USER) if isinstance(e, Evaluation)])
    assert answers == _answers(project.webpack_out, module_pool)


def _copy_with_shared_modules(project: Project, target: Path) -> Path:
    """The project's sources in ``target``, with a node_modules of links to the installed packages (so a test
    may add a package of its own without touching the shared install)."""
    _copy_project(project.root, target)
    modules = target / "node_modules"
    modules.mkdir()
    for entry in (project.root / "node_modules").iterdir():
        (modules / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return target


def test_type_error_in_own_file_fails_the_build(project: Project, tmp_path: Path) -> None:
    root = _copy_with_shared_modules(project, tmp_path / "project")
    helper = root / "src" / "lib" / "errors.ts"
    lines = helper.read_text("utf-8").splitlines()
    lines.append('export const limit: number = "ten";')
    helper.write_text("\n".join(lines) + "\n", "utf-8")
    out = tmp_path / "out"
    result = jspolicy_build(root, out, tmp_path / "cache")
    assert result.returncode == 1, result.stderr
    assert f"src/lib/errors.ts:{len(lines)}:" in result.stderr, result.stderr
    assert "TS2322" in result.stderr and "node_modules" not in result.stderr, result.stderr
    assert not out.exists()
    # --no-typecheck bundles anyway (esbuild strips types without checking them).
    assert jspolicy_build(root, out, tmp_path / "cache", "--no-typecheck").returncode == 0
    assert sorted(p.name for p in out.iterdir())[0] == "add-labels.bundle.yaml"


BROKEN_DECLARATIONS = {
    # A syntax error, which tsc reports even with skipLibCheck (the fixture's tsconfig has it).
    "syntax": "export interface Limits { memory: string }\nexport declare function broken(: number;\n",
    # A type error, which only a tsconfig without skipLibCheck (the SDK template's exactly) reports.
    "type": "export interface Limits { memory: string }\nexport declare const broken: Missing<string>;\n",
}


@pytest.mark.parametrize("kind", sorted(BROKEN_DECLARATIONS))
def test_errors_in_installed_declarations_do_not_fail_the_build(project: Project, tmp_path: Path, kind: str) -> None:
    root = _copy_with_shared_modules(project, tmp_path / "project")
    package = root / "node_modules" / "fixture-broken-types"
    package.mkdir()
    (package / "package.json").write_text('{"name": "fixture-broken-types", "version": "1.0.0", "types": "index.d.ts"}')
    (package / "index.d.ts").write_text(BROKEN_DECLARATIONS[kind], "utf-8")
    (root / "src" / "lib" / "limits.ts").write_text(
        'import { Limits } from "fixture-broken-types";\n\nexport const defaults: Limits = { memory: "64Mi" };\n'
    )
    if kind == "type":
        tsconfig = root / "tsconfig.json"
        tsconfig.write_text(tsconfig.read_text("utf-8").replace(',\n        "skipLibCheck": true', ""), "utf-8")
        assert "skipLibCheck" not in tsconfig.read_text("utf-8")
    # tsc itself fails, on node_modules only: the SDK's compile would stop here.
    checked = _run([str(root / "node_modules" / ".bin" / "tsc"), "--noEmit", "--pretty", "false", "-p", "."], root)
    assert checked.returncode != 0
    diagnostics = [line for line in checked.stdout.splitlines() if ": error TS" in line]
    # (tsc names the linked packages by their real paths: ../../sdk0/project/node_modules/...)
    assert diagnostics and all("node_modules" in Path(line.split("(")[0]).parts for line in diagnostics), checked.stdout
    assert any(line.startswith("node_modules/fixture-broken-types/index.d.ts(2,") for line in diagnostics)
    out = tmp_path / "out"
    result = jspolicy_build(root, out, tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    assert len(list(out.glob("*.bundle.yaml"))) == len(POLICIES)
    if kind == "type":  # a syntax error hides them: see the next test
        _assert_own_error_fails(root, tmp_path)


def _assert_own_error_fails(root: Path, tmp_path: Path) -> None:
    """An error of the project's own, next to the ones in node_modules, still fails the build."""
    (root / "src" / "lib" / "limits.ts").write_text(
        'import { Limits } from "fixture-broken-types";\n\nexport const defaults: Limits = { memory: 64 };\n'
    )
    failed = jspolicy_build(root, tmp_path / "out2", tmp_path / "cache")
    assert failed.returncode == 1 and "src/lib/limits.ts:3:" in failed.stderr, failed.stderr
    assert "fixture-broken-types/index.d.ts" not in failed.stderr


def test_declarations_this_typescript_cannot_parse_are_reported_as_an_unchecked_project(
    project: Project, tmp_path: Path
) -> None:
    """tsc reports only parse errors when there are any, so a .d.ts in node_modules that the project's TypeScript
    cannot parse (today's webpack types with TypeScript 4.2) means its own files were never checked: the build
    goes on (installed packages never fail it) and says so."""
    root = _copy_with_shared_modules(project, tmp_path / "project")
    package = root / "node_modules" / "fixture-broken-types"
    package.mkdir()
    (package / "package.json").write_text('{"name": "fixture-broken-types", "version": "1.0.0", "types": "index.d.ts"}')
    (package / "index.d.ts").write_text(BROKEN_DECLARATIONS["syntax"], "utf-8")
    (root / "src" / "lib" / "limits.ts").write_text(
        'import { Limits } from "fixture-broken-types";\n\nexport const defaults: Limits = { memory: 64 };\n'
    )
    result = jspolicy_build(root, tmp_path / "out", tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    assert "was not type-checked: this TypeScript cannot parse node_modules/fixture-broken-types/index.d.ts:" in (
        result.stderr
    )


def test_a_relative_project_path_builds(project: Project, tmp_path: Path) -> None:
    """`jspolicy build some/dir` from elsewhere: project.typecheck runs node_modules/.bin/tsc by a path relative
    to the caller's directory with the project as its working directory."""
    root = _copy_with_shared_modules(project, tmp_path / "work" / "project")
    env = _build_env(tmp_path / "cache")
    result = _run([sys.executable, "-m", "jspolicy", "build", "project", "--out", str(tmp_path / "out")],
                  tmp_path / "work", env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "out").glob("*.bundle.yaml"))) == len(POLICIES)
    assert root.is_dir()
