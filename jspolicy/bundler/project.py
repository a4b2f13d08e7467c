"""Policy projects (the jspolicy-sdk layout) built into the manifests ``@jspolicy/webpack-plugin`` writes.

A project has one folder per policy, ``src/policies/<name>/`` with an entry module (``index.ts`` or
``index.js``) and the policy's ``policy.yaml`` (a JsPolicy without javascript). Each builds into
``<name>.yaml`` (policy.yaml as it is) and ``<name>.bundle.yaml`` (a JsPolicyBundle with the policy's
apiVersion and metadata, ``spec.bundle`` = base64(gzip(bundle))): the names and shapes the SDK's
PolicyBundlePlugin writes, so a project switches from webpack without changing its manifests.
TypeScript projects are type-checked with the project's own ``tsc``, as the SDK's ``npm run compile``
does; errors in installed packages' declarations do not fail the build (SDK projects only type-check
with ``skipLibCheck``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from jspolicy.bundler.build import Bundler, EntryFile
from jspolicy.bundler.commands import CommandTimeoutError, run_tool
from jspolicy.bundler.origin import NOT_SOURCES, entry_beside
from jspolicy.resources.manifests import ManifestError, parse_yaml_documents
from jspolicy.resources.policy import API_VERSION
from jspolicy.resources.policyset import check_policy

log = logging.getLogger(__name__)

POLICY_FILE = "policy.yaml"
TYPECHECK_TIMEOUT = 300.0
# tsc --pretty false: "src/x.ts(3,5): error TS2345: Argument of type ..."
_TSC_DIAGNOSTIC = re.compile(r"^(?P<file>[^\s(][^(]*)\((?P<line>\d+),(?P<column>\d+)\): error (?P<message>.*)$")
_PARSE_ERROR = re.compile(r"^TS1\d{3}:")  # TypeScript's syntax diagnostics are numbered 1000-1999


class ProjectError(Exception):
    """The directory is not a policy project (usage error)."""


class TypeCheckError(Exception):
    """The project's own files have type errors; the message lists them as file:line:column."""


@dataclass(frozen=True)
class ProjectPolicy:
    name: str  # the folder under policies/, as the SDK plugin names its output files
    manifest_path: Path
    manifest_text: str
    manifest: dict[str, Any]
    entry: Path


@dataclass(frozen=True)
class BuiltPolicy:
    policy: ProjectPolicy
    bundle: dict[str, Any]  # the JsPolicyBundle object

    def documents(self) -> str:
        """The JsPolicy as written, then its bundle, as multi-document YAML."""
        bundle = yaml.safe_dump(self.bundle, sort_keys=False)
        return f"---\n{self.policy.manifest_text.strip()}\n---\n{bundle}"


def discover(root: Path) -> list[ProjectPolicy]:
    """Every ``policy.yaml`` with an entry module beside it, under ``src/`` (or the project itself)."""
    if not root.is_dir():
        raise ProjectError(f"{root}: no such directory")
    base = root / "src" if (root / "src").is_dir() else root
    found = [_read(root, manifest) for manifest in _policy_files(base)]
    if not found:
        raise ProjectError(
            f"{root}: no policies found: expected src/policies/<name>/{POLICY_FILE} beside an index.ts or index.js"
        )
    files: dict[str, Path] = {}
    policies: dict[str, Path] = {}
    for policy in found:
        name = str(policy.manifest["metadata"]["name"])
        if policy.name in files:
            raise ProjectError(f"{policy.manifest_path} and {files[policy.name]} both build {policy.name}.yaml")
        if name in policies:
            raise ProjectError(f"{policy.manifest_path} and {policies[name]} both define JsPolicy {name}")
        files[policy.name], policies[name] = policy.manifest_path, policy.manifest_path
    return sorted(found, key=lambda p: p.name)


def _policy_files(base: Path) -> Iterator[Path]:
    for path in sorted(base.rglob(POLICY_FILE)):
        if NOT_SOURCES.isdisjoint(path.relative_to(base).parts) and entry_beside(path) is not None:
            yield path


