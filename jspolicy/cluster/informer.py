"""Watch-based caches of cluster objects, shared by ``get``/``list`` and controller policies.

One ``Informer`` per kind, cluster-wide, like jsPolicy's dynamic cache: a
daemon thread lists, then watches from the list's resourceVersion; a 410 Gone or
any other failure relists (with backoff) and the relist is diffed against the
store, so an object deleted while no watch was open still produces DELETED.
Handlers run on that thread in registration order after the store is updated,
so a handler reading the informer sees the event's state.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import kubernetes.client
import urllib3

from jspolicy import fastjson
from jspolicy.cluster.access import ClusterError
from jspolicy.cluster.discovery import Discovery
from jspolicy.cluster.rest import ApiError, RestClient, iter_lines, resource_path
from jspolicy.resources.kinds import KindInfo

log = logging.getLogger(__name__)

Handler = Callable[[str, Mapping[str, Any] | None, Mapping[str, Any] | None], None]
"""``handler(event, obj, old)``: ADDED (old None), MODIFIED (old = previous state; on a resync
old is obj), DELETED (obj = the last known state, old None)."""

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"

_PAGE_SIZE = 500
_LIST_TIMEOUT = (10.0, 60.0)
_WATCH_SECONDS = (300.0, 600.0)  # server-side watch timeout, random in this range (client-go's spread)
_BACKOFF_FIRST, _BACKOFF_MAX = 0.5, 30.0
_STOP_JOIN_SECONDS = 5.0


class _GoneError(Exception):
    """The resourceVersion we watch from is too old: only a relist recovers."""


class Informer:
    """A cluster-wide cache of one kind; see the module docstring for the event contract."""

    def __init__(
        self,
        client: kubernetes.client.ApiClient | RestClient,
        info: KindInfo,
        *,
        resync_seconds: float = 0.0,
    ) -> None:
        self.info = info
        self._rest = client if isinstance(client, RestClient) else RestClient(client)
        self._path = resource_path(info)
        self._resync_seconds = resync_seconds
        self._store: dict[str, dict[str, Mapping[str, Any]]] = {}  # namespace -> name -> object
        self._store_lock = threading.Lock()
        self._dispatch_lock = threading.RLock()  # orders store updates with handler calls
        self._handlers: list[tuple[object, Handler]] = []
        self._synced = threading.Event()
        self._run_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._response: urllib3.BaseHTTPResponse | None = None
        self._response_lock = threading.Lock()
        self._resource_version = ""
        self.last_error: ApiError | None = None
        self.relists = 0
        self.last_used = time.monotonic()

    @property
    def api_version(self) -> str:
        return self.info.api_version

    @property
    def kind(self) -> str:
        return self.info.kind

    @property
    def handler_count(self) -> int:
        with self._dispatch_lock:
            return len(self._handlers)

    @property
    def running(self) -> bool:
        with self._run_lock:
            return self._thread is not None and not self._stop.is_set()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the list/watch thread; a no-op while it runs. After stop() it relists against the kept store."""
        with self._run_lock:
            if self._thread is not None and not self._stop.is_set():
                return
            self._stop = stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(stop,), name=f"informer-{self.info.plural}.{self.info.group}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop watching (the open watch is cut, so this takes well under a second); the store is kept."""
        with self._run_lock:
            thread, stop = self._thread, self._stop
            self._thread = None
            stop.set()
        with self._dispatch_lock:  # the thread checks stop under this lock before it marks the store synced
            self._synced.clear()
        with self._response_lock:
            response = self._response
        if response is not None:
            _interrupt(response)
        if thread is not None and thread is not threading.current_thread():
            thread.join(_STOP_JOIN_SECONDS)

    def wait_synced(self, timeout: float) -> bool:
        """True once the first list since start() is in the store."""
        return self._synced.wait(timeout)

    # -- reads -------------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        with self._store_lock:
            return self._store.get(namespace, {}).get(name)

    def list(self, namespace: str = "") -> list[Mapping[str, Any]]:
        """Cached objects sorted by (namespace, name); ``namespace`` "" means all."""
        with self._store_lock:
            if namespace:
                names = self._store.get(namespace, {})
                return [names[n] for n in sorted(names)]
            result: list[Mapping[str, Any]] = []
            for ns in sorted(self._store):
                names = self._store[ns]
                result.extend(names[n] for n in sorted(names))
            return result

    # -- handlers ----------------------------------------------------------------------------

    def add_handler(self, handler: Handler) -> Callable[[], None]:
        """Replay the cached objects to ``handler`` as ADDED, then deliver every later event; returns a remover.

        Replay and registration happen under the dispatch lock, so no event is missed or seen twice."""
        token = object()
        with self._dispatch_lock:
            for obj in self.list():
                self._call(handler, ADDED, obj, None)
            self._handlers.append((token, handler))

        def remove() -> None:
            with self._dispatch_lock:
                self._handlers[:] = [(t, h) for t, h in self._handlers if t is not token]

        return remove

    def _call(self, handler: Handler, event: str, obj: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> None:
        try:
            handler(event, obj, old)
        except Exception:
            log.exception("informer handler for %s failed on %s", self._describe(), event)

    def _fire(self, event: str, obj: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> None:
        for _, handler in list(self._handlers):
            self._call(handler, event, obj, old)

    # -- the list/watch thread -------------------------------------------------------------

    def _run(self, stop: threading.Event) -> None:
        backoff = _BACKOFF_FIRST
        need_list = True
        next_resync = self._next_resync()
        while not stop.is_set():
            try:
                if need_list:
                    self._relist(stop)
                    need_list = False
                if next_resync is not None and time.monotonic() >= next_resync:
                    self._resync(stop)
                    next_resync = self._next_resync()
                started = time.monotonic()
                events = self._watch(stop, next_resync)
                if events or time.monotonic() - started > 1.0:
                    backoff = _BACKOFF_FIRST
                    continue
                # A watch that ends at once without events: do not spin on it.
                stop.wait(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)
            except _GoneError:
                need_list = True
            except (ApiError, ValueError, urllib3.exceptions.HTTPError, OSError) as error:
                if stop.is_set():
                    break
                if isinstance(error, ApiError):
                    if error.status == 410:
                        need_list = True
                        continue
                    self.last_error = error
                else:
                    self.last_error = ApiError(0, "", str(error))
                log.warning(
                    "informer for %s failed, relisting in %.1fs: %s", self._describe(), backoff, self.last_error
                )
                need_list = True
                stop.wait(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)

    def _next_resync(self) -> float | None:
        if self._resync_seconds <= 0:
            return None
        return time.monotonic() + self._resync_seconds * random.uniform(0.9, 1.1)

    def _relist(self, stop: threading.Event) -> None:
        """List everything (paged) and diff it into the store."""
        listed: dict[str, dict[str, Mapping[str, Any]]] = {}
        token = ""
        version = ""
        while True:
            query: list[tuple[str, Any]] = [("limit", _PAGE_SIZE)]
            if token:
                query.append(("continue", token))
            try:
                body = self._rest.request("GET", self._path, query=query, timeout=_LIST_TIMEOUT)
            except ApiError as error:
                if error.status == 410:  # the continue token expired: start over
                    raise _GoneError from error
                raise
            for item in body.get("items") or []:
                obj = self._normalise(item)
                namespace, name = _key(obj)
                listed.setdefault(namespace, {})[name] = obj
            metadata = body.get("metadata") or {}
            version = str(metadata.get("resourceVersion") or "")
            token = str(metadata.get("continue") or "")
            if not token:
                break
        with self._dispatch_lock:
            if stop.is_set():
                return
            with self._store_lock:
                previous, self._store = self._store, listed
            self._resource_version = version
            self.relists += 1
            self.last_error = None
            self._synced.set()
            for namespace in sorted(listed.keys() | previous.keys()):
                now, before = listed.get(namespace, {}), previous.get(namespace, {})
                for name in sorted(now.keys() | before.keys()):
                    new, old = now.get(name), before.get(name)
                    if old is None:
                        self._fire(ADDED, new, None)
                    elif new is None:
                        self._fire(DELETED, old, None)
                    elif _version(new) != _version(old):
                        self._fire(MODIFIED, new, old)

    def _resync(self, stop: threading.Event) -> None:
        """client-go's periodic resync: MODIFIED(obj, obj) for every cached object."""
        with self._dispatch_lock:
            if stop.is_set():
                return
            for obj in self.list():
                self._fire(MODIFIED, obj, obj)

    def _watch(self, stop: threading.Event, resync_at: float | None) -> int:
        """One watch request from the current resourceVersion, ending by the next resync at the latest;
        returns how many events it delivered."""
        seconds = random.uniform(*_WATCH_SECONDS)
        if resync_at is not None:
            seconds = max(1.0, min(seconds, resync_at - time.monotonic()))
        query: list[tuple[str, Any]] = [
            ("watch", True),
            ("allowWatchBookmarks", True),
            ("resourceVersion", self._resource_version),
            ("timeoutSeconds", int(seconds)),
        ]
        response = self._rest.open("GET", self._path, query=query, timeout=(10.0, seconds + 30.0))
        with self._response_lock:
            if stop.is_set():
                _discard(response)
                return 0
            self._response = response
        delivered = 0
        try:
            for event in self._events(response):
                if stop.is_set():
                    break
                self._apply(stop, event)
                delivered += 1
        finally:
            with self._response_lock:
                self._response = None
            _discard(response)
        return delivered

    def _events(self, response: urllib3.BaseHTTPResponse) -> Iterator[Mapping[str, Any]]:
        for line in iter_lines(response):
            event = fastjson.loads(line)
            if not isinstance(event, Mapping):
                continue
            kind, obj = event.get("type"), event.get("object")
            if not isinstance(obj, Mapping):
                continue
            if kind == "ERROR":
                status = int(obj.get("code") or 0)
                if status == 410:
                    raise _GoneError(str(obj.get("message") or ""))
                raise ApiError(status, str(obj.get("reason") or ""), str(obj.get("message") or ""))
            if kind == "BOOKMARK":
                version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
                if version:
                    self._resource_version = version
                continue
            yield event

    def _apply(self, stop: threading.Event, event: Mapping[str, Any]) -> None:
        kind = str(event.get("type"))
        obj = self._normalise(event["object"])
        namespace, name = _key(obj)
        with self._dispatch_lock:
            if stop.is_set():
                return
            with self._store_lock:
                names = self._store.setdefault(namespace, {})
                old = names.get(name)
                if kind == DELETED:
                    names.pop(name, None)
                    if not names:
                        del self._store[namespace]
                else:
                    names[name] = obj
            version = _version(obj)
            if version:
                self._resource_version = version
            if kind == DELETED:
                if old is not None:
                    self._fire(DELETED, obj, None)
            elif old is None:
                self._fire(ADDED, obj, None)
            else:
                self._fire(MODIFIED, obj, old)

    def _normalise(self, item: Mapping[str, Any]) -> Mapping[str, Any]:
        """List items of built-in kinds come without apiVersion and kind; Go's unstructured lists add them."""
        if item.get("apiVersion") and item.get("kind"):
            return item
        return {"apiVersion": self.info.api_version, "kind": self.info.kind, **item}

    def _describe(self) -> str:
        return f"{self.info.plural}.{self.info.group}" if self.info.group else self.info.plural


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def _version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _discard(response: urllib3.BaseHTTPResponse) -> None:
    """Close a stream that may be unread: released as it is, its connection would go back to the
    pool with the rest of the watch still in it and garble the next request."""
    with contextlib.suppress(urllib3.exceptions.HTTPError, OSError):
        response.close()
    response.release_conn()


def _interrupt(response: urllib3.BaseHTTPResponse) -> None:
    """Unblock a thread reading ``response`` (urllib3 >= 2.3 has shutdown(); older: the raw socket)."""
    try:
        shutdown = getattr(response, "shutdown", None)
        if shutdown is not None:
            shutdown()
            return
        sock = getattr(getattr(response, "connection", None), "sock", None)
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class InformerFactory:
    """Shared informers by kind, started lazily, garbage-collected when idle, as jsPolicy's."""

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        *,
        idle_seconds: float = 3 * 3600,
        resync_seconds: float = 6 * 3600,
    ) -> None:
        self.rest = RestClient(api_client)
        self.discovery = Discovery(self.rest)
        self.idle_seconds = idle_seconds
        self.resync_seconds = resync_seconds
        self._informers: dict[tuple[str, str, str], Informer] = {}
        self._lock = threading.Lock()
        self._closed = False

    def resolve(self, api_version: str, kind: str) -> KindInfo:
        """Plural and scope of a kind from discovery; ClusterError ``no matches for kind ...`` when unknown."""
        return self.discovery.resolve(api_version, kind)

    def informer(self, api_version: str, kind: str) -> Informer:
        """The shared informer of the kind, started if needed and marked as used now."""
        info = self.resolve(api_version, kind)
        key = (info.group, info.version, info.kind)
        with self._lock:
            if self._closed:
                raise ClusterError("the informer factory is closed")
            informer = self._informers.get(key)
            if informer is None:
                informer = Informer(self.rest, info, resync_seconds=self.resync_seconds)
                self._informers[key] = informer
            informer.last_used = time.monotonic()
            informer.start()
        return informer

    def kinds_for(self, resource: str, api_groups: list[str], api_versions: list[str]) -> list[tuple[str, str]]:
        """``(api_version, kind)`` for a controller policy's resource entry."""
        return self.discovery.kinds_for(resource, api_groups, api_versions)

    def informers(self) -> list[Informer]:
        with self._lock:
            return list(self._informers.values())

    def collect_garbage(self) -> int:
        """Stop informers without handlers that nobody asked for in ``idle_seconds``; returns how many."""
        now = time.monotonic()
        with self._lock:
            idle = [
                (key, informer)
                for key, informer in self._informers.items()
                if informer.handler_count == 0 and now - informer.last_used >= self.idle_seconds
            ]
            for key, _ in idle:
                del self._informers[key]
        for _, informer in idle:
            log.info("stopping idle informer for %s %s", informer.api_version, informer.kind)
            informer.stop()
        return len(idle)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            informers = list(self._informers.values())
            self._informers.clear()
        for informer in informers:
            informer.stop()
