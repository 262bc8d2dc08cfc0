"""A network-namespace lab built from a site config.

One namespace per node, named `pnsbox-{lab}-{node}`:

- `hub`: where `pnsbox apply --netns pnsbox-{lab}-hub` later puts the config.
  The lab only creates its interfaces, named as the config names them; it
  assigns them no address, adds no route or rule and leaves forwarding off.
- a site with `site.ha` (an active/standby pair) gets one hub node per peer instead,
  named after the peer (`hub-a`, `hub-b`); every hub link, the uplink included, becomes a
  switch node `sw-{device}` both hubs plug into, and the sync link is a veth straight from
  one hub to the other, named `ha.sync.interface` on both sides. `lab_fail` / `lab_heal`
  pull and put back every cable of a node, as when a box dies and returns.
- `internet`: the uplink's gateway, plus "internet servers" on its loopback.
- one node per OPD and per service, named after its key, reached on `eth0`.
- `sw-{device}`: a Linux bridge for a hub device shared by several services,
  or, where the kernel has 802.1Q, the far end of a VLAN trunk.
- for an OPD whose link is WireGuard: `edge-{opd}`, its edge box, between the OPD's host
  (on the edge's `lan0`) and the underlay (the `internet` node, on the edge's `eth0`); the
  first such edge sits behind `nat-{opd}`, a NAT. `pnsbox lab edges` enrols them.

The layout is computed first as plain data (`layout()`), then built with
iproute2. Every command runs inside a lab namespace (`ip -n NS ...`); veth
pairs are created straight into their namespaces, so the host's own network
namespace is never changed. Each namespace's `lo` carries the alias
`pnsbox-lab={lab}`, so labs whose names share a prefix (`t`, `t-x`) are told
apart when listing and removing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv4Network

from ..apply import ha
from ..errors import LabError
from ..model import Config, Link
from ..observe.facts import probe
from . import servers

PREFIX = "pnsbox-"
LABEL = "pnsbox-lab="
HUB = "hub"
INTERNET = "internet"
SWITCH = "sw-"
NODE_IF = "eth0"
INTERNET_SERVERS = ("203.0.113.10/32",)  # on the internet node's lo, for tests to reach
_LAB_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")



# --- names -------------------------------------------------------------------


def _check_lab(lab: str) -> None:
    if not isinstance(lab, str) or not _LAB_NAME.match(lab):
        raise LabError(f"lab name {lab!r}: use 1-16 lower-case letters, digits and -, "
                       "starting with a letter or digit")


def netns_name(lab: str, node: str) -> str:
    _check_lab(lab)
    return f"{PREFIX}{lab}-{node}"


def _prefix(lab: str) -> str:
    return netns_name(lab, "")


# --- layout: config -> plain data (no I/O) -------------------------------------


@dataclass(frozen=True)
class Veth:
    node_a: str
    name_a: str
    node_b: str
    name_b: str


@dataclass(frozen=True)
class Vlan:
    node: str
    parent: str
    name: str
    vid: int


@dataclass
class Layout:
    nodes: list[str] = field(default_factory=list)
    veths: list[Veth] = field(default_factory=list)
    vlans: list[Vlan] = field(default_factory=list)
    bridges: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (node, bridge) -> ports
    addresses: list[tuple[str, str, str]] = field(default_factory=list)  # node, device, CIDR
    routes: list[tuple[str, str, str]] = field(default_factory=list)  # node, destination, gateway
    notes: list[str] = field(default_factory=list)
    forwarding: list[str] = field(default_factory=list)  # nodes that route (the underlay, NATs, edges)
    masquerade: list[tuple[str, str]] = field(default_factory=list)  # (node, device): NAT out of device

    def add_node(self, node: str, what: str) -> None:
        if node in self.nodes:
            raise LabError(f"{what}: node name `{node}` is taken by another lab node; rename it")
        self.nodes.append(node)

    def devices(self, node: str) -> list[str]:
        """Every interface the lab makes in NODE, parents before children."""
        out = [v.name_a for v in self.veths if v.node_a == node]
        out += [v.name_b for v in self.veths if v.node_b == node]
        out += [v.name for v in self.vlans if v.node == node]
        out += [bridge for (n, bridge) in self.bridges if n == node]
        return out


@dataclass(frozen=True)
class _Attachment:
    """A lab node hanging off one hub device."""

    node: str
    link: Link


def hub_nodes(config: Config) -> list[str]:
    """The nodes that run the config: `hub`, or each HA peer (in the order the site names them)."""
    ha = getattr(config.site, "ha", None)
    return list(ha.peers) if ha is not None else [HUB]


def check(config: Config) -> None:
    """Refuse configs the lab cannot wire, before anything is built."""
    for name, service in config.services.items():
        if service.link.address is None:
            raise LabError(f"service `{name}`: its link has no `address`, so the lab cannot give "
                           f"the service node a gateway; add `address` (the box's own address "
                           f"on {service.link.device}) to services.{name}.link")


def layout(config: Config, vlan_ok: bool) -> Layout:
    """The lab for CONFIG; VLAN_OK says whether the kernel can make 802.1Q devices."""
    check(config)
    out = Layout()
    hubs = hub_nodes(config)
    for hub in hubs:
        out.add_node(hub, "the hub" if hub == HUB else f"HA peer `{hub}`")
    _internet(config, hubs, out)
    groups: dict[str, list[_Attachment]] = defaultdict(list)
    tunnelled = [name for name, opd in config.opds.items() if opd.link.is_wireguard]
    for name, opd in config.opds.items():
        out.add_node(name, f"OPD `{name}`")
        _opd_host(name, opd.subnet, out)
        if opd.link.is_wireguard:
            _edge(tunnelled.index(name), name, opd.subnet, out)
        else:
            groups[opd.link.device].append(_Attachment(name, opd.link))
    if tunnelled:
        out.forwarding.append(INTERNET)
    for name, service in config.services.items():
        out.add_node(name, f"service `{name}`")
        _service_host(name, service.addresses, service.link, out)
        groups[service.link.device].append(_Attachment(name, service.link))
    trunks: dict[str, list[tuple[str, list[_Attachment]]]] = defaultdict(list)
    for device, members in groups.items():
        link = members[0].link
        if link.is_vlan and vlan_ok:
            trunks[link.trunk].append((device, members))
            continue
        if link.is_vlan:
            out.notes.append(f"{device}: kernel has no 802.1Q; standing in a veth named {device} "
                             f"for VLAN {link.vlan} on {link.trunk} (the hub has no {link.trunk})")
        _plain_link(device, hubs, members, out)
    for trunk, vlans in trunks.items():
        _trunk(trunk, hubs, vlans, out)
    if len(hubs) > 1:
        _sync_link(config.site.ha.sync_interface, hubs, out)
    return out


def _internet(config: Config, hubs: list[str], out: Layout) -> None:
    uplink = config.site.uplink
    out.add_node(INTERNET, "the internet")
    if len(hubs) == 1:
        out.veths.append(Veth(hubs[0], uplink.interface, INTERNET, NODE_IF))
    else:
        _switch(uplink.interface, hubs, [INTERNET], out)
    gateway = IPv4Interface(f"{uplink.gateway}/{uplink.address.network.prefixlen}")
    out.addresses.append((INTERNET, NODE_IF, str(gateway)))
    out.addresses += [(INTERNET, "lo", server) for server in INTERNET_SERVERS]
    if uplink.nat == "none":  # without masquerade, replies to OPD addresses must go back to the hub
        out.routes.append((INTERNET, "default", str(_uplink_address(config).ip)))


def _uplink_address(config: Config) -> IPv4Interface:
    """The hub's address on the uplink: in an HA site the one that moves with the active hub."""
    ha = getattr(config.site, "ha", None)
    if ha is not None and ha.virtual_uplink is not None:
        return ha.virtual_uplink
    return config.site.uplink.address


