"""apply: render, plan against what runs, check, then change the kernel.

The ruleset goes first, in one transaction: the box is never forwarding
with addresses up and the new policy missing. Link steps follow.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyroute2 import IPRoute

from ..model import Config
from ..plan import Observed, Step, compute
from ..render.net import render_net
from ..render.nft import Ruleset, render
from . import links, nft
from .netns import KernelError, netns_exists
from .owned import DEFAULT_STATE_DIR, OwnedRecord


@dataclass
class Result:
    steps: list[Step]
    ruleset: Ruleset

    @property
    def changed(self) -> bool:
        return bool(self.steps)


def _open(netns: str | None) -> IPRoute:
    if not netns_exists(netns):
        raise KernelError(f"network namespace {netns} does not exist")
    return IPRoute(netns=netns) if netns else IPRoute()


def observe(ipr: IPRoute, netns: str | None, record: OwnedRecord) -> Observed:
    seen = links.observe(ipr, netns)
    owned = record.read()
    return Observed(links=seen["links"], addresses=seen["addresses"], routes=seen["routes"],
                    forwarding=seen["forwarding"], ruleset_digest=nft.running_digest(netns),
                    owned_addresses={tuple(a) for a in owned["addresses"]},
                    owned_links=set(owned["links"]), last_ruleset=owned["ruleset"])


def plan(config: Config, netns: str | None = None, state_dir: str = DEFAULT_STATE_DIR) -> Result:
    ruleset = render(config)
    with _open(netns) as ipr:
        observed = observe(ipr, netns, OwnedRecord(state_dir, netns))
    return Result(compute(render_net(config), ruleset, observed), ruleset)


def apply(config: Config, netns: str | None = None, state_dir: str = DEFAULT_STATE_DIR,
          force: bool = False) -> Result:
    ruleset = render(config)
    record = OwnedRecord(state_dir, netns)
    with _open(netns) as ipr:
        observed = observe(ipr, netns, record)
        steps = compute(render_net(config), ruleset, observed)
        if force and not any(s.kind == "ruleset" for s in steps):
            steps.insert(0, Step("ruleset", (), "~ nftables table inet pnsbox: reload (forced)"))
        if not steps:
            return Result([], ruleset)
        nft.check(ruleset, netns)  # the kernel's own verdict before anything changes
        owned_addresses = set(observed.owned_addresses)
        owned_links = set(observed.owned_links)
        for step in steps:
            if step.kind == "ruleset":
                nft.load(ruleset, netns)
                continue
            links.execute(ipr, netns, step)
            _track(step, owned_addresses, owned_links)
        record.write(owned_addresses, owned_links, ruleset.text)
    return Result(steps, ruleset)


def _track(step: Step, addresses: set, link_names: set) -> None:
    if step.kind == "address-add":
        addresses.add(step.args)
    elif step.kind == "address-del":
        addresses.discard(step.args)
    elif step.kind == "vlan-add":
        link_names.add(step.args[0])
    elif step.kind == "link-del":
        link_names.discard(step.args[0])
