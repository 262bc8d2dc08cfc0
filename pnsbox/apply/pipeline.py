"""apply: render, plan against what runs, then change the kernel.

Order (plan.compute): the ruleset in one transaction (the kernel checks it
whole; refused, nothing has changed), links, tc additions, addresses and
routes, removals, forwarding. The box never forwards on new addresses
without the new policy.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import groupby

from ..classifier.catalog import Catalog, load_catalog
from ..codeprint import code_fingerprint
from ..edge.book import EdgeBook
from ..facts import Facts, FactsError
from ..model import Config
from ..observe import box, table
from ..observe import ha as observe_ha
from ..observe import wg as observe_wg
from ..observe.facts import kernel_release, probe
from ..plan import PlanError, Step, StepKind, compute, ruleset_step
from ..plan_ha import ha_steps
from ..plan_tc import rate_steps, redirect_record, tree_record
from ..render.ha import HAPaths
from ..render.nft import Ruleset
from ..render.schedule import next_edge
from ..render.site import Artifacts, needs_catalog, render_shaping_for, site, windows_at
from ..render.tc import Shaping, allocate_slots, classid
from ..render.wg import WgInterface
from . import classify, ha, links, nft, tc, wg
from .netns import KernelError, netns_exists
from .owned import DEFAULT_STATE_DIR, Owned, OwnedRecord, locked


@dataclass
class Result:
    steps: list[Step]
    ruleset: Ruleset | None  # None when only HTB rates were considered (nothing else changed)
    shaping: Shaping
    warnings: tuple[str, ...] = ()  # what this kernel cannot give the config (render.site.warnings)
    kept_digest: str | None = None  # the digest of the ruleset left running, when `ruleset` is None

    @property
    def digest(self) -> str | None:
        """The digest of the ruleset the kernel runs after this apply."""
        return self.ruleset.digest if self.ruleset is not None else self.kept_digest

    @property
    def changed(self) -> bool:
        return bool(self.steps)


def _require_netns(netns: str | None) -> None:
    if not netns_exists(netns):
        raise KernelError(f"network namespace {netns} does not exist")


def kernel_facts(owned: Owned, record: OwnedRecord | None = None) -> Facts:
    """Probed once per kernel release and remembered in the state; `record` is given by apply
    (which writes), never by plan or render (which only read)."""
    cached = owned.facts_on(kernel_release(), ("leaf_qdiscs", "nft_queue", "vlan", "wireguard", "ftp_helper"))
    if cached is not None:
        return Facts.from_dict(cached)
    found = probe()
    if record is not None:
        record.write(facts={"kernel": kernel_release(), **found.as_dict()})
    return found


@dataclass(frozen=True)
class Inputs:
    """What rendering depends on besides the config and the catalog."""

    facts: Facts
    slots: dict[str, int]  # OPD -> class slot: as the last apply recorded them, new OPDs in free ones
    windows: frozenset[str]  # schedules open now
    edges: tuple = ()  # the enrolled edges (pnsbox.edge.book.Edge), sorted: the hub's WireGuard peers
    peer: str | None = None  # which hub of an HA pair this is (site.ha.peers)
    ha: HAPaths | None = None  # where that hub's keepalived and conntrackd keep their files

    @property
    def edge_map(self) -> dict:
        return {edge.opd: edge for edge in self.edges}


def inputs(config: Config, owned: Owned, record: OwnedRecord | None = None, now: datetime | None = None,
           state_dir: str | None = None, peer: str | None = None, netns: str | None = None) -> Inputs:
    edges = ()
    if state_dir is not None and config.site.wireguard is not None:
        edges = tuple(sorted(EdgeBook(state_dir).read().edges.values(), key=lambda e: e.opd))
    return Inputs(kernel_facts(owned, record), allocate_slots(config, owned.slots),
                  windows_at(config, now or datetime.now(UTC)), edges, peer if config.site.ha else None,
                  _ha_paths(config, netns))


def _ha_paths(config: Config, netns: str | None) -> HAPaths | None:
    """An HA hub's file places; also a former one's, whose daemons the next apply stops."""
    paths = ha.paths_for(netns)
    return paths if config.site.ha or os.path.exists(paths.keepalived_conf) else None


def catalog_for(config: Config, catalog: Catalog | None = None) -> Catalog | None:
    """The application catalog when the config classifies (a long-lived caller passes its own)."""
    return catalog if catalog is not None or not needs_catalog(config) else load_catalog()


class Renders:
    """The last two renders (the running config's, and one being applied), kept by a caller
    that asks again and again with the same config object: pnsboxd's drift check runs a plan
    every two seconds. A config whose structure equals a kept one's (only bandwidth rates
    differ, as after a rate change) takes that render with its HTB trees rendered anew: the
    ruleset, links and class layout are the same (see fingerprints), and rendering the
    ruleset of 1,000 OPDs costs ~0.15 s. A fresh Renders (the default) remembers nothing."""

    def __init__(self):
        self._recent: list[list] = []  # [config, key, artifacts, structure or None (not computed yet)]

    def site(self, config: Config, given: Inputs, catalog: Catalog | None, structure: str | None = None) -> Artifacts:
        """`structure`: the config's structure fingerprint, when the caller has it (apply does)."""
        key = (given.facts, given.windows, tuple(sorted(given.slots.items())), id(catalog), given.edges,
               given.peer, given.ha)
        recent = list(self._recent)  # pnsboxd's drift check renders on another thread
        for seen, seen_key, result, _ in recent:
            if seen is config and seen_key == key:
                return result
        try:
            for entry in recent:
                if entry[1] == key:
                    structure = structure or fingerprints(config, given)[0]
                    entry[3] = entry[3] or fingerprints(entry[0], given)[0]
                    if entry[3] == structure:
                        shaping = render_shaping_for(config, given.facts, given.slots, given.windows)
                        result = replace(entry[2], shaping=shaping)
                        break
            else:
                result = site(config, given.facts, catalog_for(config, catalog), given.slots, given.windows,
                              given.edge_map, given.peer, given.ha)
        except FactsError as exc:
            raise PlanError(str(exc)) from exc
        self._recent[:] = [[config, key, result, structure], *recent[:1]]
        return result


