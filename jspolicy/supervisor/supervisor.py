"""``jspolicy serve``: the supervising process.

It checks the webhook port, starts ``workers`` webhook processes that each listen
on it (SO_REUSEPORT), replaces any worker that dies, renews the serving certificate before it
expires (workers reload it in place), and serves health (``/healthz``,
``/readyz``) and Prometheus ``/metrics`` (summed over workers) on their own ports.
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
import socket
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
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from jspolicy.cluster.client import api_client
from jspolicy.controller.certsecret import CertificateSecret
from jspolicy.controller.process import run_controller
from jspolicy.server.worker import run_worker
from jspolicy.service import certs, logs
from jspolicy.service.config import ServerConfig

log = logging.getLogger("jspolicy.supervisor")

RESTART_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0)
CONTROLLER = -1  # the index of the controller process among the supervised processes


@dataclass
class _Worker:
    index: int
    process: SpawnProcess
    ready: Event
    restarts: int = 0
    started: float = field(default_factory=time.monotonic)


class Supervisor:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.cert_dir = Path(config.cert_dir)
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._stopping = False
        self._secret: CertificateSecret | None = None
        self.metrics_dir = ""

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self) -> int:
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
            # The port is checked (and, if 0, chosen) here, so a conflict fails at once and all workers agree.
            with socket.create_server((self.config.host, self.config.port), reuse_port=True) as probe:
                self.config = dataclasses.replace(self.config, port=probe.getsockname()[1])
        except BaseException:
            self._shutdown()
            raise
        log.info(
            "webhook listening on https://%s:%d with %d workers",
            self.config.host,
            self.config.port,
            self.config.workers,
        )
        try:
            self._workers = [self._spawn(i) for i in range(self.config.workers)]
            if self.config.kube is not None:
                self._workers.append(self._spawn(CONTROLLER))
            asyncio.run(self._supervise())
        finally:
            self._shutdown()
        return 0

    def _spawn(self, index: int, restarts: int = 0) -> _Worker:
        ready = self._context.Event()
        if index == CONTROLLER:
            ready.set()  # leader or not, it has nothing to be ready for; it only has to be alive
            process = self._context.Process(
                target=run_controller, args=(self.config,), name="jspolicy-controller", daemon=True
            )
        else:
            process = self._context.Process(
                target=run_worker, args=(self.config, ready), name=f"jspolicy-worker-{index}", daemon=True
            )
        process.start()
        return _Worker(index, process, ready, restarts)

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
                uvicorn.Config(
                    self._health_app(),
                    host=self.config.host,
                    port=self.config.health_port,
                    log_config=None,
                    access_log=False,
                    lifespan="off",
                )
            ),
            uvicorn.Server(
                uvicorn.Config(
                    self._metrics_app(),
                    host=self.config.host,
                    port=self.config.metrics_port,
                    log_config=None,
                    access_log=False,
                    lifespan="off",
                )
            ),
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
                await self._replace_dead_workers()
            except Exception:  # keep watching: a failed restart is retried on the next round
                log.exception("replacing a worker failed")
            await asyncio.sleep(0.2)

    async def _replace_dead_workers(self) -> None:
        for position, worker in enumerate(self._workers):
            if worker.process.is_alive() or self._stopping:
                continue
            log.error(
                "worker %d (pid %s) exited with %s; replacing it",
                worker.index,
                worker.process.pid,
                worker.process.exitcode,
            )
            if worker.process.pid is not None:
                multiprocess.mark_process_dead(worker.process.pid)  # type: ignore[no-untyped-call]
            # Quick repeated failures back off; a worker that ran for a while restarts at once.
            restarts = 0 if time.monotonic() - worker.started > 60 else worker.restarts + 1
            await asyncio.sleep(RESTART_BACKOFF[min(restarts, len(RESTART_BACKOFF) - 1)] if restarts else 0)
            self._workers[position] = self._spawn(worker.index, restarts)

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
        workers = [
            {"worker": w.index, "pid": w.process.pid, "alive": w.process.is_alive(), "ready": w.ready.is_set()}
            for w in self._workers
        ]
        certificate = (self.cert_dir / certs.TLS_CERT).is_file() and (self.cert_dir / certs.TLS_KEY).is_file()
        ready = certificate and bool(workers) and all(w["alive"] and w["ready"] for w in workers)
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
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

        return app
