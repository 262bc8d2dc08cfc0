"""The example site's policy matrix, proven with real sockets in a lab.

Expectations are written out by hand from rules/examples/province, not
computed by pnsbox: "A" answered, "T" no answer (dropped), "R" refused (rejected).
"""

import os
import tempfile
from datetime import UTC, datetime, timedelta

import pytest
from labkit import EXAMPLE, in_node, new_lab_name, probe

from pnsbox.apply.pipeline import apply
from pnsbox.lab import servers, topology
from pnsbox.load import load_site, load_text
from pnsbox.observe import counters
from pnsbox.validate import build

pytestmark = pytest.mark.kernel
if os.geteuid() != 0:
    pytest.skip("kernel tests need root (network namespaces)", allow_module_level=True)

SIMPEG, MAIL, DNS, INTERNET = "10.0.10.10", "10.0.10.20", "10.0.10.53", "203.0.113.10"
HOSTS = {"dinkes": "10.21.0.2", "bappeda": "10.22.0.2", "diskominfo": "10.30.0.2"}

# What every OPD may reach in the data center and on the internet.
EVERY_OPD = {
    ("tcp", SIMPEG, 80): "A", ("tcp", SIMPEG, 443): "A", ("tcp", SIMPEG, 25): "T", ("icmp", SIMPEG, 0): "A",
    ("tcp", MAIL, 25): "A", ("tcp", MAIL, 587): "A", ("tcp", MAIL, 993): "A", ("tcp", MAIL, 80): "T",
    ("icmp", MAIL, 0): "A",
    ("udp", DNS, 53): "A", ("tcp", DNS, 53): "A", ("udp", DNS, 123): "T", ("icmp", DNS, 0): "A",
    ("tcp", INTERNET, 80): "A", ("tcp", INTERNET, 443): "A", ("udp", INTERNET, 53): "A",
    ("udp", INTERNET, 123): "A", ("icmp", INTERNET, 0): "A",
    ("tcp", INTERNET, 25): "R",  # no-outbound-smtp rejects with a TCP reset
}
BETWEEN_OPDS = {
    "dinkes": {("tcp", HOSTS["bappeda"], 80): "T", ("icmp", HOSTS["bappeda"], 0): "T",
               ("tcp", HOSTS["diskominfo"], 22): "T"},
    "bappeda": {("tcp", HOSTS["dinkes"], 445): "T", ("tcp", HOSTS["dinkes"], 80): "T"},
    "diskominfo": {("tcp", HOSTS["dinkes"], 22): "A", ("tcp", HOSTS["dinkes"], 80): "A",
                   ("icmp", HOSTS["dinkes"], 0): "A", ("tcp", HOSTS["bappeda"], 445): "A",
                   ("tcp", SIMPEG, 443, "10.31.0.2"): "A"},  # its second subnet is the same zone
}
FROM_ELSEWHERE = {
    "simpeg": {("tcp", HOSTS["dinkes"], 80): "T", ("tcp", MAIL, 25): "A"},  # same switch: not via the hub
    "internet": {("tcp", HOSTS["dinkes"], 80): "T", ("udp", HOSTS["bappeda"], 53): "T"},
}
CODES = {"answered": "A", "timeout": "T", "refused": "R"}


@pytest.fixture(scope="module")
def lab():
    name = new_lab_name("m")
    config = build(load_site(EXAMPLE))
    state = tempfile.mkdtemp(prefix="pnsbox-state-")
    try:
        topology.lab_up(config, name)
        apply(config, topology.netns_name(name, "hub"), state)
        # The internet node has no route into the province unless someone tries to break in.
        in_node(name, "internet", "ip", "route", "add", "10.0.0.0/8", "via", "198.51.100.2")
        yield name, state
    finally:
        topology.lab_down(name)


def outcomes(lab_name: str, node: str, expected: dict) -> dict:
    results = probe(lab_name, node, [list(key) for key in expected])
    return {key: CODES.get(results[key]["result"], results[key]["result"]) for key in expected}


@pytest.mark.parametrize("node", sorted(HOSTS))
def test_opd_reaches_what_policies_allow_and_nothing_else(lab, node):
    expected = {**EVERY_OPD, **BETWEEN_OPDS[node]}
    assert outcomes(lab[0], node, expected) == expected


