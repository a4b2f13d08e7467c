"""``jspolicy init``: the scaffold's files, its refusal of non-empty directories, and a real npm + tsc run."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from jspolicy.authoring.scaffold import scaffold
from jspolicy.authoring.toolchain import TYPESCRIPT_VERSION, types_package
from jspolicy.cli import init
from jspolicy.cli.main import main
from jspolicy.cli.session import CliError
from jspolicy.resources.validation import decode_strictly, validate_policy
from tests.authoring.conftest import run_tsc
from tests.authoring.typescript import npm_install, require

POLICY_DIRS = ["src/policies/require-team-label", "src/policies/always-pull-images"]
EXPECTED = [
    ".gitignore",
    "README.md",
    "package.json",
    "tsconfig.json",
    "src/lib/labels.ts",
    "src/lib/pods.ts",
    "tests/policies.test.yaml",
    "types/package.json",
    "types/index.d.ts",
    *(f"{folder}/{name}" for folder in POLICY_DIRS for name in ("index.ts", "policy.yaml")),
]


def _init(directory: Path) -> int:
    commands = argparse.ArgumentParser().add_subparsers()
    init.add_parser(commands)
    args = commands.choices["init"].parse_args([str(directory)])
    return int(args.run(args))


def test_init_writes_the_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "nested" / "My Policies"
    assert _init(project) == 0
    written = {str(path.relative_to(project)) for path in project.rglob("*") if path.is_file()}
    assert set(EXPECTED) <= written
    assert "npm install" in capsys.readouterr().out

    package = json.loads((project / "package.json").read_text())
    assert package["name"] == "my-policies"
    assert package["private"] is True
    assert package["scripts"] == {
        "build": "jspolicy build --out policies",
        "test": "jspolicy test .",
        "typecheck": "tsc --noEmit",
    }
    assert package["devDependencies"] == {"@jspolicy/types": "file:./types", "typescript": TYPESCRIPT_VERSION}
    for name in ("index.d.ts", "kubernetes.d.ts", "admission.d.ts", "jspolicy.d.ts", "package.json"):
        assert (project / "types" / name).read_text() == types_package().joinpath(name).read_text("utf-8")

    options = json.loads((project / "tsconfig.json").read_text())["compilerOptions"]
    assert options["strict"] is True and options["noEmit"] is True and options["skipLibCheck"] is True
    assert options["target"] == "ES2020" and "./node_modules/@jspolicy" in options["typeRoots"]
    assert json.loads((project / "tsconfig.json").read_text())["include"] == ["src"]
    ignored = (project / ".gitignore").read_text().split()
    assert "node_modules/" in ignored and "policies/" in ignored
    assert "__PROJECT_NAME__" not in (project / "README.md").read_text()


def test_the_policy_manifests_are_valid_jspolicies_without_javascript(tmp_path: Path) -> None:
    scaffold(tmp_path)
    types = set()
    for folder in POLICY_DIRS:
        manifest = yaml.safe_load((tmp_path / folder / "policy.yaml").read_text())
        decode_strictly(manifest)
        assert validate_policy(manifest) == [], folder
        assert (manifest["apiVersion"], manifest["kind"]) == ("policy.jspolicy.com/v1beta1", "JsPolicy")
        assert "javascript" not in manifest["spec"]
        types.add(manifest["spec"]["type"])
    assert types == {"Validating", "Mutating"}


def test_the_suite_points_at_the_policies_and_names_them(tmp_path: Path) -> None:
    scaffold(tmp_path)
    suite_path = tmp_path / "tests" / "policies.test.yaml"
    suite = yaml.safe_load(suite_path.read_text())
    names = set()
    for entry in suite["policies"]:
        policy = (suite_path.parent / entry).resolve()
        assert policy.is_file(), entry
        assert (policy.parent / "index.ts").is_file()
        names.add(yaml.safe_load(policy.read_text())["metadata"]["name"])
    outcomes = {(case["policy"], "patch" in case["expect"], case["expect"].get("allowed")) for case in suite["cases"]}
    assert {case["policy"] for case in suite["cases"]} == names
    assert ("require-team-label.example.com", False, False) in outcomes  # a denial
    assert ("require-team-label.example.com", False, True) in outcomes  # an allow
    assert ("always-pull-images.example.com", True, True) in outcomes  # a mutation patch


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CliError, match="is not empty"):
        _init(tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_init_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(CliError, match="not a directory"):
        _init(target)


def test_the_command_line_exits_2_on_a_non_empty_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep").mkdir()
    assert main(["init", str(tmp_path)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert main(["init", str(tmp_path / "new")]) == 0
    assert (tmp_path / "new" / "package.json").is_file()


def test_init_into_an_existing_empty_directory(tmp_path: Path) -> None:
    assert _init(tmp_path) == 0
    assert (tmp_path / "package.json").is_file()


# ---- npm install + the project's own tsc ---------------------------------------------------------


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A scaffolded project after a real ``npm install`` (machine-wide npm cache)."""
    require("node")
    project = tmp_path_factory.mktemp("installed") / "policies"
    scaffold(project)
    npm_install(project)
    yield project
    shutil.rmtree(project, ignore_errors=True)


