"""Prometheus metrics for auditors: per-OPD traffic from the nft counters, per-class HTB stats,
and what the history knows. A collector reads the kernel at scrape time; the daemon (and
`pnsbox metrics`) serve it."""

from __future__ import annotations

import time

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..apply.owned import OwnedRecord
from ..store import History
from . import counters, edges, tc

# SeenClass field, metric type, name after pnsbox_class_, help text
CLASS_METRICS = (
    ("rate", GaugeMetricFamily, "rate_bits", "Configured HTB rate (guarantee)"),
    ("ceil", GaugeMetricFamily, "ceil_bits", "Configured HTB ceiling"),
    ("rate_now", GaugeMetricFamily, "current_bits_per_second", "Estimated current rate"),
    ("bytes", CounterMetricFamily, "bytes", "Bytes sent by the class"),
    ("drops", CounterMetricFamily, "drops", "Packets dropped by the class"),
    ("borrowed", CounterMetricFamily, "borrowed", "Times the class borrowed from its parent"),
)


class PnsboxCollector(Collector):
    def __init__(self, netns: str | None, state_dir: str, history: bool = True):
        self.netns = netns
        self.state_dir = state_dir
        self.history = history  # pnsboxd reports versions itself (what runs, not what was recorded last)

    def collect(self):
        yield from self._opds()
        yield from self._classes()
        yield from self._edges()
        if self.history:
            yield from self._history()

    def _opds(self):
        found = counters.read(self.netns)
        loaded = GaugeMetricFamily("pnsbox_ruleset_loaded", "1 when the pnsbox nftables table is loaded")
        loaded.add_metric([], 0 if found is None else 1)
        yield loaded
        if found is None:
            return
        bytes_total = CounterMetricFamily("pnsbox_opd_bytes", "Bytes through the hub per OPD",
                                          labels=["opd", "direction"])
        packets_total = CounterMetricFamily("pnsbox_opd_packets", "Packets through the hub per OPD",
                                            labels=["opd", "direction"])
        for opd, count in sorted(found.opds.items()):
            for direction in ("tx", "rx"):
                bytes_total.add_metric([opd, direction], count[direction].bytes)
                packets_total.add_metric([opd, direction], count[direction].packets)
        rule_packets = CounterMetricFamily("pnsbox_policy_packets", "Packets matched per policy rule comment",
                                           labels=["policy"])
        for name, count in sorted(found.rules.items()):
            rule_packets.add_metric([name], count.packets)
        yield from (bytes_total, packets_total, rule_packets)
        if found.apps:  # the classifier is on: every classified byte, counted by the kernel
            for kind, counts in (("app", found.apps), ("category", found.categories)):
                family = CounterMetricFamily(f"pnsbox_{kind}_bytes", f"Bytes through the hub by the {kind} the "
                                             "classifier named (both directions)", labels=[kind])
                packets = CounterMetricFamily(f"pnsbox_{kind}_packets", f"Packets through the hub by {kind}",
                                              labels=[kind])
                for name, count in sorted(counts.items()):
                    family.add_metric([name], count.bytes)
                    packets.add_metric([name], count.packets)
                yield from (family, packets)

    def _classes(self):
        labels = OwnedRecord(self.state_dir, self.netns).read().labels
        trees, _ = tc.observe(self.netns)
        families = {field: kind(f"pnsbox_class_{name}", text, labels=["device", "class", "label"])
                    for field, kind, name, text in CLASS_METRICS}
        for device, tree in trees.items():
            for minor, seen in sorted(tree.classes.items()):
                key = f"1:{minor:x}"
                for field, family in families.items():
                    family.add_metric([device, key, labels.get(key, "")], getattr(seen, field))
        yield from families.values()

    def _edges(self):
        interface, seen = edges.read(self.netns, self.state_dir)
        if interface is None and not seen:
            return
        now = time.time()
        up = GaugeMetricFamily("pnsbox_edge_up", f"1 when the OPD's edge shook hands in the last {edges.UP_WITHIN} s",
                               labels=["opd"])
        handshake = GaugeMetricFamily("pnsbox_edge_last_handshake_timestamp_seconds",
                                      "When the OPD's edge last shook hands with the hub (0: never)", labels=["opd"])
        transferred = CounterMetricFamily("pnsbox_edge_bytes", "Bytes through the OPD's tunnel, WireGuard's count "
                                          "(rx: from the edge, tx: to it)", labels=["opd", "direction"])
        version = GaugeMetricFamily("pnsbox_edge_config_version", "The hub's config version the edge last fetched",
                                    labels=["opd"])
        for e in seen:
            up.add_metric([e.opd], 1 if e.up(now) and not e.disabled else 0)
            handshake.add_metric([e.opd], e.latest_handshake)
            transferred.add_metric([e.opd, "rx"], e.rx_bytes)
            transferred.add_metric([e.opd, "tx"], e.tx_bytes)
            if e.fetched_version is not None:
                version.add_metric([e.opd], e.fetched_version)
        yield from (up, handshake, transferred, version)

    def _history(self):
        latest = History(self.state_dir).latest()
        version = GaugeMetricFamily("pnsbox_config_version", "Id of the last applied config version")
        version.add_metric([], latest.id if latest else 0)
        last = GaugeMetricFamily("pnsbox_last_apply_timestamp_seconds", "When the last version was applied")
        last.add_metric([], latest.time if latest else 0)
        yield from (version, last)
