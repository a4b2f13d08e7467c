"""The oracle of the Pod Security Standards differential test: a real kube-apiserver's built-in PodSecurity
admission (k8s.io/pod-security-admission, compiled into the v1.36.3 kube-apiserver tests/controlplane.py runs).

Each (level, version) gets a namespace labelled ``pod-security.kubernetes.io/enforce=<level>`` and
``enforce-version=<version>``; a pod is created there with server-side dry-run (``?dryRun=All``: admission
runs, nothing is stored) and the 403's ``violates PodSecurity "<level>:<version>": ...`` is parsed into the
violated controls. An update needs the pod stored first, and the admission lets any pod into a namespace that
is not labelled yet: an ``UpdateRound`` stores the pods of its update cases in fresh namespaces, labels them,
waits until the admission enforces the labels, then sends each update with dry-run.

Before any of that, ``prepare`` sends the case to an unlabelled namespace (where PodSecurity admits
everything): a 422 there means the API server's validation refused the case, and the answer is the pod after
defaulting and the API server's own changes (AppArmor annotations copied into fields, hostPort defaulted
under hostNetwork, ...), which is what a validating webhook, and so the library's policy, is sent.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3

from jspolicy.controlplane.plane import ControlPlane

Json = dict[str, Any]
ENFORCE = "pod-security.kubernetes.io/enforce"
ENFORCE_VERSION = "pod-security.kubernetes.io/enforce-version"
PRIVILEGED_NAMESPACE = "pss-privileged"  # no PodSecurity labels: the admission's default, privileged, applies
MARKER = re.compile(r'violates PodSecurity "([^"]*)": ')
SEPARATORS = re.compile(r"[()]|, |; ")
RETRIES = 6  # for 429s, 5xx and dropped connections (a busy 2-core machine)
ENFORCE_TIMEOUT = 30.0
# Denied at every level and version since v1.0 (host namespaces): how a namespace shows it is enforced.
PROBE: Json = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "pss-probe"},
    "spec": {"hostPID": True, "containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10"}]},
}


@dataclass(frozen=True)
class Verdict:
    """One side's answer for one pod at one level and version: the violated controls in order, each with
    its detail (empty when it has none), and the level:version the message names."""

    allowed: bool
    reasons: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    named: str = ""  # "<level>:<version>" from the message
    message: str = ""

    def to_json(self) -> Json:
        answer: Json = {"allowed": self.allowed}
        if not self.allowed:
            answer.update(reasons=list(self.reasons), details=list(self.details), message=self.message)
        return answer


def verdict_of_message(message: str) -> Verdict:
    """A denial as a Verdict; a message without ``violates PodSecurity "...": `` has one reason: itself."""
    found = MARKER.search(message)
    if found is None:
        return Verdict(False, (message,), ("",), "", message)
    items = split_items(message[found.end() :])
    return Verdict(
        False, tuple(reason for reason, _ in items), tuple(detail for _, detail in items), found.group(1), message
    )


def split_items(text: str) -> list[tuple[str, str]]:
    """``reason (detail), reason, reason (detail)`` as (reason, detail) pairs. Details hold commas,
    semicolons and parentheses of their own, so items end only at a ", " outside parentheses; a "; " outside
    them ends the list (the library joins other problems to it that way)."""
    items, depth, start, end = [], 0, 0, len(text)
    for found in SEPARATORS.finditer(text):
        token = found.group()
        if token == "(":
            depth += 1
        elif token == ")":
            depth = max(depth - 1, 0)
        elif depth == 0 and token == ", ":
            items.append(text[start : found.start()])
            start = found.end()
        elif depth == 0:
            end = found.start()
            break
    items.append(text[start:end])
    return [_reason_and_detail(item) for item in items]


def _reason_and_detail(item: str) -> tuple[str, str]:
    """Reasons hold no parentheses, so the first " (" opens the detail, which runs to the closing one."""
    opened = item.find(" (")
    if opened >= 0 and item.endswith(")"):
        return item[:opened], item[opened + 2 : -1]
    return item, ""


def namespace_name(level: str, version: str, prefix: str = "pss") -> str:
    return f"{prefix}-{level}-{version.replace('.', '-')}"


def namespace_object(name: str, level: str | None = None, version: str | None = None) -> Json:
    labels = {"kubernetes.io/metadata.name": name}
    if level is not None and version is not None:
        labels.update({ENFORCE: level, ENFORCE_VERSION: version})
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


class ApiError(RuntimeError):
    """An answer the differential test has no use for (not 2xx, 403 or 422), after retries."""


class InvalidCaseError(Exception):
    """The API server's validation refused the case (HTTP 422): nothing to compare."""


