"""What pnsboxd exports to Prometheus: the box's traffic and classes (observe.metrics), the
daemon's own work (apply durations, drift repairs, failed checks, the confirm deadline), and
the standard process metrics. Served over HTTP on loopback unless configured otherwise."""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..observe import classifier
from ..observe.metrics import PnsboxCollector
from ..plan import StepKind

DEFAULT_LISTEN = "127.0.0.1:9468"
APPLY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# What a drift repair can find: a step kind of the plan back to the config, or "rules" slipped
# into the table (its fingerprint changed, the digest in its comment did not).
DRIFT_KINDS = (*(kind.value for kind in StepKind), "rules")


class _StateCollector(Collector):
    """Read at scrape time from the daemon's files, so it is never stale."""

    def __init__(self, daemon):
        self.daemon = daemon

    def collect(self):
        pending = self.daemon.pending()
        version = GaugeMetricFamily("pnsbox_config_version", "Id of the config version the kernel runs")
        version.add_metric([], self.daemon.running() or 0)
        confirmed = GaugeMetricFamily("pnsbox_confirmed_version", "Id of the last confirmed config version")
        confirmed.add_metric([], self.daemon.confirmed() or 0)
        deadline = GaugeMetricFamily("pnsbox_pending_confirm_deadline_timestamp_seconds",
                                     "When an unconfirmed change is rolled back (0: nothing pending)")
        deadline.add_metric([], pending.deadline if pending else 0)
        yield from (version, confirmed, deadline)
        yield from self._classifier()

    def _classifier(self):
        """Whether every queue the config asks for has a classifier bound, and what the kernel lost."""
        settings = self.daemon.config.classifier if self.daemon.config else None
        if settings is None:
            return
        # The queues' own counters are pnsbox-classifier's metrics; here, what only the box can tell.
        queues = classifier.bound_queues(self.daemon.netns)
        bound = GaugeMetricFamily("pnsbox_classifier_queue_bound", "1 when a pnsbox-classifier holds the queue",
                                  labels=["queue"])
        for number in range(settings.queues):
            bound.add_metric([str(number)], 1 if number in queues else 0)
        yield bound
        offered = classifier.offered_packets(self.daemon.netns)
        if offered is not None:
            total = CounterMetricFamily("pnsbox_classifier_offered_packets", "Packets the queue rule sent to the "
                                        "classifier, or past it when no classifier was bound (bypass)")
            total.add_metric([], offered)
            yield total


class DaemonMetrics:
    def __init__(self, daemon):
        self.registry = CollectorRegistry()
        self.apply_seconds = Histogram("pnsbox_apply_duration_seconds", "Time to put a config into the kernel",
                                       buckets=APPLY_BUCKETS, registry=self.registry)
        self.last_apply = Gauge("pnsbox_last_apply_timestamp_seconds", "When the last apply succeeded",
                                registry=self.registry)
        self.drift_repairs = Counter("pnsbox_drift_repairs", "Repairs of what pnsbox owns in the kernel, by what "
                                     "had drifted", ["what"], registry=self.registry)
        self.check_failures = Counter("pnsbox_check_failures", "Applies rolled back because a check failed",
                                      registry=self.registry)
        for kind in DRIFT_KINDS:
            self.drift_repairs.labels(kind)  # every series exists from the start, at 0
        self.registry.register(_StateCollector(daemon))
        self.registry.register(PnsboxCollector(daemon.netns, str(daemon.state_dir), history=False))
        for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(standard)

    def drift_total(self) -> int:
        return int(sum(sample.value for metric in self.drift_repairs.collect() for sample in metric.samples
                       if sample.name.endswith("_total")))

    def serve(self, listen: str):
        """Start the HTTP endpoint; returns the server (its port, when 0 was asked for)."""
        host, _, port = listen.rpartition(":")
        server, _thread = start_http_server(int(port), host.strip("[]") or "127.0.0.1", registry=self.registry)
        return server
