"""The one render entry point: a config and what it depends on -> every artifact (pure).

`pnsbox render`, `pnsbox check`, plan, apply and pnsboxd all call site(), so what
`render` prints is byte for byte what `apply` loads. Everything a render depends on is
an argument: the kernel's facts, the application catalog, the OPDs' class slots, the
schedules open now. No file, clock or kernel is read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..classifier.catalog import Catalog
from ..errors import PeerError
from ..facts import Facts
from ..model import Config
from .apps import queue_chain_restore, queue_rules_iptables
from .ha import BOX_COMMAND, HAPaths, conntrackd_conf, ha_paths, keepalived_conf, links_script
from .net import NetState, render_net
from .nft import Ruleset, render
from .tc import Shaping, active_windows, allocate_slots, full_batch, render_shaping
from .wg import WgInterface, hub_interface


@dataclass(frozen=True)
class Artifacts:
    ruleset: Ruleset  # the `inet pnsbox` table, as `nft -f` loads it
    shaping: Shaping  # the HTB trees and the redirects that feed them
    net: NetState  # links, addresses and routes, as data
    queue_rules: tuple[str, ...] | None  # iptables-nft rules, only where nft has no `queue`
    slots: dict[str, int]  # OPD -> class slot, as rendered (apply records them)
    wireguard: WgInterface | None = None  # the hub's tunnel interface and its peers (no private key:
    #                                       apply adds it from the state directory)
    warnings: tuple[str, ...] = ()  # what this kernel's facts cost the config (plan and check print them)
    peer: str | None = None  # which hub of an HA pair this render is for
    keepalived: str = ""  # keepalived.conf of this hub ("" outside an HA site)
    conntrackd: str = ""  # conntrackd.conf of this hub
    keepalived_script: str = ""  # keepalived's track script (links-up.sh) of this hub

    @property
    def nft(self) -> str:
        return self.ruleset.text

    @property
    def tc(self) -> str:
        """The `tc -batch` script that builds the trees on a fresh box."""
        return full_batch(self.shaping)

    @property
    def links(self) -> str:
        """Links, addresses and routes, one per line."""
        net = self.net
        lines = [f"link {x.device}" + (f" vlan {x.vlan} on {x.trunk}" if x.vlan else "") for x in net.links]
        lines += [f"address {x.address} dev {x.device}" for x in net.addresses]
        lines += [f"route {x.destination} dev {x.device}" + (f" via {x.gateway}" if x.gateway else "")
                  for x in net.routes]
        if self.wireguard:
            lines += [f"wireguard {self.wireguard.name} listen {self.wireguard.listen_port}"]
            lines += [f"peer {p.public_key} allowed {', '.join(p.allowed_ips)} ({p.origin})"
                      for p in self.wireguard.peers]
        return "\n".join(lines) + "\n"

    @property
    def iptables(self) -> str:
        """The classifier's queue chain as iptables-restore input ("" where nft queues)."""
        return "" if self.queue_rules is None else queue_chain_restore(self.queue_rules)


NO_FTP_HELPER = ("site.classifier: this kernel has no FTP conntrack helper (nf_conntrack_ftp), so the ruleset "
                 "leaves it out: active-mode FTP data connections (PORT/EPRT) fail, the server's connection back "
                 "being new to the firewall (and, behind NAT, aimed at a private address), and FTP data "
                 "connections no longer inherit the control connection's verdict (the classifier judges each on "
                 "its own, often not as ftp)")


def warnings(config: Config, facts: Facts) -> tuple[str, ...]:
    """What the config asks for that this kernel cannot give, short of refusing the config."""
    return (NO_FTP_HELPER,) if config.classifier is not None and not facts.ftp_helper else ()


def needs_catalog(config: Config) -> bool:
    return config.classifier is not None


def windows_at(config: Config, now: datetime) -> frozenset[str]:
    """The schedules open at `now` (an aware datetime), for time-of-day bandwidth rates."""
    from datetime import UTC

    now = now.astimezone(UTC)
    return frozenset(active_windows(config, now.weekday(), now.hour * 60 + now.minute))


def render_shaping_for(config: Config, facts: Facts, slots: dict[str, int],
                       windows: frozenset[str] = frozenset()) -> Shaping:
    """The HTB trees alone, as site() renders them: apply's rate-only path (a schedule edge,
    one OPD's new rates) needs no ruleset."""
    return render_shaping(config, allocate_slots(config, slots), facts.leaf_qdisc(config.site.queue), windows)


def check_peer(config: Config, peer: str | None) -> str | None:
    """The hub an HA site is rendered for: one of site.ha.peers (None outside an HA site)."""
    ha = config.site.ha
    if ha is None:
        return None
    names = ", ".join(ha.peers)
    if peer is None:
        raise PeerError(f"site {config.site.name} is an HA pair ({names}): say which hub this is with "
                        "--peer NAME or PNSBOX_HA_PEER")
    if peer not in ha.peers:
        raise PeerError(f"--peer {peer}: site {config.site.name}'s hubs are {names}")
    return peer


def site(config: Config, facts: Facts, catalog: Catalog | None = None, slots: dict[str, int] | None = None,
         windows: frozenset[str] = frozenset(), edges: dict | None = None, peer: str | None = None,
         ha: HAPaths | None = None) -> Artifacts:
    """Everything the box should run. `slots`: the OPD slots recorded by the last apply (kept
    OPDs keep theirs; None: allocated in config order). `edges`: the enrolled edges (OPD ->
    pnsbox.edge.book.Edge), the hub's WireGuard peers. `peer`: which hub of an HA pair (raises
    PeerError when an HA site does not say); `ha`: where its keepalived and conntrackd keep
    their files (default: the box's own). Raises FactsError when the config asks for what the
    kernel lacks (a named leaf queue)."""
    if catalog is None and needs_catalog(config):
        raise ValueError("render.site: this config classifies applications; pass the catalog")
    peer = check_peer(config, peer)
    slots = allocate_slots(config, slots)
    shaping = render_shaping_for(config, facts, slots, windows)
    queue_rules = None
    if config.classifier is not None and not facts.nft_queue:
        queue_rules = tuple(queue_rules_iptables(config.classifier))
    tunnels = any(opd.link.is_wireguard for opd in config.opds.values())
    wireguard = hub_interface(config, edges or {}, "") if tunnels else None
    keepalived = conntrackd = script = ""
    if peer is not None:
        ha = ha or ha_paths(None, BOX_COMMAND)
        keepalived, conntrackd = keepalived_conf(config, peer, ha), conntrackd_conf(config, peer, ha)
        script = links_script(config, peer)
    return Artifacts(render(config, shaping, facts.nft_queue, catalog, facts.ftp_helper), shaping,
                     render_net(config, peer), queue_rules, slots, wireguard, warnings(config, facts),
                     peer, keepalived, conntrackd, script)
