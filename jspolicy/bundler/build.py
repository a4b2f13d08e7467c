"""One bundler: policy source (JS or TS) plus npm dependencies -> one script for the runtime.

The script runs exactly like a jsPolicy webpack bundle: CommonJS (``exports``, and ``module`` for
esbuild's own export code), every import resolved at build time, nothing left for ``require`` at run
time. npm installs the dependencies with lifecycle scripts disabled and the user's npm configuration
(``.npmrc``, ``NPM_CONFIG_*``); esbuild bundles. Builds are reproducible (relative paths only, gzip
with mtime 0) and cached by their inputs, so a second build of the same policy needs no network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from jspolicy.bundler import esbuild, npm
from jspolicy.bundler.cache import DEFAULT_BUDGET, BuildCache
from jspolicy.bundler.errors import BuildError
from jspolicy.bundler.tools import ESBUILD_VERSION, Toolchain, ToolError, toolchain
from jspolicy.controlplane.binaries import cache_root, locked
from jspolicy.resources.bundle import encode_bundle

# Bump when the esbuild options or the layout change: cached bundles of an older format are not reused.
FORMAT = 3
# A JsPolicyBundle is one etcd value (1.5 MiB by default, the API server's --max-request-bytes is 3 MiB):
# spec.bundle (base64, 4/3 of the gzip) may take 1 MiB and leaves room for metadata and managedFields.
MAX_ENCODED_BUNDLE = 1024 * 1024
MAX_BUNDLE_JS = 16 * 1024 * 1024  # what one context compiles; also below resources/bundle.py's decode cap
DEFAULT_TIMEOUT = 30.0  # jsPolicy's BUNDLE_TIMEOUT, per command
DEFAULT_CONCURRENCY = 2
_DEPENDENCY_NAME = re.compile(r"^(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")
# Dependency specs by what npm (npm-package-arg) makes of them: a version, range or dist-tag from the registry;
# an `npm:` alias of one; a path on this machine (any case of `file:`, or what npm reads as a path); a git
# repository (never: cloning runs a nested npm with the repository's own .npmrc); anything else is a URL.
_REGISTRY = re.compile(r"^[\w.*^~<>=|+ -]*$")
_ALIAS = re.compile(r"^npm:((?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*)(?:@([\w.*^~<>=|+ -]*))?$", re.I)
_PATH = re.compile(r"^(?:file:|[.]|~/|/|[a-zA-Z]:)", re.I)
_GIT = re.compile(r"^(?:git[+:@]|github:|gitlab:|bitbucket:|gist:|[\w.-]+/[\w.-]+(?:#.*)?$)", re.I)


@dataclass(frozen=True)
class BuildSettings:
    timeout: float = DEFAULT_TIMEOUT
    concurrency: int = DEFAULT_CONCURRENCY
    cache_dir: Path = field(default_factory=lambda: cache_root() / "bundles")
    # `file:` dependencies name paths on the building machine: fine for the CLI, meaningless in a cluster.
    allow_file_dependencies: bool = True
    cache_budget: int = DEFAULT_BUDGET

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, allow_file_dependencies: bool = True) -> BuildSettings:
        env = os.environ if env is None else env
        try:
            timeout = float(env.get("BUNDLE_TIMEOUT") or DEFAULT_TIMEOUT)
            concurrency = int(env.get("JSPOLICY_BUNDLE_CONCURRENCY") or DEFAULT_CONCURRENCY)
            budget = int(env.get("JSPOLICY_BUNDLE_CACHE_MAX_MB") or DEFAULT_BUDGET // 2**20) * 2**20
        except ValueError as error:
            raise BuildError(
                f"BUNDLE_TIMEOUT, JSPOLICY_BUNDLE_CONCURRENCY and JSPOLICY_BUNDLE_CACHE_MAX_MB must be numbers: {error}"
            ) from None
        cache = env.get("JSPOLICY_BUNDLE_CACHE")
        return cls(
            timeout=max(1.0, timeout),
            concurrency=max(1, concurrency),
            cache_dir=Path(cache) if cache else cache_root() / "bundles",
            allow_file_dependencies=allow_file_dependencies,
            cache_budget=max(64 * 2**20, budget),
        )


@dataclass(frozen=True)
class InlineSource:
    """``spec.javascript`` with ``spec.dependencies``: what jsPolicy's controller bundles."""

    policy: str
    javascript: str
    dependencies: Mapping[str, str]
    base_dir: Path | None = None  # where `file:` dependencies and a project .npmrc are looked up
    typescript: bool = False  # the source is TypeScript (types are stripped, not checked)

    @property
    def entry_name(self) -> str:
        return "index.ts" if self.typescript else "index.js"


@dataclass(frozen=True)
class EntryFile:
    """A policy's entry module in a project (``src/policies/<name>/index.ts``), bundled with the project's
    own node_modules."""

    policy: str
    entry: Path
    root: Path  # the project: the directory of its package.json


@dataclass(frozen=True)
class Built:
    javascript: str
    encoded: str  # spec.bundle: base64(gzip(javascript)), mtime 0
    cached: bool


