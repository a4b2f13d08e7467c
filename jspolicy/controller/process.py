"""The controller process of a cluster-mode replica: leader election, then the leader's work.

Spawned by the supervisor next to the webhook workers (and replaced if it dies).
While this replica holds the Lease it reconciles JsPolicies into webhook
configurations and status, fills in the core ``/crds`` webhook, and runs
controller policies in its own V8 pool, so a slow controller policy never takes a
context from an admission request. Losing the Lease stops all of that before
another replica can take over.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType

from jspolicy.admission.evaluate import PolicyEngine
from jspolicy.bundler.build import BuildSettings, Bundler
from jspolicy.cluster.client import api_client
from jspolicy.cluster.informer import InformerFactory
from jspolicy.cluster.kube import KubeCluster
from jspolicy.cluster.violations import ViolationWriter
from jspolicy.controller.leader import LeaderElector, LeaseTiming
from jspolicy.controller.policies import ControllerPolicyManager
from jspolicy.controller.reconciler import PolicyReconciler
from jspolicy.runtime.pool import RuntimePool
from jspolicy.runtime.settings import RuntimeSettings
from jspolicy.service import certs, logs
from jspolicy.service.config import ServerConfig
from jspolicy.service.metrics import Metrics
from jspolicy.service.process import collect_garbage, exit_with_parent

log = logging.getLogger("jspolicy.controller")


def run_controller(config: ServerConfig) -> None:
    exit_with_parent()
    logs.configure(config.log_level, config.log_json)
    kube = config.kube
    assert kube is not None, "the controller runs in cluster mode only"
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    api = api_client(kube.kubeconfig)
    runaway = threading.Event()

    def on_runaway() -> None:
        """A controller policy's evaluation would not stop: only a new process gets its CPU back."""
        if not runaway.is_set():
            log.error("a controller policy kept running after its timeout; the controller restarts to free its CPU")
        runaway.set()
        stop.set()  # leadership is handed over as on SIGTERM; the supervisor starts a new controller

    pool = RuntimePool(RuntimeSettings.from_env(), on_runaway=on_runaway)
    ca_file = Path(config.cert_dir) / certs.CA_CERT
    timing = LeaseTiming(kube.lease_duration, kube.renew_deadline, kube.retry_period)
    metrics = Metrics()  # summed with the workers' by the supervisor's /metrics

    def lead(lost: threading.Event) -> None:
        informers = InformerFactory(api)
        writer = ViolationWriter(api)  # controller policies always write JsPolicyViolations, as in jsPolicy
        engine = PolicyEngine(pool, KubeCluster(api, informers))
        controllers = ControllerPolicyManager(informers, engine, writer.record, metrics)
        # npm dependencies come from the configured registry (NPM_CONFIG_REGISTRY, JSPOLICY_NPM_TOKEN), never
        # from paths on this machine.
        bundler = Bundler(BuildSettings.from_env(allow_file_dependencies=False))
        reconciler = PolicyReconciler(
            api, informers, kube, ca_file.read_bytes, pool.compile_error, controllers, bundler,
            queue_metrics=metrics.queues,
        )  # fmt: skip
        gc = threading.Thread(target=collect_garbage, args=(informers, lost), name="informer-gc", daemon=True)
        gc.start()
        try:
            reconciler.run(lost)
        finally:
            controllers.close()
            writer.close()
            informers.close()

    try:
        LeaderElector(api, kube.namespace, kube.identity, timing).run(lead, stop)
    finally:
        pool.close()
    if runaway.is_set():  # the busy V8 thread could hold up the interpreter's normal exit
        logging.shutdown()
        os._exit(1)
