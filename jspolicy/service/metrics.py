"""Prometheus metrics with jsPolicy's names, labels and buckets (docs/webhook.md lists them).

Dashboards built for jsPolicy keep working: ``policy_execution_total`` and
``policy_execution_duration_seconds`` are unchanged, and the webhook request
metrics keep controller-runtime's names (``webhook`` is ``/policy/`` or ``/crds``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

EXECUTION_BUCKETS = (
    0.001, 0.005, 0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1,
    1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
)  # fmt: skip
# controller-runtime observes webhook latency with the Go client's DefBuckets (Python's default differs).
GO_DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.executions = Counter(
            "policy_execution_total",
            "Policy executions by result code",
            ["type", "name", "code"],
            registry=self.registry,
        )
        self.execution_seconds = Histogram(
            "policy_execution_duration_seconds",
            "Time a policy's JavaScript ran",
            ["type", "name"],
            buckets=EXECUTION_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "controller_runtime_webhook_requests_total",
            "Webhook requests by HTTP status",
            ["webhook", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "controller_runtime_webhook_latency_seconds",
            "Webhook request latency",
            ["webhook"],
            buckets=GO_DEFAULT_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "controller_runtime_webhook_requests_in_flight",
            "Webhook requests being served",
            ["webhook"],
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.runaways = Counter(
            "jspolicy_runaway_evaluations_total",
            "Evaluations that kept running after their timeout was enforced (each retires its worker)",
            registry=self.registry,
        )
        # client-go's work queue metrics: the reconciler's queue and one per controller policy (named after it).
        self.queues = QueueMetrics(self.registry)

    def observe_execution(self, policy_type: str, name: str, code: int, seconds: float, ran: bool) -> None:
        """jsPolicy counts every execution, and times only those whose script actually ran."""
        self.executions.labels(policy_type, name, str(code or 200)).inc()
        if ran:
            self.execution_seconds.labels(policy_type, name).observe(seconds)


class QueueMetrics:
    """client-go's work queue metrics, and controller-runtime's reconcile metrics for the
    controller that works the queue (``controller`` is the queue's name)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.depth = Gauge("workqueue_depth", "Keys waiting in the queue", ["name"], registry=registry,
                           multiprocess_mode="livesum")  # fmt: skip
        self.adds = Counter("workqueue_adds_total", "Keys added to the queue", ["name"], registry=registry)
        self.retries = Counter("workqueue_retries_total", "Keys re-added with backoff", ["name"], registry=registry)
        self.reconciles = Counter("controller_runtime_reconcile_total", "Reconciles by result",
                                  ["controller", "result"], registry=registry)  # fmt: skip
        self.reconcile_errors = Counter("controller_runtime_reconcile_errors_total", "Reconciles that failed",
                                        ["controller"], registry=registry)  # fmt: skip
        self.reconcile_seconds = Histogram("controller_runtime_reconcile_time_seconds", "Time per reconcile",
                                           ["controller"], buckets=EXECUTION_BUCKETS, registry=registry)  # fmt: skip

    def observe_reconcile(self, controller: str, result: str, seconds: float) -> None:
        self.reconciles.labels(controller, result).inc()
        if result == ERROR:
            self.reconcile_errors.labels(controller).inc()
        self.reconcile_seconds.labels(controller).observe(seconds)


SUCCESS, REQUEUE, ERROR = "success", "requeue", "error"