def _sync_link(device: str, hubs: list[str], out: Layout) -> None:
    """The HA pair's own cable: no switch, so a dead switch cannot split the pair."""
    out.veths.append(Veth(hubs[0], device, hubs[1], device))
    out.notes.append(f"{device}: the sync link, straight from {hubs[0]} to {hubs[1]}")


def _opd_host(name: str, subnets: list[IPv4Network], out: Layout) -> None:
    # The hub takes the first usable address of each subnet (render.net), the host the second.
    for subnet in subnets:
        out.addresses.append((name, NODE_IF, f"{subnet.network_address + 2}/{subnet.prefixlen}"))
    out.routes.append((name, "default", str(subnets[0].network_address + 1)))


EDGE, NAT = "edge-", "nat-"
EDGE_LAN = "lan0"


def _edge(index: int, name: str, subnets: list[IPv4Network], out: Layout) -> None:
    """OPD host -- edge -- [NAT --] underlay. Underlay links are /30s of 192.0.2.0/24 (TEST-NET-1),
    the NAT's inside 172.16.INDEX.0/30; the first edge is behind the NAT."""
    edge = EDGE + name
    out.add_node(edge, f"the edge of `{name}`")
    out.veths.append(Veth(edge, EDGE_LAN, name, NODE_IF))
    out.addresses += [(edge, EDGE_LAN, f"{s.network_address + 1}/{s.prefixlen}") for s in subnets]
    out.forwarding.append(edge)
    port = f"u{index}-{name}"[:15]
    underlay_gw, underlay_me = f"192.0.2.{4 * index + 1}", f"192.0.2.{4 * index + 2}"
    out.addresses.append((INTERNET, port, f"{underlay_gw}/30"))
    if index == 0:
        nat = NAT + name
        out.add_node(nat, f"the NAT in front of the edge of `{name}`")
        out.veths.append(Veth(nat, NODE_IF, INTERNET, port))
        out.veths.append(Veth(edge, NODE_IF, nat, EDGE_LAN))
        out.addresses += [(nat, NODE_IF, f"{underlay_me}/30"), (nat, EDGE_LAN, f"172.16.{index}.1/30"),
                          (edge, NODE_IF, f"172.16.{index}.2/30")]
        out.routes += [(nat, "default", underlay_gw), (edge, "default", f"172.16.{index}.1")]
        out.forwarding.append(nat)
        out.masquerade.append((nat, NODE_IF))
        out.notes.append(f"edge-{name} is behind nat-{name} (masquerade) on the underlay")
    else:
        out.veths.append(Veth(edge, NODE_IF, INTERNET, port))
        out.addresses.append((edge, NODE_IF, f"{underlay_me}/30"))
        out.routes.append((edge, "default", underlay_gw))