def render_for(config: Config, netns: str | None, state_dir: str = DEFAULT_STATE_DIR, now: datetime | None = None,
               catalog: Catalog | None = None, peer: str | None = None) -> Artifacts:
    """What an apply to `netns` would load now: its kernel's facts and the recorded slots
    (`pnsbox render --netns`, `pnsbox check`). Reads the state, writes nothing."""
    _require_netns(netns)
    owned = OwnedRecord(state_dir, netns).read()
    return Renders().site(config, inputs(config, owned, now=now, state_dir=state_dir, peer=peer, netns=netns), catalog)


def fingerprints(config: Config, given: Inputs) -> tuple[str, str]:
    """(structure, layout). Structure: everything but bandwidth rates and the clock; equal
    structures mean equal rulesets, links and class layout, so only HTB rates can differ.
    Layout: the structure without the policies; equal layouts mean equal links, addresses,
    routes and classes, so only the ruleset and HTB rates can differ."""
    rates_out = {"site": {"uplink": {"bandwidth", "download", "upload", "during"}},
                 "opds": {"__all__": {"bandwidth"}}}
    classes = {name: None if opd.bandwidth is None else
               [(c, t.match.model_dump_json() if t.match else None) for c, t in opd.bandwidth.classes.items()]
               for name, opd in config.opds.items()}
    peers = [(e.opd, e.public_key, e.previous_key, e.next_key, e.tunnel_address, e.disabled) for e in given.edges]
    text = config.model_dump_json(exclude={**rates_out, "policies": True}) + json.dumps(
        [classes, given.slots, given.facts.as_dict(), given.facts.leaf_qdisc(config.site.queue), peers, given.peer],
        sort_keys=True)
    layout = hashlib.sha256(text.encode()).hexdigest()
    policies = config.model_dump_json(include={"policies"})
    return hashlib.sha256(f"{layout}\n{policies}".encode()).hexdigest(), layout


def plan(config: Config, netns: str | None = None, state_dir: str = DEFAULT_STATE_DIR,
         now: datetime | None = None, catalog: Catalog | None = None, renders: Renders | None = None,
         peer: str | None = None) -> Result:
    """The steps an apply would take. Reads the kernel and the state; changes neither."""
    _require_netns(netns)
    owned = OwnedRecord(state_dir, netns).read()
    given = inputs(config, owned, now=now, state_dir=state_dir, peer=peer, netns=netns)
    desired = (renders or Renders()).site(config, given, catalog)
    observed = box.observe(netns, owned)
    return Result(_steps(desired, observed, given, netns, state_dir), desired.ruleset, desired.shaping,
                  desired.warnings)


