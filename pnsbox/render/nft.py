"""Config -> the `inet pnsbox` nftables table, as text, with each line's origin.

Per-packet cost does not grow with the number of OPDs: a packet's source
zone is found by one verdict-map lookup on (input interface, source
address), which jumps to that zone's chain; the chain holds only the
policies whose `from` names that zone, each matching its destination with a
set lookup on (output interface, destination address).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from ..classifier.catalog import Catalog
from ..model import GROUP_OPDS, ZONE_BOX, ZONE_INTERNET, Config, Policy, PortRange
from . import apps
from .schedule import NFT_DAYS, utc_windows
from .tc import INTRANET, UNMATCHED, Shaping, classid

TABLE = "inet pnsbox"
ANY_IPV4 = "0.0.0.0/0"
DIGEST_OBJECT = "ruleset_digest"


@dataclass
class Ruleset:
    """The rendered table. `origins` maps a line number (1-based) to what it came from."""

    text: str
    digest: str  # also in the table's comment, so apply can tell what runs
    origins: dict[int, str] = field(default_factory=dict)


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ident(name: str) -> str:
    """A zone name as an nft identifier (nft names take no '-')."""
    return name.replace("-", "_")


def zone_set(name: str) -> str:
    return "zone_" + ident(name)


SHARED_SET_TYPES = {"ports": "type inet_proto . inet_service; flags interval",
                    "days": "typeof meta day", "protocols": "type inet_proto"}


class _Writer:
    def __init__(self, catalog: Catalog | None):
        self.catalog = catalog
        self.lines: list[str] = []
        self.origins: dict[int, str] = {}
        self.shared: dict[tuple[str, tuple[str, ...]], str] = {}  # (kind, elements) -> set name

    def add(self, text: str, origin: str = "", indent: int = 1):
        self.lines.append("\t" * indent + text)
        if origin:
            self.origins[len(self.lines)] = origin

    def shared_set(self, kind: str, elements: list[str]) -> str:
        """A named set for a list that many rules use: anonymous sets, one per rule, make
        the kernel's load time grow with the square of their number."""
        key = (kind, tuple(elements))
        if key not in self.shared:
            self.shared[key] = f"{kind}_{len(self.shared)}"
        return "@" + self.shared[key]

    def shared_declarations(self) -> list[str]:
        return [f"\tset {name} {{ {SHARED_SET_TYPES[kind]}; elements = {_elements(list(elements))} }}"
                for (kind, elements), name in self.shared.items()]


def _quote(text: str) -> str:
    return '"' + text.replace('"', "'").replace("\\", "/") + '"'


def _comment(text: str) -> str:
    """A rule's comment: where in the YAML it comes from (`policies[3] dinkes-files`), so
    `nft list ruleset` reads back to the config. The kernel keeps at most 128 bytes."""
    return f"comment {_quote(text.encode()[:127].decode(errors='ignore'))}"


def zone_origin(config: Config, zone: str) -> str:
    """The YAML path of a zone: opds.NAME, services.NAME; `internet` is the uplink's far side."""
    if zone in config.opds:
        return f"opds.{zone}"
    if zone in config.services:
        return f"services.{zone}"
    return zone


def _elements(items: list[str]) -> str:
    return "{ " + ", ".join(items) + " }"


def zone_elements(config: Config) -> dict[str, list[str]]:
    """Zone name -> its `ifname . ipv4_addr` set elements (the group `opds` too)."""
    zones: dict[str, list[str]] = {}
    for name, service in config.services.items():
        device = _quote(service.link.device)
        zones[name] = list(dict.fromkeys(f"{device} . {addr}" for addr in service.addresses))
    for name, opd in config.opds.items():
        device = _quote(opd.link.device)
        zones[name] = [f"{device} . {net}" for net in opd.subnet]
    zones[GROUP_OPDS] = [e for name in config.opds for e in zones[name]]
    zones[ZONE_INTERNET] = [f"{_quote(config.site.uplink.interface)} . {ANY_IPV4}"]
    return zones


