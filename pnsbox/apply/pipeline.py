"""apply: render, plan against what runs, then change the kernel.

Order (plan.compute): the ruleset in one transaction (the kernel checks it
whole; refused, nothing has changed), links, tc additions, addresses and
routes, removals, forwarding. The box never forwards on new addresses
without the new policy.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby

from ..facts import Facts, FactsError
from ..model import Config
from ..plan import Observed, PlanError, Step, compute
from ..plan_tc import rate_steps, redirect_record, tree_record
from ..render.apps import queue_rules_iptables
from ..render.net import render_net
from ..render.nft import Ruleset, render
from ..render.tc import Shaping, active_windows, allocate_slots, classid, render_shaping
from . import classify, links, nft, tc
from . import facts as kernel_facts
from .netns import KernelError, netns_exists
from .owned import DEFAULT_STATE_DIR, OwnedRecord, locked


@dataclass
class Result:
    steps: list[Step]
    ruleset: Ruleset | None  # None when only HTB rates were considered (nothing else changed)
    shaping: Shaping

    @property
    def changed(self) -> bool:
        return bool(self.steps)


def _require_netns(netns: str | None) -> None:
    if not netns_exists(netns):
        raise KernelError(f"network namespace {netns} does not exist")


def _facts(netns: str | None, record: OwnedRecord, owned: dict) -> Facts:
    """Probed once per kernel release, then remembered."""
    cached = owned.get("facts")
    if cached and cached.get("kernel") == kernel_facts.kernel_release() and "nft_queue" in cached:
        return Facts(tuple(cached["leaf_qdiscs"]), cached["nft_queue"])
    found = kernel_facts.probe(netns)
    record.write(facts={"kernel": kernel_facts.kernel_release(), "leaf_qdiscs": list(found.leaf_qdiscs),
                        "nft_queue": found.nft_queue})
    return found


@dataclass(frozen=True)
class Inputs:
    """What rendering depends on besides the config: OPD slots, the leaf queue, open schedules."""

    slots: dict[str, int]
    leaf: str
    windows: frozenset[str]
    nft_queue: bool = False  # the classifier's queue rule goes in the nft table, not iptables


def inputs(config: Config, netns: str | None, record: OwnedRecord, owned: dict,
           now: datetime | None = None) -> Inputs:
    tunnelled = [f"opds.{name}.link.wireguard" for name, opd in config.opds.items() if opd.link.is_wireguard]
    if tunnelled:  # the hub's interface and peers are not rendered yet (issue 12, phase 2)
        raise PlanError(f"{', '.join(tunnelled)}: WireGuard links are checked but not applied by this version")
    try:
        facts = _facts(netns, record, owned)
        leaf = facts.leaf_qdisc(config.site.queue)
    except FactsError as exc:
        raise PlanError(str(exc)) from exc
    now = (now or datetime.now(UTC)).astimezone(UTC)
    windows = frozenset(active_windows(config, now.weekday(), now.hour * 60 + now.minute))
    return Inputs(allocate_slots(config, owned.get("slots")), leaf, windows, facts.nft_queue)


_recent: list[tuple[Config, tuple, tuple[Shaping, Ruleset]]] = []  # the last few renders


def desired(config: Config, given: Inputs) -> tuple[Shaping, Ruleset]:
    """The shaping plan in force and the ruleset that points into it. Remembered for the same
    config object and inputs: the daemon's drift check asks every two seconds."""
    key = (given.leaf, given.windows, tuple(sorted(given.slots.items())), given.nft_queue)
    for seen, seen_key, result in _recent:
        if seen is config and seen_key == key:
            return result
    shaping = render_shaping(config, given.slots, given.leaf, given.windows)
    result = (shaping, render(config, shaping, given.nft_queue))
    _recent[:] = [(config, key, result), *_recent[:1]]  # the running config, and one being applied
    return result


