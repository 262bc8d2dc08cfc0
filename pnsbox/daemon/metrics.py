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


class _PairCollector(Collector):
    """The HA pair, as this hub's pnsboxd sees it (nothing outside a pair). `peer` names a hub of
    the pair: this one for its role, the other one for what was seen of it."""

    def __init__(self, daemon):
        self.daemon = daemon

    def collect(self):
        link = self.daemon.ha
        if link is None:
            return
        from .peer import ROLES

        status = link.status()
        if "error" in status:
            return
        me, peer = status["me"], status["peer"]
        role = GaugeMetricFamily("pnsbox_ha_role", "1 for the role this hub holds now (active, standby, fault, "
                                 "unknown), 0 for the others", labels=["peer", "role"])
        for name in ROLES:
            role.add_metric([me, name], 1 if status["role"] == name else 0)
        transitions = CounterMetricFamily("pnsbox_ha_transitions", "Role changes of this hub (keepalived's notify "
                                          "hook counts them)", labels=["peer"])
        transitions.add_metric([me], status["transitions"])
        yield from (role, transitions)
        if peer is None:
            return
        up = GaugeMetricFamily("pnsbox_ha_peer_up", "1 when the peer's pnsboxd answered the last sync, signed with "
                               "the pair key", labels=["peer"])
        up.add_metric([peer], 1 if status["reachable"] else 0)
        version = GaugeMetricFamily("pnsbox_ha_peer_version", "Config version the peer runs, as last seen "
                                    "(0: none yet)", labels=["peer"])
        version.add_metric([peer], status["peer_running"] or 0)
        split = GaugeMetricFamily("pnsbox_ha_split_brain", "1 while the two hubs hold different versions with the "
                                  "same number (`pnsbox ha resolve` ends it)", labels=["peer"])
        split.add_metric([peer], 1 if status["split_brain"] else 0)
        refused = CounterMetricFamily("pnsbox_ha_peer_refused_requests", "Requests on the peer port refused: "
                                      "unsigned, a wrong pair key, a replay, another source address")
        refused.add_metric([], status["refused_requests"])
        yield from (up, version, split, refused)
        if status["last_sync"]:
            synced = GaugeMetricFamily("pnsbox_ha_last_sync_timestamp_seconds", "When the peer last answered a sync",
                                       labels=["peer"])
            synced.add_metric([peer], status["last_sync"])
            yield synced


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
        self.registry.register(_PairCollector(daemon))
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