def render(config: Config, shaping: Shaping, queue_in_nft: bool, catalog: Catalog | None,
           ftp_helper: bool = True) -> Ruleset:
    """The whole table, ready for `nft -f` (after the replace preamble of the apply layer).
    Called through render.site.site, which gives everything it depends on.

    `shaping` gives the HTB leaf of each OPD and class. `queue_in_nft`: the kernel has
    nft's `queue` statement, so the classifier's queue rule lives here too. `catalog`: the
    applications and categories (needed when the config classifies). `ftp_helper`: the kernel
    has the FTP conntrack helper (without it the kernel would refuse the table whole)."""
    w = _Writer(catalog)
    zones = zone_elements(config)
    w.add(f"table {TABLE} {{", indent=0)
    _sets(w, config, zones)
    _counters(w, config)
    _classify(w, config, queue_in_nft, ftp_helper)
    _forward(w, config, zones)
    _opd_categories(w, config)
    _input(w, config)
    _mss_clamp(w, config)
    _shape(w, config, shaping)
    _nat(w, config)
    w.add("}", indent=0)
    shared = w.shared_declarations()  # used above, declared first: after the table's opening line
    w.lines[1:1] = shared
    w.origins = {line + len(shared) if line > 1 else line: origin for line, origin in w.origins.items()}
    body = "\n".join(w.lines) + "\n"
    header = f"# pnsbox ruleset for site {config.site.name}: generated, do not edit\n"
    # The digest names this exact ruleset; apply reads it back to skip unchanged re-applies.
    digest = digest_of(body)
    # The table's comment carries it (read back over nfnetlink), and a named counter too (for JSON).
    text = header + body.replace(f"table {TABLE} {{\n", f"table {TABLE} {{\n"
                                 f"\tcomment \"pnsbox {digest}\"\n"
                                 f"\tcounter {DIGEST_OBJECT} {{ comment \"pnsbox {digest}\" }}\n", 1)
    origins = {line + 3 if line > 1 else line + 1: origin for line, origin in w.origins.items()}
    return Ruleset(text, digest, origins)


def _sets(w: _Writer, config: Config, zones: dict[str, list[str]]):
    for name, elements in zones.items():
        w.add(f"set {zone_set(name)} {{", f"zone {name}")
        w.add("type ifname . ipv4_addr; flags interval", indent=2)
        if elements:  # declared even when empty: policies may name `opds` before there are any
            w.add(f"elements = {_elements(elements)}", f"zone {name}", indent=2)
        w.add("}")
    dispatch = [f"{e} : goto from_{ident(name)}"
                for name, elements in zones.items() if name != GROUP_OPDS for e in elements]
    w.add("map from_zone {", "zone dispatch")
    w.add("type ifname . ipv4_addr : verdict; flags interval", indent=2)
    w.add(f"elements = {_elements(dispatch)}", "zone dispatch", indent=2)
    w.add("}")


def _counters(w: _Writer, config: Config):
    if not config.opds:
        return
    for name, opd in config.opds.items():
        for direction in ("tx", "rx"):
            # The OPD's own key (nft counter names take '-'), so metrics and the web UI can use it as is.
            w.add(f"counter opd_{name}_{direction} {{ comment {_quote(opd.name)} }}", f"opds.{name}")
    for direction in ("tx", "rx"):
        elements = [f"{_quote(opd.link.device)} . {net} : \"opd_{name}_{direction}\""
                    for name, opd in config.opds.items() for net in opd.subnet]
        w.add(f"map opd_{direction} {{", "per-OPD counters")
        w.add("type ifname . ipv4_addr : counter; flags interval", indent=2)
        w.add(f"elements = {_elements(elements)}", "per-OPD counters", indent=2)
        w.add("}")


def _classify(w: _Writer, config: Config, queue_in_nft: bool, ftp_helper: bool):
    """The classifier's verdict becomes the connection's mark (before shaping and policies
    look at it); application policies then run, in order, for every classified packet."""
    settings = config.classifier
    if settings is None:
        return
    if queue_in_nft:
        w.add("chain classifier_queue {", "site.classifier")  # `queue` alone is an nft keyword
        w.add("type filter hook forward priority mangle; policy accept;", indent=2)
        w.add(apps.queue_rule_nft(settings), "site.classifier", 2)
        w.add("}")
    counters, app_elements, category_elements = apps.byte_counters(w.catalog)
    for counter in counters:
        w.add(counter, "site.classifier")
    for name, elements in (("app_bytes", app_elements), ("category_bytes", category_elements)):
        w.add(f"map {name} {{", "site.classifier")
        w.add(f"type mark : counter; elements = {_elements(elements)}", "site.classifier", 2)
        w.add("}")
    # FTP data connections: the kernel's FTP helper reads PORT/PASV/EPSV on the control
    # connection (the classifier sees only its first packets) and the connection it expects
    # inherits the control connection's mark, so it is classified as FTP without being queued.
    # A kernel without the helper gets neither (render.site warns what is lost).
    if ftp_helper:
        w.add('ct helper ftp { type "ftp" protocol tcp; }', "site.classifier")
    w.add("chain classify {", "site.classifier")
    w.add("type filter hook forward priority mangle + 10; policy accept;", indent=2)
    w.add(apps.copy_verdict_rule(), "site.classifier", 2)
    if ftp_helper:
        w.add(apps.ftp_helper_rule(), "site.classifier", 2)
    w.add("}")
    by_app = [(i, p) for i, p in enumerate(config.policies) if p.by_application]
    if not by_app:
        return
    w.add("chain apps {", "application policies")
    for index, policy in by_app:
        for source in policy.from_:
            for target in policy.to:
                for mark in apps.mark_matches(w.catalog, policy.app, policy.category):
                    where = f"iifname . ip saddr @{zone_set(source)} oifname . ip daddr @{zone_set(target)} {mark}"
                    for text, origin in _policy_rules(w, config, index, policy, where, target):
                        w.add(text, origin, 2)
    w.add("}")