def _read(root: Path, manifest_path: Path) -> ProjectPolicy:
    text = manifest_path.read_text("utf-8")
    documents = parse_yaml_documents(text, str(manifest_path))
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise ProjectError(f"{manifest_path}: expected one JsPolicy")
    manifest = documents[0]
    if manifest.get("apiVersion") != API_VERSION or manifest.get("kind") != "JsPolicy":
        raise ProjectError(f"{manifest_path}: expected a JsPolicy ({API_VERSION})")
    try:
        check_policy(manifest, str(manifest_path))
    except ManifestError as error:
        raise ProjectError(str(error)) from None
    if (manifest.get("spec") or {}).get("javascript"):
        raise ProjectError(f"{manifest_path}: spec.javascript is set, but the policy's code is its entry module")
    entry = entry_beside(manifest_path)
    assert entry is not None
    parts = manifest_path.parent.relative_to(root).parts
    # As the SDK plugin's /.*\/policies\/(.*)\/.*\.js/ names it: what follows the last "policies" folder.
    last = max((i for i, part in enumerate(parts) if part == "policies"), default=None)
    name = "/".join(parts[last + 1 :]) if last is not None else manifest_path.parent.name
    return ProjectPolicy(name or manifest_path.parent.name, manifest_path, text, manifest, entry)


def typecheck(root: Path, warn: Callable[[str], None]) -> None:
    """``tsc --noEmit`` with the project's TypeScript; raises TypeCheckError for errors in its own files.

    Errors in installed packages' declarations do not fail the build. When one of them does not even parse
    (a package written for a newer TypeScript), tsc reports only parse errors and checks nothing else: the
    build goes on, and ``warn`` says that the project was not type-checked, and why."""
    root = root.resolve()
    if not (root / "tsconfig.json").is_file():
        return
    tsc = root / "node_modules" / ".bin" / "tsc"
    if not tsc.exists():
        raise ProjectError(
            f"{root} is a TypeScript project but has no node_modules/.bin/tsc: run `npm install` first "
            "(TypeScript is one of its devDependencies), or build with --no-typecheck"
        )
    try:
        result = run_tool([str(tsc), "--noEmit", "--pretty", "false", "-p", "."], root, TYPECHECK_TIMEOUT)
    except CommandTimeoutError as error:
        raise TypeCheckError(str(error)) from None
    if result.returncode == 0:
        return
    lines = [line.strip() for line in result.stdout.splitlines()]
    diagnostics = [found for line in lines if (found := _TSC_DIAGNOSTIC.match(line))]
    unplaced = [line for line in lines if line.startswith("error TS")]  # no file: the project's configuration
    if unplaced or not diagnostics:
        raise TypeCheckError("\n".join(unplaced) or f"tsc failed: {result.output}")
    own = [d for d in diagnostics if "node_modules" not in Path(d["file"]).parts]
    if own:
        raise TypeCheckError("\n".join(f"{d['file']}:{d['line']}:{d['column']}: {d['message']}" for d in own))
    unparsed = [d for d in diagnostics if _PARSE_ERROR.match(d["message"])]
    if unparsed:
        first = unparsed[0]
        warn(
            f"{root} was not type-checked: this TypeScript cannot parse {first['file']}:{first['line']} "
            f"({first['message']}), and tsc checks nothing else then; upgrade TypeScript or that package"
        )


def build_project(
    root: Path, bundler: Bundler, *, check_types: bool = True, warn: Callable[[str], None] | None = None
) -> list[BuiltPolicy]:
    """Every policy of the project, bundled; raises ProjectError, TypeCheckError or BuildError."""
    root = root.resolve()
    policies = discover(root)
    if check_types:
        typecheck(root, warn or log.warning)
    built = []
    for policy in policies:
        result = bundler.build(EntryFile(str(policy.manifest["metadata"]["name"]), policy.entry, root))
        metadata = policy.manifest.get("metadata") or {}
        bundle = {"apiVersion": policy.manifest["apiVersion"], "kind": "JsPolicyBundle", "metadata": metadata,
                  "spec": {"bundle": result.encoded}}  # fmt: skip
        built.append(BuiltPolicy(policy, bundle))
    return built


def write(built: list[BuiltPolicy], out: Path) -> list[Path]:
    """``<out>/<name>.yaml`` and ``<out>/<name>.bundle.yaml`` for each policy (nothing else is touched)."""
    written = []
    for item in built:
        target = out / f"{item.policy.name}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item.policy.manifest_text, "utf-8")
        bundle = out / f"{item.policy.name}.bundle.yaml"
        bundle.write_text(yaml.safe_dump(item.bundle, sort_keys=False), "utf-8")
        written += [target, bundle]
    return written