def _service_host(name: str, addresses, link: Link, out: Layout) -> None:
    network = link.address.network
    for address in addresses:
        prefix = network.prefixlen if address in network else 32
        out.addresses.append((name, NODE_IF, f"{address}/{prefix}"))
    out.routes.append((name, "default", str(link.address.ip)))


def _port_name(index: int, node: str) -> str:
    """A switch port's name: unique by its index, readable by its node, at most 15 chars."""
    return f"p{index}-{node}"[:15]


def _hub_port(index: int, hubs: list[str]) -> str:
    """A hub's port on a switch: `hub` for the one hub, else per HA peer (h0-hub-a, h1-hub-b)."""
    return "hub" if len(hubs) == 1 else f"h{index}-{hubs[index]}"[:15]


def _switch(device: str, hubs: list[str], nodes: list[str], out: Layout) -> None:
    """A bridge in node sw-DEVICE joining every hub's DEVICE and each node's eth0."""
    switch = SWITCH + device
    out.add_node(switch, f"the switch for {device}")
    ports = []
    for index, hub in enumerate(hubs):
        ports.append(_hub_port(index, hubs))
        out.veths.append(Veth(hub, device, switch, ports[-1]))
    for index, node in enumerate(nodes):
        ports.append(_port_name(index, node))
        out.veths.append(Veth(node, NODE_IF, switch, ports[-1]))
    out.bridges[(switch, "br0")] = ports


