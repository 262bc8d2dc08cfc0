"""Desired state vs what runs -> the steps an apply would take, readable by a human.

Pure: the observed state is read by observe.box; executing the
steps is apply.links' job.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from .errors import PlanError
from .plan_tc import redirect_steps, tree_steps
from .render.net import NetState
from .render.nft import Ruleset
from .render.tc import Shaping
from .wording import say

ROUTE_PROTO = 231  # routes pnsbox adds carry this protocol number, so it can find its own


@dataclass(frozen=True)
class Observed:
    links: dict[str, dict]  # name -> {"up": bool, "alias": str | None}
    addresses: set[tuple[str, str]]  # (device, cidr)
    routes: set[tuple[str, str, str | None]]  # pnsbox's own: (destination, device, gateway)
    forwarding: bool
    ruleset_digest: str | None  # None: no pnsbox table
    owned_addresses: set[tuple[str, str]] = field(default_factory=set)
    owned_links: set[str] = field(default_factory=set)
    last_ruleset: str | None = None  # the text pnsbox last loaded, for a readable diff
    tc: dict = field(default_factory=dict)  # IFB device -> observe.tc.SeenTree
    clsact: set[str] = field(default_factory=set)  # devices with a clsact qdisc
    owned_redirects: dict = field(default_factory=dict)  # device -> (ifb, pnsbox made its clsact)
    queue_rules: tuple[str, ...] | None = None  # pnsbox's iptables classify chain; None: no chain
    queue_jump: bool = False  # FORWARD jumps to it


class StepKind(StrEnum):
    """What a step does. Its `tool` carries it out: consecutive steps of one tool go to the
    kernel as one batch (apply.pipeline), so the tool is decided here and nowhere else."""

    RULESET = "ruleset"  # the whole `inet pnsbox` table, one transaction
    CLASSIFY = "classify"  # the classifier's iptables-nft queue chain
    CLASSIFY_DEL = "classify-del"
    VLAN_ADD = "vlan-add"
    IFB_ADD = "ifb-add"
    WG_ADD = "wg-add"
    WG_PEERS = "wg-peers"
    LINK_UP = "link-up"
    LINK_DEL = "link-del"
    ADDRESS_ADD = "address-add"
    ADDRESS_DEL = "address-del"
    ROUTE_ADD = "route-add"
    ROUTE_DEL = "route-del"
    TC = "tc"
    FORWARDING = "forwarding"
    HA_CONNTRACKD = "ha-conntrackd"  # write conntrackd.conf, (re)start it (plan_ha)
    HA_KEEPALIVED = "ha-keepalived"  # write keepalived.conf, reload or start it
    HA_STOP = "ha-stop"

    @property
    def tool(self) -> str:
        return _TOOLS[self]

    @property
    def makes_link(self) -> bool:
        """The step creates a link pnsbox then owns (and removes when no longer wanted)."""
        return self in (StepKind.VLAN_ADD, StepKind.IFB_ADD, StepKind.WG_ADD)


_TOOLS = {StepKind.RULESET: "nft", StepKind.CLASSIFY: "iptables", StepKind.CLASSIFY_DEL: "iptables",
          StepKind.WG_ADD: "wireguard", StepKind.WG_PEERS: "wireguard", StepKind.TC: "tc",
          StepKind.FORWARDING: "sysctl",
          **{kind: "ha" for kind in (StepKind.HA_CONNTRACKD, StepKind.HA_KEEPALIVED, StepKind.HA_STOP)},
          **{kind: "ip" for kind in (StepKind.VLAN_ADD, StepKind.IFB_ADD, StepKind.LINK_UP, StepKind.LINK_DEL,
                                     StepKind.ADDRESS_ADD, StepKind.ADDRESS_DEL, StepKind.ROUTE_ADD,
                                     StepKind.ROUTE_DEL)}}


@dataclass(frozen=True)
class Step:
    kind: StepKind
    args: tuple
    text: str  # what a human reads in `pnsbox plan`
    origin: str = ""


def describe(steps: list[Step], warnings: tuple[str, ...] = ()) -> str:
    """What `pnsbox plan` prints: what this kernel cannot give the config, then one step a
    line (with the config it comes from), or that nothing changes."""
    said = "".join(f"warning: {text}\n" for text in warnings)
    if not steps:
        return said + say("plan.nothing") + "\n"
    return said + "".join(step.text + (f"    ({step.origin})" if step.origin and "\n" not in step.text else "") + "\n"
                   for step in steps)


def compute(net: NetState, ruleset: Ruleset, observed: Observed, shaping: Shaping | None = None,
            queue_rules: tuple[str, ...] | None = None, vlan: bool = True,
            wireguard: str | None = "kernel") -> list[Step]:
    """Steps in a safe order: the ruleset, the classifier's queue rule, links, tc additions,
    addresses and routes, then removals, then forwarding. `queue_rules`: the iptables rules
    that send new flows to the classifier, when it is on and nft cannot queue by itself.
    `vlan`: the kernel makes 802.1Q devices, `wireguard`: how it makes WireGuard ones (facts)."""
    _check_preconditions(net, observed, vlan, wireguard)
    steps: list[Step] = []
    # The ruleset goes first: one transaction the kernel checks as a whole, so if it is refused
    # nothing has changed yet. Until the new HTB classes exist (a moment later), traffic the new
    # maps point at them falls into the tree's default class: shaped, never unshaped.
    step = ruleset_step(ruleset, observed.ruleset_digest, observed.last_ruleset)
    steps += [step] if step else []
    steps += _queue_steps(queue_rules, observed)
    wanted_links = {link.device for link in net.links} | {t.device for t in (shaping.trees if shaping else ())}
    for link in net.links:
        if link.device not in observed.links and link.vlan is not None:
            steps.append(Step(StepKind.VLAN_ADD, (link.device, link.trunk, link.vlan),
                              say("plan.link.vlan_add", device=link.device, vlan=link.vlan, trunk=link.trunk),
                              link.origin))
        if link.device not in observed.links and link.wireguard:
            steps.append(Step(StepKind.WG_ADD, (link.device, wireguard),
                              say("plan.link.wg_add", device=link.device, how=wireguard),
                              link.origin))
        if not observed.links.get(link.device, {}).get("up"):
            steps.append(Step(StepKind.LINK_UP, (link.device,), say("plan.link.up", device=link.device), link.origin))
    tc_steps = _tc_steps(shaping, observed) if shaping else []
    for tree in shaping.trees if shaping else ():
        if tree.device not in observed.links:
            steps.append(Step(StepKind.IFB_ADD, (tree.device,),
                              say("plan.link.ifb_add", device=tree.device, direction=tree.direction), "shaping"))
        elif not observed.links[tree.device].get("up"):
            steps.append(Step(StepKind.LINK_UP, (tree.device,), say("plan.link.up", device=tree.device), "shaping"))
    steps += [Step(StepKind.TC, t.lines, t.text, "shaping") for t in tc_steps if t.phase == "before"]
    # Routes go before addresses: removing a device's last address takes its routes with it,
    # and deleting a route that is gone already fails (the last tunnelled OPD removed).
    wanted_routes = {(r.destination, r.device, r.gateway) for r in net.routes}
    for route in sorted(observed.routes - wanted_routes, key=str):
        steps.append(Step(StepKind.ROUTE_DEL, route, say("plan.route.del", route=_route_text(*route))))
    wanted_addresses = {(a.device, a.address) for a in net.addresses}
    for device, address in sorted(observed.owned_addresses - wanted_addresses):
        if (device, address) in observed.addresses:
            steps.append(Step(StepKind.ADDRESS_DEL, (device, address), say("plan.address.del", address=address, device=device)))
    for want in net.addresses:
        if (want.device, want.address) not in observed.addresses:
            steps.append(Step(StepKind.ADDRESS_ADD, (want.device, want.address),
                              say("plan.address.add", address=want.address, device=want.device), want.origin))
    for want in net.routes:
        key = (want.destination, want.device, want.gateway)
        if key not in observed.routes:
            steps.append(Step(StepKind.ROUTE_ADD, key, say("plan.route.add", route=_route_text(*key)), want.origin))
    steps += [Step(StepKind.TC, t.lines, t.text, "shaping") for t in tc_steps if t.phase == "after"]
    for device in sorted(observed.owned_links - wanted_links):
        if device in observed.links:
            steps.append(Step(StepKind.LINK_DEL, (device,), say("plan.link.del", device=device)))
    if not observed.forwarding:
        steps.append(Step(StepKind.FORWARDING, (), say("plan.forwarding")))
    return steps


def _queue_steps(wanted: tuple[str, ...] | None, observed: Observed) -> list[Step]:
    if wanted is not None and (observed.queue_rules != wanted or not observed.queue_jump):
        return [Step(StepKind.CLASSIFY, (wanted, not observed.queue_jump),
                     say("plan.classify.set"),
                     "site.classifier")]
    if wanted is None and (observed.queue_rules is not None or observed.queue_jump):
        return [Step(StepKind.CLASSIFY_DEL, (observed.queue_rules is not None, observed.queue_jump),
                     say("plan.classify.del"))]
    return []


def _tc_steps(shaping: Shaping, observed: Observed) -> list:
    steps = []
    for tree in shaping.trees:
        steps += tree_steps(tree, observed.tc.get(tree.device), shaping.leaf_qdisc)
    return steps + redirect_steps(shaping, observed.clsact, observed.owned_redirects, observed.links)


def _check_preconditions(net: NetState, observed: Observed, vlan: bool, wireguard: str | None) -> None:
    """Interfaces pnsbox does not create must exist; so must the trunk under a VLAN, and the
    kernel must be able to make the VLAN (or the WireGuard interface)."""
    missing = []
    for link in net.links:
        if link.device in observed.links:
            continue
        if link.wireguard:
            if wireguard is None:
                missing.append(say("plan.missing.wireguard", origin=link.origin))
        elif link.vlan is None:
            missing.append(say("plan.missing.interface", origin=link.origin, device=link.device))
        elif link.trunk not in observed.links:
            missing.append(say("plan.missing.trunk", origin=link.origin, trunk=link.trunk, vlan=link.vlan))
        elif not vlan:
            missing.append(say("plan.missing.vlan_support", origin=link.origin, vlan=link.vlan, trunk=link.trunk))
    if missing:
        raise PlanError(say("plan.missing", missing=missing))


def _route_text(destination: str, device: str, gateway: str | None) -> str:
    return f"{destination} via {gateway} dev {device}" if gateway else f"{destination} dev {device}"


def ruleset_step(ruleset: Ruleset, running_digest: str | None, last_ruleset: str | None) -> Step | None:
    """Replacing the table, when the kernel's (`running_digest`, None: no table) is not `ruleset`'s;
    `last_ruleset` is the text pnsbox loaded last, for the step's diff."""
    if running_digest == ruleset.digest:
        return None
    return Step(StepKind.RULESET, (), _ruleset_change(ruleset, running_digest, last_ruleset), "policies")


