"""The edge's side, from the config the hub sent (pure): its WireGuard interface with the hub
as its one peer, the routes into the tunnel, and its own small `inet pnsbox` table.

The table lets the LAN into the tunnel, and from the tunnel only what the LAN asked for (replies),
new connections into the LAN that the hub's policies accept (`inbound`: the IT office reaching
an OPD host), plus an echo to the edge itself, so the hub can see it is up; nothing but the LAN's
own addresses goes into the tunnel. TCP's MSS is clamped to the tunnel's MTU both ways."""

from __future__ import annotations

from dataclasses import dataclass

from ..render.nft import TABLE, Ruleset, digest_of
from ..render.wg import WgInterface, WgPeer


@dataclass(frozen=True)
class EdgeWant:
    interface: WgInterface
    address: str  # the tunnel address, CIDR
    mtu: int
    routes: tuple[str, ...]  # through the tunnel
    ruleset: Ruleset
    upload: tuple[int, int] | None = None  # (rate, ceil) in bit/s of the HTB class on the tunnel, or none


def upload_batch(want: EdgeWant) -> list[str]:
    """`tc -batch` lines that shape the OPD's upload into the tunnel (one HTB class)."""
    _, ceil = want.upload
    name = want.interface.name
    # One root class: it has no parent to borrow from, so it runs at the OPD's ceiling (the hub's
    # tree, where OPDs share the pipe, is what gives each its guarantee).
    return [f"qdisc replace dev {name} root handle 1: htb default 1",
            f"class replace dev {name} parent 1: classid 1:1 htb rate {ceil}bit ceil {ceil}bit"]


def render_edge(config: dict, ifname: str, private_key: str, hub_endpoint: str) -> EdgeWant:
    hub = config["hub"]
    routes = tuple(config["routes"])
    peer = WgPeer(hub["public_key"], routes, hub_endpoint, hub.get("keepalive"), "hub")
    interface = WgInterface(ifname, private_key, None, (peer,))
    upload = config.get("upload")
    return EdgeWant(interface, config["interface"]["address"], config["interface"]["mtu"], routes,
                    edge_ruleset(config, ifname), (upload["rate"], upload["ceil"]) if upload else None)


def _inbound_rules(rules: list[dict], ifname: str) -> str:
    """New connections from the tunnel into the LAN, one rule per port or protocol of each
    accepting hub policy (no ports and no protocols: everything from its sources)."""
    lines = []
    for rule in rules:
        sources = "" if rule["from"] == ["0.0.0.0/0"] else f' ip saddr {{ {", ".join(rule["from"])} }}'
        head = f'    iifname "{ifname}"{sources} ip daddr @lan ct state new'
        comment = f'comment "hub policy {rule["policy"]}"'
        matches = [f"{proto} dport {{ {', '.join(p.split('/')[1] for p in rule['ports'] if p.startswith(proto))} }}"
                   for proto in ("tcp", "udp") if any(p.startswith(proto) for p in rule["ports"])]
        matches += [f"meta l4proto {proto}"
                    for proto in rule["protocols"] if not any(p.startswith(proto) for p in rule["ports"])]
        for match in matches or [""]:
            lines.append(f"{head}{' ' + match if match else ''} counter accept {comment}\n")
    return "".join(lines)


def edge_ruleset(config: dict, ifname: str) -> Ruleset:
    lan = ", ".join(config["lan"])
    hub_ip = config["hub"]["tunnel_address"]
    breakout = ""
    if config.get("breakout"):  # the LAN's internet leaves here, behind the edge's own address
        breakout = (f'  chain breakout {{\n    type nat hook postrouting priority srcnat; policy accept;\n'
                    f'    oifname != "{ifname}" ip saddr @lan ip daddr != @lan counter masquerade '
                    f'comment "local internet breakout"\n  }}\n')
    body = f"""\
table {TABLE} {{
  set lan {{ type ipv4_addr; flags interval; elements = {{ {lan} }} }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname "{ifname}" ct state established,related counter accept comment "replies to the LAN"
{_inbound_rules(config.get("inbound") or [], ifname)}\
    iifname "{ifname}" counter drop comment "from the tunnel: only what the LAN asked for or the hub allows"
    oifname "{ifname}" ip saddr != @lan counter drop comment "into the tunnel: only the LAN"
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
    iifname "{ifname}" ct state established,related accept
    iifname "{ifname}" ip saddr {hub_ip} icmp type echo-request accept comment "the hub sees the edge up"
    iifname "{ifname}" counter drop comment "from the tunnel to the edge: nothing else"
  }}
  chain mss {{
    type filter hook forward priority mangle; policy accept;
    oifname "{ifname}" tcp flags syn tcp option maxseg size set rt mtu
    iifname "{ifname}" tcp flags syn tcp option maxseg size set rt mtu
  }}
{breakout}}}
"""
    digest = digest_of(body)
    text = body.replace(f"table {TABLE} {{\n", f"table {TABLE} {{\n  comment \"pnsbox-edge {digest}\"\n", 1)
    return Ruleset(text, digest, {})