def _forward(w: _Writer, config: Config, zones: dict[str, list[str]]):
    w.add("chain forward {")
    w.add("type filter hook forward priority filter; policy drop;", indent=2)
    if config.opds:
        w.add('counter name iifname . ip saddr map @opd_tx comment "opds: upload per OPD"', "per-OPD counters", 2)
        w.add('counter name oifname . ip daddr map @opd_rx comment "opds: download per OPD"', "per-OPD counters", 2)
    if config.classifier:
        for rule in apps.count_rules():
            w.add(rule, "site.classifier", 2)
    if any(p.by_application for p in config.policies):  # before the fast path: a verdict comes mid-flow
        w.add(f'{apps.classified_match()} jump apps comment "policies: by application"', "application policies", 2)
    w.add('ct state established,related accept comment "fast path"', "fast path", 2)
    w.add('ct state invalid drop comment "invalid"', "fast path", 2)
    w.add('iifname . ip saddr vmap @from_zone comment "zone dispatch"', "zone dispatch", 2)
    w.add('counter drop comment "no zone: unknown or spoofed source"', "zone dispatch", 2)
    w.add("}")
    by_source: dict[str, list[int]] = {}  # zone -> its policies, in order
    for index, policy in enumerate(config.policies):
        if policy.by_application:
            continue  # in chain apps: they need the classifier's verdict
        for zone in config.expand(policy.from_):
            by_source.setdefault(zone, []).append(index)
    rules: dict[int, list[tuple[str, str]]] = {}  # a policy's rules read the same in every zone's chain

    def rules_of(index: int) -> list[tuple[str, str]]:
        if index not in rules:
            policy = config.policies[index]
            rules[index] = [line for target in policy.to if target != ZONE_BOX and zones.get(target)
                            for line in _policy_rules(w, config, index, policy,
                                                      f"oifname . ip daddr @{zone_set(target)}", target)]
        return rules[index]

    chains = {name: _chain_items(config, by_source.get(name, []), rules_of)
              for name in zones if name != GROUP_OPDS and zones[name]}
    # One chain per distinct run, numbered: two runs may share their ends but not their middle.
    group_names = {run: f"group_{n}" for n, run in enumerate(sorted(
        {item for items in chains.values() for item in items if isinstance(item, tuple)}))}
    for run, chain in group_names.items():  # declared before the chains that jump to them
        w.add(f"chain {chain} {{", f"policies[{run[0]}..{run[-1]}]")
        for index in run:
            for text, origin in rules_of(index):
                w.add(text, origin, 2)
        w.add("}")
    for name, items in chains.items():
        w.add(f"chain from_{ident(name)} {{", f"zone {name}")
        for item in items:
            if isinstance(item, tuple):
                names = ", ".join(config.policies[i].name for i in item)
                w.add(f"jump {group_names[item]} {_comment(f'policies[{item[0]}..{item[-1]}] {names}')}",
                      f"policies[{item[0]}..{item[-1]}]", 2)
            else:
                for text, origin in rules_of(item):
                    w.add(text, origin, 2)
        w.add(f"counter drop {_comment(zone_origin(config, name) + ': default deny')}", f"zone {name}", 2)
        w.add("}")