def _ruleset_change(ruleset: Ruleset, running_digest: str | None, last_ruleset: str | None) -> str:
    if running_digest is None:
        return say("plan.ruleset.add", rules=_rule_count(ruleset.text))
    if last_ruleset is None or running_digest == "unknown":
        return say("plan.ruleset.replace_foreign")
    old, new = last_ruleset.splitlines(), ruleset.text.splitlines()
    gone, came = Counter(old) - Counter(new), Counter(new) - Counter(old)
    changed = sum(gone.values()) + sum(came.values())
    if changed > LARGE_DIFF:
        # difflib's matching grows with lines x changes: 1,000 changed rules of a 16,000-line
        # table took seconds. Then the lines that went and came, in their order, suffice.
        body = [f"-{line}" for line in _taken(old, gone)] + [f"+{line}" for line in _taken(new, came)]
        body = [line for line in body if "comment \"pnsbox " not in line]
        more = len(body) - SHOWN_LINES
        body = body[:SHOWN_LINES] + ([f"... and {more} more changed lines"] if more > 0 else [])  # (diff text)
    else:
        diff = difflib.unified_diff(old, new, "running", "new", n=0, lineterm="")
        body = [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")
                and "comment \"pnsbox " not in line]
    return say("plan.ruleset.replace", diff="\n".join("    " + line for line in body))


LARGE_DIFF = 400  # changed lines beyond which the step lists them without a line-by-line diff
SHOWN_LINES = 200


def _taken(lines: list[str], wanted: Counter) -> list[str]:
    """The lines counted in `wanted`, in their order (the first of equal lines)."""
    left, out = Counter(wanted), []
    for line in lines:
        if left[line] > 0:
            left[line] -= 1
            out.append(line)
    return out


def _rule_count(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith("\t\t") and " comment " in line)
