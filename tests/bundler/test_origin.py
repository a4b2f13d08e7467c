"""Where a policy's code comes from (jspolicy/bundler/origin.py), and the build cache's budget."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from jspolicy.bundler.cache import BuildCache
from jspolicy.bundler.origin import CodeSource, needs_bundler
from jspolicy.bundler.project import discover
from jspolicy.resources.bundle import encode_bundle
from jspolicy.resources.policy import API_VERSION, JsPolicy

BUNDLE = {"apiVersion": API_VERSION, "kind": "JsPolicyBundle", "metadata": {"name": "p.example.com"},
          "spec": {"bundle": encode_bundle('deny("from the bundle")')}}  # fmt: skip


def policy(javascript: str = "") -> JsPolicy:
    spec: dict[str, Any] = {"operations": ["CREATE"], "resources": ["pods"]}
    if javascript:
        spec["javascript"] = javascript
    return JsPolicy(
        {"apiVersion": API_VERSION, "kind": "JsPolicy", "metadata": {"name": "p.example.com"}, "spec": spec}
    )


@pytest.mark.parametrize(
    ("source", "bundled"),
    [
        ('import _ from "lodash";', True),
        ("import {a} from 'x'", True),
        ('import "side-effect";', True),
        ("export function check() {}", True),
        ('const m = await import("x")', True),
        ('const x = require("x");', True),
        ("importance = 1;\ndeny(importance)", False),
        ("exported = true;", False),
        ('const required = "yes"; deny(required)', False),
    ],
)
def test_what_needs_a_bundler(source: str, bundled: bool) -> None:
    assert needs_bundler(source, None) is bundled


def write_project(root: Path, *, package_json: bool, manifest: str = "policy.yaml") -> Path:
    folder = root / "src" / "policies" / "p"
    folder.mkdir(parents=True)
    if package_json:
        (root / "package.json").write_text('{"name": "p", "private": true}')
    (folder / "index.js").write_text('deny("from the entry")')
    path = folder / manifest
    path.write_text("kind: JsPolicy")
    return path


def test_an_sdk_project_policy_runs_its_entry(tmp_path: Path) -> None:
    assert CodeSource(policy(), None, write_project(tmp_path, package_json=True)).kind == "entry"


def test_a_bundle_given_with_the_manifest_wins_over_an_entry_beside_it(tmp_path: Path) -> None:
    """`jspolicy apply policy.yaml bundle.yaml` runs the bundle the user named, as before."""
    assert CodeSource(policy(), BUNDLE, write_project(tmp_path, package_json=True)).kind == "bundle"


@pytest.mark.parametrize(("package_json", "manifest"), [(False, "policy.yaml"), (True, "my-policy.yaml")])
def test_an_index_js_outside_a_project_layout_is_not_the_policy(
    tmp_path: Path, package_json: bool, manifest: str
) -> None:
    path = write_project(tmp_path, package_json=package_json, manifest=manifest)
    assert CodeSource(policy(), None, path).kind == "bundle"


def test_the_cache_evicts_the_least_recently_used_entries_down_to_its_budget(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path, budget=2500)
    entries = []
    for index in range(4):
        directory = cache.dependencies(f"key{index}")
        (directory / "node_modules").mkdir(parents=True)
        (directory / "node_modules" / "blob").write_bytes(b"x" * 1000)
        cache.used(directory)
        os.utime(directory / ".used", (1_000 + index, 1_000 + index))  # used in this order
        entries.append(directory)
    cache.npm.mkdir()
    (cache.npm / "tarball").write_bytes(b"y" * 500)
    cache.evict(keep=entries[0])
    assert not cache.npm.exists()  # npm's downloads go first
    assert [e.exists() for e in entries] == [True, False, False, True]  # oldest first, never `keep`


def test_project_policies_are_named_after_the_folder_under_the_last_policies_folder(tmp_path: Path) -> None:
    """As @jspolicy/webpack-plugin's /.*\\/policies\\/(.*)\\/.*\\.js/ names its output files."""
    root = tmp_path / "project"
    folder = root / "src" / "policies" / "team" / "policies" / "deny-x"  # greedy: after the last one
    folder.mkdir(parents=True)
    (root / "package.json").write_text('{"name": "team", "private": true}')
    (folder / "index.js").write_text('deny("x")')
    (folder / "policy.yaml").write_text(
        "apiVersion: policy.jspolicy.com/v1beta1\nkind: JsPolicy\nmetadata: {name: deny-x.example.com}\n"
        "spec: {operations: [CREATE], resources: [pods]}\n"
    )
    assert [p.name for p in discover(root)] == ["deny-x"]