def _chain_items(config: Config, indexes: list[int], rules_of) -> list:
    """A zone chain's policies; runs of `from: opds` policies that render to several rules
    become one jump to a chain all OPDs share (a tuple of indexes), so a 1,000-OPD site does
    not load each group policy 1,000 times. Order is kept: a jump that matches nothing returns."""
    items: list = []
    run: list[int] = []

    def close_run():
        if len(config.opds) > 1 and sum(len(rules_of(i)) for i in run) >= 2:
            items.append(tuple(run))
        else:
            items.extend(run)
        run.clear()

    for index in indexes:
        if GROUP_OPDS in config.policies[index].from_:
            run.append(index)
        else:
            close_run()
            items.append(index)
    close_run()
    return items


def _opd_categories(w: _Writer, config: Config):
    """Bytes per OPD and category (apps.opd_category_rules), counted after the forward chain
    accepted the packet. Each OPD gets a number; the element's comment names the OPD for observe."""
    if config.classifier is None or not config.opds:
        return
    elements = [f'{_quote(opd.link.device)} . {net} comment "{name}" : {number:#010x}'
                for number, (name, opd) in enumerate(config.opds.items(), 1) for net in opd.subnet]
    w.add(f"map {apps.OPD_NUMBER_MAP} {{", "per-OPD categories")
    w.add("type ifname . ipv4_addr : mark; flags interval", indent=2)
    w.add(f"elements = {_elements(elements)}", "per-OPD categories", indent=2)
    w.add("}")
    for line in apps.opd_category_sets(len(config.opds)):
        w.add(line, "per-OPD categories")
    w.add("chain opd_categories {", "per-OPD categories")
    w.add("type filter hook forward priority filter + 10; policy accept;", indent=2)
    for rule in apps.opd_category_rules():
        w.add(rule, "per-OPD categories", 2)
    w.add("}")


def _tunnelled(config: Config) -> bool:
    return any(opd.link.is_wireguard for opd in config.opds.values())


def _mss_clamp(w: _Writer, config: Config):
    """TCP through the tunnel asks for segments that fit it, so nothing needs fragmenting."""
    if config.site.wireguard is None or not _tunnelled(config):
        return
    device = _quote(config.site.wireguard.interface)
    w.add("chain mss {", "site.wireguard")
    w.add("type filter hook forward priority mangle; policy accept;", indent=2)
    w.add(f"oifname {device} tcp flags syn tcp option maxseg size set rt mtu", "site.wireguard", 2)
    w.add(f"iifname {device} tcp flags syn tcp option maxseg size set rt mtu", "site.wireguard", 2)
    w.add("}")


def _input(w: _Writer, config: Config):
    w.add("chain input {")
    w.add("type filter hook input priority filter; policy drop;", indent=2)
    w.add('iif "lo" accept comment "loopback"', "box", 2)
    w.add('ct state established,related accept comment "replies"', "box", 2)
    w.add('ct state invalid drop comment "invalid"', "box", 2)
    w.add("icmp type { destination-unreachable, time-exceeded, parameter-problem } accept "
          'comment "ICMP errors"', "box", 2)
    w.add("icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, "
          "nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept "
          'comment "ICMPv6 essentials"', "box", 2)
    w.add('icmp type echo-request limit rate 20/second burst 50 packets accept comment "ping"', "box", 2)
    _ha_input(w, config)
    hub = config.site.wireguard
    if hub is not None and _tunnelled(config):
        # Edges reach the hub from anywhere (behind NATs, on the internet): WireGuard itself
        # drops whatever no enrolled peer's key signed.
        w.add(f'udp dport {hub.listen_port} counter accept comment "WireGuard from the edges"', "site.wireguard", 2)
        if config.site.edges_url:  # where edges enrol and fetch their config (pnsbox-web's HTTPS)
            w.add(f'tcp dport {config.site.edges_port} counter accept comment "edges enrol and fetch their config"',
                  "site.edges_url", 2)
    management = config.site.management
    if management:
        for zone in management.from_:
            w.add(f"iifname . ip saddr @{zone_set(zone)} {_ports_match(w, management.ports)} counter accept "
                  f"{_comment(f'site.management: from {zone}')}", "site.management", 2)
    for index, policy in enumerate(config.policies):
        if ZONE_BOX in policy.to:
            for source in policy.from_:
                for text, origin in _policy_rules(w, config, index, policy,
                                                  f"iifname . ip saddr @{zone_set(source)}", ZONE_BOX):
                    w.add(text, origin, 2)
    w.add('counter drop comment "default deny to the box"', "box", 2)
    w.add("}")
    w.add("chain output {")
    w.add("type filter hook output priority filter; policy accept;", indent=2)
    w.add("}")


