"""Inline TypeScript: a JsPolicy annotated ``policy.jspolicy.com/language: typescript`` is bundled with its types
stripped (by the CLI here, by the leader in a cluster: tests/kube/test_bundling_e2e.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bundler.jspolicy_run import Run, clean_environment, jspolicy

SOURCE = """interface Labelled { metadata?: { labels?: Record<string, string> } }
const object = request.object as Labelled | null;
const team: string | undefined = object?.metadata?.labels?.team;
if (!team) deny("a team label is required");
"""
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"},
       "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}  # fmt: skip


def policy(tmp_path: Path, language: str | None) -> Path:
    metadata: dict[str, object] = {"name": "ts.example.com"}
    if language is not None:
        metadata["annotations"] = {"policy.jspolicy.com/language": language}
    manifest = {"apiVersion": "policy.jspolicy.com/v1beta1", "kind": "JsPolicy", "metadata": metadata,
                "spec": {"operations": ["CREATE"], "resources": ["pods"], "javascript": SOURCE}}  # fmt: skip
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(manifest))
    (tmp_path / "pods.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        POD, {**POD, "metadata": {**POD["metadata"], "name": "team", "labels": {"team": "a"}}}]}))  # type: ignore[dict-item]  # fmt: skip
    return path


def apply(tmp_path: Path) -> Run:
    env = clean_environment({}, tmp_path / "cache")
    return jspolicy(["apply", "policy.json", "-r", "pods.json", "-o", "json"], env, tmp_path)


def test_annotated_typescript_is_bundled_with_its_types_stripped(tmp_path: Path) -> None:
    policy(tmp_path, "typescript")
    result = apply(tmp_path)
    assert result.returncode == 1, result
    assert [(r["resource"]["name"], r["allowed"]) for r in result.results()] == [("web", False), ("team", True)]


def test_the_same_source_without_the_annotation_is_a_syntax_error(tmp_path: Path) -> None:
    policy(tmp_path, None)
    result = apply(tmp_path)
    assert result.returncode == 2 and "spec.javascript line 1: SyntaxError" in result.stderr, result


def test_an_unknown_language_is_bad_input(tmp_path: Path) -> None:
    policy(tmp_path, "coffeescript")
    result = apply(tmp_path)
    assert result.returncode == 2, result
    assert "annotation policy.jspolicy.com/language must be one of javascript, typescript, got 'coffeescript'" in (
        result.stderr
    )