@pytest.mark.parametrize("node", sorted(FROM_ELSEWHERE))
def test_services_and_internet_reach_no_opd(lab, node):
    assert outcomes(lab[0], node, FROM_ELSEWHERE[node]) == FROM_ELSEWHERE[node]


def test_internet_sees_the_uplink_address(lab):
    results = probe(lab[0], "bappeda", [["tcp", INTERNET, 80], ["udp", INTERNET, 53]])
    for outcome in results.values():
        assert outcome["reply"].endswith("from 198.51.100.2"), outcome
    simpeg = probe(lab[0], "bappeda", [["tcp", SIMPEG, 80]])
    assert next(iter(simpeg.values()))["reply"].endswith("from 10.22.0.2")  # no NAT inside


def test_management_only_from_the_it_office(lab):
    name = lab[0]
    servers.start(topology.netns_name(name, "hub"), "hub", [22, 443], [])
    assert outcomes(name, "diskominfo", {("tcp", "10.30.0.1", 22): "A", ("tcp", "10.30.0.1", 443): "A"}) \
        == {("tcp", "10.30.0.1", 22): "A", ("tcp", "10.30.0.1", 443): "A"}
    denied = {("tcp", "10.21.0.1", 22): "T", ("tcp", "10.21.0.1", 443): "T", ("icmp", "10.21.0.1", 0): "A"}
    assert outcomes(name, "dinkes", denied) == denied  # ping the gateway, but no management


def test_spoofed_source_is_dropped_and_counted(lab):
    name = lab[0]
    hub = topology.netns_name(name, "hub")
    before = counters.read(hub).rules["no zone: unknown or spoofed source"].packets
    in_node(name, "dinkes", "ip", "addr", "add", "10.22.0.99/32", "dev", "eth0")
    spoofed = {("tcp", SIMPEG, 443, "10.22.0.99"): "T"}
    assert outcomes(name, "dinkes", spoofed) == spoofed
    assert counters.read(hub).rules["no zone: unknown or spoofed source"].packets > before


def test_per_opd_counters_see_the_traffic(lab):
    name = lab[0]
    hub = topology.netns_name(name, "hub")
    before = counters.read(hub).opds["bappeda"]
    in_node(name, "bappeda", "curl", "-sS", "-o", "/dev/null", "-m", "3", f"http://{SIMPEG}/")
    after = counters.read(hub).opds["bappeda"]
    assert after["tx"].packets > before["tx"].packets and after["rx"].packets > before["rx"].packets
    assert after["rx"].bytes - before["rx"].bytes > 100  # at least the HTTP reply came back


def _window(start: datetime, hours: float, days_shift: int = 0) -> str:
    end = start + timedelta(hours=hours)
    day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(start.weekday() + days_shift) % 7]
    return f'{{days: [{day}], from: "{start:%H:%M}", to: "{end:%H:%M}"}}'


@pytest.mark.parametrize("label, shift_hours, length, days_shift, expected", [
    ("inside the window", -1, 2, 0, "A"),
    ("before the window", 1, 2, 0, "T"),
    ("window on another day", -1, 2, 1, "T"),
])
def test_scheduled_rule_follows_the_clock(lab, label, shift_hours, length, days_shift, expected):
    """dinkes-files (dinkes -> bappeda tcp/445) holds only inside its schedule, in Asia/Jakarta time."""
    name, state = lab
    now = datetime.now(UTC) + timedelta(hours=7)  # Asia/Jakarta wall clock
    start = now + timedelta(hours=shift_hours)
    text = (EXAMPLE / "pnsbox.yaml").read_text()
    text = text.replace('office-hours: {days: [mon, tue, wed, thu, fri], from: "07:30", to: "16:00"}',
                        f"office-hours: {_window(start, length, days_shift)}")
    assert "office-hours: {days: [" in text
    opds = "".join(p.read_text() for p in sorted((EXAMPLE / "opds").glob("*.yaml")))
    config = build(load_text(text + "opds:\n" + "".join("  " + line + "\n" for line in opds.splitlines()
                                                          if not line.startswith("#"))))
    try:
        apply(config, topology.netns_name(name, "hub"), state)
        key = ("tcp", HOSTS["bappeda"], 445)
        assert outcomes(name, "dinkes", {key: expected}) == {key: expected}, label
    finally:
        apply(build(load_site(EXAMPLE)), topology.netns_name(name, "hub"), state)


