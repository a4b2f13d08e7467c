"""Builds are reproducible: the same policy built in two directories, each with its own jspolicy cache (so
the second is a real build, not a cache hit), gives byte-identical ``spec.bundle``; and a second build of
an inline policy in the same cache is a hit that needs no npm."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest

from jspolicy.bundler.build import BuildSettings, Built, Bundler, InlineSource
from jspolicy.bundler.errors import BuildError
from jspolicy.bundler.project import build_project
from jspolicy.bundler.tools import esbuild_api_path, esbuild_path

POLICY_JS = textwrap.dedent(
    """\
    import { reservedPrefix, isReserved } from "fixture-naming";

    if (isReserved(request.name || "")) {
      deny(`names starting with ${reservedPrefix} are reserved`);
    }
    """
)
PACKAGE_JSON = '{"name": "fixture-naming", "version": "1.2.3", "main": "lib/index.js"}\n'
PACKAGE_MAIN = textwrap.dedent(
    """\
    "use strict";
    const reservedPrefix = "system-";
    exports.reservedPrefix = reservedPrefix;
    exports.isReserved = function (name) { return name.indexOf(reservedPrefix) === 0; };
    """
)


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.fail("these tests need Node.js 18+ with npm on PATH", pytrace=False)
    # The machine's pinned esbuild (fetched once), so a fresh JSPOLICY_CACHE_DIR does not fetch it again.
    monkeypatch.setenv("JSPOLICY_ESBUILD", str(esbuild_path()))
    monkeypatch.setenv("JSPOLICY_ESBUILD_API", str(esbuild_api_path()))
    monkeypatch.delenv("JSPOLICY_BUNDLE_CACHE", raising=False)


def _policy_dir(directory: Path) -> Path:
    """A policy with a `file:` dependency beside it, as a user would keep them in their repository."""
    package = directory / "packages" / "fixture-naming"
    (package / "lib").mkdir(parents=True)
    (package / "package.json").write_text(PACKAGE_JSON, "utf-8")
    (package / "lib" / "index.js").write_text(PACKAGE_MAIN, "utf-8")
    return directory


def _inline(directory: Path, javascript: str = POLICY_JS) -> InlineSource:
    return InlineSource(
        "naming.example.com", javascript, {"fixture-naming": "file:./packages/fixture-naming"}, directory
    )


def _bundler(cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> Bundler:
    monkeypatch.setenv("JSPOLICY_CACHE_DIR", str(cache_root))
    settings = BuildSettings.from_env()
    assert settings.cache_dir == cache_root / "bundles"
    return Bundler(settings)


def test_inline_policy_with_a_file_dependency_builds_identically_in_two_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _bundler(tmp_path / "cache-a", monkeypatch).build(_inline(_policy_dir(tmp_path / "checkout-a")))
    second = _bundler(tmp_path / "cache-b", monkeypatch).build(_inline(_policy_dir(tmp_path / "elsewhere" / "b")))
    assert not first.cached and not second.cached
    assert second.encoded == first.encoded
    assert second.javascript == first.javascript
    assert "system-" in first.javascript  # the package is in the bundle, nothing is left for a run-time require
    assert re.search(r"(?<![\w$.])require\(", first.javascript) is None
    assert str(tmp_path) not in first.javascript  # no absolute path of the building machine
    # Both caches hold the same entry, under the same key.
    assert [p.name for p in (tmp_path / "cache-a" / "bundles" / "js").rglob("*.js")] == [
        p.name for p in (tmp_path / "cache-b" / "bundles" / "js").rglob("*.js")
    ]


def test_a_different_dependency_content_is_a_different_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundler = _bundler(tmp_path / "cache", monkeypatch)
    first = bundler.build(_inline(_policy_dir(tmp_path / "a")))
    changed = _policy_dir(tmp_path / "b")
    main = changed / "packages" / "fixture-naming" / "lib" / "index.js"
    main.write_text(PACKAGE_MAIN.replace('"system-"', '"kube-"'), "utf-8")
    second = bundler.build(_inline(changed))
    assert not second.cached and second.encoded != first.encoded and "kube-" in second.javascript


def _project(directory: Path) -> Path:
    (directory / "src" / "lib").mkdir(parents=True)
    (directory / "src" / "policies" / "naming").mkdir(parents=True)
    (directory / "package.json").write_text('{"name": "policies", "version": "1.0.0", "private": true}\n')
    (directory / "src" / "lib" / "names.ts").write_text(
        'export const reservedPrefix: string = "system-";\n\n'
        "export function isReserved(name: string): boolean {\n  return name.startsWith(reservedPrefix);\n}\n"
    )
    (directory / "src" / "policies" / "naming" / "index.ts").write_text(
        'import { isReserved, reservedPrefix } from "../../lib/names";\n\n'
        'if (isReserved(request.name || "")) {\n  deny(`names starting with ${reservedPrefix} are reserved`);\n}\n'
    )
    (directory / "src" / "policies" / "naming" / "policy.yaml").write_text(
        "apiVersion: policy.jspolicy.com/v1beta1\nkind: JsPolicy\nmetadata:\n  name: naming.example.com\n"
        "spec:\n  operations: [CREATE]\n  resources: [configmaps]\n"
    )
    return directory


def test_a_project_entry_builds_identically_in_two_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = build_project(_project(tmp_path / "one"), _bundler(tmp_path / "cache-1", monkeypatch), check_types=False)
    second = build_project(
        _project(tmp_path / "two" / "deeper"), _bundler(tmp_path / "cache-2", monkeypatch), check_types=False
    )
    assert [b.bundle for b in first] == [b.bundle for b in second]
    assert first[0].bundle["spec"]["bundle"] == second[0].bundle["spec"]["bundle"]
    assert first[0].policy.entry != second[0].policy.entry


def _offline_build(
    source: InlineSource, cache_root: Path, monkeypatch: pytest.MonkeyPatch, *, npm: bool = False
) -> Built:
    """A build with no registry, and (unless ``npm``) no npm at all: only the cache can answer."""
    monkeypatch.delenv("JSPOLICY_NPM", raising=False)
    if not npm:
        monkeypatch.setenv("JSPOLICY_NPM", str(cache_root / "no-such-npm"))
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", "http://127.0.0.1:9/")
    return _bundler(cache_root, monkeypatch).build(source)


def test_a_second_build_is_a_cache_hit_without_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = _policy_dir(tmp_path / "policy")
    first = _bundler(tmp_path / "cache", monkeypatch).build(_inline(directory))
    assert not first.cached
    again = _offline_build(_inline(directory), tmp_path / "cache", monkeypatch)
    assert again.cached and again.encoded == first.encoded
    # Changed code with the same dependencies needs no registry: the install is cached too. (It does need an npm
    # to exist: Bundler.tools() finds esbuild and npm together.)
    edited_source = _inline(directory, POLICY_JS + "warn('checked');\n")
    edited = _offline_build(edited_source, tmp_path / "cache", monkeypatch, npm=True)
    assert not edited.cached and "checked" in edited.javascript
    # The same policy in an empty cache does need npm: the offline builds above really were offline.
    with pytest.raises(BuildError, match="needs npm"):
        _offline_build(_inline(directory), tmp_path / "empty-cache", monkeypatch)
