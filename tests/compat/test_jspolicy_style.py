"""Policies written the way jsPolicy's own examples are, run unchanged.

Each policy below follows a jsPolicy example (by-feature get/list/update/remove,
by-use-case restrict-pods-per-node and unique-ingress-host): ES5-style code,
synchronous get()/list() (also inside array callbacks), and the
create/update/remove result contract.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import Evaluate, pod


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def running_pod(name: str, ns: str, node: str = "", labels: dict[str, str] | None = None) -> dict[str, Any]:
    obj = pod(metadata={"name": name, "namespace": ns, "labels": labels or {}})
    if node:
        obj["spec"]["nodeName"] = node
    return obj


GET_POLICY = """
var existing = get("Pod", "v1", request.namespace + "/" + request.name);
if (existing) {
  warn("a pod named " + request.name + " already exists");
}
var ns = get("Namespace", "v1", request.namespace, {cache: 'smart'});
if (!ns) {
  warn("Namespace not found");
} else if (ns.metadata.labels && ns.metadata.labels.frozen === "true") {
  deny("namespace " + request.namespace + " is frozen");
}
"""


def test_get_by_namespace_and_name_with_smart_cache(evaluate: Evaluate) -> None:
    cluster = [namespace("shop", frozen="true"), running_pod("web", "shop")]
    outcome = evaluate(GET_POLICY, cluster=cluster)
    assert outcome.allowed is False and outcome.message == "namespace shop is frozen"
    assert outcome.warnings == ["[test.policies.jspolicy.com]: a pod named web already exists"]
    outcome = evaluate(GET_POLICY, cluster=[namespace("shop")])
    assert outcome.allowed and outcome.warnings == []
    outcome = evaluate(GET_POLICY, cluster=[])
    assert outcome.allowed and outcome.warnings == ["[test.policies.jspolicy.com]: Namespace not found"]


LIST_POLICY = """
var pods = list("Pod", "v1", {namespace: request.namespace});
if (pods.length >= 3) {
  deny("Only 3 pods allowed in namespace " + request.namespace);
}
var selector = "app=" + request.object.metadata.labels.app;
var sameApp = list("Pod", "v1", {namespace: request.namespace, labelSelector: selector});
sameApp.forEach(function (other) {
  if (other.metadata.name === "ubuntu") {
    deny("a pod named ubuntu exists with the same app label");
  }
});
"""


def test_list_with_namespace_and_label_selector(evaluate: Evaluate) -> None:
    crowded = [running_pod(f"p{i}", "shop") for i in range(3)]
    outcome = evaluate(LIST_POLICY, cluster=crowded)
    assert outcome.message == "Only 3 pods allowed in namespace shop"
    ubuntu = [
        running_pod("ubuntu", "shop", labels={"app": "web"}),
        running_pod("ubuntu", "other", labels={"app": "web"}),
    ]
    outcome = evaluate(LIST_POLICY, cluster=ubuntu)
    assert outcome.allowed is False and "ubuntu" in outcome.message
    other_app = [running_pod("ubuntu", "shop", labels={"app": "db"})]
    assert evaluate(LIST_POLICY, cluster=other_app).allowed
    # An empty namespace: list() is [] (jsPolicy returned undefined and .length threw).
    assert evaluate(LIST_POLICY, cluster=[]).allowed


PODS_PER_NODE = """
var newPod = request.object;
var oldPod = request.oldObject;
if (!newPod.spec.nodeName || (oldPod && oldPod.spec.nodeName === newPod.spec.nodeName)) {
  allow();
}
var onNode = list("Pod", "v1").filter(function (p) {
  return p.spec.nodeName === newPod.spec.nodeName;
});
if (onNode.length > 2) {
  deny("node " + newPod.spec.nodeName + " already runs " + onNode.length + " pods");
}
"""


def test_restrict_pods_per_node_across_namespaces(evaluate: Evaluate) -> None:
    cluster = [running_pod(f"p{i}", f"ns{i}", node="node-a") for i in range(3)]
    scheduled = running_pod("new", "shop", node="node-a")
    outcome = evaluate(PODS_PER_NODE, scheduled, operation="UPDATE", old=running_pod("new", "shop"), cluster=cluster)
    assert outcome.message == "node node-a already runs 3 pods"
    unchanged = evaluate(PODS_PER_NODE, scheduled, operation="UPDATE", old=scheduled, cluster=cluster)
    assert unchanged.allowed


UPDATE_POLICY = """
var ns = get("Namespace", "v1", request.namespace);
var count = list("Pod", "v1", {namespace: request.namespace}).length;
ns.metadata.annotations = ns.metadata.annotations || {};
ns.metadata.annotations["pods-count"] = String(count + 1);
var result = update(ns);
if (!result.ok) {
  warn("update failed: " + result.reason);
} else {
  var again = get("Namespace", "v1", request.namespace);
  warn("stored count " + again.metadata.annotations["pods-count"]);
  var stale = update(ns);
  warn("second write with the old resourceVersion: " + stale.ok + " " + stale.reason);
}
"""


def test_update_results_and_conflicts(evaluate: Evaluate) -> None:
    shop = namespace("shop")
    shop["metadata"]["resourceVersion"] = "1"
    outcome = evaluate(UPDATE_POLICY, cluster=[shop, running_pod("a", "shop")])
    assert [w.split(": ", 1)[1] for w in outcome.warnings] == [
        "stored count 2",
        "second write with the old resourceVersion: false Conflict",
    ]


REMOVE_POLICY = """
var configMap = get("ConfigMap", "v1", request.namespace + "/" + request.name);
if (!configMap) {
  warn("no config map for " + request.name);
  exit();
}
var result = remove(configMap);
if (!result.ok) {
  warn("remove failed: " + result.reason + ": " + result.message);
} else {
  var again = remove(configMap);
  warn("removed; removing again gives " + again.reason);
}
"""


def test_remove_on_delete(evaluate: Evaluate) -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": "shop"}}
    outcome = evaluate(REMOVE_POLICY, operation="DELETE", old=pod(), cluster=[config])
    assert outcome.warnings == ["[test.policies.jspolicy.com]: removed; removing again gives NotFound"]
    outcome = evaluate(REMOVE_POLICY, operation="DELETE", old=pod(), cluster=[])
    assert outcome.warnings == ["[test.policies.jspolicy.com]: no config map for web"]


UNIQUE_HOST = """
var hosts = (request.object.spec.rules || []).map(function (r) { return r.host; });
var ingresses = list("Ingress", "networking.k8s.io/v1");
for (var i = 0; i < ingresses.length; i++) {
  var other = ingresses[i];
  if (other.metadata.name === request.name && other.metadata.namespace === request.namespace) continue;
  (other.spec.rules || []).forEach(function (rule) {
    if (hosts.indexOf(rule.host) !== -1) {
      var owner = other.metadata.namespace + "/" + other.metadata.name;
      deny("Ingress host " + rule.host + " is already taken by " + owner);
    }
  });
}
"""


def ingress(name: str, ns: str, host: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"rules": [{"host": host}]},
    }


def test_unique_ingress_host_with_deny_inside_a_callback(evaluate: Evaluate) -> None:
    taken = [ingress("a", "one", "a.example.com"), ingress("b", "two", "b.example.com")]
    outcome = evaluate(UNIQUE_HOST, ingress("new", "three", "b.example.com"), cluster=taken)
    assert outcome.message == "Ingress host b.example.com is already taken by two/b"
    assert evaluate(UNIQUE_HOST, ingress("new", "three", "c.example.com"), cluster=taken).allowed
    assert evaluate(
        UNIQUE_HOST,
        ingress("b", "two", "b.example.com"),
        operation="UPDATE",
        old=ingress("b", "two", "b.example.com"),
        cluster=taken,
    ).allowed


WEBPACK_BUNDLE = """
(()=>{"use strict";var e={};
function t(e){return e.spec.containers.filter((e=>e.image.endsWith(":latest"))).map((e=>e.name))}
e.d=(t,o)=>{for(var r in o)e.o(o,r)&&!e.o(t,r)&&Object.defineProperty(t,r,{enumerable:!0,get:o[r]})},
e.o=(e,t)=>Object.prototype.hasOwnProperty.call(e,t),e.r=e=>{"undefined"!=typeof Symbol&&Symbol.toStringTag&&
Object.defineProperty(e,Symbol.toStringTag,{value:"Module"}),Object.defineProperty(e,"__esModule",{value:!0})};
var o={};e.r(o),e.d(o,{latestContainers:()=>t});const r=t(request.object);r.length>0&&deny("latest: "+r.join(", "));
var n=exports;for(var s in o)n[s]=o[s];o.__esModule&&Object.defineProperty(n,"__esModule",{value:!0})})();
"""


def test_a_minified_webpack_commonjs_bundle(evaluate: Evaluate) -> None:
    latest = pod(spec={"containers": [{"name": "a", "image": "x:latest"}, {"name": "b", "image": "y:1"}]})
    assert evaluate(WEBPACK_BUNDLE, latest).message == "latest: a"
    assert evaluate(WEBPACK_BUNDLE).allowed
