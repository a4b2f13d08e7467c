"""The JsPolicy reconciler (leader only): bundle, webhook configuration, status.

For each JsPolicy it asks ``jspolicy/bundler/origin.py`` where the code comes from,
checks that it compiles (in V8), keeps a JsPolicyBundle for inline JavaScript,
bundles JavaScript with imports or npm dependencies (in the background,
``controller/bundles.py``; a source that fails keeps its last good bundle and
webhook), then makes exactly one
Validating/MutatingWebhookConfiguration match the policy (Controller policies get
none and are started instead), and writes status. It watches JsPolicy,
JsPolicyBundle and the webhook configurations it owns, so manual edits are
reverted and a bundle that appears brings its policy's webhook. Policy deletion
removes the configuration right away rather than waiting for garbage collection.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from jspolicy.bundler.build import Built, Bundler, InlineSource
from jspolicy.bundler.origin import BUNDLE_HASH_ANNOTATION, BuildFailedError, CodeSource, bundle_source, resolve_program
from jspolicy.cluster.informer import InformerFactory
from jspolicy.controller import status as st
from jspolicy.controller.bundles import PolicyBuilds
from jspolicy.controller.workqueue import WorkQueue
from jspolicy.resources.bundle import bundle_hash, encode_bundle
from jspolicy.resources.fielderrors import aggregate
from jspolicy.resources.policy import API_VERSION, CONTROLLER, GROUP, VERSION, JsPolicy
from jspolicy.resources.validation import validate_policy
from jspolicy.resources.webhooks import CORE_WEBHOOK, REGISTRATION, core_webhook_configuration, webhook_configuration
from jspolicy.runtime.program import PolicyProgram, ProgramError
from jspolicy.service.config import KubeConfig
from jspolicy.service.metrics import SUCCESS, QueueMetrics

log = logging.getLogger(__name__)

VALIDATING_KIND, MUTATING_KIND = "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"
_CORE = "\x00core"  # the queue key of the core webhook configuration (never a policy name)


class RetryError(Exception):
    """Status is written; reconcile again later with backoff."""


class _BuildingError(Exception):
    """The policy's bundle is being built; its end requeues the policy."""


class ControllerPolicies(Protocol):
    def update(self, policy: JsPolicy, program: PolicyProgram) -> None: ...

    def stop(self, name: str) -> None: ...