def _ha_input(w: _Writer, config: Config):
    """The pair's own traffic, on the sync link and between the two peer addresses only. Both
    directions in one set, so both hubs load the very same ruleset (one digest for the pair)."""
    ha = config.site.ha
    if ha is None:
        return
    a, b = (str(address) for address in ha.peers.values())
    between = f"iifname {_quote(ha.sync_interface)} ip saddr . ip daddr {{ {a} . {b}, {b} . {a} }}"
    for match, what, origin in (("ip protocol 112", "VRRP (keepalived)", "site.ha"),
                                (f"udp dport {ha.conntrack_port}", "conntrackd sync", "site.ha.conntrack_port"),
                                (f"tcp dport {ha.port}", "pnsboxd peer", "site.ha.sync.port")):
        w.add(f"{between} {match} counter accept {_comment(f'{origin}: {what}')}", origin, 2)
    management = config.site.management
    if management:  # the standby holds no gateway address: an admin reaches it through the active hub
        w.add(f"{between} {_ports_match(w, management.ports)} counter accept "
              f"{_comment('site.management.ports: from the peer hub')}", "site.management.ports", 2)


def _shape(w: _Writer, config: Config, shaping: Shaping):
    """Every forwarded packet gets skb->priority = its HTB leaf (render.tc), found through maps."""
    uplink = _quote(config.site.uplink.interface)
    planned = {name: opd for name, opd in config.opds.items() if opd.bandwidth}
    keys = {"download": "oifname . ip daddr", "upload": "iifname . ip saddr"}
    for direction, short in (("download", "dl"), ("upload", "ul")):
        leaf = [f"{_quote(opd.link.device)} . {net} : {classid(shaping.leaves[(name, None)])}"
                for name, opd in planned.items() for net in opd.subnet]
        refine = [f"{_quote(opd.link.device)} . {net} : goto shape_{short}_{ident(name)}"
                  for name, opd in planned.items() if opd.bandwidth.classes for net in opd.subnet]
        for kind, elements, value in (("leaf", leaf, "classid"), ("refine", refine, "verdict")):
            if elements:
                w.add(f"map {short}_{kind} {{", f"shaping ({direction})")
                w.add(f"type ifname . ipv4_addr : {value}; flags interval", indent=2)
                w.add(f"elements = {_elements(elements)}", f"shaping ({direction})", indent=2)
                w.add("}")
    w.add("chain shape {")
    w.add("type filter hook forward priority filter - 10; policy accept;", indent=2)
    w.add(f'meta priority set {classid(INTRANET)} comment "intranet: not the pipe"', "shaping", 2)
    w.add(f'iifname {uplink} meta priority set {classid(UNMATCHED)} comment "site.uplink.bandwidth: no OPD rates"',
          "shaping", 2)
    w.add(f'oifname {uplink} meta priority set {classid(UNMATCHED)} comment "site.uplink.bandwidth: no OPD rates"',
          "shaping", 2)
    for direction, short, edge in (("download", "dl", "iifname"), ("upload", "ul", "oifname")):
        if planned:
            w.add(f"{edge} {uplink} meta priority set {keys[direction]} map @{short}_leaf "
                  f'comment "opds.*.bandwidth: {direction}"', "shaping", 2)
    for direction, short in (("download", "dl"), ("upload", "ul")):
        if any(opd.bandwidth.classes for opd in planned.values()):
            w.add(f'{keys[direction]} vmap @{short}_refine comment "opds.*.bandwidth.classes: {direction}"',
                  "shaping", 2)
    w.add("}")
    for name, opd in planned.items():
        for direction, short in (("download", "dl"), ("upload", "ul")):
            if opd.bandwidth.classes:
                _class_chain(w, config, shaping, name, direction, short)
    w.add("chain shape_box {")
    w.add("type filter hook output priority filter - 10; policy accept;", indent=2)
    w.add(f'oifname != {uplink} meta priority set {classid(INTRANET)} comment "the box to the province"',
          "shaping", 2)
    w.add("}")


