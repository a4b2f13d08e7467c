"""``jspolicy serve``: the supervising process.

It checks the configuration (jspolicy/supervisor/preflight.py), starts ``workers`` webhook
processes that each listen on the webhook port (SO_REUSEPORT), replaces any worker that dies,
hands the traffic of a worker that asks to retire (one of its evaluations would not stop) to
a successor before stopping it, renews the serving certificate before it expires (workers
reload it in place), and serves health (``/healthz``, ``/readyz``) and Prometheus ``/metrics``
(summed over workers) on their own ports.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest, multiprocess

from jspolicy.cluster.client import api_client
from jspolicy.controller.certsecret import CertificateSecret
from jspolicy.controller.process import run_controller
from jspolicy.server.worker import run_worker
from jspolicy.service import certs, logs
from jspolicy.service.config import ServerConfig
from jspolicy.supervisor import preflight

log = logging.getLogger("jspolicy.supervisor")

RESTART_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0)
CONTROLLER = -1
# A draining worker finishes in-flight reviews (uvicorn waits up to 10 s for them); past this it is killed.
DRAIN_SECONDS = 20  # the index of the controller process among the supervised processes


@dataclass
class _Worker:
    index: int
    process: SpawnProcess
    ready: Event
    retire: Event  # set by the worker: replace me, then stop me
    restarts: int = 0
    started: float = field(default_factory=time.monotonic)
    successor: _Worker | None = None
    stop_requested: float | None = None  # when it was asked to drain


class Supervisor:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.cert_dir = Path(config.cert_dir)
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._stopping = False
        self._secret: CertificateSecret | None = None
        self.metrics_dir = ""
        self._listening_logged = False
        self._preflight_done = False
        # The supervisor's own metrics; the workers' are read from their multiprocess files.
        self._own_metrics = CollectorRegistry()
        self._replacements = Counter(
            "jspolicy_worker_replacements_total",
            "Webhook worker processes replaced, by reason (exited: it died; runaway: an evaluation did not "
            "stop after its timeout, so its traffic went to a successor first)",
            ["reason"],
            registry=self._own_metrics,
        )

    def preflight(self) -> None:
        """Check the configuration (ConfigError: exit 2) and claim the webhook port, once."""
        if self._preflight_done:
            return
        preflight.check(self.config)
        # Chosen here when 0, so all workers agree; bound without SO_REUSEPORT, so a port another
        # server holds fails now instead of being shared with it.
        with preflight.claim_port(self.config.host, self.config.port) as probe:
            self.config = dataclasses.replace(self.config, port=probe.getsockname()[1])
        self._preflight_done = True

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self) -> int:
        self.preflight()
        logs.configure(self.config.log_level, self.config.log_json)
        try:
            self.metrics_dir = tempfile.mkdtemp(prefix="jspolicy-metrics-")
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = self.metrics_dir  # workers inherit it
            if self.config.kube is not None:
                self._secret = CertificateSecret(
                    api_client(self.config.kube.kubeconfig), self.config.kube.namespace,
                    self.config.kube.cert_secret, self.cert_dir, self.config.cert_sans,
                )  # fmt: skip
                self._sync_secret_until_done()
            else:
                certs.ensure(self.cert_dir, self.config.cert_sans)
            if self.config.kube is None and certs.externally_managed(self.cert_dir):
                log.info("serving the certificate in %s as it is: no ca.key, so it is managed elsewhere", self.cert_dir)
        except BaseException:
            self._shutdown()
            raise
        try:
            self._workers = [self._spawn(i) for i in range(self.config.workers)]
            if self.config.kube is not None:
                self._workers.append(self._spawn(CONTROLLER))
            asyncio.run(self._supervise())
        finally:
            self._shutdown()
        return 0

    def _spawn(self, index: int, restarts: int = 0) -> _Worker:
        ready, retire = self._context.Event(), self._context.Event()
        if index == CONTROLLER:
            ready.set()  # leader or not, it has nothing to be ready for; it only has to be alive
            process = self._context.Process(
                target=run_controller, args=(self.config,), name="jspolicy-controller", daemon=True
            )
        else:
            process = self._context.Process(
                target=run_worker, args=(self.config, ready, retire), name=f"jspolicy-worker-{index}", daemon=True
            )
        process.start()
        return _Worker(index, process, ready, retire, restarts)

    def _sync_secret_until_done(self) -> None:
        """The certificate Secret at startup: the API server may still be coming up, so keep trying."""
        assert self._secret is not None
        for attempt in itertools.count():
            try:
                self._secret.sync()
                return
            except Exception as error:
                if attempt % 10 == 0:
                    log.warning("the webhook certificate Secret is not ready yet (retrying): %s", error)
                time.sleep(min(5.0, 0.5 * (attempt + 1)))

    def _shutdown(self) -> None:
        self._stopping = True
        for worker in self._workers:
            if worker.process.is_alive():
                worker.process.terminate()
        for worker in self._workers:
            worker.process.join(timeout=25)  # the controller may be handing leader work over
            if worker.process.is_alive():
                worker.process.kill()
        if self.metrics_dir:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)

    async def _supervise(self) -> None:
        servers = [
            uvicorn.Server(
                uvicorn.Config(app, host=self.config.host, port=port, log_config=None, access_log=False, lifespan="off")
            )
            for app, port in (
                (self._health_app(), self.config.health_port),
                (self._metrics_app(), self.config.metrics_port),
            )
        ]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, stop.set)
        tasks = [asyncio.create_task(s._serve()) for s in servers]  # _serve: leave signals to the loop above
        tasks.append(asyncio.create_task(self._watch_workers(stop)))
        tasks.append(asyncio.create_task(self._renew_certificates(stop)))
        await stop.wait()
        log.info("shutting down")
        for server in servers:
            server.should_exit = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch_workers(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self._hand_over_retiring_workers()
                await self._replace_dead_workers()
                self._log_listening()
            except Exception:  # keep watching: a failed restart is retried on the next round
                log.exception("replacing a worker failed")
            await asyncio.sleep(0.1)

    def _log_listening(self) -> None:
        """Said once every worker really listens (a worker opens its listener only when it can answer)."""
        if not self._listening_logged and self._workers and all(w.ready.is_set() for w in self._workers):
            self._listening_logged = True
            log.info("webhook listening on https://%s:%d with %d workers", self.config.host, self.config.port,
                     self.config.workers)  # fmt: skip

    def _hand_over_retiring_workers(self) -> None:
        """A worker that asked to retire keeps serving until its successor listens, then drains and exits.

        Its CPU is taken by an evaluation that would not stop; only ending the process frees it. The
        successor starts first, so the port never has fewer listening workers than configured.
        """
        for worker in list(self._workers):
            if self._stopping or not worker.retire.is_set() or not worker.process.is_alive():
                continue
            if worker.successor is None:
                log.warning("worker %d (pid %s) is retiring: an evaluation kept running after its timeout; "
                            "starting its successor", worker.index, worker.process.pid)  # fmt: skip
                worker.successor = self._spawn(worker.index)
                self._workers.append(worker.successor)
                self._replacements.labels("runaway").inc()
            elif worker.stop_requested is not None:
                if time.monotonic() - worker.stop_requested > DRAIN_SECONDS:
                    log.warning("worker %d (pid %s) did not drain in %ds; killing it", worker.index,
                                worker.process.pid, DRAIN_SECONDS)  # fmt: skip
                    worker.process.kill()
            elif worker.successor.ready.is_set():
                worker.stop_requested = time.monotonic()
                log.info("worker %d (pid %s) hands over to pid %s and drains", worker.index, worker.process.pid,
                         worker.successor.process.pid)  # fmt: skip
                worker.process.terminate()  # the worker's graceful shutdown: finish in-flight reviews, then exit

    async def _replace_dead_workers(self) -> None:
        for position, worker in reversed(list(enumerate(self._workers))):
            if worker.process.is_alive() or self._stopping:
                continue
            if worker.successor is not None:  # a retired worker: its successor already serves
                log.info("worker %d (pid %s) retired", worker.index, worker.process.pid)
                self._mark_dead(worker)
                del self._workers[position]
                continue
            log.error(
                "worker %d (pid %s) exited with %s; replacing it",
                worker.index,
                worker.process.pid,
                worker.process.exitcode,
            )
            self._mark_dead(worker)
            # Quick repeated failures back off; a worker that ran for a while restarts at once.
            restarts = 0 if time.monotonic() - worker.started > 60 else worker.restarts + 1
            await asyncio.sleep(RESTART_BACKOFF[min(restarts, len(RESTART_BACKOFF) - 1)] if restarts else 0)
            self._workers[position] = replacement = self._spawn(worker.index, restarts)
            self._replacements.labels("exited").inc()
            for retiring in self._workers:  # a successor that died before it was ready: wait for this one
                if retiring.successor is worker:
                    retiring.successor = replacement

    @staticmethod
    def _mark_dead(worker: _Worker) -> None:
        if worker.process.pid is not None:
            multiprocess.mark_process_dead(worker.process.pid)  # type: ignore[no-untyped-call]

    async def _renew_certificates(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(self.config.cert_check_interval)
            try:
                if self._secret is not None:  # shared by every replica: any of them may renew it
                    if await asyncio.to_thread(self._secret.sync):  # API calls: off the health server's loop
                        log.info("serving the renewed certificate from Secret %s", self._secret.name)
                    continue
                if not certs.needs_renewal(self.cert_dir, self.config.cert_sans, dt.datetime.now(dt.UTC)):
                    continue
                if certs.externally_managed(self.cert_dir):
                    log.warning("the serving certificate in %s expires soon or lacks a name; it is managed "
                                "outside jspolicy (no ca.key), so renew it there", self.cert_dir)  # fmt: skip
                else:
                    certs.ensure(self.cert_dir, self.config.cert_sans)
                    log.info("renewed the serving certificate")
            except Exception:  # retried at the next check
                log.exception("renewing the serving certificate failed")

    # -- health and metrics -----------------------------------------------------------------

    def readiness(self) -> dict[str, Any]:
        """Ready when every worker slot has a live, ready process (a retiring worker or its successor)."""
        workers = [
            {"worker": w.index, "pid": w.process.pid, "alive": w.process.is_alive(), "ready": w.ready.is_set(),
             "retiring": w.retire.is_set()}
            for w in self._workers
        ]  # fmt: skip
        slots: dict[int, bool] = {}
        for worker in self._workers:
            serving = worker.process.is_alive() and worker.ready.is_set()
            slots[worker.index] = slots.get(worker.index, False) or serving
        certificate = (self.cert_dir / certs.TLS_CERT).is_file() and (self.cert_dir / certs.TLS_KEY).is_file()
        ready = certificate and bool(slots) and all(slots.values())
        return {"ready": ready, "certificate": certificate, "workers": workers}

    def _health_app(self) -> FastAPI:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

        @app.get("/healthz")
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/readyz")
        async def readyz() -> JSONResponse:
            report = self.readiness()
            return JSONResponse(report, status_code=200 if report["ready"] else 503)

        return app

    def _metrics_app(self) -> FastAPI:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

        @app.get("/metrics")
        async def metrics() -> Response:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=self.metrics_dir)  # type: ignore[no-untyped-call]
            body = generate_latest(registry) + generate_latest(self._own_metrics)
            return Response(body, media_type=CONTENT_TYPE_LATEST)

        return app