def _project_tsc(project: Path) -> list[str]:
    launcher = project / "node_modules" / "typescript" / "bin" / "tsc"
    assert launcher.is_file(), "npm install did not install typescript"
    return [require("node"), str(launcher)]


def test_npm_install_gives_the_pinned_compiler_and_the_types(installed: Path) -> None:
    version = json.loads((installed / "node_modules" / "typescript" / "package.json").read_text())["version"]
    assert version == TYPESCRIPT_VERSION
    types = installed / "node_modules" / "@jspolicy" / "types"
    assert json.loads((types / "package.json").read_text())["name"] == "@jspolicy/types"
    assert (types / "index.d.ts").resolve() == (installed / "types" / "index.d.ts").resolve()


def test_the_scaffold_type_checks(installed: Path) -> None:
    result = run_tsc(_project_tsc(installed), installed)
    assert result.returncode == 0, result.output


@contextlib.contextmanager
def type_error(installed: Path) -> Iterator[int]:
    """``deny(42)`` in the validating example for the duration; yields its line number."""
    policy = installed / "src" / "policies" / "require-team-label" / "index.ts"
    original = policy.read_text()
    lines = original.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("const object"))
    lines.insert(at + 1, "deny(42);\n")
    policy.write_text("".join(lines))
    try:
        yield at + 2
    finally:
        policy.write_text(original)


def test_a_type_error_in_the_example_names_file_and_line(installed: Path) -> None:
    with type_error(installed) as line:
        result = run_tsc(_project_tsc(installed), installed)
    assert result.returncode != 0
    where = rf"^src/policies/require-team-label/index\.ts\({line},\d+\): error TS2345"
    assert re.search(where, result.output, re.M), result.output


def test_the_scaffold_suite_passes_under_jspolicy_test(installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI bundles each policy.yaml's sibling index.ts (with its src/lib imports) and runs the suite."""
    assert main(["test", str(installed)]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    cases = yaml.safe_load((installed / "tests" / "policies.test.yaml").read_text())["cases"]
    assert f"{len(cases)} passed, 0 failed" in out, out


def test_the_scaffold_builds_into_a_policy_and_a_bundle_each(
    installed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The done-when chain: init, npm install, `jspolicy build`, and the built manifests run."""
    out = tmp_path / "out"
    assert main(["build", str(installed), "--out", str(out)]) == 0, capsys.readouterr()
    names = sorted(p.name for p in out.iterdir())
    assert names == ["always-pull-images.bundle.yaml", "always-pull-images.yaml", "require-team-label.bundle.yaml",
                     "require-team-label.yaml"]  # fmt: skip
    bundle = yaml.safe_load((out / "require-team-label.bundle.yaml").read_text())
    assert bundle["kind"] == "JsPolicyBundle" and bundle["metadata"]["name"] == "require-team-label.example.com"
    pod = tmp_path / "pod.yaml"
    pod.write_text(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"},
                               "spec": {"containers": [{"name": "c", "image": "nginx"}]}}))  # fmt: skip
    capsys.readouterr()
    assert main(["apply", str(out), "-r", str(pod), "-o", "json"]) == 1
    results = {r["policy"]: r for r in json.loads(capsys.readouterr().out)}
    assert not results["require-team-label.example.com"]["allowed"]
    assert results["always-pull-images.example.com"]["patch"]


def test_a_type_error_fails_jspolicy_build_naming_file_and_line(
    installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with type_error(installed) as line:
        assert main(["build", str(installed)]) == 1
    assert f"src/policies/require-team-label/index.ts:{line}:" in capsys.readouterr().err
