"""KubeCluster against a real kube-apiserver: the get/list/create/update/remove contract (docs/cluster.md),
the same results and message texts as MemoryCluster, dry-run, and real policies calling it through V8."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import kubernetes.client
import pytest

from jspolicy.admission.evaluate import PolicyEngine
from jspolicy.admission.request import build_request
from jspolicy.bundler.origin import CodeSource, resolve_program
from jspolicy.cluster.access import ClusterError, WriteResult
from jspolicy.cluster.informer import ADDED, InformerFactory
from jspolicy.cluster.kube import KubeCluster
from jspolicy.cluster.memory import MemoryCluster
from jspolicy.resources.kinds import KindRegistry
from jspolicy.resources.labels import parse_selector
from jspolicy.runtime.pool import RuntimePool
from tests.conftest import make_policy, pod
from tests.kube.livecluster import config_map, new_namespace, wait_for


@pytest.fixture(scope="module")
def cluster(api: kubernetes.client.ApiClient) -> Iterator[KubeCluster]:
    informers = InformerFactory(api)
    yield KubeCluster(api, informers, sync_timeout=30)
    informers.close()


@pytest.fixture
def ns(api: kubernetes.client.ApiClient) -> str:
    return new_namespace(api, "access")


def _names(objects: list[Mapping[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objects]


def _created(result: WriteResult) -> Mapping[str, Any]:
    assert result.ok, result
    assert result.object is not None
    return result.object


# -- reads -----------------------------------------------------------------------------------------


def test_get_cached_and_uncached(cluster: KubeCluster, ns: str) -> None:
    _created(cluster.create(config_map(ns, "settings", mode="on"), dry_run=False))
    direct = cluster.get("ConfigMap", "v1", ns, "settings", cached=False)
    assert direct is not None
    assert direct["data"] == {"mode": "on"}
    cached = wait_for(lambda: cluster.get("ConfigMap", "v1", ns, "settings", cached=True), what="cached")
    assert cached["metadata"]["uid"] == direct["metadata"]["uid"]
    assert (cached["apiVersion"], cached["kind"]) == ("v1", "ConfigMap")
    for use_cache in (True, False):
        assert cluster.get("ConfigMap", "v1", ns, "missing", cached=use_cache) is None
        assert cluster.get("ConfigMap", "v1", "", "settings", cached=use_cache) is None  # a bare name: no namespace
        namespace = cluster.get("Namespace", "v1", "", ns, cached=use_cache)
        assert namespace is not None and namespace["metadata"]["name"] == ns
        assert cluster.get("Namespace", "v1", "default", ns, cached=use_cache) is None  # "ns/name" of a cluster kind


def test_namespace_labels_include_the_name_label(cluster: KubeCluster, api: kubernetes.client.ApiClient) -> None:
    ns = new_namespace(api, "access")
    kubernetes.client.CoreV1Api(api).patch_namespace(ns, {"metadata": {"labels": {"team": "blue"}}})
    wait_for(lambda: cluster.namespace_labels(ns).get("team"), what="labels cached")
    assert cluster.namespace_labels(ns) == {"team": "blue", "kubernetes.io/metadata.name": ns}
    assert cluster.namespace_labels("not-there") == {"kubernetes.io/metadata.name": "not-there"}


def test_concurrent_first_reads_share_one_informer(api: kubernetes.client.ApiClient, ns: str) -> None:
    """V8 workers call in parallel; the first cached reads of a kind all wait for the same sync."""
    informers = InformerFactory(api)
    cluster = KubeCluster(api, informers)
    try:
        template = {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        _created(cluster.create({**config_map(ns, "t"), "kind": "PodTemplate", "template": template}, dry_run=False))
        results: list[Any] = []
        lock = threading.Lock()

        def read() -> None:
            found = cluster.get("PodTemplate", "v1", ns, "t", cached=True)
            listed = cluster.list("PodTemplate", "v1", namespace=ns, selector=parse_selector(""), cached=True)
            with lock:
                results.append((found is not None, _names(listed)))

        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [(True, ["t"])] * 8
        assert [(i.api_version, i.kind) for i in informers.informers()] == [("v1", "PodTemplate")]
    finally:
        informers.close()


def test_unknown_kinds_raise_the_restmapper_message(cluster: KubeCluster) -> None:
    for use_cache in (True, False):
        with pytest.raises(ClusterError, match='no matches for kind "Nope" in version "v1"'):
            cluster.get("Nope", "v1", "", "x", cached=use_cache)
        with pytest.raises(ClusterError, match=r'no matches for kind "Nope" in version "example\.com/v1"'):
            cluster.list("Nope", "example.com/v1", namespace="", selector=parse_selector(""), cached=use_cache)


def test_list_filters_by_namespace_and_labels(cluster: KubeCluster, api: kubernetes.client.ApiClient) -> None:
    ns, other = new_namespace(api, "access"), new_namespace(api, "access")
    for name, labels in {
        "a": {"team": "a", "tier": "1"},
        "b": {"team": "b", "tier": "2"},
        "c": {"team": "a", "tier": "3"},
        "d": {},
    }.items():
        _created(cluster.create(config_map(ns, name, labels), dry_run=False))
    _created(cluster.create(config_map(other, "a", {"team": "a"}), dry_run=False))
    wait_for(lambda: cluster.get("ConfigMap", "v1", other, "a", cached=True), what="cache caught up")
    wait_for(lambda: cluster.get("ConfigMap", "v1", ns, "d", cached=True), what="cache caught up")
    expectations = {
        "": ["a", "b", "c", "d"],
        "team=a": ["a", "c"],
        "team!=a": ["b", "d"],
        "team in (a,b)": ["a", "b", "c"],
        "team notin (a)": ["b", "d"],
        "team": ["a", "b", "c"],
        "!team": ["d"],
        "team=a,tier=3": ["c"],
        "tier>1": ["b", "c"],  # the server cannot filter gt/lt: applied to the answer
    }
    for text, names in expectations.items():
        for use_cache in (True, False):
            found = cluster.list("ConfigMap", "v1", namespace=ns, selector=parse_selector(text), cached=use_cache)
            assert _names(found) == names, (text, use_cache)
            assert all((o["apiVersion"], o["kind"]) == ("v1", "ConfigMap") for o in found)
    for use_cache in (True, False):
        everywhere = cluster.list("ConfigMap", "v1", namespace="", selector=parse_selector("team=a"), cached=use_cache)
        keys = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in everywhere]
        assert {(ns, "a"), (ns, "c"), (other, "a")} <= set(keys)
        assert keys == sorted(keys)
        namespaces = cluster.list("Namespace", "v1", namespace="", selector=parse_selector(""), cached=use_cache)
        assert {ns, other} <= set(_names(namespaces))
        # A namespace filter on a cluster kind matches nothing, as in MemoryCluster.
        assert cluster.list("Namespace", "v1", namespace=ns, selector=parse_selector(""), cached=use_cache) == []


def test_a_cached_get_right_after_create_misses_where_smart_finds_it(
    cluster: KubeCluster, ns: str, pool: RuntimePool
) -> None:
    """jsPolicy's reason for 'smart' reads. The race is made certain by holding the informer's
    watch thread in a handler while the object is created."""
    informer = cluster.informers.informer("v1", "ConfigMap")
    assert informer.wait_synced(30)
    entered, release = threading.Event(), threading.Event()

    def hold(event: str, obj: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> None:
        metadata = (obj or {}).get("metadata") or {}
        if event == ADDED and (metadata.get("namespace"), metadata.get("name")) == (ns, "gate"):
            entered.set()
            release.wait(30)

    remove = informer.add_handler(hold)
    try:
        _created(cluster.create(config_map(ns, "gate"), dry_run=False))
        assert entered.wait(10)
        _created(cluster.create(config_map(ns, "fresh"), dry_run=False))
        assert cluster.get("ConfigMap", "v1", ns, "fresh", cached=True) is None
        assert cluster.get("ConfigMap", "v1", ns, "fresh", cached=False) is not None
        policy = make_policy(
            """
            const name = request.namespace + "/fresh";
            const found = (options) => {
              const obj = options === undefined ? get("ConfigMap", "v1", name) : get("ConfigMap", "v1", name, options);
              return obj === undefined ? null : obj.metadata.name;
            };
            deny(JSON.stringify({
              cached: found(), explicit: found({cache: true}), smart: found({cache: 'smart'}),
              direct: found({cache: false}),
            }));
            """
        )
        request = build_request(KindRegistry.builtin(), "CREATE", pod(metadata={"name": "p", "namespace": ns}))
        outcome = PolicyEngine(pool, cluster).evaluate(policy, resolve_program(CodeSource(policy), None), request)
        assert json.loads(outcome.message) == {"cached": None, "explicit": None, "smart": "fresh", "direct": "fresh"}
    finally:
        release.set()
        remove()
    wait_for(lambda: cluster.get("ConfigMap", "v1", ns, "fresh", cached=True), what="the cache catches up")


# -- writes: the same results and texts as MemoryCluster ------------------------------------------------


def _same_as_memory(live: WriteResult, memory: WriteResult) -> None:
    assert (live.ok, live.reason, live.message) == (memory.ok, memory.reason, memory.message)


def test_write_failures_match_memory_cluster(cluster: KubeCluster, ns: str) -> None:
    memory = MemoryCluster([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}])
    first = config_map(ns, "cm", value="1")
    stored = _created(cluster.create(first, dry_run=False))
    _created(memory.create(first, dry_run=False))
    assert stored["metadata"]["uid"] and stored["metadata"]["resourceVersion"]
    assert stored["data"] == {"value": "1"}

    cases: list[tuple[str, dict[str, Any]]] = [
        ("create", first),  # AlreadyExists
        ("update", config_map(ns, "absent")),  # NotFound
        ("remove", config_map(ns, "absent")),  # NotFound
        ("create", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),  # no namespace
        ("create", {"apiVersion": "example.com/v1", "kind": "Nope", "metadata": {"name": "x"}}),  # unknown kind
        ("update", {"apiVersion": "v1", "kind": "Nope", "metadata": {"name": "x"}}),
        ("remove", {"apiVersion": "v1", "kind": "Nope", "metadata": {"name": "x"}}),
    ]
    for verb, obj in cases:
        live = getattr(cluster, verb)(obj, dry_run=False)
        assert not live.ok, (verb, obj)
        _same_as_memory(live, getattr(memory, verb)(obj, dry_run=False))
    # No name: the API server names the kind ("ConfigMap", "Deployment.apps") in this message, and so does
    # MemoryCluster.
    nameless = {**first, "metadata": {"namespace": ns}}
    live, offline = cluster.create(nameless, dry_run=False), memory.create(nameless, dry_run=False)
    _same_as_memory(live, offline)
    assert live.message == 'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'
    assert cluster.create(first, dry_run=False).to_js() == {
        "ok": False,
        "reason": "AlreadyExists",
        "message": 'configmaps "cm" already exists',
    }


def test_update_conflicts_on_a_stale_resource_version(cluster: KubeCluster, ns: str) -> None:
    stored = _created(cluster.create(config_map(ns, "cm", value="1"), dry_run=False))
    changed = _created(cluster.update({**stored, "data": {"value": "2"}}, dry_run=False))
    assert changed["data"] == {"value": "2"}
    assert changed["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"]
    stale = cluster.update({**stored, "data": {"value": "3"}}, dry_run=False)
    assert (stale.ok, stale.reason) == (False, "Conflict")
    assert stale.message == (
        'Operation cannot be fulfilled on configmaps "cm": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    memory = MemoryCluster([stored])
    _created(memory.update({**stored, "data": {"value": "2"}}, dry_run=False))
    _same_as_memory(stale, memory.update({**stored, "data": {"value": "3"}}, dry_run=False))
    # Without a resourceVersion an update is unconditional.
    unconditional = dict(changed, data={"value": "4"}, metadata={"name": "cm", "namespace": ns})
    assert _created(cluster.update(unconditional, dry_run=False))["data"] == {"value": "4"}


def test_remove_answers_with_the_given_object(cluster: KubeCluster, ns: str) -> None:
    _created(cluster.create(config_map(ns, "cm"), dry_run=False))
    request = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": ns}}
    assert cluster.remove(request, dry_run=False) == WriteResult(True, request)
    assert cluster.get("ConfigMap", "v1", ns, "cm", cached=False) is None
    assert cluster.remove(request, dry_run=False).reason == "NotFound"


def test_dry_run_writes_are_validated_but_not_persisted(cluster: KubeCluster, ns: str) -> None:
    preview = _created(cluster.create(config_map(ns, "dry", value="1"), dry_run=True))
    assert preview["metadata"]["name"] == "dry"
    assert preview["metadata"]["uid"]
    assert cluster.get("ConfigMap", "v1", ns, "dry", cached=False) is None

    stored = _created(cluster.create(config_map(ns, "cm", value="1"), dry_run=False))
    assert _created(cluster.update({**stored, "data": {"value": "2"}}, dry_run=True))["data"] == {"value": "2"}
    assert cluster.remove(config_map(ns, "cm"), dry_run=True).ok
    kept = cluster.get("ConfigMap", "v1", ns, "cm", cached=False)
    assert kept is not None and kept["data"] == {"value": "1"}
    # Dry runs fail the way real writes do.
    assert cluster.create(config_map(ns, "cm"), dry_run=True).reason == "AlreadyExists"
    assert cluster.remove(config_map(ns, "absent"), dry_run=True).reason == "NotFound"


def test_forbidden_and_invalid_come_from_the_server(cluster: KubeCluster, ns: str) -> None:
    invalid = cluster.create(config_map(ns, "Not_A_Name"), dry_run=False)
    assert (invalid.ok, invalid.reason) == (False, "Invalid")
    assert invalid.message.startswith('ConfigMap "Not_A_Name" is invalid: metadata.name: Invalid value: "Not_A_Name"')
    terminating = cluster.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "no-such-namespace-here"}},
        dry_run=False,
    )
    assert (terminating.ok, terminating.reason) == (False, "NotFound")
    assert terminating.message == 'namespaces "no-such-namespace-here" not found'


# -- policies calling the live cluster through V8 -------------------------------------------------------

POLICY = """
const ns = request.namespace;
const team = request.object.metadata.labels.team;
const peers = list("ConfigMap", "v1", {namespace: ns, labelSelector: "team=" + team}) || [];
const uncached = list("ConfigMap", "v1", {namespace: ns, labelSelector: "team=" + team, cache: false}) || [];
if (peers.length !== uncached.length) deny("cache and API disagree: " + peers.length + " vs " + uncached.length);
if (peers.length >= 2) deny("team " + team + " has " + peers.map(p => p.metadata.name).join(","));
const marker = {apiVersion: "v1", kind: "ConfigMap", metadata: {name: "seen-" + request.name, namespace: ns}};
const made = create(marker);
if (!made.ok) deny(made.reason + ": " + made.message);
const nsObject = get("Namespace", "v1", ns);
warn("created " + made.object.metadata.name + " in " + nsObject.metadata.name);
"""


def test_a_policy_lists_and_creates_in_the_live_cluster(cluster: KubeCluster, ns: str, pool: RuntimePool) -> None:
    engine = PolicyEngine(pool, cluster)
    policy = make_policy(POLICY)
    program = resolve_program(CodeSource(policy), None)
    kinds = KindRegistry.builtin()

    def evaluate(name: str, *, dry_run: bool = False) -> Any:
        subject = pod(metadata={"name": name, "namespace": ns, "labels": {"team": "blue"}})
        return engine.evaluate(policy, program, build_request(kinds, "CREATE", subject, dry_run=dry_run))

    first = evaluate("web")
    assert first.allowed, first.message
    assert first.warnings == [f"[{policy.name}]: created seen-web in {ns}"]
    assert cluster.get("ConfigMap", "v1", ns, "seen-web", cached=False) is not None

    again = evaluate("web")
    assert not again.allowed
    assert again.message == 'AlreadyExists: configmaps "seen-web" already exists'

    previewed = evaluate("preview", dry_run=True)  # a dry-run request: the policy's writes are dry runs too
    assert previewed.allowed, previewed.message
    assert cluster.get("ConfigMap", "v1", ns, "seen-preview", cached=False) is None

    for name in ("blue-1", "blue-2"):
        _created(cluster.create(config_map(ns, name, {"team": "blue"}), dry_run=False))
    wait_for(lambda: cluster.get("ConfigMap", "v1", ns, "blue-2", cached=True), what="cache caught up")
    crowded = evaluate("api")
    assert not crowded.allowed
    assert crowded.message == "team blue has blue-1,blue-2"
