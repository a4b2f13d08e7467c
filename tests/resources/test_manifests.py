"""Loading manifests (multi-document YAML, directories, Lists) and the kind registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jspolicy.resources.kinds import KindInfo, KindRegistry, split_api_version
from jspolicy.resources.manifests import (
    Manifest,
    ManifestError,
    expand_paths,
    load_file,
    load_manifests,
    parse_yaml_documents,
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: shop\ndata:\n  k: v\n"


# ---- files and documents -----------------------------------------------------------------


def test_a_single_document_file_is_named_without_a_document_number(tmp_path: Path) -> None:
    path = write(tmp_path / "cm.yaml", CONFIG_MAP.format(name="one"))
    (manifest,) = load_file(path)
    assert manifest.source == str(path)
    assert (manifest.api_version, manifest.kind, manifest.name) == ("v1", "ConfigMap", "one")
    assert manifest.obj["data"] == {"k": "v"}


def test_multi_document_files_number_their_documents(tmp_path: Path) -> None:
    text = "---\n" + CONFIG_MAP.format(name="a") + "---\n# only a comment\n---\n" + CONFIG_MAP.format(name="b")
    path = write(tmp_path / "many.yml", text)
    manifests = load_file(path)
    assert [(m.name, m.source) for m in manifests] == [
        ("a", f"{path} (document 1)"),
        ("b", f"{path} (document 2)"),
    ]


def test_lists_are_flattened(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: Secret, metadata: {name: s1}}\n"
        "- {apiVersion: v1, kind: ConfigMapList, items: [{apiVersion: v1, kind: ConfigMap, metadata: {name: c1}}]}\n"
        "---\n"
        "apiVersion: v1\nkind: PodList\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: p1}}\n"
    )
    path = write(tmp_path / "lists.yaml", text)
    manifests = load_file(path)
    assert [(m.kind, m.name, m.source) for m in manifests] == [
        ("Secret", "s1", f"{path} (document 1) item 0"),
        ("ConfigMap", "c1", f"{path} (document 1) item 1 item 0"),
        ("Pod", "p1", f"{path} (document 2) item 0"),
    ]


def test_an_empty_list_yields_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.yaml", "apiVersion: v1\nkind: List\nitems: []\n")
    assert load_file(path) == []


def test_timestamps_stay_strings(tmp_path: Path) -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: t\n  creationTimestamp: 2024-01-02T03:04:05Z\n"
        "data:\n  day: 2024-01-02\n  spaced: 2001-12-14 21:59:43.10 -5\n  number: 12\n  flag: true\n"
    )
    (manifest,) = load_file(write(tmp_path / "t.yaml", text))
    assert manifest.obj["metadata"]["creationTimestamp"] == "2024-01-02T03:04:05Z"
    assert manifest.obj["data"] == {
        "day": "2024-01-02",
        "spaced": "2001-12-14 21:59:43.10 -5",
        "number": 12,
        "flag": True,
    }


def test_json_files_load(tmp_path: Path) -> None:
    path = write(tmp_path / "obj.json", '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}')
    (manifest,) = load_manifests([str(path)])
    assert (manifest.kind, manifest.name, manifest.source) == ("Namespace", "shop", str(path))


def test_directories_are_walked_recursively_and_sorted(tmp_path: Path) -> None:
    write(tmp_path / "b.yaml", CONFIG_MAP.format(name="b"))
    write(tmp_path / "a" / "z.yml", CONFIG_MAP.format(name="z"))
    write(tmp_path / "a" / "y.json", '{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "y"}}')
    write(tmp_path / "notes.txt", "not a manifest")
    write(tmp_path / "README.md", "# nope")
    files = expand_paths([str(tmp_path)])
    assert files == [tmp_path / "a" / "y.json", tmp_path / "a" / "z.yml", tmp_path / "b.yaml"]
    assert [m.name for m in load_manifests([str(tmp_path)])] == ["y", "z", "b"]


def test_files_and_directories_mix_in_order(tmp_path: Path) -> None:
    single = write(tmp_path / "single.txt", CONFIG_MAP.format(name="explicit"))
    write(tmp_path / "dir" / "d.yaml", CONFIG_MAP.format(name="d"))
    names = [m.name for m in load_manifests([str(tmp_path / "dir"), str(single)])]
    assert names == ["d", "explicit"]  # an explicitly named file loads whatever its suffix


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ManifestError) as caught:
        load_manifests([str(missing)])
    assert str(caught.value) == f"{missing}: no such file or directory"


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.yaml", "apiVersion: v1\nkind: [\n")
    with pytest.raises(ManifestError, match=rf"^{path}: invalid YAML: "):
        load_file(path)


def test_non_utf8_files_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \xe9}\n")
    with pytest.raises(ManifestError, match=rf"^{path}: cannot read: "):
        load_file(path)


@pytest.mark.parametrize(
    ("text", "got"),
    [("- a\n- b\n", "list"), ("just a string\n", "str"), ("42\n", "int")],
)
def test_non_mapping_documents_are_rejected(tmp_path: Path, text: str, got: str) -> None:
    path = write(tmp_path / "x.yaml", CONFIG_MAP.format(name="ok") + "---\n" + text)
    with pytest.raises(ManifestError) as caught:
        load_file(path)
    assert str(caught.value) == f"{path} (document 2): expected a Kubernetes object, got {got}"


def test_non_mapping_list_items_are_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "x.yaml", "apiVersion: v1\nkind: List\nitems:\n- 5\n")
    with pytest.raises(ManifestError) as caught:
        load_file(path)
    assert str(caught.value) == f"{path} item 0: expected a Kubernetes object, got int"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: ConfigMap\nmetadata: {name: a}\n", "the object has no apiVersion"),
        ("apiVersion: v1\nmetadata: {name: a}\n", "the object has no kind"),
        ("apiVersion: v1\nkind: ''\n", "the object has no kind"),
        ("apiVersion: 1\nkind: ConfigMap\n", "the object has no apiVersion"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: [a]\n", "metadata must be a mapping"),
    ],
)
def test_objects_need_api_version_kind_and_mapping_metadata(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "x.yaml", text)
    with pytest.raises(ManifestError) as caught:
        load_file(path)
    assert str(caught.value) == f"{path}: {message}"


def test_parse_yaml_documents_drops_empty_documents() -> None:
    assert parse_yaml_documents("---\n---\na: 1\n---\n", "s") == [{"a": 1}]
    with pytest.raises(ManifestError, match=r"^src: invalid YAML"):
        parse_yaml_documents("a: [", "src")


def test_manifest_properties_default_to_empty() -> None:
    manifest = Manifest({"apiVersion": "v1", "kind": "Pod", "metadata": None}, "s")
    assert manifest.name == ""
    assert Manifest({}, "s").kind == "" and Manifest({}, "s").api_version == ""


# ---- kinds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_version", "kind", "expected"),
    [
        ("v1", "Pod", KindInfo("", "v1", "Pod", "pods", True)),
        ("v1", "Namespace", KindInfo("", "v1", "Namespace", "namespaces", False)),
        ("apps/v1", "Deployment", KindInfo("apps", "v1", "Deployment", "deployments", True)),
        ("batch/v1", "CronJob", KindInfo("batch", "v1", "CronJob", "cronjobs", True)),
        ("networking.k8s.io/v1", "Ingress", KindInfo("networking.k8s.io", "v1", "Ingress", "ingresses", True)),
        (
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            KindInfo("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
        ),
        (
            "autoscaling/v1",
            "HorizontalPodAutoscaler",
            KindInfo("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
        ),
        (
            "policy.jspolicy.com/v1beta1",
            "JsPolicy",
            KindInfo("policy.jspolicy.com", "v1beta1", "JsPolicy", "jspolicies", False),
        ),
        ("events.k8s.io/v1", "Event", KindInfo("events.k8s.io", "v1", "Event", "events", True)),
    ],
)
def test_builtin_lookups(api_version: str, kind: str, expected: KindInfo) -> None:
    assert KindRegistry.builtin().lookup(api_version, kind) == expected


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [("v1", "Deployment"), ("apps/v1", "Pod"), ("example.com/v1", "Widget"), ("v1", "pod")],
)
def test_unknown_kinds(api_version: str, kind: str) -> None:
    assert KindRegistry.builtin().lookup(api_version, kind) is None


def test_api_version_of_kind_info() -> None:
    assert KindInfo("", "v1", "Pod", "pods", True).api_version == "v1"
    assert KindInfo("apps", "v1", "Deployment", "deployments", True).api_version == "apps/v1"
    assert split_api_version("apps/v1") == ("apps", "v1")
    assert split_api_version("v1") == ("", "v1")


def test_lookups_at_other_versions_keep_plural_and_scope() -> None:
    registry = KindRegistry.builtin()
    assert registry.lookup("autoscaling/v2", "HorizontalPodAutoscaler") == KindInfo(
        "autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True
    )
    assert registry.lookup("batch/v1beta1", "CronJob") == KindInfo("batch", "v1beta1", "CronJob", "cronjobs", True)


def test_builtin_registries_are_independent() -> None:
    first = KindRegistry.builtin()
    first.add_crd(crd())
    assert first.lookup("example.com/v1", "Widget") is not None
    assert KindRegistry.builtin().lookup("example.com/v1", "Widget") is None


def test_the_first_registration_of_a_kind_wins() -> None:
    registry = KindRegistry([KindInfo("g", "v1", "K", "ks", True)])
    registry.add(KindInfo("g", "v2", "K", "others", False))
    assert registry.lookup("g/v1", "K") == KindInfo("g", "v1", "K", "ks", True)


def crd(scope: str = "Namespaced", versions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "scope": scope,
            "versions": versions
            if versions is not None
            else [{"name": "v1", "served": True, "storage": True}, {"name": "v2", "served": True, "storage": False}],
        },
    }


def test_add_crd_registers_the_kind() -> None:
    registry = KindRegistry.builtin()
    info = registry.add_crd(crd())
    assert info == KindInfo("example.com", "v1", "Widget", "widgets", True)
    assert registry.lookup("example.com/v1", "Widget") == info
    assert registry.lookup("example.com/v2", "Widget") == KindInfo("example.com", "v2", "Widget", "widgets", True)


def test_add_crd_cluster_scope_and_unserved_versions() -> None:
    registry = KindRegistry()
    versions: list[dict[str, Any]] = [
        {"name": "v1alpha1", "served": False},
        {"name": "v1beta1", "served": True},
        {"name": "v1"},
    ]
    info = registry.add_crd(crd(scope="Cluster", versions=versions))
    assert info == KindInfo("example.com", "v1beta1", "Widget", "widgets", False)
    assert registry.lookup("example.com/v1", "Widget") == KindInfo("example.com", "v1", "Widget", "widgets", False)


def test_add_crd_from_a_loaded_manifest(tmp_path: Path) -> None:
    text = (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata: {name: gadgets.acme.io}\n"
        "spec:\n  group: acme.io\n  scope: Cluster\n  names: {kind: Gadget, plural: gadgets}\n"
        "  versions:\n  - name: v1\n    served: true\n    storage: true\n"
    )
    (manifest,) = load_file(write(tmp_path / "crd.yaml", text))
    registry = KindRegistry.builtin()
    registry.add_crd(manifest.obj)
    assert registry.lookup("acme.io/v1", "Gadget") == KindInfo("acme.io", "v1", "Gadget", "gadgets", False)


@pytest.mark.parametrize(
    "broken",
    [
        {"spec": {"names": {"kind": "W", "plural": "ws"}}},
        {"spec": {"group": "g", "names": {"plural": "ws"}}},
        {"spec": {"group": "g", "names": {"kind": "W"}}},
        {},
    ],
)
def test_add_crd_needs_group_kind_and_plural(broken: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"needs spec\.group"):
        KindRegistry().add_crd(broken)


def test_configmap_mount_copies_in_dot_dot_directories_are_skipped(tmp_path: Path) -> None:
    # A mounted ConfigMap holds each key as a symlink into a hidden "..<timestamp>" directory.
    data = tmp_path / "..2026_11_22_18_00_00.123"
    write(data / "policy.yaml", CONFIG_MAP.format(name="once"))
    (tmp_path / "..data").symlink_to(data.name)
    (tmp_path / "policy.yaml").symlink_to(Path("..data") / "policy.yaml")
    assert expand_paths([str(tmp_path)]) == [tmp_path / "policy.yaml"]
    assert [m.name for m in load_manifests([str(tmp_path)])] == ["once"]


def test_test_suites_and_rbac_next_to_policies_are_not_read_from_a_directory(tmp_path: Path) -> None:
    """A policy, its `jspolicy test` suite and its RBAC side by side (as in policies/): the directory yields
    the policy; the suite is still read when named on its own, and then is an error."""
    write(tmp_path / "policy.yaml", CONFIG_MAP.format(name="policy"))
    write(tmp_path / "policy.test.yaml", "cases: []\n")
    write(tmp_path / "nested" / "more.test.yml", "cases: []\n")
    write(tmp_path / "policy.rbac.yaml", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n")
    assert expand_paths([str(tmp_path)]) == [tmp_path / "policy.yaml"]
    with pytest.raises(ManifestError, match="no apiVersion"):
        load_manifests([str(tmp_path / "policy.test.yaml")])