def structure_fingerprint(config: Config, given: Inputs) -> str:
    """Everything but bandwidth rates and the clock: equal fingerprints mean equal rulesets,
    links and class layout, so only HTB rates can differ."""
    rates_out = {"site": {"uplink": {"bandwidth", "download", "upload", "during"}},
                 "opds": {"__all__": {"bandwidth"}}}
    layout = {name: None if opd.bandwidth is None else
              [(c, t.match.model_dump_json() if t.match else None) for c, t in opd.bandwidth.classes.items()]
              for name, opd in config.opds.items()}
    text = config.model_dump_json(exclude=rates_out) + json.dumps([layout, given.slots, given.leaf, given.nft_queue],
                                                                  sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def queue_rules(config: Config, given: Inputs) -> tuple[str, ...] | None:
    """The iptables rules that queue new flows, when classifying on a kernel without nft `queue`."""
    if config.classifier is None or given.nft_queue:
        return None
    return tuple(queue_rules_iptables(config.classifier))


def observe(netns: str | None, owned: dict) -> Observed:
    seen = links.observe(netns)
    trees, clsact = tc.observe(netns)
    rules, jump = classify.observe(netns)
    return Observed(links=seen["links"], addresses=seen["addresses"], routes=seen["routes"],
                    queue_rules=rules, queue_jump=jump,
                    forwarding=seen["forwarding"], ruleset_digest=nft.running_digest(netns),
                    owned_addresses={tuple(a) for a in owned["addresses"]},
                    owned_links=set(owned["links"]), last_ruleset=owned["ruleset"],
                    tc=trees, clsact=clsact, owned_redirects=_owned_redirects(owned))


def _owned_redirects(owned: dict) -> dict[str, tuple[str | None, bool]]:
    out = {}
    for entry in owned["redirects"]:
        device, ifb, made_clsact = (entry, None, True) if isinstance(entry, str) else entry  # older state
        out[device] = (ifb, made_clsact)
    return out


def plan(config: Config, netns: str | None = None, state_dir: str = DEFAULT_STATE_DIR,
         now: datetime | None = None) -> Result:
    _require_netns(netns)
    record = OwnedRecord(state_dir, netns)
    owned = record.read()
    given = inputs(config, netns, record, owned, now)
    shaping, ruleset = desired(config, given)
    observed = observe(netns, owned)
    return Result(compute(render_net(config), ruleset, observed, shaping, queue_rules(config, given)), ruleset,
                  shaping)


def apply(config: Config, netns: str | None = None, state_dir: str = DEFAULT_STATE_DIR,
          force: bool = False, now: datetime | None = None) -> Result:
    """Make the namespace run `config` (see _apply); one apply at a time per state directory."""
    _require_netns(netns)
    with locked(state_dir):
        return _apply(config, netns, state_dir, force, now)


def _apply(config: Config, netns: str | None, state_dir: str, force: bool, now: datetime | None) -> Result:
    """Make the namespace run `config`, with the bandwidth plans in force at `now`.

    Calling it again at a schedule edge is how time-of-day plans switch. When
    only rates differ from the last apply (same structure, the kernel still runs
    our ruleset), only the changed HTB classes are touched, in place, without
    reading the kernel back: that is what keeps a rate change fast at 1,000 OPDs.
    `force` takes the full path: observe everything, repair what differs."""
    record = OwnedRecord(state_dir, netns)
    owned = record.read()
    given = inputs(config, netns, record, owned, now)
    structure = structure_fingerprint(config, given)
    if not force and owned.get("structure") == structure and owned.get("trees") \
            and nft.running_digest(netns) == owned.get("digest"):
        shaping = render_shaping(config, given.slots, given.leaf, given.windows)
        changes = rate_steps(shaping, owned["trees"])
        if changes is not None:
            steps = [Step("tc", t.lines, t.text, "shaping") for t in changes]
            _execute(netns, steps, None, [])
            if steps:
                record.write(trees=tree_record(shaping))
            return Result(steps, None, shaping)
    with ThreadPoolExecutor(max_workers=1) as pool:  # read the kernel while rendering
        seen = pool.submit(observe, netns, owned)
        shaping, ruleset = desired(config, given)
        observed = seen.result()
    steps = compute(render_net(config), ruleset, observed, shaping, queue_rules(config, given))
    if force and not any(s.kind == "ruleset" for s in steps):
        steps.insert(0, Step("ruleset", (), "~ nftables table inet pnsbox: reload (forced)"))
    addresses, link_names = set(observed.owned_addresses), set(observed.owned_links)
    done: list[Step] = []
    try:
        _execute(netns, steps, ruleset, done)
    except KernelError:
        # Keep what was made before the failure as ours (so a later apply can remove it), and
        # forget the structure, so the next apply observes everything instead of trusting it.
        for step in done:
            _track(step, addresses, link_names)
        record.write(addresses=sorted(map(list, addresses)), links=sorted(link_names), structure=None)
        raise
    for step in steps:
        _track(step, addresses, link_names)
    labels = {classid(c.minor): c.label for tree in shaping.trees for c in tree.classes}
    record.write(addresses=sorted(map(list, addresses)), links=sorted(link_names), ruleset=ruleset.text,
                 redirects=redirect_record(shaping, observed.clsact, observed.owned_redirects),
                 slots=given.slots, labels=labels,
                 structure=structure, digest=ruleset.digest, trees=tree_record(shaping))
    return Result(steps, ruleset, shaping)


def _executor(step: Step) -> str:
    return "ip" if step.kind in links.IP_STEPS else step.kind


def _execute(netns: str | None, steps: list[Step], ruleset: Ruleset, done: list[Step]) -> None:
    """Consecutive steps of one tool go to the kernel as one batch, in plan order; `done` gets
    the steps that went through. New HTB classes and the addresses and routes after them
    touch different things, so those two batches run side by side."""
    batches = [(kind, list(group)) for kind, group in groupby(steps, key=_executor)]
    index = 0
    while index < len(batches):
        kind, group = batches[index]
        following = batches[index + 1] if index + 1 < len(batches) else (None, [])
        side_by_side = kind == "tc" and following[0] == "ip" and all(
            s.kind.startswith(("address", "route")) for s in following[1])
        with ThreadPoolExecutor(max_workers=1) as pool:
            addresses = pool.submit(_run_batch, "ip", following[1], netns, ruleset, done) \
                if side_by_side else None
            try:
                _run_batch(kind, group, netns, ruleset, done)
            finally:
                if addresses:
                    addresses.result()
        index += 2 if side_by_side else 1


def _run_batch(kind: str, group: list[Step], netns: str | None, ruleset: Ruleset, done: list[Step]) -> None:
    try:
        if kind == "ip":
            links.execute(group, netns)
        elif kind == "tc":
            tc.batch([line for step in group for line in step.args], netns,
                     [step.text.splitlines()[0] for step in group for _ in step.args])
        elif kind == "ruleset":
            nft.load(ruleset, netns)
        elif kind == "forwarding":
            links.enable_forwarding(netns)
        elif kind in ("classify", "classify-del"):
            for step in group:
                classify.execute(step, netns)
    except KernelError as exc:
        done += getattr(exc, "done", [])
        raise
    done += group


def _track(step: Step, addresses: set, link_names: set) -> None:
    if step.kind == "address-add":
        addresses.add(step.args)
    elif step.kind == "address-del":
        addresses.discard(step.args)
    elif step.kind in ("vlan-add", "ifb-add"):
        link_names.add(step.args[0])
    elif step.kind == "link-del":
        link_names.discard(step.args[0])