def _class_chain(w: _Writer, config: Config, shaping: Shaping, name: str, direction: str, short: str):
    """Pick the OPD's traffic class; what matches nothing stays in its default class."""
    uplink = _quote(config.site.uplink.interface)
    far = "iifname . ip saddr" if direction == "download" else "oifname . ip daddr"
    far_port = "th sport" if direction == "download" else "th dport"
    edge = "iifname" if direction == "download" else "oifname"
    w.add(f"chain shape_{short}_{ident(name)} {{", f"opds.{name}.bandwidth")
    for cname, tclass in config.opds[name].bandwidth.classes.items():
        if not tclass.match:
            continue
        origin = f"opds.{name}.bandwidth.classes.{cname}"
        ports = f" {_ports_match(w, tclass.match.ports, far_port)}" if tclass.match.ports else ""
        target = f"meta priority set {classid(shaping.leaves[(name, cname)])} return {_comment(origin)}"
        for mark in [f" {m}" for m in apps.mark_matches(w.catalog, tclass.match.app, tclass.match.category)] or [""]:
            for service in tclass.match.services:
                w.add(f"{far} @{zone_set(service)}{ports}{mark} {target}", origin, 2)
            if not tclass.match.services:
                w.add(f"{edge} {uplink}{ports}{mark} {target}", origin, 2)
    w.add("}")


def _nat(w: _Writer, config: Config):
    uplink = config.site.uplink
    if uplink.nat != "masquerade":
        return
    w.add("chain postrouting {")
    w.add("type nat hook postrouting priority srcnat; policy accept;", indent=2)
    moving = config.site.ha and (config.site.ha.virtual_uplink or uplink.address)
    if moving:  # masquerade's entries are flushed when the address leaves: they could not move to the peer
        w.add(f"oifname {_quote(uplink.interface)} snat ip to {moving.ip} "
              f"{_comment('site.uplink.nat: snat to the moving address (site.ha)')}", "site.uplink.nat", 2)
    else:
        w.add(f"oifname {_quote(uplink.interface)} masquerade {_comment('site.uplink.nat: masquerade')}",
              "site.uplink.nat", 2)
    w.add("}")


def _port_text(p: PortRange) -> str:
    return str(p.first) if p.first == p.last else f"{p.first}-{p.last}"


def _ports_match(w: _Writer, ports: list[PortRange], field: str = "th dport") -> str:
    if len(ports) == 1:
        return f"{ports[0].protocol} {field.split()[1]} {_port_text(ports[0])}"
    items = [f"{p.protocol} . {_port_text(p)}" for p in ports]
    return f"meta l4proto . {field} {w.shared_set('ports', items)}"


def _window_match(w: _Writer, window) -> str:
    days = [f'"{NFT_DAYS[d]}"' for d in window.days]
    return window.nft_match(w.shared_set("days", days) if len(days) > 1 else None)


def _traffic_matches(w: _Writer, config: Config, policy: Policy, target: str) -> list[tuple[str, set[str]]]:
    """Alternatives for what traffic the policy names (ports, whole protocols, or anything),
    each with the protocols it can match (to choose how to reject)."""
    ports = policy.ports
    if not ports and not policy.protocols and target in config.services:
        ports = config.services[target].ports  # a service's own ports, unless the policy names others
    matches = []
    if ports:
        matches.append((_ports_match(w, ports), {p.protocol for p in ports}))
    if policy.protocols:
        names = policy.protocols
        match = f"meta l4proto {names[0]}" if len(names) == 1 else \
            f"meta l4proto {w.shared_set('protocols', list(names))}"
        matches.append((match, set(names)))
    return matches or [("", {"tcp", "udp", "icmp", "other"})]


def _policy_rules(w: _Writer, config: Config, index: int, policy: Policy, where: str,
                  target: str) -> list[tuple[str, str]]:
    """The rules of one policy toward one target, as (text, origin)."""
    origin = f"policies[{index}] {policy.name}"
    comment = _comment(origin)
    windows = [""]
    if policy.schedule:
        schedule = config.schedules[policy.schedule]
        windows = [_window_match(w, win) for win in utc_windows(schedule, config.site.timezone)]
    out = []
    for traffic, protocols in _traffic_matches(w, config, policy, target):
        for window in windows:
            match = " ".join(part for part in (where, traffic, window) if part)
            if policy.log:
                out.append((f"{match} limit rate 10/second burst 20 packets log prefix "
                            f"{_quote('pnsbox ' + policy.action + ' ' + policy.name[:90] + ': ')} {comment}",
                            origin))
            if policy.action == "reject":
                if "tcp" in protocols:  # TCP is refused with a reset, the rest with ICMP
                    tcp_only = "" if protocols == {"tcp"} else " meta l4proto tcp"
                    out.append((f"{match}{tcp_only} counter reject with tcp reset {comment}", origin))
                if protocols != {"tcp"}:
                    out.append((f"{match} counter reject with icmpx admin-prohibited {comment}", origin))
            else:
                out.append((f"{match} counter {policy.action} {comment}", origin))
    return out