def _steps(desired: Artifacts, observed, given: Inputs, netns: str | None, state_dir: str) -> list[Step]:
    seen_ha = observe_ha.running(given.ha) if given.ha is not None else None
    leaving = seen_ha is not None and not desired.keepalived and seen_ha.keepalived_pid is not None
    if leaving:  # the pair's keepalived takes its addresses (and the kernel their routes) as it stops
        gone = set(observe_ha.moving_addresses(seen_ha.keepalived_conf or ""))
        devices = {device for device, _ in gone}
        observed = replace(observed, addresses=observed.addresses - gone,
                           routes={route for route in observed.routes if route[1] not in devices})
    steps = compute(desired.net, desired.ruleset, observed, desired.shaping, desired.queue_rules,
                    vlan=given.facts.vlan, wireguard=given.facts.wireguard)
    if desired.wireguard is not None:
        steps = _with_peers(steps, desired.wireguard, netns, state_dir)
    if desired.keepalived:  # a gateway address pnsbox owned before the site was a pair is keepalived's now
        moving = set(observe_ha.moving_addresses(desired.keepalived))
        steps = [s for s in steps if not (s.kind is StepKind.ADDRESS_DEL and tuple(s.args) in moving)]
    if given.ha is not None:  # last: keepalived hands out the addresses once the rest stands
        more = ha_steps(desired.keepalived, desired.conntrackd, desired.keepalived_script, seen_ha, given.ha)
        steps = more + steps if leaving else steps + more  # leaving: stopped first, then the addresses are ours
    return steps


def _with_peers(steps: list[Step], wanted: WgInterface, netns: str | None, state_dir: str) -> list[Step]:
    """The hub's peers, synced right after its interface exists (before its addresses and routes)."""
    key = EdgeBook(state_dir).hub_private_key(create=False) or ""
    wanted = WgInterface(wanted.name, key, wanted.listen_port, wanted.peers)
    if not wg.differs(wanted, observe_wg.read(netns, wanted.name)):
        return steps
    names = ", ".join(p.origin.removeprefix("opds.") for p in wanted.peers) or "none"
    step = Step(StepKind.WG_PEERS, (wanted,), f"~ {wanted.name}: port {wanted.listen_port}, peers: {names}", "site.wireguard")
    after = max((i for i, s in enumerate(steps) if s.kind in (StepKind.RULESET, StepKind.CLASSIFY, StepKind.WG_ADD,
                                                                StepKind.VLAN_ADD, StepKind.LINK_UP)), default=-1)
    return [*steps[:after + 1], step, *steps[after + 1:]]


def apply(config: Config, netns: str | None = None, state_dir: str = DEFAULT_STATE_DIR,
          force: bool = False, now: datetime | None = None, catalog: Catalog | None = None,
          renders: Renders | None = None, before_reload=None, peer: str | None = None) -> Result:
    """Make the namespace run `config` (see _apply); one apply at a time per state directory.
    `before_reload` is called just before the ruleset is replaced (its counters start again).
    `peer`: which hub of an HA site this is."""
    _require_netns(netns)
    with locked(state_dir):
        return _apply(config, netns, state_dir, force, now, catalog, renders or Renders(), before_reload, peer)


