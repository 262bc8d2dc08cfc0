"""What pnsbox-classifier exports to Prometheus.

Each queue worker counts in plain Python numbers on its hot path (`Counts`) and hands the
supervisor a snapshot (a dict) every second; the collector adds the workers' snapshots up at
scrape time and adds the kernel's own counters for each queue.

Counters of what the process saw cover only the packets the kernel queued: the first few of
each flow. The nft counters (the apply layer's metrics) give the totals and the NFQUEUE
rule's "offered" packets; the difference to the kernel's queue sequence below is what passed
by --queue-bypass (no process bound) or at a full queue.
"""

from __future__ import annotations

from bisect import bisect_left

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from .verdict import CONFIDENCES

DEFAULT_LISTEN = "127.0.0.1:9469"
LATENCY_BUCKETS = (0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0)
PACKET_BUCKETS = (0.000005, 0.00001, 0.00002, 0.00005, 0.0001, 0.0005, 0.001, 0.01)


class Buckets:
    """A histogram cheap enough for every packet: counts per bucket (v <= bound) and a sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def snapshot(self) -> dict:
        return {"counts": list(self.counts), "sum": self.sum}


class Counts:
    """One worker's counts, updated on the hot path."""

    __slots__ = ("queue", "packets", "last_id", "overflow", "errors", "flows", "bytes",
                 "latency", "packet_time", "alive_at")

    def __init__(self, queue: int):
        self.queue = queue
        self.packets = 0
        self.last_id = 0        # the kernel numbers a queue's packets 1, 2, ...
        self.overflow = 0       # ids we never received: passed unclassified (fail-open)
        self.errors = 0         # packets the glue failed on (accepted all the same)
        self.flows: dict[tuple[str, str], int] = {}   # (app, category) -> flows decided
        self.bytes: dict[tuple[str, str], int] = {}   # (app, category) -> queued bytes
        self.latency = Buckets(LATENCY_BUCKETS)
        self.packet_time = Buckets(PACKET_BUCKETS)
        self.alive_at = 0.0     # time.monotonic() of the worker's last sign of life

    def snapshot(self, engine) -> dict:
        stats = engine.stats
        return {
            "queue": self.queue, "packets": self.packets, "overflow": self.overflow,
            "errors": self.errors + stats.errors, "flows": dict(self.flows), "bytes": dict(self.bytes),
            "latency": self.latency.snapshot(), "packet_time": self.packet_time.snapshot(),
            "inspected": stats.inspected, "flows_seen": stats.flows,
            "verdicts": dict(stats.by_confidence), "table": len(engine.flows),
            "evicted": engine.flows.evicted, "names": len(engine.names), "alive_at": self.alive_at,
        }


