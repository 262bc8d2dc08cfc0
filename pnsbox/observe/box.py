"""Everything plan compares against, read from the kernel, with what pnsbox recorded it owns."""

from __future__ import annotations

from ..apply.owned import Owned
from ..plan import Observed
from . import iptables, links, table, tc


def observe(netns: str | None, owned: Owned) -> Observed:
    seen = links.read(netns)
    trees, clsact = tc.observe(netns)
    rules, jump = iptables.queue_rules(netns)
    return Observed(links=seen["links"], addresses=seen["addresses"], routes=seen["routes"],
                    queue_rules=rules, queue_jump=jump,
                    forwarding=seen["forwarding"], ruleset_digest=table.running_digest(netns),
                    owned_addresses=set(owned.addresses),
                    owned_links=set(owned.links), last_ruleset=owned.ruleset,
                    tc=trees, clsact=clsact, owned_redirects=_owned_redirects(owned))


def _owned_redirects(owned: Owned) -> dict[str, tuple[str | None, bool]]:
    out = {}
    for entry in owned.redirects:
        device, ifb, made_clsact = (entry, None, True) if isinstance(entry, str) else entry  # older state
        out[device] = (ifb, made_clsact)
    return out
