"""CONNECT requests as the API server sends them: the options object, the parent resource and its name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from jspolicy.admission.matching import match
from jspolicy.admission.request import RequestError, build_request
from jspolicy.resources.kinds import KindRegistry
from tests.conftest import make_policy

KINDS = KindRegistry.builtin()
EXEC: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "PodExecOptions",
    "command": ["sh"],
    "container": "web",
    "stdin": True,
    "tty": True,
}


def labels(name: str) -> Mapping[str, str]:
    return {"kubernetes.io/metadata.name": name, **({"env": "prod"} if name == "prod" else {})}


def test_pod_exec() -> None:
    request = build_request(KINDS, "CONNECT", EXEC, subresource="exec", name="web", namespace="shop")
    assert request["kind"] == request["requestKind"] == {"group": "", "version": "v1", "kind": "PodExecOptions"}
    assert request["resource"] == request["requestResource"] == {"group": "", "version": "v1", "resource": "pods"}
    assert request["subResource"] == request["requestSubResource"] == "exec"
    assert (request["name"], request["namespace"], request["operation"]) == ("web", "shop", "CONNECT")
    assert request["object"] == EXEC and request["object"] is not EXEC
    assert "metadata" not in request["object"]
    assert request["oldObject"] is None and request["options"] is None and request["dryRun"] is False


@pytest.mark.parametrize(
    ("kind", "subresource", "plural", "namespace"),
    [
        ("PodAttachOptions", "attach", "pods", "default"),
        ("PodPortForwardOptions", "portforward", "pods", "default"),
        ("PodProxyOptions", "proxy", "pods", "default"),
        ("ServiceProxyOptions", "proxy", "services", "default"),
        ("NodeProxyOptions", "proxy", "nodes", None),
    ],
)
def test_other_connect_options(kind: str, subresource: str, plural: str, namespace: str | None) -> None:
    request = build_request(KINDS, "CONNECT", {"apiVersion": "v1", "kind": kind}, name="x")
    assert request["resource"]["resource"] == plural and request["subResource"] == subresource
    assert request.get("namespace") == namespace


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"subresource": "exec"}, "a CONNECT to pods/exec needs the pod's name"),
        ({"subresource": "attach", "name": "web"}, "a PodExecOptions is sent for pods/exec, not pods/attach"),
    ],
)
def test_connect_errors(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(RequestError, match=message):
        build_request(KINDS, "CONNECT", EXEC, subresource=kwargs["subresource"], name=kwargs.get("name", ""))


def test_node_proxy_has_no_namespace() -> None:
    with pytest.raises(RequestError, match="nodes are not namespaced"):
        build_request(KINDS, "CONNECT", {"apiVersion": "v1", "kind": "NodeProxyOptions"}, name="n", namespace="a")


def test_name_is_only_for_connect() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}}
    with pytest.raises(RequestError, match="takes its name and namespace from the object's metadata"):
        build_request(KINDS, "CREATE", pod, name="other")


@pytest.mark.parametrize(
    ("spec", "namespace", "called"),
    [
        ({"operations": ["CONNECT"], "resources": ["pods/exec"]}, "shop", True),
        ({"operations": ["CONNECT"], "resources": ["pods/*"]}, "shop", True),
        ({"operations": ["CONNECT"], "resources": ["pods"]}, "shop", False),
        ({"operations": ["CONNECT"], "resources": ["pods/attach"]}, "shop", False),
        ({"operations": ["CREATE"], "resources": ["pods/exec"]}, "shop", False),
        ({"operations": ["CONNECT"], "resources": ["pods/exec"], "scope": "Namespaced"}, "shop", True),
        ({"operations": ["CONNECT"], "resources": ["pods/exec"], "namespaceSelector": {"matchLabels": {"env": "prod"}}},
         "prod", True),
        ({"operations": ["CONNECT"], "resources": ["pods/exec"], "namespaceSelector": {"matchLabels": {"env": "prod"}}},
         "shop", False),
        # no metadata on the options: an objectSelector never matches (meta.Accessor fails), even NotIn
        ({"operations": ["CONNECT"], "resources": ["pods/exec"],
          "objectSelector": {"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}}, "shop", False),
    ],
)  # fmt: skip
def test_matching(spec: dict[str, Any], namespace: str, called: bool) -> None:
    request = build_request(KINDS, "CONNECT", EXEC, subresource="exec", name="web", namespace=namespace)
    assert match(make_policy("allow();", **spec), request, labels, KINDS).called is called