def _apply(config: Config, netns: str | None, state_dir: str, force: bool, now: datetime | None,
           catalog: Catalog | None, renders: Renders, before_reload=None, peer: str | None = None) -> Result:
    """Make the namespace run `config`, with the bandwidth rates in force at `now`.

    Calling it again at a schedule edge is how time-of-day rates switch. When
    only rates differ from the last apply (same structure, the kernel still runs
    our ruleset), only the changed HTB classes are touched, in place, without
    reading the kernel back: that is what keeps a rate change fast at 1,000 OPDs.
    `force` takes the full path: observe everything, repair what differs, as does a record that
    another pnsbox (before an upgrade) wrote."""
    record = OwnedRecord(state_dir, netns)
    owned = record.read()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    given = inputs(config, owned, record, now, state_dir, peer, netns)
    until = _until(config, now)
    try:
        structure, layout = fingerprints(config, given)
    except FactsError as exc:
        raise PlanError(str(exc)) from exc
    # the record is trusted only as this pnsbox wrote it: an upgraded renderer renders anew
    trusted = not force and owned.structure and owned.trees and owned.code == code_fingerprint() \
        and table.running_digest(netns) == owned.digest and not _ha_changes(given, record)
    if trusted and owned.structure == structure:
        shaping = render_shaping_for(config, given.facts, given.slots, given.windows)
        changes = rate_steps(shaping, owned.trees)
        if changes is not None:
            steps = [Step(StepKind.TC, t.lines, t.text, "shaping") for t in changes]
            _execute(netns, steps, None, [], state_dir)
            if steps or owned.until != until:
                record.write(trees=tree_record(shaping), until=until)
            return Result(steps, None, shaping, kept_digest=owned.digest)
    if trusted and owned.layout == layout and given.peer is None:  # an HA hub: its keepalived files too
        done = _policies_only(config, given, catalog, renders, owned, record, netns, state_dir,
                              structure, layout, until, before_reload)
        if done is not None:
            return done
    with ThreadPoolExecutor(max_workers=1) as pool:  # read the kernel while rendering
        seen = pool.submit(box.observe, netns, owned)
        desired = renders.site(config, given, catalog, structure)
        observed = seen.result()
    steps = _steps(desired, observed, given, netns, state_dir)
    shaping, ruleset = desired.shaping, desired.ruleset
    if force and not any(s.kind is StepKind.RULESET for s in steps):
        steps.insert(0, Step(StepKind.RULESET, (), "~ nftables table inet pnsbox: reload (forced)"))
    addresses, link_names = set(observed.owned_addresses), set(observed.owned_links)
    done: list[Step] = []
    if before_reload and any(s.kind is StepKind.RULESET for s in steps):
        before_reload()
    try:
        _execute(netns, steps, ruleset, done, state_dir, given.ha)
    except KernelError:
        # Keep what was made before the failure as ours (so a later apply can remove it), and
        # forget the structure, so the next apply observes everything instead of trusting it.
        for step in done:
            _track(step, addresses, link_names)
        record.write(addresses=sorted(map(list, addresses)), links=sorted(link_names), structure=None, layout=None)
        raise
    for step in steps:
        _track(step, addresses, link_names)
    labels = {classid(c.minor): c.label for tree in shaping.trees for c in tree.classes}
    record.write(addresses=sorted(map(list, addresses)), links=sorted(link_names), ruleset=ruleset.text,
                 redirects=redirect_record(shaping, observed.clsact, observed.owned_redirects),
                 slots=desired.slots, labels=labels, structure=structure, layout=layout,
                 digest=ruleset.digest, trees=tree_record(shaping), until=until,
                 wireguard=desired.wireguard.name if desired.wireguard else None, code=code_fingerprint())
    return Result(steps, ruleset, shaping)


def _ha_changes(given: Inputs, record: OwnedRecord) -> bool:
    """An HA hub whose keepalived or conntrackd is not running, or whose files someone edited,
    takes the full path (which starts them, or writes the files again)."""
    if given.peer is None:
        return False
    seen = observe_ha.running(given.ha)
    return seen.keepalived_pid is None or seen.conntrackd_pid is None or observe_ha.edited_since(given.ha, record.path)


def _policies_only(config: Config, given: Inputs, catalog: Catalog | None, renders: Renders, owned: Owned,
                   record: OwnedRecord, netns: str | None, state_dir: str, structure: str, layout: str,
                   until: float | None, before_reload) -> Result | None:
    """Only the policies (and maybe HTB rates) differ from the last apply, whose table the kernel
    still runs: links, addresses, routes and classes are as that apply left them, so the kernel
    is not read back (the full observe of 1,000 OPDs' links, addresses, routes and tc trees
    costs ~0.4 s). The table is replaced whole, as always, then the changed rates are set in
    place. None when more turns out to differ (the caller takes the full path). pnsboxd's
    drift check still compares everything every few seconds."""
    desired = renders.site(config, given, catalog, structure)
    changes = rate_steps(desired.shaping, owned.trees)
    if changes is None or desired.queue_rules is not None or desired.wireguard is not None \
            or desired.slots != owned.slots:
        return None  # the classifier's iptables path and the hub's peers are compared on the full path
    reload = ruleset_step(desired.ruleset, owned.digest, owned.ruleset)
    steps = ([reload] if reload else []) + [Step(StepKind.TC, t.lines, t.text, "shaping") for t in changes]
    if before_reload and reload:
        before_reload()
    try:
        _execute(netns, steps, desired.ruleset, [], state_dir)
    except KernelError:
        record.write(structure=None, layout=None)  # the next apply observes everything
        raise
    record.write(ruleset=desired.ruleset.text, structure=structure, layout=layout, digest=desired.ruleset.digest,
                 trees=tree_record(desired.shaping), until=until, code=code_fingerprint())
    return Result(steps, desired.ruleset, desired.shaping)