class Bundler:
    def __init__(self, settings: BuildSettings | None = None) -> None:
        self.settings = settings or BuildSettings.from_env()
        self.cache = BuildCache(self.settings.cache_dir, self.settings.cache_budget)
        self._slots = threading.BoundedSemaphore(self.settings.concurrency)
        self._tools: Toolchain | None = None

    def tools(self) -> Toolchain:
        if self._tools is None:
            try:
                self._tools = toolchain()
            except ToolError as error:
                raise BuildError(str(error)) from None
        return self._tools

    def build(self, source: InlineSource | EntryFile) -> Built:
        if isinstance(source, EntryFile):
            with self._slots:
                return _finish(source.policy, self._bundle_entry(source), cached=False)
        key = self.key(source)
        cached = self.cache.bundle(key)
        if cached.is_file():
            self.cache.used(cached)
            return _finish(source.policy, cached.read_text("utf-8"), cached=True)
        with self._slots, locked(self.settings.cache_dir / "locks" / key):
            if cached.is_file():  # built by another process meanwhile
                return _finish(source.policy, cached.read_text("utf-8"), cached=True)
            javascript = self._bundle_inline(source)
            result = _finish(source.policy, javascript, cached=False)
            _write_atomically(cached, javascript)
        return result

    def key(self, source: InlineSource) -> str:
        """The cache key: everything the bundle depends on, and nothing it does not (the registry, the
        directory), so the same policy built anywhere hits the same entry."""
        dependencies = self._resolved_dependencies(source)
        material = {"format": FORMAT, "esbuild": ESBUILD_VERSION, "javascript": source.javascript,
                    "entry": source.entry_name,
                    "dependencies": {name: _spec_identity(spec) for name, spec in dependencies.items()}}  # fmt: skip
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode("utf-8")).hexdigest()

    # -- inline policies -----------------------------------------------------------------------

    def _resolved_dependencies(self, source: InlineSource) -> dict[str, str]:
        """Dependencies as npm gets them: paths (``file:`` or bare) made absolute against the policy's
        directory, or refused where there are no files of the user's (a cluster)."""
        resolved: dict[str, str] = {}
        for name, spec in sorted(source.dependencies.items()):
            if not isinstance(spec, str) or not _DEPENDENCY_NAME.match(str(name)):
                raise BuildError(f"js policy {source.policy}: dependency {name!r}: {spec!r} is not an npm package spec")
            if (_REGISTRY.match(spec) and not spec.startswith(".")) or _ALIAS.match(spec):
                resolved[name] = spec
                continue
            if not _PATH.match(spec) and _GIT.match(spec):
                raise BuildError(
                    f"js policy {source.policy}: dependency {name}: {spec} is a git repository, which is not "
                    "bundled (a clone runs npm with the repository's own configuration): publish it to a registry"
                )
            if not _PATH.match(spec):  # a tarball URL
                if not self.settings.allow_file_dependencies:
                    raise BuildError(
                        f"js policy {source.policy}: dependency {name}: {spec} is not a version, range or tag of "
                        "a registry package, which is all a cluster bundles"
                    )
                resolved[name] = spec
                continue
            if not self.settings.allow_file_dependencies:
                raise BuildError(
                    f"js policy {source.policy}: dependency {name} is a file: path ({spec}), which only the CLI "
                    "can bundle; publish the package to a registry"
                )
            path = Path(re.sub(r"^file:", "", spec, flags=re.I)).expanduser()
            if not path.is_absolute():
                path = (source.base_dir or Path.cwd()) / path
            if not path.exists():
                raise BuildError(f"js policy {source.policy}: dependency {name}: {spec}: no such file or directory")
            resolved[name] = f"file:{path.resolve()}"
        return resolved

    def _bundle_inline(self, source: InlineSource) -> str:
        dependencies = self._resolved_dependencies(source)
        self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="build-", dir=self.settings.cache_dir) as work:
            workdir = Path(work).resolve()
            (workdir / source.entry_name).write_text(source.javascript, "utf-8")
            # esbuild takes settings from the nearest package.json and tsconfig.json: these, not whatever a
            # directory above the cache holds, so the bundle is the same on every machine.
            (workdir / "package.json").write_text('{"private": true}\n', "utf-8")
            (workdir / "tsconfig.json").write_text("{}\n", "utf-8")
            # What the bundle may be made of: the policy and its installed dependencies (with `file:` ones,
            # in the CLI, the directories they name). Anything else it imports, `/etc/passwd` or the
            # leader's files by a relative path, would be read into a bundle its author can read back.
            allowed = [workdir]
            if dependencies:
                modules = self._installed(source, dependencies)
                (workdir / "node_modules").symlink_to(modules, target_is_directory=True)
                allowed.append(modules.resolve())
                allowed += [Path(spec.removeprefix("file:")) for spec in dependencies.values()
                            if spec.startswith("file:")]  # fmt: skip
            return esbuild.bundle(self.tools(), source.policy, workdir, source.entry_name, allowed=allowed,
                                  timeout=self.settings.timeout, max_bytes=MAX_BUNDLE_JS,
                                  entry_label="spec.javascript")  # fmt: skip

    def _installed(self, source: InlineSource, dependencies: Mapping[str, str]) -> Path:
        """node_modules for these dependencies, installed once (cached by the dependencies, so editing the
        policy's code needs no network)."""
        material = {"format": FORMAT, "dependencies": {n: _spec_identity(s) for n, s in dependencies.items()}}
        key = hashlib.sha256(json.dumps(material, sort_keys=True).encode("utf-8")).hexdigest()
        installed = self.cache.dependencies(key)
        if (installed / "node_modules").is_dir():
            self.cache.used(installed)
            return installed / "node_modules"
        with locked(self.settings.cache_dir / "locks" / f"deps-{key}"):
            if (installed / "node_modules").is_dir():
                return installed / "node_modules"
            # Beside its final place: npm links `file:` dependencies by relative paths, which must survive the rename.
            installed.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".install-", dir=installed.parent))
            try:
                package = {"name": "jspolicy-bundle", "version": "1.0.0", "private": True,
                           "description": f"dependencies of js policy {source.policy}", "license": "UNLICENSED",
                           "dependencies": dict(dependencies)}  # fmt: skip
                (staging / "package.json").write_text(json.dumps(package, indent=2) + "\n", "utf-8")
                npmrc = npm.project_npmrc(source.base_dir)
                if npmrc:
                    (staging / ".npmrc").write_text(npmrc, "utf-8")
                npm.install(source.policy, staging, "install", f"dependencies {_describe(source.dependencies)}",
                            cache=self.cache.npm, scratch=staging, timeout=self.settings.timeout)  # fmt: skip
                (staging / ".npmrc").unlink(missing_ok=True)
                shutil.rmtree(installed, ignore_errors=True)
                staging.replace(installed)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            self.cache.used(installed)
            self.cache.evict(keep=installed)
        return installed / "node_modules"

    # -- project entries -----------------------------------------------------------------------

    def _bundle_entry(self, source: EntryFile) -> str:
        root = source.root.resolve()
        entry = source.entry.resolve()
        if not entry.is_file():
            raise BuildError(f"js policy {source.policy}: {source.entry}: no such file")
        if not entry.is_relative_to(root):
            raise BuildError(f"js policy {source.policy}: {source.entry} is outside its project {source.root}")
        manifest = root / "package.json"
        if manifest.is_file() and not (root / "node_modules").is_dir() and _declares_dependencies(manifest):
            # A project whose dependencies are not installed yet: with its lockfile when it has one.
            verb = "ci" if (root / "package-lock.json").is_file() else "install"
            with tempfile.TemporaryDirectory(prefix="jspolicy-npm-") as scratch:
                npm.install(source.policy, root, verb, f"the dependencies of {manifest}", cache=self.cache.npm,
                            scratch=Path(scratch), timeout=self.settings.timeout, limited=False)  # fmt: skip
        # The user's own project: it may import what the user chooses (a monorepo's shared folder, say).
        return esbuild.bundle(self.tools(), source.policy, root, str(entry.relative_to(root)), allowed=None,
                              timeout=self.settings.timeout, max_bytes=MAX_BUNDLE_JS)  # fmt: skip


