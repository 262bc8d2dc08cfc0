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
from ..facts import Facts
from ..model import Config
from .apps import queue_chain_restore, queue_rules_iptables
from .net import NetState, render_net
from .nft import Ruleset, render
from .tc import Shaping, active_windows, allocate_slots, full_batch, render_shaping


@dataclass(frozen=True)
class Artifacts:
    ruleset: Ruleset  # the `inet pnsbox` table, as `nft -f` loads it
    shaping: Shaping  # the HTB trees and the redirects that feed them
    net: NetState  # links, addresses and routes, as data
    queue_rules: tuple[str, ...] | None  # iptables-nft rules, only where nft has no `queue`
    slots: dict[str, int]  # OPD -> class slot, as rendered (apply records them)

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
        return "\n".join(lines) + "\n"

    @property
    def iptables(self) -> str:
        """The classifier's queue chain as iptables-restore input ("" where nft queues)."""
        return "" if self.queue_rules is None else queue_chain_restore(self.queue_rules)


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


def site(config: Config, facts: Facts, catalog: Catalog | None = None, slots: dict[str, int] | None = None,
         windows: frozenset[str] = frozenset()) -> Artifacts:
    """Everything the box should run. `slots`: the OPD slots recorded by the last apply (kept
    OPDs keep theirs; None: allocated in config order). Raises FactsError when the config asks
    for what the kernel lacks (a named leaf queue)."""
    if catalog is None and needs_catalog(config):
        raise ValueError("render.site: this config classifies applications; pass the catalog")
    slots = allocate_slots(config, slots)
    shaping = render_shaping_for(config, facts, slots, windows)
    queue_rules = None
    if config.classifier is not None and not facts.nft_queue:
        queue_rules = tuple(queue_rules_iptables(config.classifier))
    return Artifacts(render(config, shaping, facts.nft_queue, catalog), shaping, render_net(config), queue_rules,
                     slots)
