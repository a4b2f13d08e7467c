"""The policy store keeps the last good snapshot and reports a broken file once per change."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from jspolicy.bundler.build import BuildSettings, Bundler
from jspolicy.resources.bundle import encode_bundle
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.program import PolicyProgram, ProgramError
from jspolicy.runtime.settings import RuntimeSettings
from jspolicy.server.store import PolicyStore

POLICY = """apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {{name: {name}.test.jspolicy.com}}
spec:
  operations: ["CREATE"]
  resources: ["pods"]
  javascript: {javascript}
"""


def test_a_broken_file_keeps_the_last_good_snapshot_and_is_retried_only_after_a_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    (tmp_path / "a.yaml").write_text(POLICY.format(name="a", javascript="allow()"))
    store = PolicyStore([str(tmp_path)])
    assert store.reload()
    good = store.snapshot
    (tmp_path / "b.yaml").write_text("kind: [unclosed")
    assert not store.reload_if_changed()
    assert store.snapshot is good and store.last_error and "b.yaml" in store.last_error
    assert not store.reload_if_changed()  # unchanged broken file: not parsed and logged again
    assert sum("not reloaded" in r.getMessage() for r in caplog.records) == 1
    (tmp_path / "b.yaml").write_text(POLICY.format(name="b", javascript="allow()"))
    assert store.reload_if_changed()
    assert set(store.snapshot.policies) == {"a.test.jspolicy.com", "b.test.jspolicy.com"}
    assert store.snapshot.generation == good.generation + 1 and store.last_error is None


BUNDLED = """apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicy
metadata: {{name: bundled.test.jspolicy.com}}
spec:
  operations: ["CREATE"]
  resources: ["pods"]
---
apiVersion: policy.jspolicy.com/v1beta1
kind: JsPolicyBundle
metadata: {{name: bundled.test.jspolicy.com}}
spec:
  bundle: {bundle}
"""


def test_a_policy_whose_new_bundle_is_broken_keeps_serving_its_previous_code(tmp_path: Path) -> None:
    (tmp_path / "bundled.yaml").write_text(BUNDLED.format(bundle=encode_bundle("deny('v1')")))
    store = PolicyStore([str(tmp_path)])
    assert store.reload()
    first = store.snapshot.programs["bundled.test.jspolicy.com"]
    assert isinstance(first, PolicyProgram)
    (tmp_path / "bundled.yaml").write_text(BUNDLED.format(bundle="bm90IGd6aXA="))  # base64, not gzip
    assert store.reload()
    assert store.snapshot.programs["bundled.test.jspolicy.com"] is first
    fresh = PolicyStore([str(tmp_path)])  # never had a good version: answered with a 500
    assert fresh.reload() and isinstance(fresh.snapshot.programs["bundled.test.jspolicy.com"], ProgramError)


def test_a_new_version_with_a_syntax_error_does_not_replace_a_working_one(tmp_path: Path) -> None:
    pool = RuntimePool(RuntimeSettings(pool_size=1))
    try:
        store = PolicyStore([str(tmp_path)], pool.compile_error)
        path = tmp_path / "inline.yaml"
        path.write_text(POLICY.format(name="inline", javascript=json.dumps("deny('v1')")))
        assert store.reload()
        v1 = store.snapshot.programs["inline.test.jspolicy.com"]
        path.write_text(POLICY.format(name="inline", javascript=json.dumps("deny('v2'")))  # unclosed call
        assert store.reload()
        assert store.snapshot.programs["inline.test.jspolicy.com"] is v1
        assert store.last_error and store.last_error.startswith("inline.test.jspolicy.com: ")
        assert "deny('v1')" in store.snapshot.policies["inline.test.jspolicy.com"].javascript
        assert pool.compile_error(PolicyProgram.of("p", "deny('v2'")) is not None
        path.write_text(POLICY.format(name="inline", javascript=json.dumps("deny('v3')")))
        assert store.reload()
        v3 = store.snapshot.programs["inline.test.jspolicy.com"]
        assert isinstance(v3, PolicyProgram) and v3.source == "deny('v3')"
        assert store.last_error is None
    finally:
        pool.close()


def test_a_project_policy_is_rebuilt_when_a_helper_it_imports_changes(tmp_path: Path) -> None:
    """serve --policies with the sdk layout: the store bundles policy.yaml's index.ts and watches the project."""
    policy_dir = tmp_path / "src" / "policies" / "p"
    policy_dir.mkdir(parents=True)
    (tmp_path / "package.json").write_text('{"name": "p", "private": true}')
    manifest = POLICY.format(name="project", javascript='""').replace('  javascript: ""\n', "")
    (policy_dir / "policy.yaml").write_text(manifest)
    (policy_dir / "index.ts").write_text('import { word } from "../../lib/words";\ndeny(word());\n')
    lib = tmp_path / "src" / "lib"
    lib.mkdir()
    (lib / "words.ts").write_text('export const word = (): string => "one";\n')
    store = PolicyStore([str(policy_dir)], bundler=Bundler(BuildSettings(cache_dir=tmp_path / "cache")))
    assert store.reload()
    first = store.snapshot.programs["project.test.jspolicy.com"]
    assert isinstance(first, PolicyProgram) and '"one"' in first.source
    assert not store.reload_if_changed()
    (lib / "words.ts").write_text('export const word = (): string => "two";\n')
    assert store.reload_if_changed()
    second = store.snapshot.programs["project.test.jspolicy.com"]
    assert isinstance(second, PolicyProgram) and '"two"' in second.source
    (lib / "words.ts").write_text("export const word = (: string => 'three';\n")  # does not parse
    assert store.reload_if_changed()
    assert store.snapshot.programs["project.test.jspolicy.com"] is second  # the last good build keeps serving
    assert store.last_error and "src/lib/words.ts:1:" in store.last_error