ZONE_OF = {SIMPEG: "simpeg", MAIL: "mail", DNS: "dns", INTERNET: "internet",
           **{address: name for name, address in HOSTS.items()}}
ACTION_CODE = {"accept": "A", "drop": "T", "reject": "R"}


@pytest.mark.parametrize("node", sorted(HOSTS) + sorted(FROM_ELSEWHERE))
def test_explain_agrees_with_what_the_kernel_did(node):
    """The tables above are what the kernel did (the tests above probe them); `pnsbox explain`
    must give the same verdict for every one of them."""
    from pnsbox.explain import explain

    config = build(load_site(EXAMPLE))
    table = FROM_ELSEWHERE.get(node) or {**EVERY_OPD, **BETWEEN_OPDS[node]}
    for (proto, address, port, *_), observed in table.items():
        if address == MAIL and node == "simpeg":
            continue  # same switch: that traffic never reaches the hub
        port_text = "icmp" if proto == "icmp" else f"{proto}/{port}"
        verdict = explain(config, node, ZONE_OF[address], port_text).action
        assert ACTION_CODE[verdict] == observed, (node, proto, address, port)


def test_metrics_count_the_traffic_sent(lab):
    """The Prometheus text a scrape returns moves by at least what crossed the hub."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from pnsbox.observe.metrics import PnsboxCollector

    name, state = lab
    registry = CollectorRegistry()
    registry.register(PnsboxCollector(topology.netns_name(name, "hub"), state))

    def scrape():
        samples = {}
        for family in text_string_to_metric_families(generate_latest(registry).decode()):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    before = scrape()
    body = in_node(name, "bappeda", "curl", "-sS", "-m", "3", f"http://{INTERNET}/")
    after = scrape()
    rx = ("pnsbox_opd_bytes_total", (("direction", "rx"), ("opd", "bappeda")))
    tx = ("pnsbox_opd_bytes_total", (("direction", "tx"), ("opd", "bappeda")))
    assert after[rx] - before[rx] > len(body) + 40  # the reply, with its IP and TCP headers
    assert after[tx] - before[tx] > len("GET / HTTP/1.1\r\n")
    shaped = [k for k in after if k[0] == "pnsbox_class_bytes_total" and ("label", "bappeda") in k[1]
              and ("device", "pnsbox-dl") in k[1]]
    assert shaped and after[shaped[0]] - before.get(shaped[0], 0) > len(body)


def test_counters_read_over_netlink_agree_with_nft_json(lab):
    """observe.counters reads nfnetlink by hand; nft's own JSON listing is the reference."""
    import json
    import subprocess

    hub = topology.netns_name(lab[0], "hub")
    in_node(lab[0], "dinkes", "curl", "-sS", "-o", "/dev/null", "-m", "3", f"http://{SIMPEG}/")
    ours = counters.read(hub)
    listing = json.loads(subprocess.run(["ip", "netns", "exec", hub, "nft", "-j", "list", "table", "inet",
                                         "pnsbox"], capture_output=True, text=True, check=True).stdout)
    named, rules, rule_count = {}, {}, 0
    for item in listing["nftables"]:
        if "counter" in item:
            named[item["counter"]["name"]] = (item["counter"]["packets"], item["counter"]["bytes"])
        elif "rule" in item:
            rule_count += 1
            for expr in item["rule"]["expr"]:
                counter = expr.get("counter") if isinstance(expr, dict) else None
                if isinstance(counter, dict) and "packets" in counter:
                    key = item["rule"].get("comment", f"{item['rule']['chain']} (no comment)")
                    old = rules.get(key, (0, 0))
                    rules[key] = (old[0] + counter["packets"], old[1] + counter["bytes"])
    assert ours.rule_count == rule_count
    assert {k: (c.packets, c.bytes) for k, c in ours.rules.items()} == rules
    for opd, count in ours.opds.items():
        for direction in ("tx", "rx"):
            assert named[f"opd_{opd}_{direction}"] == (count[direction].packets, count[direction].bytes)
    assert ours.opds["dinkes"]["tx"].packets > 0