def _finish(policy: str, javascript: str, *, cached: bool) -> Built:
    if len(javascript.encode("utf-8")) > MAX_BUNDLE_JS:
        raise BuildError(f"js policy {policy}: the bundle is {len(javascript)} bytes, over the {MAX_BUNDLE_JS} limit")
    encoded = encode_bundle(javascript)
    if len(encoded) > MAX_ENCODED_BUNDLE:
        raise BuildError(
            f"js policy {policy}: the bundle is {len(encoded)} bytes as spec.bundle (base64 of gzip), over the "
            f"{MAX_ENCODED_BUNDLE} bytes a JsPolicyBundle may take; import less (e.g. lodash-es functions, "
            "not all of lodash)"
        )
    return Built(javascript, encoded, cached)


def _spec_identity(spec: str) -> str:
    """A dependency as it enters the cache key: a ``file:`` path by its content, anything else as written."""
    if not spec.startswith("file:"):
        return spec
    path = Path(spec.removeprefix("file:"))
    digest = hashlib.sha256()
    for file in _content_files(path):
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return "file-content:" + digest.hexdigest()


def _content_files(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for file in sorted(path.rglob("*")):
        parts = file.relative_to(path).parts
        if file.is_file() and "node_modules" not in parts and ".git" not in parts:
            yield file


def _declares_dependencies(manifest: Path) -> bool:
    try:
        package = json.loads(manifest.read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(package, dict) and bool(package.get("dependencies"))


def _describe(dependencies: Mapping[str, str]) -> str:
    return ", ".join(f"{name}@{spec}" for name, spec in sorted(dependencies.items()))


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(text, "utf-8")
    partial.replace(path)