class PolicyReconciler:
    def __init__(
        self,
        api_client: client.ApiClient,
        informers: InformerFactory,
        settings: KubeConfig,
        ca_bundle: Callable[[], bytes],
        compile_error: Callable[[PolicyProgram], str | None],
        controllers: ControllerPolicies,
        bundler: Bundler,
        workers: int = 4,
        queue_metrics: QueueMetrics | None = None,
    ) -> None:
        self._custom = client.CustomObjectsApi(api_client)
        self._registration = client.AdmissionregistrationV1Api(api_client)
        self._informers = informers
        self.settings = settings
        self._ca_bundle = ca_bundle
        self._compile_error = compile_error
        self._controllers = controllers
        self._workers = workers
        self.queue: WorkQueue[str] = WorkQueue(base_delay=0.5, max_delay=300.0, name="jspolicy", metrics=queue_metrics)
        self.builds = PolicyBuilds(bundler, self.queue.add)  # a finished build requeues its policy

    # -- running -------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Reconcile until ``stop`` is set; every informer is synced before the first reconcile."""
        self.policies = self._informers.informer(API_VERSION, "JsPolicy")
        self.bundles = self._informers.informer(API_VERSION, "JsPolicyBundle")
        self.validating = self._informers.informer(REGISTRATION, VALIDATING_KIND)
        self.mutating = self._informers.informer(REGISTRATION, MUTATING_KIND)
        informers = (self.policies, self.bundles, self.validating, self.mutating)
        for informer in informers:
            while not informer.wait_synced(5.0):
                if stop.is_set():
                    return
        removers = [
            self.policies.add_handler(lambda _e, obj, old: self._enqueue_named(obj or old)),
            self.bundles.add_handler(lambda _e, obj, old: self._enqueue_named(obj or old)),
            self.validating.add_handler(self._on_configuration),
            self.mutating.add_handler(self._on_configuration),
        ]
        if self.settings.update_webhook:
            self.queue.add(_CORE)
        threads = [threading.Thread(target=self._work, name=f"reconcile-{n}", daemon=True)
                   for n in range(self._workers)]  # fmt: skip
        for thread in threads:
            thread.start()
        seen_ca = self._ca_bundle()
        while not stop.wait(5.0):
            current = self._ca_bundle()
            if current != seen_ca:  # a new CA: every caBundle must follow
                seen_ca = current
                self.requeue_all()
        for remove in removers:
            remove()
        self.builds.close()
        self.queue.close()
        deadline = time.monotonic() + 10.0  # each finishes its current reconcile (a few API calls)
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def requeue_all(self) -> None:
        self.queue.add(_CORE)
        for obj in self.policies.list():
            self._enqueue_named(obj)

    def _enqueue_named(self, obj: Mapping[str, Any] | None) -> None:
        name = ((obj or {}).get("metadata") or {}).get("name")
        if name:
            self.queue.add(str(name))

    def _on_configuration(self, _event: str, obj: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> None:
        current = obj or old or {}
        metadata = current.get("metadata") or {}
        if metadata.get("name") == CORE_WEBHOOK and current.get("kind", VALIDATING_KIND) == VALIDATING_KIND:
            if self.settings.update_webhook:
                self.queue.add(_CORE)
            return
        owner = _owner(current)
        if owner:
            self.queue.add(owner)

    def _work(self) -> None:
        self.queue.serve(self._handle, self._retry)

    def _handle(self, key: str) -> str:
        if key == _CORE:
            self.sync_core_webhook()
        elif not self.reconcile(key):
            return SUCCESS  # a build runs: a policy retrying a transient failure keeps its backoff
        self.queue.forget(key)
        return SUCCESS

    def _retry(self, key: str, error: Exception) -> None:
        delay = self.queue.add_rate_limited(key)
        log.warning("reconciling %s failed (retry in %.1fs): %s", key.strip("\x00"), delay, error)

    # -- one policy ----------------------------------------------------------------------------

    def reconcile(self, name: str) -> bool:
        """True when the policy is settled; False while its bundle is being built (its end requeues it)."""
        obj = self.policies.get("", name)
        if obj is None:
            self._controllers.stop(name)
            self._delete_configurations(name, keep=None)
            self.builds.forget(name)
            return True
        policy = JsPolicy(dict(obj))
        digest = bundle_hash(policy.javascript, policy.spec.get("dependencies"))
        problems = validate_policy(obj)
        conditions: list[st.Condition]
        if problems:  # stored while /crds was not enforcing: never served
            conditions = [st.Condition.failed(st.BUNDLE_COMPILED, st.COMPILE_FAILED, f"invalid: {aggregate(problems)}")]
            program = None
        else:
            try:
                compiled, program, digest = self._compile(policy, digest)
            except _BuildingError:
                return False  # nothing changes until the build ends
            conditions = [compiled]
        if program is None:
            self._controllers.stop(name)
            self._delete_configurations(name, keep=None)
        elif policy.type == CONTROLLER:
            self._delete_configurations(name, keep=None)
            try:
                self._controllers.update(policy, program)
                conditions.append(st.Condition(st.CONTROLLER_READY, True))
            except Exception as error:
                conditions.append(st.Condition.failed(st.CONTROLLER_READY, st.INIT_CONTROLLER, str(error)))
        else:
            self._controllers.stop(name)
            try:
                self._sync_configuration(policy)
                conditions.append(st.Condition(st.WEBHOOK_READY, True))
            except ApiException as error:
                conditions.append(st.Condition.failed(st.WEBHOOK_READY, st.SYNC_FAILED, _api_message(error)))
        self._write_status(policy, conditions, digest)
        transient = [
            c for c in conditions if not c.ok and (c.retry or c.reason in (st.SYNC_FAILED, st.INIT_CONTROLLER))
        ]
        if transient:  # the API server, discovery or the registry may be fine next time; nothing else would
            raise RetryError(transient[0].message)  # bring us back
        return True

    def _compile(self, policy: JsPolicy, digest: str) -> tuple[st.Condition, PolicyProgram | None, str]:
        """The BundleCompiled condition, the program to serve, and the bundleHash to report (the source the
        served bundle was built from: it must not move to code that never built)."""
        bundle = self.bundles.get("", policy.name)
        source = CodeSource(policy, bundle)
        try:
            if source.kind == "build":
                return self._compile_bundled(source, digest)
            program = resolve_program(source, None)
        except ProgramError as error:
            reason = (
                st.COMPILE_FAILED if isinstance(error, BuildFailedError) or bundle is not None else st.BUNDLE_MISSING
            )
            message = (
                str(error)
                if reason == st.COMPILE_FAILED
                else "couldn't find js policy bundle, but no javascript provided"
            )
            return st.Condition.failed(st.BUNDLE_COMPILED, reason, message), None, digest
        problem = self._compile_error(program)
        if problem is not None:
            return st.Condition.failed(st.BUNDLE_COMPILED, st.COMPILE_FAILED, problem), None, digest
        if source.kind == "inline":
            self._ensure_bundle(policy, bundle, encode_bundle(policy.javascript), None)
        return st.Condition(st.BUNDLE_COMPILED, True), program, digest

    def _compile_bundled(self, source: CodeSource, digest: str) -> tuple[st.Condition, PolicyProgram | None, str]:
        """JavaScript with imports or dependencies: its bundle when it was built from this source, else a
        build (in the background); while a new source fails, the last good bundle keeps serving."""
        policy, bundle, key = source.policy, source.bundle, source.build_key
        previous_hash = str((policy.manifest.get("status") or {}).get("bundleHash") or "")
        if bundle is not None and _built_from(bundle, key, digest, previous_hash):
            try:
                return self._checked(policy, bundle_source(policy.name, bundle), digest)
            except ProgramError as error:
                return st.Condition.failed(st.BUNDLE_COMPILED, st.COMPILE_FAILED, str(error)), None, digest
        build_input = source.build_input()
        assert isinstance(build_input, InlineSource)  # a cluster's policies have no files beside them
        built = self.builds.outcome(build_input, key)
        if built is None:
            raise _BuildingError(policy.name)
        if isinstance(built, Built):
            self._ensure_bundle(policy, bundle, built.encoded, key)
            self.builds.forget(policy.name)  # the annotated bundle answers from now on
            return self._checked(policy, built.javascript, digest)
        last_good = bundle_source_or_none(policy.name, bundle) if bundle is not None else None
        message = str(built)
        if last_good is not None:
            message += f"; the last good bundle (bundleHash {previous_hash or 'unknown'}) keeps enforcing"
        condition = st.Condition(st.BUNDLE_COMPILED, False, st.COMPILE_FAILED, message, retry=built.transient)
        return condition, PolicyProgram.of(policy.name, last_good) if last_good else None, previous_hash

    def _checked(
        self, policy: JsPolicy, javascript: str, digest: str
    ) -> tuple[st.Condition, PolicyProgram | None, str]:
        program = PolicyProgram.of(policy.name, javascript)
        problem = self._compile_error(program)
        if problem is not None:
            return st.Condition.failed(st.BUNDLE_COMPILED, st.COMPILE_FAILED, problem), None, digest
        return st.Condition(st.BUNDLE_COMPILED, True), program, digest

    def _ensure_bundle(
        self, policy: JsPolicy, existing: Mapping[str, Any] | None, encoded: str, built_from: str | None
    ) -> None:
        """Keep the JsPolicyBundle jsPolicy's controller would have made; a bundle the leader built is
        annotated with the bundleHash of its source."""
        annotations = {BUNDLE_HASH_ANNOTATION: built_from} if built_from else {}
        if existing is not None and (existing.get("spec") or {}).get("bundle") == encoded:
            have = (existing.get("metadata") or {}).get("annotations") or {}
            if all(have.get(k) == v for k, v in annotations.items()):
                return
        body: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": "JsPolicyBundle",
            "metadata": {
                "name": policy.name,
                "ownerReferences": [_owner_reference(policy)],
                "annotations": annotations,
            },
            "spec": {"bundle": encoded},
        }
        if existing is None:
            self._custom.create_cluster_custom_object(GROUP, VERSION, "jspolicybundles", body)
        else:
            body["metadata"]["resourceVersion"] = (existing.get("metadata") or {}).get("resourceVersion")
            self._custom.replace_cluster_custom_object(GROUP, VERSION, "jspolicybundles", policy.name, body)

    # -- webhook configurations ----------------------------------------------------------------

    def _desired(self, policy: JsPolicy) -> dict[str, Any]:
        settings = self.settings
        service = {"name": settings.service_name, "namespace": settings.namespace, "port": 443}
        desired = webhook_configuration(
            policy,
            ca_bundle=self._ca_bundle(),
            url=settings.webhook_url,
            service=None if settings.webhook_url else service,
            excluded=settings.excluded_namespaces,
        )
        assert desired is not None  # Controller policies never get here
        desired["metadata"]["ownerReferences"] = [_owner_reference(policy)]
        return desired

    def _sync_configuration(self, policy: JsPolicy) -> None:
        desired = self._desired(policy)
        kind = desired["kind"]
        informer = self.mutating if kind == MUTATING_KIND else self.validating
        owned = [o for o in informer.list() if _owner(o) == policy.name]
        current = owned[0] if owned else None
        self._delete_configurations(policy.name, keep=(kind, current))
        if current is None:
            try:
                self._create(kind, desired)
                log.info("created %s %s for policy %s", kind, desired["metadata"]["name"], policy.name)
                return
            except ApiException as error:
                if error.status != 409:
                    raise
            current = self._read(kind, desired["metadata"]["name"])  # our own create, not yet in the cache?
            if _owner(current) != policy.name:
                raise ApiException(status=409, reason=f"{kind} {policy.name} exists and is not owned by it")
        metadata = current.get("metadata") or {}
        desired["metadata"]["name"] = metadata.get("name")  # an existing object keeps its name (jsPolicy: random)
        if _same(current, desired):
            return
        desired["metadata"]["resourceVersion"] = metadata.get("resourceVersion")
        self._replace(kind, desired)
        log.info("updated %s %s for policy %s", kind, desired["metadata"]["name"], policy.name)

    def _delete_configurations(self, name: str, keep: tuple[str, Mapping[str, Any] | None] | None) -> None:
        """Every configuration owned by policy ``name``, except the one to keep (wrong kinds, duplicates)."""
        for kind, informer in ((VALIDATING_KIND, self.validating), (MUTATING_KIND, self.mutating)):
            for obj in informer.list():
                if _owner(obj) != name or (keep is not None and kind == keep[0] and _same_object(obj, keep[1])):
                    continue
                object_name = (obj.get("metadata") or {}).get("name", "")
                try:
                    if kind == MUTATING_KIND:
                        self._registration.delete_mutating_webhook_configuration(object_name)
                    else:
                        self._registration.delete_validating_webhook_configuration(object_name)
                    log.info("deleted %s %s of policy %s", kind, object_name, name)
                except ApiException as error:
                    if error.status != 404:
                        raise

    def _create(self, kind: str, body: dict[str, Any]) -> None:
        if kind == MUTATING_KIND:
            self._registration.create_mutating_webhook_configuration(cast(Any, body))
        else:
            self._registration.create_validating_webhook_configuration(cast(Any, body))

    def _read(self, kind: str, name: str) -> dict[str, Any]:
        api = self._registration
        found = (api.read_mutating_webhook_configuration(name) if kind == MUTATING_KIND
                 else api.read_validating_webhook_configuration(name))  # fmt: skip
        return dict(api.api_client.sanitize_for_serialization(found))

    def _replace(self, kind: str, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        if kind == MUTATING_KIND:
            self._registration.replace_mutating_webhook_configuration(name, cast(Any, body))
        else:
            self._registration.replace_validating_webhook_configuration(name, cast(Any, body))

    def sync_core_webhook(self) -> None:
        """Fill in the core configuration ``jspolicy`` (/crds, fail-closed); the chart ships it empty."""
        settings = self.settings
        service = {"name": settings.service_name, "namespace": settings.namespace, "port": 443}
        desired = core_webhook_configuration(
            ca_bundle=self._ca_bundle(), url=settings.webhook_url, service=None if settings.webhook_url else service
        )
        current = self.validating.get("", CORE_WEBHOOK)
        if current is None:
            try:
                self._registration.create_validating_webhook_configuration(cast(Any, desired))
                log.info("created the core webhook configuration %s", CORE_WEBHOOK)
                return
            except ApiException as error:
                if error.status != 409:
                    raise
                current = self._read(VALIDATING_KIND, CORE_WEBHOOK)
        assert current is not None
        metadata = dict(current.get("metadata") or {})
        # Keep what installed it (Helm's labels and annotations); drop cert-manager's injection, as jsPolicy does.
        annotations = {k: v for k, v in (metadata.get("annotations") or {}).items()
                       if k != "cert-manager.io/inject-ca-from"}  # fmt: skip
        desired["metadata"] = {**desired["metadata"], "labels": {**(metadata.get("labels") or {}),
                               **desired["metadata"]["labels"]}, "annotations": annotations}  # fmt: skip
        if _same(current, desired):
            return
        desired["metadata"]["resourceVersion"] = metadata.get("resourceVersion")
        self._registration.replace_validating_webhook_configuration(CORE_WEBHOOK, cast(Any, desired))
        log.info("updated the core webhook configuration %s", CORE_WEBHOOK)

    # -- status --------------------------------------------------------------------------------

    def _write_status(self, policy: JsPolicy, conditions: list[st.Condition], digest: str) -> None:
        previous = policy.manifest.get("status") or {}
        generation = policy.metadata.get("generation")
        new = st.policy_status(previous, conditions, bundle_hash=digest, generation=generation)
        if all(previous.get(k) == new.get(k) for k in {*new, "reason", "message"}):
            return
        patch = {"status": {**new, "reason": new.get("reason"), "message": new.get("message")}}  # null clears
        try:
            self._custom.patch_cluster_custom_object_status(GROUP, VERSION, "jspolicies", policy.name, patch)
        except ApiException as error:
            if error.status != 404:  # deleted meanwhile: nothing to report on
                raise


def _built_from(bundle: Mapping[str, Any], key: str, digest: str, previous_hash: str) -> bool:
    """Whether a bundle was built from this source (``key``: CodeSource.build_key): by its annotation (ours),
    or, for one jsPolicy's controller made (no annotation), by the bundleHash the status last reported."""
    annotations = (bundle.get("metadata") or {}).get("annotations") or {}
    recorded = annotations.get(BUNDLE_HASH_ANNOTATION)
    return recorded == key if recorded is not None else key == digest == previous_hash


def bundle_source_or_none(name: str, bundle: Mapping[str, Any]) -> str | None:
    try:
        return bundle_source(name, bundle)
    except ProgramError:
        return None


def _owner(obj: Mapping[str, Any]) -> str | None:
    for reference in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if reference.get("kind") == "JsPolicy" and str(reference.get("apiVersion", "")).startswith(GROUP + "/"):
            return str(reference.get("name"))
    return None


def _same_object(one: Mapping[str, Any], other: Mapping[str, Any] | None) -> bool:
    """By name and uid: the informer may have replaced the dict since it was listed."""
    if other is None:
        return False
    a, b = one.get("metadata") or {}, other.get("metadata") or {}
    return bool(a.get("name") == b.get("name") and a.get("uid") == b.get("uid"))


def _owner_reference(policy: JsPolicy) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "JsPolicy",
        "name": policy.name,
        "uid": policy.metadata.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _same(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """The fields we manage are equal (the API server adds defaults we do not write, so compare ours)."""
    have, want = current.get("metadata") or {}, desired["metadata"]
    for key, empty in (("labels", {}), ("annotations", {}), ("ownerReferences", [])):
        if (have.get(key) or empty) != (want.get(key) or empty):
            return False
    existing = current.get("webhooks") or []
    if len(existing) != len(desired["webhooks"]):
        return False
    return all(_contains(e, w) for e, w in zip(existing, desired["webhooks"], strict=True))


def _contains(actual: Any, wanted: Any) -> bool:
    """Every field we set is present with our value (server-side defaults may add more)."""
    if isinstance(wanted, Mapping):
        return isinstance(actual, Mapping) and all(_contains(actual.get(k), v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (isinstance(actual, list) and len(actual) == len(wanted)
                and all(_contains(a, w) for a, w in zip(actual, wanted, strict=True)))  # fmt: skip
    return bool(actual == wanted)


def _api_message(error: ApiException) -> str:
    return f"{error.status} {error.reason}: {str(error.body or '')[:500]}"
