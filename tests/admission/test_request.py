"""build_request: the AdmissionRequest the API server would send for a resource."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from jspolicy.admission.request import RequestError, UserInfo, build_request
from jspolicy.resources.kinds import KindRegistry
from tests.conftest import pod

KINDS = KindRegistry.builtin()
FIELD_ORDER = [
    "uid",
    "kind",
    "resource",
    "requestKind",
    "requestResource",
    "name",
    "namespace",
    "operation",
    "userInfo",
    "object",
    "oldObject",
    "dryRun",
    "options",
]
DEFAULT_USER = {"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]}


def test_create() -> None:
    obj = pod()
    request = build_request(KINDS, "CREATE", obj)
    assert list(request) == FIELD_ORDER
    uuid.UUID(request["uid"])
    assert request["kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert request["resource"] == {"group": "", "version": "v1", "resource": "pods"}
    assert request["requestKind"] == request["kind"] and request["requestKind"] is not request["kind"]
    assert request["requestResource"] == request["resource"]
    assert (request["name"], request["namespace"], request["operation"]) == ("web", "shop", "CREATE")
    assert request["userInfo"] == DEFAULT_USER
    assert request["object"] == obj and request["object"] is not obj
    assert request["oldObject"] is None
    assert request["dryRun"] is False
    assert request["options"] == {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}


def test_update() -> None:
    old = pod()
    new = pod(spec={"containers": [{"name": "web", "image": "nginx:1.28"}]})
    request = build_request(KINDS, "UPDATE", new, old)
    assert list(request) == FIELD_ORDER
    assert request["object"] == new and request["oldObject"] == old
    assert request["options"] == {"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"}


def test_delete_moves_the_object_to_old_object() -> None:
    obj = pod()
    request = build_request(KINDS, "DELETE", obj)
    assert list(request) == FIELD_ORDER
    assert request["object"] is None
    assert request["oldObject"] == obj
    assert request["options"] == {"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"}
    assert (request["name"], request["namespace"]) == ("web", "shop")


def test_delete_with_an_explicit_old_object() -> None:
    old = pod(metadata={"name": "web", "namespace": "shop", "labels": {"v": "old"}})
    request = build_request(KINDS, "DELETE", None, old)
    assert request["object"] is None and request["oldObject"] == old


def test_connect() -> None:
    request = build_request(KINDS, "CONNECT", pod(), subresource="exec")
    assert list(request) == [
        "uid",
        "kind",
        "resource",
        "subResource",
        "requestKind",
        "requestResource",
        "requestSubResource",
        "name",
        "namespace",
        "operation",
        "userInfo",
        "object",
        "oldObject",
        "dryRun",
        "options",
    ]
    assert request["subResource"] == request["requestSubResource"] == "exec"
    assert request["object"] == pod()
    assert request["oldObject"] is None
    assert request["options"] is None


def test_grouped_kinds_split_the_api_version() -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "x"}}
    request = build_request(KINDS, "CREATE", deployment)
    assert request["kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert request["resource"] == {"group": "apps", "version": "v1", "resource": "deployments"}


def test_namespace_defaults_to_default_and_is_set_into_the_object() -> None:
    obj = pod(metadata={"name": "web"})
    original = copy.deepcopy(obj)
    request = build_request(KINDS, "CREATE", obj)
    assert request["namespace"] == "default"
    assert request["object"]["metadata"] == {"name": "web", "namespace": "default"}
    assert obj == original, "the caller's object is not modified"


def test_update_sets_the_namespace_into_both_objects() -> None:
    new, old = pod(metadata={"name": "web"}), pod(metadata={"name": "web"})
    request = build_request(KINDS, "UPDATE", new, old)
    assert request["object"]["metadata"]["namespace"] == "default"
    assert request["oldObject"]["metadata"]["namespace"] == "default"


def test_delete_sets_the_namespace_into_the_old_object() -> None:
    request = build_request(KINDS, "DELETE", pod(metadata={"name": "web"}))
    assert request["namespace"] == "default"
    assert request["oldObject"]["metadata"]["namespace"] == "default"


def test_cluster_scoped_objects_have_no_namespace() -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "namespace": "ignored"}}
    request = build_request(KINDS, "CREATE", node)
    assert "namespace" not in request
    assert request["name"] == "n1"
    assert request["resource"]["resource"] == "nodes"


def test_a_namespace_reports_its_own_name_as_namespace() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    request = build_request(KINDS, "CREATE", ns)
    assert (request["name"], request["namespace"]) == ("team-a", "team-a")
    # The API server labels every namespace with its name before admission.
    assert request["object"] == {
        **ns,
        "metadata": {"name": "team-a", "labels": {"kubernetes.io/metadata.name": "team-a"}},
    }
    assert ns["metadata"] == {"name": "team-a"}  # the caller's object is not modified


def test_objects_without_a_name_have_no_name_field() -> None:
    request = build_request(KINDS, "CREATE", pod(metadata={"generateName": "web-", "namespace": "shop"}))
    assert "name" not in request
    assert request["namespace"] == "shop"


def test_user_info() -> None:
    user = UserInfo(username="alice", groups=("devs", "system:authenticated"), uid="42", extra={"scopes": ["a", "b"]})
    request = build_request(KINDS, "CREATE", pod(), user=user)
    assert request["userInfo"] == {
        "username": "alice",
        "uid": "42",
        "groups": ["devs", "system:authenticated"],
        "extra": {"scopes": ["a", "b"]},
    }
    assert list(request["userInfo"]) == ["username", "uid", "groups", "extra"]
    assert build_request(KINDS, "CREATE", pod(), user=UserInfo(username="bob", groups=()))["userInfo"] == {
        "username": "bob"
    }


def test_dry_run() -> None:
    assert build_request(KINDS, "CREATE", pod(), dry_run=True)["dryRun"] is True


def test_every_request_gets_a_fresh_uid() -> None:
    assert build_request(KINDS, "CREATE", pod())["uid"] != build_request(KINDS, "CREATE", pod())["uid"]


def test_custom_resources_after_add_crd() -> None:
    widget: dict[str, Any] = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    with pytest.raises(RequestError) as caught:
        build_request(KINDS, "CREATE", widget)
    assert str(caught.value) == (
        "unknown kind 'Widget' in 'example.com/v1': add its CustomResourceDefinition to the cluster state"
    )
    kinds = KindRegistry.builtin()
    kinds.add_crd(
        {
            "spec": {
                "group": "example.com",
                "names": {"kind": "Widget", "plural": "widgets"},
                "scope": "Cluster",
                "versions": [{"name": "v1", "served": True}],
            }
        }
    )
    request = build_request(kinds, "CREATE", widget)
    assert request["resource"] == {"group": "example.com", "version": "v1", "resource": "widgets"}
    assert "namespace" not in request


@pytest.mark.parametrize(
    ("operation", "obj", "old", "message"),
    [
        ("UPDATE", pod(), None, "an UPDATE needs the old object (--old)"),
        ("PATCH", pod(), None, "unknown operation 'PATCH'; use one of CREATE, UPDATE, DELETE, CONNECT"),
        ("create", pod(), None, "unknown operation 'create'; use one of CREATE, UPDATE, DELETE, CONNECT"),
        ("CREATE", None, None, "no object given"),
        ("DELETE", None, None, "no object given"),
        ("CREATE", {"apiVersion": "v1", "kind": "Deployment"}, None, "unknown kind 'Deployment' in 'v1'"),
        ("CREATE", {"metadata": {"name": "x"}}, None, "unknown kind '' in ''"),
    ],
)
def test_request_errors(operation: str, obj: dict[str, Any] | None, old: dict[str, Any] | None, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        build_request(KINDS, operation, obj, old)
    assert str(caught.value).startswith(message)
