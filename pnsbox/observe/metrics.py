"""Prometheus metrics for auditors: per-OPD traffic from the nft counters, per-class HTB stats,
and what the history knows. A collector reads the kernel at scrape time; the daemon (and
`pnsbox metrics`) serve it."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..apply import tc
from ..apply.owned import OwnedRecord
from ..store import History
from . import counters


class PnsboxCollector(Collector):
    def __init__(self, netns: str | None, state_dir: str):
        self.netns = netns
        self.state_dir = state_dir

    def collect(self):
        yield from self._opds()
        yield from self._classes()
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

    def _classes(self):
        labels = OwnedRecord(self.state_dir, self.netns).read().get("labels", {})
        trees, _ = tc.observe(self.netns)
        families = {
            "rate": GaugeMetricFamily("pnsbox_class_rate_bits", "Configured HTB rate (guarantee)",
                                      labels=["device", "class", "label"]),
            "ceil": GaugeMetricFamily("pnsbox_class_ceil_bits", "Configured HTB ceiling",
                                      labels=["device", "class", "label"]),
            "rate_now": GaugeMetricFamily("pnsbox_class_current_bits_per_second", "Estimated current rate",
                                          labels=["device", "class", "label"]),
            "bytes": CounterMetricFamily("pnsbox_class_bytes", "Bytes sent by the class",
                                         labels=["device", "class", "label"]),
            "drops": CounterMetricFamily("pnsbox_class_drops", "Packets dropped by the class",
                                         labels=["device", "class", "label"]),
            "borrowed": CounterMetricFamily("pnsbox_class_borrowed", "Times the class borrowed from its parent",
                                            labels=["device", "class", "label"]),
        }
        for device, tree in trees.items():
            for minor, seen in sorted(tree.classes.items()):
                key = f"1:{minor:x}"
                for field, family in families.items():
                    family.add_metric([device, key, labels.get(key, "")], getattr(seen, field))
        yield from families.values()

    def _history(self):
        latest = History(self.state_dir).latest()
        version = GaugeMetricFamily("pnsbox_config_version", "Id of the last applied config version")
        version.add_metric([], latest.id if latest else 0)
        last = GaugeMetricFamily("pnsbox_last_apply_timestamp_seconds", "When the last version was applied")
        last.add_metric([], latest.time if latest else 0)
        yield from (version, last)
