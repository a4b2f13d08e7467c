"""The policy store keeps the last good snapshot and reports a broken file once per change."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from jspolicy.bundler.build import BuildSettings, Bundler
from jspolicy.resources.bundle import encode_bundle
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.program import PolicyProgram, ProgramError
from jspolicy.runtime.settings import RuntimeSettings
from jspolicy.server.store import PolicyStore, load_problems

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
    assert sum("b.yaml" in r.getMessage() and "not reloaded" in r.getMessage() for r in caplog.records) == 1
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


def names(store: PolicyStore) -> set[str]:
    return {name.removesuffix(".test.jspolicy.com") for name in store.snapshot.policies}


def javascript(store: PolicyStore, name: str) -> str:
    return store.snapshot.policies[f"{name}.test.jspolicy.com"].javascript


def errors_naming(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(r.levelno == logging.ERROR and text in r.getMessage() for r in caplog.records)


def good_and_bad(tmp_path: Path) -> PolicyStore:
    """a.yaml and b.yaml served, then b.yaml broken."""
    (tmp_path / "a.yaml").write_text(POLICY.format(name="a", javascript="allow()"))
    (tmp_path / "b.yaml").write_text(POLICY.format(name="b", javascript="allow()"))
    store = PolicyStore([str(tmp_path)])
    assert store.reload()
    (tmp_path / "b.yaml").write_text("kind: [unclosed")
    assert not store.reload_if_changed()  # b keeps its previous version: nothing to swap
    return store


def test_a_bad_file_does_not_block_a_later_change_of_another_file(tmp_path: Path) -> None:
    store = good_and_bad(tmp_path)
    (tmp_path / "a.yaml").write_text(POLICY.format(name="a", javascript="deny('a2')"))
    assert store.reload_if_changed()
    assert javascript(store, "a") == "deny('a2')"
    assert store.last_error and "b.yaml: invalid YAML" in store.last_error


def test_a_bad_file_is_logged_once_per_change_of_that_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    store = good_and_bad(tmp_path)
    assert errors_naming(caplog, "b.yaml: invalid YAML") == 1
    assert "\n" not in caplog.records[0].getMessage()  # PyYAML's several lines made one
    (tmp_path / "a.yaml").write_text(POLICY.format(name="a", javascript="deny('a2')"))
    assert store.reload_if_changed()  # another file's change does not report b.yaml again
    assert not store.reload_if_changed()
    assert errors_naming(caplog, "b.yaml") == 1
    (tmp_path / "b.yaml").write_text("kind: [still unclosed")
    assert not store.reload_if_changed() and not store.reload_if_changed()
    assert errors_naming(caplog, "b.yaml") == 2


def test_a_bad_new_version_keeps_that_files_previous_policies(tmp_path: Path) -> None:
    store = good_and_bad(tmp_path)
    (tmp_path / "b.yaml").write_text(POLICY.format(name="c", javascript="allow()") + "  foo: bar\n")  # unknown field
    (tmp_path / "a.yaml").write_text(POLICY.format(name="a", javascript="deny('a2')"))
    assert store.reload_if_changed()
    assert names(store) == {"a", "b"} and javascript(store, "a") == "deny('a2')"
    assert store.last_error and "b.yaml" in store.last_error and "foo" in store.last_error


def test_a_new_bad_file_serves_nothing_until_it_is_fixed(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(POLICY.format(name="a", javascript="allow()"))
    store = PolicyStore([str(tmp_path)])
    assert store.reload()
    (tmp_path / "b.yaml").write_text(POLICY.format(name="b", javascript="allow()").replace("kind: JsPolicy", "kind: 3"))
    (tmp_path / "a.yaml").write_text(POLICY.format(name="a", javascript="deny('a2')"))
    assert store.reload_if_changed()
    assert names(store) == {"a"} and store.last_error and "b.yaml" in store.last_error
    (tmp_path / "b.yaml").write_text(POLICY.format(name="b", javascript="allow()"))
    assert store.reload_if_changed()
    assert names(store) == {"a", "b"} and store.last_error is None


def test_the_first_snapshot_waits_for_every_file(tmp_path: Path) -> None:
    """A worker that starts while a file is broken must not answer "unknown policy" for its policies."""
    (tmp_path / "a.yaml").write_text(POLICY.format(name="a", javascript="allow()"))
    (tmp_path / "b.yaml").write_text("kind: [unclosed")
    store = PolicyStore([str(tmp_path)])
    assert not store.reload() and not store.loaded
    (tmp_path / "b.yaml").write_text(POLICY.format(name="b", javascript="allow()"))
    assert store.reload_if_changed() and store.loaded and names(store) == {"a", "b"}


def test_a_removed_file_drops_its_policies_even_while_another_file_is_bad(tmp_path: Path) -> None:
    store = good_and_bad(tmp_path)
    (tmp_path / "c.yaml").write_text(POLICY.format(name="c", javascript="allow()"))
    assert store.reload_if_changed() and names(store) == {"a", "b", "c"}
    (tmp_path / "c.yaml").unlink()
    assert store.reload_if_changed() and names(store) == {"a", "b"}
    (tmp_path / "b.yaml").unlink()  # a bad file that goes takes its last good version and its problem along
    assert store.reload_if_changed() and names(store) == {"a"} and store.last_error is None


def test_a_file_given_by_name_that_disappears_drops_its_policies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(POLICY.format(name="a", javascript="allow()"))
    b.write_text(POLICY.format(name="b", javascript="allow()"))
    store = PolicyStore([str(a), str(b)])
    assert store.reload()
    b.unlink()
    assert store.reload_if_changed() and not store.reload_if_changed()
    assert names(store) == {"a"} and store.last_error == f"{b}: no such file or directory"
    assert errors_naming(caplog, f"{b}: no such file or directory") == 1
    b.write_text(POLICY.format(name="b", javascript="allow()"))
    assert store.reload_if_changed() and names(store) == {"a", "b"} and store.last_error is None


def test_a_name_defined_in_two_files_keeps_coming_from_the_file_that_served_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    later, first = tmp_path / "later.yaml", tmp_path / "first.yaml"
    later.write_text(BUNDLED.format(bundle=encode_bundle("deny('later')")))
    store = PolicyStore([str(tmp_path)])
    assert store.reload()
    first.write_text(BUNDLED.format(bundle=encode_bundle("deny('first')")))  # sorts first, arrives second
    assert not store.reload_if_changed()
    program = store.snapshot.programs["bundled.test.jspolicy.com"]
    assert isinstance(program, PolicyProgram) and program.source == "deny('later')"
    assert store.last_error and f"{first} (document 1)" in store.last_error and str(later) in store.last_error
    (tmp_path / "other.yaml").write_text(POLICY.format(name="other", javascript="allow()"))
    assert store.reload_if_changed()  # a change of another file does not report the duplicate again
    assert errors_naming(caplog, "bundled.test.jspolicy.com is also defined") == 1
    os.utime(first, ns=(first.stat().st_mtime_ns + 10**9,) * 2)
    assert not store.reload_if_changed()
    assert errors_naming(caplog, "bundled.test.jspolicy.com is also defined") == 2
    fresh = PolicyStore([str(tmp_path)])  # neither served it: the file that sorts first, with its own bundle
    assert fresh.reload()
    program = fresh.snapshot.programs["bundled.test.jspolicy.com"]
    assert isinstance(program, PolicyProgram) and program.source == "deny('first')"
    later.unlink()
    assert not fresh.reload_if_changed() and fresh.last_error is None  # what it serves is unchanged


def test_load_problems_reports_each_problem_on_one_line(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.mkdir()
    (good / "a.yaml").write_text(POLICY.format(name="a", javascript="allow()"))
    (good / "b.yaml").write_text(BUNDLED.format(bundle=encode_bundle("allow()")))
    assert load_problems([str(good)]) == []
    missing = tmp_path / "nope"
    assert load_problems([str(missing)]) == [f"{missing}: no such file or directory"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed")
    (problem,) = load_problems([str(bad)])
    assert problem.startswith(f"{bad}: invalid YAML: ") and "\n" not in problem
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(POLICY.format(name="a", javascript="allow()").replace('["CREATE"]', '["EAT"]'))
    (problem,) = load_problems([str(invalid)])
    assert problem.startswith(f'{invalid}: JsPolicy "a.test.jspolicy.com" is invalid: ') and "EAT" in problem
    twice = tmp_path / "twice.yaml"
    twice.write_text(POLICY.format(name="a", javascript="deny()"))
    assert load_problems([str(good), str(twice)]) == [
        f"{twice}: JsPolicy a.test.jspolicy.com is also defined in {good / 'a.yaml'}, which is used"
    ]


def test_an_empty_directory_loads_an_empty_set(tmp_path: Path) -> None:
    store = PolicyStore([str(tmp_path)])
    assert store.reload_if_changed() or store.reload()
    assert store.loaded and dict(store.snapshot.policies) == {}