@dataclass(frozen=True)
class Prepared:
    """What a webhook is sent for the case: ``new`` (the pod to create, or after the update) and ``old``
    (the stored pod, for updates), as in the unlabelled namespace."""

    new: Json
    old: Json | None = None
    subresource: str = ""

    def operation(self) -> str:
        return "CREATE" if self.old is None else "UPDATE"

    def in_namespace(self, namespace: str) -> tuple[Json, Json | None]:
        return _moved(self.new, namespace), None if self.old is None else _moved(self.old, namespace)


def _moved(obj: Json, namespace: str) -> Json:
    moved = copy.deepcopy(obj)
    moved["metadata"]["namespace"] = namespace
    return moved


def update_body(case: Mapping[str, Any], stored: Json) -> tuple[Json, str]:
    """The body of the case's update of ``stored`` and the subresource it goes to: ephemeral containers added
    (``ephemeral``), or labels replaced, annotations merged and images changed (``metadata``, ``image``)."""
    body = copy.deepcopy(stored)
    if case["kind"] == "ephemeral":
        body["spec"]["ephemeralContainers"] = copy.deepcopy(case.get("ephemeralContainers", []))
        return body, "ephemeralcontainers"
    metadata = body["metadata"]
    if "labels" in case:
        metadata["labels"] = dict(case["labels"])
    if "annotations" in case:
        metadata["annotations"] = {**metadata.get("annotations", {}), **case["annotations"]}
    images = case.get("images", {})
    for each in [*body["spec"].get("initContainers", []), *body["spec"]["containers"]]:
        each["image"] = images.get(each["name"], each["image"])
    return body, ""


