"""Informers against a real kube-apiserver: sync, events with old objects, relists that catch up, GC, stop."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import kubernetes.client
import pytest

from jspolicy.cluster.access import ClusterError
from jspolicy.cluster.informer import ADDED, DELETED, MODIFIED, Informer, InformerFactory
from jspolicy.cluster.rest import RestClient
from jspolicy.controlplane.plane import ControlPlane
from tests.kube.livecluster import config_map, new_namespace, wait_for

Event = tuple[str, str, Mapping[str, Any] | None, Mapping[str, Any] | None]  # (event, name, obj, old)


@pytest.fixture
def factory(api: kubernetes.client.ApiClient) -> Iterator[InformerFactory]:
    informers = InformerFactory(api)
    yield informers
    informers.close()


@pytest.fixture
def core(api: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api)


class Recorder:
    """A handler keeping the events of one namespace, plus what the informer held when each arrived."""

    def __init__(self, informer: Informer, namespace: str) -> None:
        self.informer = informer
        self.namespace = namespace
        self.events: list[Event] = []
        self.seen_in_store: list[bool] = []
        self._lock = threading.Lock()

    def __call__(self, event: str, obj: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> None:
        assert obj is not None
        metadata = obj["metadata"]
        if metadata.get("namespace") != self.namespace:
            return
        stored = self.informer.get(self.namespace, metadata["name"])
        with self._lock:
            self.events.append((event, metadata["name"], obj, old))
            self.seen_in_store.append(stored is not None)

    def names(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(event, name) for event, name, _, _ in self.events]

    def wait(self, count: int) -> list[Event]:
        wait_for(lambda: len(self.names()) >= count, what=f"{count} events (have {self.names()})")
        with self._lock:
            return list(self.events)


def _synced(factory: InformerFactory, api_version: str = "v1", kind: str = "ConfigMap") -> Informer:
    informer = factory.informer(api_version, kind)
    assert informer.wait_synced(30)
    return informer


def test_sync_then_get_and_list_sorted(factory: InformerFactory, core: kubernetes.client.CoreV1Api) -> None:
    ns = new_namespace(core.api_client, "inf")
    for name in ("b", "a", "c"):
        core.create_namespaced_config_map(ns, config_map(ns, name, greeting=name))
    informer = _synced(factory)
    found = informer.get(ns, "a")
    assert found is not None
    assert found["data"] == {"greeting": "a"}
    assert found["apiVersion"] == "v1"
    assert found["kind"] == "ConfigMap"  # list items lack them; the informer adds them as Go's unstructured does
    assert [o["metadata"]["name"] for o in informer.list(ns)] == ["a", "b", "c"]
    everything = [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in informer.list()]
    assert everything == sorted(everything)
    assert (ns, "b") in everything
    assert informer.get(ns, "missing") is None
    assert informer.get("", "a") is None
    assert factory.informer("v1", "ConfigMap") is informer  # shared


def test_cluster_scoped_kind(factory: InformerFactory, core: kubernetes.client.CoreV1Api) -> None:
    ns = new_namespace(core.api_client, "inf")
    informer = _synced(factory, "v1", "Namespace")
    found = informer.get("", ns)
    assert found is not None
    assert found["kind"] == "Namespace"


def test_events_carry_new_and_old_objects(factory: InformerFactory, core: kubernetes.client.CoreV1Api) -> None:
    ns = new_namespace(core.api_client, "inf")
    core.create_namespaced_config_map(ns, config_map(ns, "existing", value="0"))
    informer = _synced(factory)
    recorder = Recorder(informer, ns)
    informer.add_handler(recorder)
    assert recorder.names() == [(ADDED, "existing")]  # replayed on add

    core.create_namespaced_config_map(ns, config_map(ns, "cm", value="1"))
    core.patch_namespaced_config_map("cm", ns, {"data": {"value": "2"}})
    core.delete_namespaced_config_map("cm", ns)
    events = recorder.wait(4)
    assert [(e, n) for e, n, _, _ in events] == [(ADDED, "existing"), (ADDED, "cm"), (MODIFIED, "cm"), (DELETED, "cm")]
    _, _, added, added_old = events[1]
    assert added is not None and added["data"] == {"value": "1"} and added_old is None
    _, _, modified, modified_old = events[2]
    assert modified is not None and modified_old is not None
    assert modified["data"] == {"value": "2"}
    assert modified_old["data"] == {"value": "1"}
    _, _, deleted, deleted_old = events[3]
    assert deleted is not None and deleted["data"] == {"value": "2"} and deleted_old is None
    # The store is updated before handlers run: they see the event's state.
    assert recorder.seen_in_store == [True, True, True, False]
    assert informer.get(ns, "cm") is None


def test_a_failing_handler_does_not_stop_the_others(
    factory: InformerFactory, core: kubernetes.client.CoreV1Api
) -> None:
    ns = new_namespace(core.api_client, "inf")
    informer = _synced(factory)

    def broken(event: str, obj: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> None:
        raise RuntimeError("handler bug")

    informer.add_handler(broken)
    recorder = Recorder(informer, ns)
    remove = informer.add_handler(recorder)
    core.create_namespaced_config_map(ns, config_map(ns, "one"))
    recorder.wait(1)
    remove()
    core.create_namespaced_config_map(ns, config_map(ns, "two"))
    wait_for(lambda: informer.get(ns, "two"), what="two cached")
    assert recorder.names() == [(ADDED, "one")]  # removed handlers hear nothing more


def test_a_relist_after_a_gap_reports_what_was_missed(
    factory: InformerFactory, core: kubernetes.client.CoreV1Api
) -> None:
    ns = new_namespace(core.api_client, "inf")
    for name in ("gone", "changed", "same"):
        core.create_namespaced_config_map(ns, config_map(ns, name, value="1"))
    informer = _synced(factory)
    recorder = Recorder(informer, ns)
    informer.add_handler(recorder)
    recorder.wait(3)
    relists = informer.relists

    informer.stop()  # no watch open: nothing reaches us until the relist
    assert not informer.running
    core.delete_namespaced_config_map("gone", ns)
    core.patch_namespaced_config_map("changed", ns, {"data": {"value": "2"}})
    core.create_namespaced_config_map(ns, config_map(ns, "new", value="1"))
    time.sleep(0.3)
    assert informer.get(ns, "gone") is not None  # the store is kept, stale, while stopped

    informer.start()
    assert informer.wait_synced(30)
    events = recorder.wait(6)[3:]
    assert informer.relists == relists + 1
    assert sorted((e, n) for e, n, _, _ in events) == [(ADDED, "new"), (DELETED, "gone"), (MODIFIED, "changed")]
    by_name = {n: (obj, old) for _, n, obj, old in events}
    changed, changed_old = by_name["changed"]
    assert changed is not None and changed_old is not None
    assert (changed["data"], changed_old["data"]) == ({"value": "2"}, {"value": "1"})
    gone, _ = by_name["gone"]
    assert gone is not None and gone["metadata"]["name"] == "gone"  # the last known object
    assert informer.get(ns, "gone") is None
    assert [o["metadata"]["name"] for o in informer.list(ns)] == ["changed", "new", "same"]
    # And the watch runs again after the relist.
    core.create_namespaced_config_map(ns, config_map(ns, "later"))
    assert recorder.wait(7)[-1][:2] == (ADDED, "later")


def test_periodic_resync_reports_every_object(api: kubernetes.client.ApiClient) -> None:
    core = kubernetes.client.CoreV1Api(api)
    ns = new_namespace(api, "inf")
    core.create_namespaced_config_map(ns, config_map(ns, "cm"))
    factory = InformerFactory(api, resync_seconds=1.0)
    try:
        informer = _synced(factory)
        recorder = Recorder(informer, ns)
        informer.add_handler(recorder)
        events = recorder.wait(2)
        assert [(e, n) for e, n, _, _ in events[:2]] == [(ADDED, "cm"), (MODIFIED, "cm")]
        _, _, obj, old = events[1]
        assert obj is old  # a resync, not a change
    finally:
        factory.close()


def test_idle_informers_are_collected(api: kubernetes.client.ApiClient) -> None:
    factory = InformerFactory(api, idle_seconds=0.5)
    try:
        informer = factory.informer("v1", "ConfigMap")
        assert informer.wait_synced(30)
        remove = informer.add_handler(lambda event, obj, old: None)
        time.sleep(0.6)
        assert factory.collect_garbage() == 0  # a controller policy still listens
        remove()
        assert factory.collect_garbage() == 1
        assert not informer.running
        assert factory.informers() == []
        again = factory.informer("v1", "ConfigMap")
        assert again is not informer
        assert again.wait_synced(30)
        assert factory.collect_garbage() == 0  # just used
    finally:
        factory.close()


def test_stop_is_prompt_while_a_watch_is_open(factory: InformerFactory) -> None:
    informer = _synced(factory)
    time.sleep(0.3)  # the watch request is open and idle now
    started = time.monotonic()
    informer.stop()
    assert time.monotonic() - started < 2.0
    assert not informer.running
    assert not informer.wait_synced(0)


def test_resolve_uses_discovery(factory: InformerFactory) -> None:
    deployments = factory.resolve("apps/v1", "Deployment")
    assert (deployments.plural, deployments.namespaced) == ("deployments", True)
    policies = factory.resolve("policy.jspolicy.com/v1beta1", "JsPolicy")
    assert (policies.plural, policies.namespaced) == ("jspolicies", False)
    with pytest.raises(ClusterError, match='no matches for kind "Nope" in version "v1"'):
        factory.resolve("v1", "Nope")
    with pytest.raises(ClusterError, match='no matches for kind "Deployment" in version "apps/v2"'):
        factory.informer("apps/v2", "Deployment")


def test_kinds_for_resolves_controller_policy_resources(factory: InformerFactory) -> None:
    assert factory.kinds_for("deployments", ["*"], ["*"]) == [("apps/v1", "Deployment")]
    assert factory.kinds_for("pods", [], []) == [("v1", "Pod")]
    assert factory.kinds_for("pod", [""], ["v1"]) == [("v1", "Pod")]  # the singular works as with KindsFor
    assert factory.kinds_for("events", ["*"], ["*"]) == [("v1", "Event"), ("events.k8s.io/v1", "Event")]
    assert factory.kinds_for("events", ["events.k8s.io"], ["*"]) == [("events.k8s.io/v1", "Event")]
    # The preferred version unless the policy names another one.
    assert factory.kinds_for("horizontalpodautoscalers", ["*"], ["*"]) == [
        ("autoscaling/v2", "HorizontalPodAutoscaler")
    ]
    assert factory.kinds_for("horizontalpodautoscalers", ["autoscaling"], ["v1"]) == [
        ("autoscaling/v1", "HorizontalPodAutoscaler")
    ]
    assert factory.kinds_for("jspolicies", ["policy.jspolicy.com"], ["v1beta1"]) == [
        ("policy.jspolicy.com/v1beta1", "JsPolicy")
    ]
    assert factory.kinds_for("deployments", ["extensions"], ["*"]) == []
    assert factory.kinds_for("nothings", ["*"], ["*"]) == []
    assert factory.kinds_for("pods/status", ["*"], ["*"]) == []


def test_a_crd_installed_later_is_found_and_watched(
    factory: InformerFactory, control_plane: ControlPlane, api: kubernetes.client.ApiClient
) -> None:
    assert factory.kinds_for("deployments", ["*"], ["*"])  # discovery is warm now
    group = f"g{uuid.uuid4().hex[:8]}.tests.jspolicy.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Cluster",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(crd))
    control_plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/widgets.{group}")
    found = wait_for(lambda: factory.kinds_for("widgets", [group], ["*"]), what="the new kind in discovery")
    assert found == [(f"{group}/v1", "Widget")]
    informer = _synced(factory, f"{group}/v1", "Widget")
    assert informer.list() == []
    widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}, "size": 3}
    RestClient(api).request("POST", f"/apis/{group}/v1/widgets", body=widget)
    cached = wait_for(lambda: informer.get("", "w"), what="the widget cached")
    assert cached["size"] == 3
