"""Where a policy's code comes from: decided here, for the CLI, the webhook's policy store and the
reconciler alike.

- ``spec.javascript`` without imports or dependencies runs as it is (after a syntax check, since a
  syntax error is a build error, as in jsPolicy);
- ``spec.javascript`` with imports or ``spec.dependencies`` is bundled: by the CLI and a standalone
  server through the build cache, in a cluster by the leader, whose JsPolicyBundle the workers run;
- a JsPolicy without javascript whose manifest file sits beside an ``index.ts``/``index.js`` (the
  jspolicy-sdk layout, ``src/policies/<name>/policy.yaml``) is bundled from that entry, when a
  bundler is at hand;
- otherwise the JsPolicyBundle of the same name (made by jsPolicy, its SDK or ``jspolicy build``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jspolicy.bundler.build import Bundler, EntryFile, InlineSource
from jspolicy.bundler.errors import BuildError
from jspolicy.resources.bundle import BundleError, bundle_hash, decode_bundle
from jspolicy.resources.manifests import block_scalar_line
from jspolicy.resources.policy import JsPolicy
from jspolicy.resources.policyset import PolicySet
from jspolicy.runtime.program import PolicyProgram, ProgramError
from jspolicy.runtime.syntax import syntax_error

ENTRY_NAMES = ("index.ts", "index.tsx", "index.js", "index.mjs", "index.mts")
POLICY_FILES = ("policy.yaml", "policy.yml")
# Written by the leader on the bundles it builds: the bundleHash of the source they were built from.
BUNDLE_HASH_ANNOTATION = "policy.jspolicy.com/bundle-hash"
# On a JsPolicy: `typescript` bundles spec.javascript as TypeScript (jsPolicy has no such field, and the
# strict schema leaves no room for a new one in spec).
LANGUAGE_ANNOTATION = "policy.jspolicy.com/language"
LANGUAGES = ("javascript", "typescript")

# An ESM import or export, or a CommonJS require of a package: only a bundler can resolve these.
# (`export` too: webpack accepted an ES module, V8 does not run one as a script.)
_MODULE_USE = re.compile(
    r"""(?m)^\s*(?:import(?:\s+[\w*{$]|\s*[{*"'])|export\s)|\bimport\s*\(|\brequire\s*\(\s*["'`]"""
)

# How build errors name a line of spec.javascript: "spec.javascript line 3: ..." (V8), "spec.javascript:3:7: ..."
_JAVASCRIPT_LINE = re.compile(r"spec\.javascript(?: line |:)(\d+)")

Kind = Literal["inline", "build", "entry", "bundle"]


class BuildFailedError(ProgramError):
    """The policy's source does not build (a syntax error, an npm or esbuild failure): bad input to the
    CLI, ``BundleCompiled=False`` in a cluster, never a policy that is served anyway."""


def needs_bundler(javascript: str, dependencies: Mapping[str, str] | None) -> bool:
    """Inline JavaScript that must be bundled (npm dependencies, imports) before V8 can run it."""
    return bool(javascript) and (bool(dependencies) or _MODULE_USE.search(javascript) is not None)


def entry_beside(manifest_path: Path | None) -> Path | None:
    """The sdk-layout entry module next to a policy's manifest: a ``policy.yaml`` in a project (a package.json
    above it) beside an ``index.ts``/``index.js``. Anything less is not a project: a JsPolicy file that merely
    sits next to some index.js keeps using its JsPolicyBundle, as it did."""
    if manifest_path is None or manifest_path.name not in POLICY_FILES:
        return None
    if not any((directory / "package.json").is_file() for directory in manifest_path.parents):
        return None
    for name in ENTRY_NAMES:
        candidate = manifest_path.parent / name
        if candidate.is_file():
            return candidate
    return None


SOURCE_SUFFIXES = (".ts", ".tsx", ".mts", ".cts", ".js", ".mjs", ".cjs", ".json")
NOT_SOURCES = frozenset({"node_modules", ".git", "dist"})  # installed or generated, never a policy's source


def project_sources(root: Path) -> list[Path]:
    """The files a project's bundles can be built from (what a server watches to rebuild them)."""
    return sorted(
        path
        for path in root.rglob("*")
        if path.suffix in SOURCE_SUFFIXES and path.is_file() and NOT_SOURCES.isdisjoint(path.relative_to(root).parts)
    )


def project_root(start: Path) -> Path:
    """The nearest directory upwards with a package.json (whose node_modules the build uses)."""
    for directory in [start, *start.parents]:
        if (directory / "package.json").is_file():
            return directory
    return start


@dataclass(frozen=True)
class CodeSource:
    """A policy with what is known about where its code is."""

    policy: JsPolicy
    bundle: Mapping[str, Any] | None = None
    manifest_path: Path | None = None  # the file the JsPolicy was read from (CLI, standalone server)

    @classmethod
    def of(cls, policies: PolicySet, name: str) -> CodeSource:
        return cls(policies.policies[name], policies.bundles.get(name), policies.paths.get(name))

    @property
    def typescript(self) -> bool:
        language = self.policy.annotations.get(LANGUAGE_ANNOTATION, "javascript")
        if language not in LANGUAGES:
            raise BuildFailedError(
                f"js policy {self.policy.name}: annotation {LANGUAGE_ANNOTATION} must be one of "
                f"{', '.join(LANGUAGES)}, got {language!r}"
            )
        return language == "typescript"

    @property
    def build_key(self) -> str:
        """What a bundle built from this source is recorded as: jsPolicy's bundleHash, and the language
        when it is not JavaScript (the hash does not cover annotations)."""
        digest = bundle_hash(self.policy.javascript, self.policy.spec.get("dependencies"))
        return f"{digest}/typescript" if self.typescript else digest

    @property
    def kind(self) -> Kind:
        javascript, dependencies = self.policy.javascript, self.policy.spec.get("dependencies")
        if javascript:
            return "build" if self.typescript or needs_bundler(javascript, dependencies) else "inline"
        # A JsPolicyBundle given next to the manifest is what the user chose to run.
        return "entry" if self.bundle is None and entry_beside(self.manifest_path) is not None else "bundle"

    def watched_files(self) -> list[Path]:
        """Files besides the manifest whose change changes the code: a project entry's sources."""
        entry = entry_beside(self.manifest_path) if self.kind == "entry" else None
        return project_sources(project_root(entry.parent)) if entry is not None else []

    def build_input(self) -> InlineSource | EntryFile:
        policy = self.policy
        if self.kind == "entry":
            entry = entry_beside(self.manifest_path)
            assert entry is not None
            return EntryFile(policy.name, entry, project_root(entry.parent))
        base = self.manifest_path.parent if self.manifest_path is not None else None
        return InlineSource(policy.name, policy.javascript, dict(policy.dependencies), base, self.typescript)


def resolve_program(source: CodeSource, bundler: Bundler | None) -> PolicyProgram:
    """The code to run, or ProgramError saying why there is none. Without a ``bundler`` (a cluster's
    webhook workers) code that needs bundling runs from its JsPolicyBundle, the leader's work."""
    policy = source.policy
    kind = source.kind  # raises BuildFailedError for an unknown language
    if kind == "inline":
        problem = syntax_error(policy.javascript)
        if problem is not None:
            raise BuildFailedError(f"js policy {policy.name}: spec.javascript {problem}")
        return PolicyProgram.of(policy.name, policy.javascript)
    if kind in ("build", "entry") and bundler is not None:
        try:
            built = bundler.build(source.build_input())
        except BuildError as error:
            raise BuildFailedError(str(error)) from None
        return PolicyProgram.of(policy.name, built.javascript)
    if source.bundle is None:
        if kind == "build":
            raise ProgramError(
                f"js policy {policy.name} imports modules or has npm dependencies and is not bundled yet"
            )
        raise ProgramError(f"couldn't find javascript bundle for js policy {policy.name}")
    return PolicyProgram.of(policy.name, bundle_source(policy.name, source.bundle))


def bundle_source(name: str, bundle: Mapping[str, Any]) -> str:
    """The JavaScript in a JsPolicyBundle; raises ProgramError with jsPolicy's messages."""
    encoded = (bundle.get("spec") or {}).get("bundle")
    if not isinstance(encoded, str) or not encoded:
        raise ProgramError(f"couldn't find javascript bundle for js policy {name}")
    try:
        return decode_bundle(encoded)
    except BundleError as error:
        raise ProgramError(f"error decompressing javascript bundle for js policy {name}: {error}") from None


def manifest_location(policies: PolicySet, name: str, message: str) -> str:
    """Where a policy's build error is: its manifest, and the file line when the message names a line of
    an inline ``javascript: |`` block."""
    source = policies.sources[name]
    path, found = policies.paths.get(name), _JAVASCRIPT_LINE.search(message)
    if path is None or found is None:
        return source
    base = block_scalar_line(path, policies.documents.get(name, 0), ("spec", "javascript"))
    return source if base is None else f"{path}:{base + int(found[1])}"