class ClassifierCollector(Collector):
    def __init__(self, snapshots, queue_stats, ready):
        self.snapshots = snapshots      # () -> list of Counts.snapshot() dicts, one per worker
        self.queue_stats = queue_stats  # () -> {queue number: kernel counters}
        self.ready = ready              # () -> bool

    def collect(self):
        snaps = self.snapshots()
        yield _gauge("pnsbox_classifier_up", "1 while the classifier process runs", 1)
        yield _gauge("pnsbox_classifier_ready", "1 once every queue is bound", int(self.ready()))

        packets = CounterMetricFamily("pnsbox_classifier_packets", "Packets the process received from "
                                      "its queue and accepted", labels=["queue"])
        overflow = CounterMetricFamily(
            "pnsbox_classifier_queue_overflow_packets", "Packets the kernel queued that the process never "
            "received (its socket buffer was full); fail-open passed them unclassified", labels=["queue"])
        for snap in snaps:
            packets.add_metric([str(snap["queue"])], snap["packets"])
            overflow.add_metric([str(snap["queue"])], snap["overflow"])
        yield from (packets, overflow)
        yield _counter("pnsbox_classifier_packets_inspected", "Packets whose payload went to a protocol parser",
                       sum(s["inspected"] for s in snaps))
        yield _counter("pnsbox_classifier_errors", "Packets the classifier failed on (accepted all the same)",
                       sum(s["errors"] for s in snaps))
        yield _counter("pnsbox_classifier_flows_seen", "New flows the classifier saw",
                       sum(s["flows_seen"] for s in snaps))

        flows = _merge(s["flows"] for s in snaps)
        by_app = CounterMetricFamily("pnsbox_classifier_flows", "Flows classified, by application and category",
                                     labels=["app", "category"])
        for (app, category), value in sorted(flows.items()):
            by_app.add_metric([app, category], value)
        by_category = CounterMetricFamily("pnsbox_classifier_category_flows", "Flows classified, by category",
                                          labels=["category"])
        for category, value in sorted(_by_category(flows).items()):
            by_category.add_metric([category], value)
        bytes_ = _merge(s["bytes"] for s in snaps)
        bytes_app = CounterMetricFamily(
            "pnsbox_classifier_bytes", "IP bytes of the packets the classifier inspected (only the first "
            "packets of each flow: the nft counters give the totals), by application and category",
            labels=["app", "category"])
        for (app, category), value in sorted(bytes_.items()):
            bytes_app.add_metric([app, category], value)
        bytes_category = CounterMetricFamily("pnsbox_classifier_category_bytes", "IP bytes of the packets the "
                                             "classifier inspected, by category", labels=["category"])
        for category, value in sorted(_by_category(bytes_).items()):
            bytes_category.add_metric([category], value)
        yield from (by_app, by_category, bytes_app, bytes_category)

        verdicts = CounterMetricFamily("pnsbox_classifier_verdicts", "Verdicts by how the application was "
                                       "decided (inspected, dns, address, port; none = unknown)",
                                       labels=["confidence"])
        totals = _merge(s["verdicts"] for s in snaps)
        for confidence in CONFIDENCES:
            verdicts.add_metric([confidence], totals.get(confidence, 0))
        yield verdicts
        decided = sum(flows.values())
        unknown = sum(v for (app, _), v in flows.items() if app == "unknown")
        yield _gauge("pnsbox_classifier_unknown_ratio", "Share of classified flows whose application is "
                     "unknown (pnsbox_classifier_flows{app=\"unknown\"} over all)", unknown / decided if decided else 0)

        yield _histogram("pnsbox_classifier_verdict_latency_seconds", "Time from a flow's first queued packet "
                         "to its verdict", LATENCY_BUCKETS, [s["latency"] for s in snaps])
        yield _histogram("pnsbox_classifier_packet_seconds", "Processing time of one queued packet in the "
                         "process (parse, classify, verdict)", PACKET_BUCKETS, [s["packet_time"] for s in snaps])
        yield _gauge("pnsbox_classifier_flow_table_flows", "Flows in the classifier's tables",
                     sum(s["table"] for s in snaps))
        yield _counter("pnsbox_classifier_flow_table_evictions", "Flows dropped from a full flow table",
                       sum(s["evicted"] for s in snaps))
        yield _gauge("pnsbox_classifier_dns_names", "Addresses whose DNS name the classifier remembers (per "
                     "worker: summed)", sum(s["names"] for s in snaps))
        yield from self._kernel()

    def _kernel(self):
        """The kernel's side of each queue (/proc/net/netfilter/nfnetlink_queue)."""
        queued = CounterMetricFamily("pnsbox_classifier_queue_kernel_packets", "Packets the kernel put in the "
                                     "queue (its packet id sequence)", labels=["queue"])
        backlog = GaugeMetricFamily("pnsbox_classifier_queue_backlog_packets", "Packets waiting in the queue "
                                    "for a verdict", labels=["queue"])
        dropped = CounterMetricFamily("pnsbox_classifier_queue_dropped_packets", "Packets the kernel dropped "
                                      "at a full queue (0 while fail-open works)", labels=["queue"])
        user_dropped = CounterMetricFamily("pnsbox_classifier_queue_user_dropped_packets", "Packets the kernel "
                                           "dropped when the process's socket was full (0 while fail-open works)",
                                           labels=["queue"])
        for num, stats in sorted(self.queue_stats().items()):
            label = [str(num)]
            queued.add_metric(label, stats["id_sequence"])
            backlog.add_metric(label, stats["backlog"])
            dropped.add_metric(label, stats["dropped"])
            user_dropped.add_metric(label, stats["user_dropped"])
        yield from (queued, backlog, dropped, user_dropped)


def _gauge(name: str, help: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help, value=value)


def _counter(name: str, help: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, help, value=value)


def _histogram(name: str, help: str, bounds: tuple[float, ...], parts: list[dict]) -> HistogramMetricFamily:
    counts = [0] * (len(bounds) + 1)
    total = 0.0
    for part in parts:
        counts = [a + b for a, b in zip(counts, part["counts"], strict=True)]
        total += part["sum"]
    cumulative, running = [], 0
    for bound, count in zip((*map(str, bounds), "+Inf"), counts, strict=True):
        running += count
        cumulative.append((bound, running))
    return HistogramMetricFamily(name, help, buckets=cumulative, sum_value=total)


def _merge(dicts) -> dict:
    out: dict = {}
    for part in dicts:
        for key, value in part.items():
            out[key] = out.get(key, 0) + value
    return out


def _by_category(by_app: dict) -> dict:
    out: dict = {}
    for (_, category), value in by_app.items():
        out[category] = out.get(category, 0) + value
    return out


def serve(listen: str, collector: ClassifierCollector):
    """Start the HTTP endpoint on ADDRESS:PORT; returns the server (its port, when 0 was asked for)."""
    registry = CollectorRegistry()
    registry.register(collector)
    host, _, port = listen.rpartition(":")
    server, _thread = start_http_server(int(port), host.strip("[]") or "127.0.0.1", registry=registry)
    return server