class Oracle:
    """The admin's REST client for the API server, safe to share between threads."""

    def __init__(self, server: str, token: str, ca_file: str, threads: int = 16) -> None:
        self.server = server
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._http = urllib3.PoolManager(
            maxsize=threads, block=True, ca_certs=ca_file, cert_reqs="CERT_REQUIRED", retries=False
        )
        self._names = itertools.count()
        self._run = uuid.uuid4().hex[:6]  # stored pods of an earlier run may still be there
        self._lock = threading.Lock()
        self.requests = 0

    @classmethod
    def of(cls, plane: ControlPlane, threads: int = 16) -> Oracle:
        return cls(plane.server, plane.token, str(plane.ca_file), threads)

    def call(self, method: str, path: str, body: Json | None = None) -> tuple[int, Json]:
        """Status and decoded answer; retried while the server is overloaded or the connection drops."""
        payload = None if body is None else json.dumps(body).encode()
        for attempt in range(RETRIES):
            with self._lock:
                self.requests += 1
            try:
                answer = self._http.request(
                    method, self.server + path, body=payload, headers=self._headers, timeout=60.0
                )
            except urllib3.exceptions.HTTPError as error:
                problem = str(error)
            else:
                if answer.status != 429 and answer.status < 500:
                    return answer.status, json.loads(answer.data) if answer.data else {}
                problem = f"HTTP {answer.status}: {answer.data[:300]!r}"
            time.sleep(0.2 * 2**attempt)
        raise ApiError(f"{method} {path}: {problem}")

    def _expect(self, status: int, answer: Json, what: str, allowed: Iterable[int] = (200, 201)) -> Json:
        if status == 422:
            raise InvalidCaseError(str(answer.get("message", answer)))
        if status not in allowed:
            raise ApiError(f"{what}: HTTP {status}: {answer.get('message', answer)}")
        return answer

    def unique_name(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}-{self._run}-{next(self._names)}"

    # -- namespaces ----------------------------------------------------------------------------------------------

    def ensure_namespace(self, name: str, level: str | None = None, version: str | None = None) -> None:
        """The namespace with exactly these PodSecurity labels, created or relabelled."""
        wanted = namespace_object(name, level, version)
        status, answer = self.call("POST", "/api/v1/namespaces", wanted)
        if status == 409:
            current = self._expect(*self.call("GET", f"/api/v1/namespaces/{name}"), f"namespace {name}")
            current["metadata"]["labels"] = wanted["metadata"]["labels"]
            status, answer = self.call("PUT", f"/api/v1/namespaces/{name}", current)
        self._expect(status, answer, f"namespace {name}")

    def wait_enforced(self, namespace: str, level: str, version: str) -> None:
        """Until the admission denies in ``namespace`` naming this level and version: it reads labels from an
        informer, so a relabelled namespace takes a moment to count."""
        deadline = time.monotonic() + ENFORCE_TIMEOUT
        wanted = f'"{level}:{version}"'
        while True:
            status, answer = self.call("POST", f"/api/v1/namespaces/{namespace}/pods?dryRun=All", PROBE)
            if status == 403 and wanted in str(answer.get("message", "")):
                return
            if time.monotonic() > deadline:
                raise ApiError(f"namespace {namespace} does not enforce {wanted}: HTTP {status} {answer}")
            time.sleep(0.05)

    def delete_pods(self, namespace: str) -> None:
        """Stored pods go at once: none is scheduled, so none waits for a kubelet."""
        self._expect(*self.call("DELETE", f"/api/v1/namespaces/{namespace}/pods"), f"pods of {namespace}")

    # -- cases ---------------------------------------------------------------------------------------------------

    def create(self, namespace: str, pod: Json, *, dry_run: bool) -> tuple[int, Json]:
        query = "?dryRun=All" if dry_run else ""
        return self.call("POST", f"/api/v1/namespaces/{namespace}/pods{query}", pod)

    def store(self, namespace: str, pod: Json) -> Json:
        """Create ``pod`` for real under a fresh name; the stored object."""
        named = copy.deepcopy(pod)
        named["metadata"]["name"] = self.unique_name(pod["metadata"]["name"])
        return self._expect(*self.create(namespace, named, dry_run=False), f"storing a pod in {namespace}")

    def send_update(self, case: Mapping[str, Any], stored: Json) -> tuple[int, Json, str]:
        body, subresource = update_body(case, stored)
        metadata = stored["metadata"]
        path = f"/api/v1/namespaces/{metadata['namespace']}/pods/{urllib.parse.quote(metadata['name'])}"
        status, answer = self.call("PUT", path + (f"/{subresource}" if subresource else "") + "?dryRun=All", body)
        return status, answer, subresource

    def prepare(self, case: Mapping[str, Any]) -> Prepared:
        """The case as validated and changed by the API server in the unlabelled namespace; raises InvalidCaseError
        on a 422."""
        pod = case["pod"]
        if case["kind"] == "create":
            answer = self._expect(*self.create(PRIVILEGED_NAMESPACE, pod, dry_run=True), "preparing a pod")
            return Prepared(answer)
        stored = self.store(PRIVILEGED_NAMESPACE, pod)
        status, answer, subresource = self.send_update(case, stored)
        return Prepared(self._expect(status, answer, "preparing an update"), stored, subresource)

    def judge_create(self, namespace: str, pod: Json) -> Verdict:
        return self._verdict(*self.create(namespace, pod, dry_run=True))

    def judge_update(self, case: Mapping[str, Any], stored: Json) -> Verdict:
        status, answer, _ = self.send_update(case, stored)
        return self._verdict(status, answer)

    def _verdict(self, status: int, answer: Json) -> Verdict:
        if status == 403:
            return verdict_of_message(str(answer.get("message", "")))
        self._expect(status, answer, "a dry-run")
        return Verdict(True)


class UpdateRound:
    """Update cases judged together: their pods are stored in one fresh namespace per (level, version) while
    it is unlabelled, then the namespaces are labelled and each update sent with dry-run."""

    def __init__(self, oracle: Oracle, prefix: str, level_versions: Iterable[tuple[str, str]]) -> None:
        self.oracle = oracle
        self.namespaces = {lv: namespace_name(*lv, prefix) for lv in sorted(set(level_versions))}
        self.stored: dict[tuple[int, str, str], Json] = {}
        for name in self.namespaces.values():
            oracle.ensure_namespace(name)

    def namespace(self, level: str, version: str) -> str:
        return self.namespaces[(level, version)]

    def store(self, key: int, case: Mapping[str, Any], level: str, version: str) -> None:
        self.stored[(key, level, version)] = self.oracle.store(self.namespace(level, version), case["pod"])

    def arm(self) -> None:
        for (level, version), name in self.namespaces.items():
            self.oracle.ensure_namespace(name, level, version)
        for (level, version), name in self.namespaces.items():
            self.oracle.wait_enforced(name, level, version)

    def judge(self, key: int, case: Mapping[str, Any], level: str, version: str) -> Verdict:
        return self.oracle.judge_update(case, self.stored[(key, level, version)])

    def close(self) -> None:
        for name in self.namespaces.values():
            self.oracle.delete_pods(name)