def _until(config: Config, now: datetime) -> float | None:
    """When a schedule next opens or closes (unix time): until then, plans in force stay as
    they are, so an unchanged site needs nothing (settled.already_runs trusts the record)."""
    edge = next_edge(config.schedules.values(), config.site.timezone, now)
    return edge.timestamp() if edge else None


def _execute(netns: str | None, steps: list[Step], ruleset: Ruleset, done: list[Step],
             state_dir: str = DEFAULT_STATE_DIR, ha_paths: HAPaths | None = None) -> None:
    """Consecutive steps of one tool go to the kernel as one batch, in plan order; `done` gets
    the steps that went through. New HTB classes and the addresses and routes after them
    touch different things, so those two batches run side by side."""
    batches = [(tool, list(group)) for tool, group in groupby(steps, key=lambda step: step.kind.tool)]
    index = 0
    while index < len(batches):
        tool, group = batches[index]
        following = batches[index + 1] if index + 1 < len(batches) else (None, [])
        side_by_side = tool == "tc" and following[0] == "ip" and all(
            s.kind in (StepKind.ADDRESS_ADD, StepKind.ADDRESS_DEL, StepKind.ROUTE_ADD, StepKind.ROUTE_DEL)
            for s in following[1])
        with ThreadPoolExecutor(max_workers=1) as pool:
            addresses = pool.submit(_run_batch, "ip", following[1], netns, ruleset, done) \
                if side_by_side else None
            try:
                _run_batch(tool, group, netns, ruleset, done, state_dir, ha_paths)
            finally:
                if addresses:
                    addresses.result()
        index += 2 if side_by_side else 1


def _run_batch(tool: str, group: list[Step], netns: str | None, ruleset: Ruleset, done: list[Step],
               state_dir: str = DEFAULT_STATE_DIR, ha_paths: HAPaths | None = None) -> None:
    """One batch of one tool (StepKind.tool): the one place a step meets the kernel."""
    try:
        match tool:
            case "ip":
                links.execute(group, netns)
            case "tc":
                tc.batch([line for step in group for line in step.args], netns,
                         [step.text.splitlines()[0] for step in group for _ in step.args])
            case "nft":
                nft.load(ruleset, netns)
            case "sysctl":
                links.enable_forwarding(netns)
            case "ha":
                ha.execute(group, netns, ha_paths)
            case "iptables":
                for step in group:
                    classify.execute(step, netns)
            case "wireguard":
                for step in group:
                    if step.kind is StepKind.WG_ADD:
                        wg.ensure(netns, step.args[0], step.args[1])
                    else:  # the hub's peers; its key is made at the first apply and never leaves the box
                        wanted = step.args[0]
                        key = EdgeBook(state_dir).hub_private_key()
                        wg.sync(netns, WgInterface(wanted.name, key, wanted.listen_port, wanted.peers))
            case _:
                raise ValueError(f"no tool {tool!r}")
    except KernelError as exc:
        done += getattr(exc, "done", [])
        raise
    done += group


def _track(step: Step, addresses: set, link_names: set) -> None:
    """What pnsbox owns after a step went through (a later apply removes exactly that)."""
    if step.kind is StepKind.ADDRESS_ADD:
        addresses.add(step.args)
    elif step.kind is StepKind.ADDRESS_DEL:
        addresses.discard(step.args)
    elif step.kind.makes_link:
        link_names.add(step.args[0])
    elif step.kind is StepKind.LINK_DEL:
        link_names.discard(step.args[0])