def _plain_link(device: str, hubs: list[str], members: list[_Attachment], out: Layout) -> None:
    """One hub and one node: a veth straight from the hub. Else a bridge in a switch node."""
    if len(members) == 1 and len(hubs) == 1:
        out.veths.append(Veth(hubs[0], device, members[0].node, NODE_IF))
        return
    _switch(device, hubs, [m.node for m in members], out)
    if len(members) > 1:
        names = ", ".join(m.node for m in members)
        out.notes.append(f"{device}: shared by {names}; bridged in node {SWITCH + device}")


def _trunk(trunk: str, hubs: list[str], vlans: list[tuple[str, list[_Attachment]]], out: Layout) -> None:
    """A real 802.1Q trunk (only where the kernel has it; not exercised on the dev kernel).

    Each hub gets `trunk` (a veth) and a VLAN device per OPD on it; the switch
    node gets the veths' far ends, the same VLANs on each, and per VLAN a bridge
    joining that VLAN to the nodes on it.
    """
    switch = SWITCH + trunk
    out.add_node(switch, f"the switch for trunk {trunk}")
    # One hub keeps the names it always had (trunk, v130); a pair gets one set per hub (t0, t0.130).
    ends = ["trunk"] if len(hubs) == 1 else [f"t{index}" for index in range(len(hubs))]
    for hub, end in zip(hubs, ends, strict=True):
        out.veths.append(Veth(hub, trunk, switch, end))
    index = 0
    for device, members in vlans:
        vid = members[0].link.vlan
        ports = []
        for hub, end in zip(hubs, ends, strict=True):
            out.vlans.append(Vlan(hub, trunk, device, vid))
            ports.append(f"v{vid}" if len(hubs) == 1 else f"{end}.{vid}")
            out.vlans.append(Vlan(switch, end, ports[-1], vid))
        for member in members:
            ports.append(_port_name(index, member.node))
            out.veths.append(Veth(member.node, NODE_IF, switch, ports[-1]))
            index += 1
        out.bridges[(switch, f"b{vid}")] = ports
    out.notes.append(f"{trunk}: 802.1Q trunk to node {switch} carrying VLANs "
                     + ", ".join(str(members[0].link.vlan) for _, members in vlans))


# --- iproute2 ------------------------------------------------------------------


