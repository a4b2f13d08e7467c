"""One webhook worker process: a warm V8 pool, the policies, and a TLS server on the shared socket.

Workers are spawned (never forked: V8 must not be copied into a child), so a
crash inside V8 costs one worker, which the supervisor replaces.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable
from multiprocessing.synchronize import Event
from pathlib import Path

import uvicorn

from jspolicy.admission.evaluate import PolicyEngine
from jspolicy.bundler.build import Bundler
from jspolicy.cluster.client import api_client
from jspolicy.cluster.informer import InformerFactory
from jspolicy.cluster.kube import KubeCluster
from jspolicy.cluster.memory import MemoryCluster
from jspolicy.cluster.violations import ViolationWriter
from jspolicy.resources.manifests import load_manifests
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.settings import RuntimeSettings
from jspolicy.server.app import WebhookState, create_app
from jspolicy.server.clustersource import ClusterPolicySource
from jspolicy.server.drain import DrainingHttpProtocol
from jspolicy.server.store import PolicyStore
from jspolicy.service import certs, logs
from jspolicy.service.config import KubeConfig, ServerConfig
from jspolicy.service.metrics import Metrics
from jspolicy.service.process import collect_garbage, exit_with_parent

log = logging.getLogger(__name__)


def run_worker(config: ServerConfig, ready: Event, retire: Event) -> None:
    """Serve until stopped. ``retire`` asks the supervisor for a successor, which then stops this one."""
    exit_with_parent()
    logs.configure(config.log_level, config.log_json)
    metrics = Metrics()
    # Policies may read files (jsPolicy allows any), but never the keys this server serves TLS with.
    settings = dataclasses.replace(RuntimeSettings.from_env(), read_file_denied_paths=(config.cert_dir,))
    pool = RuntimePool(settings, on_runaway=functools.partial(_retire, metrics, retire))
    pool.warm()
    stop = threading.Event()
    # Standalone, policies from files are bundled here when they need it (cached: only the first worker
    # builds); in a cluster the leader bundles and the workers run its JsPolicyBundles.
    store = PolicyStore(config.policies, pool.compile_error, Bundler() if config.kube is None else None)
    closers: list[Callable[[], None]] = [pool.close]
    if config.kube is None:
        state = _standalone(config, pool, store, metrics, stop)
    else:
        state = _in_cluster(config.kube, config, pool, store, metrics, stop, closers)
    cert_dir = Path(config.cert_dir)
    server_config = uvicorn.Config(
        create_app(state),
        http=DrainingHttpProtocol,
        ssl_certfile=str(cert_dir / certs.TLS_CERT),
        ssl_keyfile=str(cert_dir / certs.TLS_KEY),
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=10,
    )
    server_config.load()
    server = uvicorn.Server(server_config)
    watch_certificate(server_config, cert_dir, config.reload_interval, stop)
    threading.Thread(target=_report_ready, args=(server, store, ready, stop), daemon=True).start()
    settle_heap()
    try:
        asyncio.run(server.serve(sockets=[listen(config.host, config.port)]))
    finally:
        stop.set()
        for close in closers:
            close()
    if pool.runaways:
        # A V8 thread is still busy in the evaluation that would not stop; the interpreter's normal
        # exit could wait for it. Everything this worker owed is answered and flushed by now.
        logging.shutdown()
        os._exit(0)


def _retire(metrics: Metrics, retire: Event) -> None:
    """An evaluation kept its CPU after its timeout: hand this worker's traffic to a successor.

    Only the end of the process frees that CPU. The worker keeps serving on its other contexts
    until the supervisor has a successor listening, then drains (jspolicy/supervisor/supervisor.py).
    """
    metrics.runaways.inc()
    if not retire.is_set():
        log.error("an evaluation kept running after its timeout; this worker retires once its successor listens")
        retire.set()


def settle_heap() -> None:
    """Take everything built at start-up out of the garbage collector's way.

    A worker starts with a large heap (the V8 binding, FastAPI, the Kubernetes client,
    the policies), and every full collection walked all of it: a pause of 20-30 ms that
    was most of the webhook's p99. Frozen, it is never scanned again; request garbage is
    young and cheap to collect, and a larger first threshold collects it less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def _standalone(
    config: ServerConfig, pool: RuntimePool, store: PolicyStore, metrics: Metrics, stop: threading.Event
) -> WebhookState:
    """Policies from files (reloaded when they change); get()/list() see the --cluster manifests."""
    store.reload()
    store.watch(config.reload_interval, stop)
    if not store.loaded:
        # A worker that never saw a good version must not answer "unknown policy": it does not
        # listen (the other workers keep serving) until the files load.
        log.error("policies could not be loaded; this worker serves nothing until they do: %s", store.last_error)
        while not store.loaded:
            stop.wait(config.reload_interval)
    cluster = MemoryCluster([m.obj for m in load_manifests(config.cluster)])
    return WebhookState(store, PolicyEngine(pool, cluster), metrics, config.max_in_flight, config.bench_floor)