def _run(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise LabError(f"`{' '.join(argv)}` failed: {proc.stderr.strip() or proc.returncode}")
    return proc.stdout


def _ip(ns: str, *args: str) -> str:
    """`ip -n NS ...`: every lab change goes through here, so none reaches the host namespace."""
    if not ns.startswith(PREFIX):
        raise LabError(f"refusing to run ip outside a lab namespace: {ns!r}")
    return _run(["ip", "-n", ns, *args])


def _namespaces() -> list[str]:
    return [entry["name"] for entry in json.loads(_run(["ip", "-j", "netns", "list"]) or "[]")]


def _label(ns: str) -> str | None:
    """The lab a namespace was built for (its lo's alias), or None if unlabelled or gone."""
    try:
        links = json.loads(_ip(ns, "-j", "link", "show", "dev", "lo"))
    except (LabError, ValueError):
        return None
    alias = links[0].get("ifalias", "") if links else ""
    return alias.removeprefix(LABEL) if alias.startswith(LABEL) else None


# --- building ------------------------------------------------------------------


def _make_namespace(lab: str, node: str, hub: bool = False) -> str:
    ns = netns_name(lab, node)
    _run(["ip", "netns", "add", ns])
    _ip(ns, "link", "set", "dev", "lo", "alias", LABEL + lab)
    _ip(ns, "link", "set", "dev", "lo", "up")
    if not hub:
        # The lab is IPv4 like the config: keep the nodes quiet (no DAD, RS or MLD packets
        # hitting the hub's counters). The hub is left as it is; that is apply's business.
        _run(["ip", "netns", "exec", ns, "sysctl", "-q", "-e", "-w",
              "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"])
    return ns


def _build(lab: str, plan: Layout, hubs: list[str]) -> None:
    ns = {node: netns_name(lab, node) for node in plan.nodes}
    for node in plan.nodes:
        if node not in hubs:  # made first (lab_up)
            _make_namespace(lab, node)
    # Note `name`: iproute2 reads a bare `a` as `address`.
    for veth in plan.veths:
        _ip(ns[veth.node_a], "link", "add", "name", veth.name_a, "type", "veth",
            "peer", "name", veth.name_b, "netns", ns[veth.node_b])
    for vlan in plan.vlans:
        _ip(ns[vlan.node], "link", "add", "link", vlan.parent, "name", vlan.name,
            "type", "vlan", "id", str(vlan.vid))
    for (node, bridge), ports in plan.bridges.items():
        _ip(ns[node], "link", "add", "name", bridge, "type", "bridge")
        for port in ports:
            _ip(ns[node], "link", "set", "dev", port, "master", bridge)
    for node in plan.nodes:
        for device in plan.devices(node):
            _ip(ns[node], "link", "set", "dev", device, "up")
    for node, device, cidr in plan.addresses:
        _ip(ns[node], "addr", "add", cidr, "dev", device)
    for node, destination, gateway in plan.routes:
        # onlink: a service's /32 address has no subnet holding its gateway
        _ip(ns[node], "route", "add", destination, "via", gateway, "dev", NODE_IF, "onlink")
    for node in plan.forwarding:
        _run(["ip", "netns", "exec", ns[node], "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    for node, device in plan.masquerade:
        subprocess.run(["ip", "netns", "exec", ns[node], "nft", "-f", "-"], check=True, text=True,
                       input=f"table ip lab_nat {{\n chain post {{\n  type nat hook postrouting priority srcnat;\n"
                             f"  oifname \"{device}\" masquerade\n }}\n}}\n")


# --- the API -------------------------------------------------------------------


def lab_up(config: Config, lab: str) -> list[str]:
    """Build lab LAB for CONFIG; returns notes on how it was wired. Raises LabError if it exists."""
    _check_lab(lab)
    check(config)
    taken = sorted(ns for ns in _namespaces() if ns.startswith(_prefix(lab)))
    if taken:
        raise LabError(f"lab {lab!r} already exists or overlaps one that does "
                       f"({', '.join(taken)}); remove it with lab_down first")
    hubs = hub_nodes(config)
    try:
        for hub in hubs:
            _make_namespace(lab, hub, hub=True)
        needs_vlan = any(z.link.is_vlan for z in [*config.opds.values(), *config.services.values()])
        plan = layout(config, vlan_ok=needs_vlan and probe().vlan)
        _build(lab, plan, hubs)
        _start_servers(config, lab, plan, hubs)
    except BaseException:
        lab_down(lab)
        raise
    return plan.notes


def _start_servers(config: Config, lab: str, plan: Layout, hubs: list[str]) -> None:
    """Every OPD, service and internet node answers on the lab ports (not the hubs or switches)."""
    tcp, udp = servers.lab_ports(config)
    for node in plan.nodes:
        if node not in hubs and not node.startswith((SWITCH, EDGE, NAT)):
            servers.start(netns_name(lab, node), node, tcp, udp)


def _lab_namespaces(lab: str) -> list[str]:
    # Unlabelled namespaces under the prefix are half-built ones of this lab (lab_up refuses
    # to build a lab over another's prefix), so they go too.
    return [ns for ns in _namespaces()
            if ns.startswith(_prefix(lab)) and _label(ns) in (lab, None)]


def lab_down(lab: str) -> None:
    """Remove every namespace of LAB, and nothing else, and stop the pnsboxd `pnsbox lab up`
    started for it. Quiet if the lab is already gone."""
    from . import hubd

    for ns in _lab_namespaces(lab):  # a pnsboxd frozen by lab fail stops like the others
        _thaw(_read_cut(_cut_file(lab, ns.removeprefix(_prefix(lab))))["frozen"])
    if _LAB_NAME.match(lab or ""):
        hubd.stop(lab)
    for ns in _lab_namespaces(lab):
        try:
            names = [link["ifname"] for link in json.loads(_ip(ns, "-j", "link", "show") or "[]")]
        except (LabError, ValueError):
            names = []
        from ..apply.wg import userspace_handle

        handles = [userspace_handle(ns, name) for name in names]  # before the namespace goes
        servers.stop_all(ns)  # edges, pnsbox-web and wireguard-go processes too, an HA hub's keepalived and conntrackd
        _forget_wireguard_sockets(names + handles)
        ha.forget(ns)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        _forget_cut(lab, ns.removeprefix(_prefix(lab)))
    if _LAB_NAME.match(lab or ""):  # again: an edge still running at hubd.stop wrote its status there
        shutil.rmtree(hubd.run_dir(lab), ignore_errors=True)


def _forget_wireguard_sockets(names: list[str]) -> None:
    """wireguard-go's control sockets are named by interface in one host-wide directory; a
    killed one leaves its socket behind, which would make the name look taken."""
    from ..apply.wg import socket_path

    for name in names:
        path = socket_path(name)
        for _ in range(50):  # the killed process may take a moment to let go of it
            if not os.path.exists(path):
                break
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(path)  # still answering
            except OSError:
                os.unlink(path)
                break
            finally:
                probe.close()
            time.sleep(0.02)


def list_labs() -> dict[str, list[str]]:
    """Lab name -> its node names (built by lab_up, so labelled), sorted."""
    labs: dict[str, list[str]] = defaultdict(list)
    for ns in _namespaces():
        if not ns.startswith(PREFIX):
            continue
        lab = _label(ns)
        if lab and ns.startswith(f"{PREFIX}{lab}-"):
            labs[lab].append(ns.removeprefix(f"{PREFIX}{lab}-"))
    return {lab: sorted(nodes) for lab, nodes in sorted(labs.items())}


def _node_namespace(lab: str, node: str) -> str:
    ns = netns_name(lab, node)
    if ns not in _namespaces() or _label(ns) != lab:
        raise LabError(f"lab {lab!r} has no node {node!r} (no namespace {ns})")
    return ns


def _links(ns: str) -> list[str]:
    """NS's interfaces but lo, in the order they were made (a VLAN after its parent)."""
    links = json.loads(_ip(ns, "-j", "link", "show") or "[]")
    return [link["ifname"] for link in sorted(links, key=lambda link: link["ifindex"])
            if link["ifname"] != "lo"]


RUN_ROOT = os.environ.get("PNSBOX_LAB_RUN", "/run/pnsbox-lab")


def _cut_file(lab: str, node: str) -> str:
    return os.path.join(RUN_ROOT, lab, f"cut-{node}.json")


def _routes(ns: str) -> list[dict]:
    """NS's routes that someone added (not the kernel's own, which come back with their address)."""
    return [route for route in json.loads(_ip(ns, "-j", "route", "show", "table", "main") or "[]")
            if route.get("protocol") != "kernel"]


def lab_fail(lab: str, node: str) -> list[str]:
    """Pull every cable of NODE: all its interfaces but lo go down. Returns their names.

    Like a dead box: its daemons keep running but hear and say nothing, and a pnsboxd managing
    it (which would set the links up again as drift) is frozen until `lab_heal`. Setting a link down
    makes the kernel drop the routes through it (a pulled cable would not), so they are kept
    in RUN_ROOT/LAB/cut-NODE.json for `lab_heal`; the addresses stay by themselves."""
    ns = _node_namespace(lab, node)
    names = _links(ns)
    path = _cut_file(lab, node)
    if not os.path.exists(path):  # failed twice: the first snapshot has the routes
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            json.dump({"routes": _routes(ns), "frozen": []}, handle)
    # A pnsboxd managing the node would repair the cut as drift (links set up within seconds):
    # on a dead box it is as dead as the rest, so it is frozen until the node is healed.
    frozen = _freeze_managers(ns)
    if frozen:
        cut = _read_cut(path)
        cut["frozen"] = sorted(set(cut["frozen"]) | set(frozen))
        with open(path, "w") as handle:
            json.dump(cut, handle)
    for name in reversed(names):  # children first
        _ip(ns, "link", "set", "dev", name, "down")
    return names


def _managers(ns: str) -> list[int]:
    """The pnsboxd processes managing namespace NS (`--netns NS`: they run outside it)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"{entry.path}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        daemon = b"pnsbox.daemon.main" in argv or any(os.path.basename(a) == b"pnsboxd" for a in argv[:2])
        if daemon and b"--netns" in argv and argv.index(b"--netns") + 1 < len(argv) \
                and argv[argv.index(b"--netns") + 1] == ns.encode():
            found.append(int(entry.name))
    return found


def _freeze_managers(ns: str) -> list[int]:
    frozen = []
    for pid in _managers(ns):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
            frozen.append(pid)
    return frozen


def _thaw(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def _read_cut(path: str) -> dict:
    """A cut node's record: its routes and the pnsboxd processes frozen with it (a list: routes only)."""
    try:
        with open(path) as handle:
            saved = json.load(handle)
    except (FileNotFoundError, ValueError):
        return {"routes": [], "frozen": []}
    return {"routes": saved, "frozen": []} if isinstance(saved, list) else saved


def lab_heal(lab: str, node: str) -> list[str]:
    """Put NODE's cables back: all its interfaces up again (parents first) and the routes
    `lab_fail` saw put back. Returns the interfaces' names."""
    ns = _node_namespace(lab, node)
    names = _links(ns)
    for name in names:
        _ip(ns, "link", "set", "dev", name, "up")
    path = _cut_file(lab, node)
    cut = _read_cut(path)
    for route in cut["routes"]:
        argv = ["route", "replace", route["dst"]]
        if route.get("gateway"):
            argv += ["via", route["gateway"]]
        argv += ["dev", route["dev"], "proto", route.get("protocol", "boot")]
        if route.get("scope") and route["scope"] != "global":
            argv += ["scope", route["scope"]]
        if "onlink" in route.get("flags", []):
            argv.append("onlink")
        if route.get("metric"):
            argv += ["metric", str(route["metric"])]
        # A route someone removed meanwhile (or whose gateway left) stays out; links matter most.
        with contextlib.suppress(LabError):
            _ip(ns, *argv)
    _thaw(cut["frozen"])  # after the links and routes: nothing left for it to repair
    _forget_cut(lab, node)
    return names


def _forget_cut(lab: str, node: str) -> None:
    path = _cut_file(lab, node)
    _thaw(_read_cut(path)["frozen"])  # a frozen pnsboxd would not even die of SIGTERM
    if os.path.exists(path):
        os.unlink(path)
    for directory in (os.path.dirname(path), RUN_ROOT):
        with contextlib.suppress(OSError):  # not empty (another node's cut, an edge's state) or gone
            os.rmdir(directory)


def exec_argv(lab: str, node: str, argv: list[str]) -> list[str]:
    """The command line running ARGV inside NODE of LAB."""
    ns = netns_name(lab, node)
    if ns not in _namespaces():
        raise LabError(f"lab {lab!r} has no node {node!r} (no namespace {ns})")
    return ["ip", "netns", "exec", ns, *argv]