def _in_cluster(
    kube: KubeConfig,
    config: ServerConfig,
    pool: RuntimePool,
    store: PolicyStore,
    metrics: Metrics,
    stop: threading.Event,
    closers: list[Callable[[], None]],
) -> WebhookState:
    """Policies from the API server's JsPolicy and JsPolicyBundle objects; get()/list() are live;
    violations are written to JsPolicyViolations (or PolicyReports) off the request path."""
    api = api_client(kube.kubeconfig)
    informers = InformerFactory(api)
    ClusterPolicySource(store, informers).run(stop)
    writer = ViolationWriter(api, policy_reports=kube.policy_reports, max_events=kube.policy_report_max_events)
    threading.Thread(target=collect_garbage, args=(informers, stop), name="informer-gc", daemon=True).start()
    closers[:0] = [writer.close, informers.close]  # flush violations before the pool goes
    engine = PolicyEngine(pool, KubeCluster(api, informers))
    while not store.loaded:  # never answer "unknown policy" for a policy that exists
        stop.wait(0.1)
    return WebhookState(
        store,
        engine,
        metrics,
        config.max_in_flight,
        config.bench_floor,
        record=lambda policy, violation, uid: writer.record(policy, violation, resource_uid=uid),
    )


def listen(host: str, port: int) -> socket.socket:
    """This worker's own listener on the shared port, opened only once it can answer.

    With SO_REUSEPORT the kernel spreads new connections over the workers' listeners (a
    single shared listener let whichever worker woke first accept a whole burst, leaving
    the others idle). A worker that is starting, restarting or has no policies yet has no
    listener, so no connection waits for it; when it exits, the kernel drops it from the group.
    """
    listener = socket.create_server((host, port), backlog=2048, reuse_port=True)
    # Accepted connections inherit this: without it small TLS records wait for delayed ACKs (~40 ms).
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return listener


def watch_certificate(server_config: uvicorn.Config, cert_dir: Path, interval: float, stop: threading.Event) -> None:
    """Serve a renewed certificate from the next handshake on, without touching a context in use.

    Loading the new pair into the live context would leave a moment where it holds the new
    certificate and the old key. Instead each handshake's SNI callback (OpenSSL calls it with
    or without SNI) moves the connection to the newest context, built complete before it is used.
    """
    cert, key = cert_dir / certs.TLS_CERT, cert_dir / certs.TLS_KEY
    base = server_config.ssl
    if base is None:
        return
    newest: list[ssl.SSLContext] = []

    def use_newest(connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext) -> None:
        if newest:
            connection.context = newest[0]

    base.sni_callback = use_newest

    def loop() -> None:
        seen = cert.stat().st_mtime_ns
        while not stop.wait(interval):
            try:
                current = cert.stat().st_mtime_ns
                if current != seen:
                    fresh = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                    fresh.load_cert_chain(str(cert), str(key))
                    newest[:] = [fresh]
                    seen = current
                    log.info("reloaded the serving certificate")
            except (OSError, ValueError) as error:  # mid-rotation (key and cert disagree): next round
                log.warning("serving certificate not reloaded yet: %s", error)

    threading.Thread(target=loop, name="cert-watch", daemon=True).start()


def _report_ready(server: uvicorn.Server, store: PolicyStore, ready: Event, stop: threading.Event) -> None:
    while not stop.wait(0.05):
        if server.started and store.loaded:
            ready.set()
            return
