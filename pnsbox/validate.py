"""Source -> Config, or a ConfigError naming every problem at once.

Each item (an OPD, a policy, ...) is checked on its own so one broken item
does not hide the problems of the others; cross-item checks then run over
every item that parsed.
"""

from __future__ import annotations

import difflib
import re
import typing
import urllib.parse
from ipaddress import IPv4Network
from itertools import combinations

from pydantic import BaseModel, ValidationError

from .load import Source
from .model import (
    DEFAULT_CLASS,
    GROUP_OPDS,
    HA_PEERS,
    RESERVED_ZONES,
    WIREGUARD_OVERHEAD,
    ZONE_BOX,
    ZONE_INTERNET,
    Checks,
    Config,
    Opd,
    Policy,
    Schedule,
    Service,
    Site,
    format_rate,
)
from .problems import ConfigError, Problem, dotted, in_words
from .wording import say

# "a download guarantee", ... (the English of an operator's limit, as it always read)
_LIMIT_KINDS = {("", "guarantee"): say("config.limit.kind.guarantee"), ("", "ceiling"): say("config.limit.kind.ceiling"),
                ("download", "guarantee"): say("config.limit.kind.download_guarantee"),
                ("download", "ceiling"): say("config.limit.kind.download_ceiling"),
                ("upload", "guarantee"): say("config.limit.kind.upload_guarantee"),
                ("upload", "ceiling"): say("config.limit.kind.upload_ceiling")}

SECTIONS = {"site", "services", "opds", "policies", "schedules", "checks"}


def _ceiling_label(own: bool, direction: str) -> str:
    """How a problem names a plan's ceiling: "the download ceiling", or "the ceiling"."""
    return say("config.plan.direction_ceiling_label", direction=direction) if own else say("config.plan.ceiling_label")


class ItemMemo:
    """Items validated for the last two configs (pnsboxd keeps one): an item whose parsed data is
    the very object validated before (load's ParseMemo hands back the same object for a piece of
    text it saw) is not validated again. The cross-checks always run over the whole config."""

    def __init__(self):
        self._current: dict = {}
        self._previous: dict = {}

    def get(self, model: type[BaseModel], value):
        key = (model, id(value))
        found = self._current.get(key) or self._previous.get(key)
        if found is None or found[0] is not value:  # an id is only unique while its object lives
            return None
        self._current[key] = found
        return found[1]

    def put(self, model: type[BaseModel], value, item) -> None:
        self._current[(model, id(value))] = (value, item)  # holding `value` keeps its id its own

    def built(self) -> None:
        self._previous, self._current = self._current, {}


def build(source: Source, memo: ItemMemo | None = None) -> Config:
    """The only way from loaded YAML to a Config."""
    try:
        return _build(source, memo)
    finally:
        if memo is not None:
            memo.built()


def _build(source: Source, memo: ItemMemo | None) -> Config:
    problems: list[Problem] = list(source.problems)
    data = source.data
    for key in data:
        if key not in SECTIONS:
            problems.append(source.problem((key,), _unknown_key(key, SECTIONS)))
    site = _item(source, ("site",), Site, problems) if "site" in data else None
    if "site" not in data:
        problems.append(source.problem((), say("config.section.missing", section="site")))
    services = _named_items(source, "services", Service, problems, memo=memo)
    opds = _named_items(source, "opds", Opd, problems, memo=memo)
    schedules = _named_items(source, "schedules", Schedule, problems, name_pattern=False, memo=memo)
    checks = _item(source, ("checks",), Checks, problems) if data.get("checks") is not None else Checks()
    policies = []
    raw_policies = data.get("policies") or []
    if not isinstance(raw_policies, list):
        problems.append(source.problem(("policies",), say("config.policies.not_list")))
        raw_policies = []
    for index in range(len(raw_policies)):
        policy = _item(source, ("policies", index), Policy, problems, memo)
        policies.append((index, policy))

    opds = _bind_tunnels(source, site, opds, problems)
    _CrossChecks(source, site, services, opds, schedules, policies, problems).run()
    if problems:
        raise ConfigError(problems)
    return Config(site=site, services=services, opds=opds, schedules=schedules,
                  policies=[p for _, p in policies], checks=checks)


def _bind_tunnels(source: Source, site, opds: dict, problems: list[Problem]) -> dict:
    """A WireGuard OPD's device is the hub's interface: one interface, a peer per edge."""
    tunnelled = [name for name, opd in opds.items() if opd.link.is_wireguard]
    if not tunnelled:
        return opds
    if site is not None and site.wireguard is None:
        for name in tunnelled:
            problems.append(source.problem(("opds", name, "link", "wireguard"),
                                           say("config.wireguard.needs_site")))
    bound = dict(opds)
    for name in tunnelled:
        link = opds[name].link
        if link.interface is not None:
            problems.append(source.problem(("opds", name, "link", "interface"),
                                           say("config.wireguard.no_interface")))
        elif site is not None and site.wireguard is not None:
            bound[name] = opds[name].model_copy(
                update={"link": link.model_copy(update={"interface": site.wireguard.interface})})
    return bound


def _item(source: Source, path: tuple, model: type[BaseModel], problems: list[Problem],
          memo: ItemMemo | None = None):
    value = source.data
    for part in path:
        value = value[part]
    known = memo.get(model, value) if memo is not None else None
    if known is not None:
        return known
    try:
        item = model.model_validate(value)
    except ValidationError as exc:
        for error in exc.errors():
            problems.append(_from_pydantic(source, path, model, error))
        return None
    if memo is not None:
        memo.put(model, value, item)
    return item


def _named_items(source, section, model, problems, name_pattern=True, memo=None) -> dict:
    raw = source.data.get(section) or {}
    if not isinstance(raw, dict):
        problems.append(source.problem((section,), say("config.section.not_mapping")))
        return {}
    items = {}
    for name in raw:
        if name_pattern and not _zone_name_ok(name):
            problems.append(source.problem((section, name), say("config.name.invalid")))
            continue
        item = _item(source, (section, name), model, problems, memo)
        if item is not None:
            items[name] = item
    return items


def _zone_name_ok(name: str) -> bool:
    return bool(re.fullmatch(r"[a-z][a-z0-9_-]{0,30}", name))


def _fields(model) -> set[str]:
    return {f.alias or n for n, f in model.model_fields.items()}


def _unknown_key(key: str, allowed) -> str:
    close = difflib.get_close_matches(key, sorted(allowed), n=1)
    hint = (say("config.hint.did_you_mean", name=close[0]) if close
            else say("config.hint.allowed", names=", ".join(sorted(allowed))))
    return say("config.key.unknown", key=key, hint=hint)


def _model_at(model, loc: tuple):
    """The pydantic model class reached by following `loc` from `model` (for key hints)."""
    current = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = next((f for n, f in current.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return None
        current = field.annotation
        for _ in range(3):  # unwrap Optional[...] / list[...] / dict[..., X]
            args = [a for a in typing.get_args(current) if a is not type(None)]
            if isinstance(current, type) and issubclass(current, BaseModel):
                break
            current = args[-1] if args else current
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _from_pydantic(source: Source, path: tuple, model, error: dict) -> Problem:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
    kind = error["type"]
    full = path + loc
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        allowed = _fields(parent) if parent else set()
        return source.problem(full, _unknown_key(str(loc[-1]), allowed))
    if kind == "missing":
        return source.problem(full, say("config.key.missing", key=str(loc[-1])))
    return source.problem(full, in_words(kind, error))


class _CrossChecks:
    """Checks that look at more than one item: names, overlaps, references."""

    def __init__(self, source, site, services, opds, schedules, policies, problems):
        self.source = source
        self.site = site
        self.services = services
        self.opds = opds
        self.schedules = schedules
        self.policies = policies
        self.problems = problems
        self._names: dict[str, set[str]] = {}

    def add(self, path, message):
        self.problems.append(self.source.problem(path, message))

    def run(self):
        self.zone_names()
        self.interfaces()
        self.addresses()
        self.references()
        self.port_lists()
        self.schedule_times()
        self.bandwidth()
        self.applications()
        self.tunnels()
        self.ha()

    def zone_names(self):
        for name in sorted(set(self.services) & set(self.opds)):
            self.add(("opds", name), say("config.zone.also_service", name=name))
        for section, items in (("services", self.services), ("opds", self.opds)):
            for name in items:
                if name in RESERVED_ZONES:
                    self.add((section, name), say("config.zone.reserved", name=name))
        seen: dict[str, tuple] = {}
        for section, items in (("services", self.services), ("opds", self.opds)):
            for name in items:
                ident = name.replace("-", "_")
                if ident in seen and seen[ident] != (section, name):
                    self.add((section, name), say("config.zone.dash_underscore", name=name, other=seen[ident][1]))
                seen.setdefault(ident, (section, name))
        names: dict[str, int] = {}
        for index, policy in self.policies:
            if policy is None:
                continue
            if policy.name in names:
                self.add(("policies", index, "name"),
                         say("config.policy.name_twice", name=policy.name, index=names[policy.name]))
            names.setdefault(policy.name, index)

    def interfaces(self):
        owners: dict[str, tuple] = {}
        if self.site:
            owners[self.site.uplink.interface] = ("site", "uplink", "interface")
        hub_interface = ("site", "wireguard", "interface")
        if self.site and self.site.wireguard:
            owners.setdefault(self.site.wireguard.interface, hub_interface)
        trunks = set()
        for name, opd in self.opds.items():
            device = opd.link.device
            if opd.link.is_wireguard and (device is None or owners.get(device) == hub_interface):
                continue  # every tunnelled OPD shares the hub's interface (None: no site.wireguard)
            if device in owners:
                self.add(("opds", name, "link"),
                         say("config.interface.claimed", device=device, owner=dotted(owners[device])))
            else:
                owners[device] = ("opds", name, "link")
            if opd.link.is_vlan:
                trunks.add(opd.link.trunk)
        service_links: dict[str, tuple] = {}
        for name, service in self.services.items():
            device = service.link.device
            if device in owners and owners[device][0] != "services":
                self.add(("services", name, "link"),
                         say("config.interface.claimed", device=device, owner=dotted(owners[device])))
                continue
            owners.setdefault(device, ("services", name, "link"))
            if service.link.address is not None:
                first = service_links.setdefault(device, (name, service.link.address))
                if first[1] != service.link.address:
                    self.add(("services", name, "link", "address"),
                             say("config.service.address_differs", device=device, address=str(service.link.address),
                                 first=str(first[1]), service=first[0]))
        for trunk in trunks:
            if trunk in owners:
                self.add(owners[trunk], say("config.interface.trunk_untagged", trunk=trunk))

    def addresses(self):
        nets: list[tuple[IPv4Network, tuple]] = []
        for name, opd in self.opds.items():
            for i, net in enumerate(opd.subnet):
                if net.prefixlen > 30:
                    self.add(("opds", name, "subnet", i),
                             say("config.subnet.too_small", net=str(net)))
                nets.append((net, ("opds", name, "subnet", i)))
        link_nets: dict[IPv4Network, str] = {}
        for name, service in self.services.items():
            for i, addr in enumerate(service.addresses):
                nets.append((IPv4Network(addr), ("services", name, "addresses", i)))
            if service.link.is_vlan or service.link.is_wireguard:
                self.add(("services", name, "link"), say("config.service.link_kind"))
            address = service.link.address
            if address is not None and link_nets.setdefault(address.network, name) == name:
                nets.append((address.network, ("services", name, "link", "address")))
        if self.site:
            nets.append((self.site.uplink.address.network, ("site", "uplink", "address")))
            if self.site.wireguard:
                nets.append((self.site.wireguard.tunnel, ("site", "wireguard", "tunnel")))
            if self.site.uplink.gateway not in self.site.uplink.address.network:
                self.add(("site", "uplink", "gateway"),
                         say("config.uplink.gateway_outside", gateway=str(self.site.uplink.gateway),
                             subnet=str(self.site.uplink.address.network)))
        # CIDR blocks nest or are apart: sorted by start, a block overlaps an earlier one exactly
        # when it starts before the furthest end seen so far. O(n log n), not all pairs.
        nets.sort(key=lambda item: (int(item[0].network_address), -item[0].prefixlen))
        widest = None  # (net, path) reaching furthest so far
        for net, path in nets:
            if widest and int(net.network_address) <= int(widest[0].broadcast_address):
                same_service = path[0] == widest[1][0] == "services" and (
                    path[:2] == widest[1][:2] or "link" in path or "link" in widest[1])
                if not same_service:
                    self.add(path, say("config.address.overlaps", net=str(net), other=str(widest[0]), owner=dotted(widest[1])))
            if widest is None or int(net.broadcast_address) > int(widest[0].broadcast_address):
                widest = (net, path)

    def references(self):
        # Names as written, so an item that failed to parse is not also reported as missing.
        zones = (self._raw_names("opds") | self._raw_names("services")
                 | {ZONE_INTERNET, ZONE_BOX, GROUP_OPDS})
        schedules = self._raw_names("schedules")
        known = sorted(zones)
        for index, policy in self.policies:
            if policy is None:
                continue
            for key, refs in (("from", policy.from_), ("to", policy.to)):
                for i, ref in enumerate(refs):
                    if ref not in zones:
                        self.add(("policies", index, key, i) if len(refs) > 1 else ("policies", index, key),
                                 _unknown_ref("zone", ref, known))
            if policy.schedule is not None and policy.schedule not in schedules:
                self.add(("policies", index, "schedule"),
                         _unknown_ref("schedule", policy.schedule, sorted(schedules)))
            if ZONE_BOX in policy.from_:
                self.add(("policies", index, "from"), say("config.policy.from_box"))
        if self.site and self.site.management:
            for i, ref in enumerate(self.site.management.from_):
                if ref not in zones or ref == ZONE_BOX:
                    self.add(("site", "management", "from", i), _unknown_ref("zone", ref, known))

    def applications(self):
        """`app:` and `category:` name entries of the catalog (rules/apps/catalog.yaml)."""
        uses = [(("policies", index), policy) for index, policy in self.policies if policy and policy.by_application]
        uses += [(("opds", name, "bandwidth", "classes", cname, "match"), tclass.match)
                 for name, opd in self.opds.items() if opd.bandwidth
                 for cname, tclass in opd.bandwidth.classes.items()
                 if tclass.match and (tclass.match.app or tclass.match.category)]
        if not uses:
            return
        from .classifier.catalog import default_catalog

        catalog = default_catalog()
        known = {"app": sorted(catalog.apps), "category": sorted(catalog.categories)}
        for path, item in uses:
            for key in ("app", "category"):
                refs = getattr(item, key)
                for i, ref in enumerate(refs):
                    if ref not in known[key]:
                        self.add((*path, key, i) if len(refs) > 1 else (*path, key),
                                 _unknown_ref("application" if key == "app" else "category", ref, known[key]))
            if path[0] == "policies" and ZONE_BOX in item.to:
                self.add((*path, "to"), say("config.policy.app_to_box"))

    def bandwidth(self):
        """Plans fit the pipe: ceiling >= guaranteed, ceiling <= pipe, guarantees add up."""
        if not self.site:
            return
        uplink = self.site.uplink
        schedules = self._raw_names("schedules")
        for name in uplink.during:
            if name not in schedules:
                self.add(("site", "uplink", "during", name), _unknown_ref("schedule", name, sorted(schedules)))
        windows = [None, *sorted({s for o in self.opds.values() if o.bandwidth for s in o.bandwidth.during}
                                 | set(uplink.during))]
        for name, opd in self.opds.items():
            if opd.bandwidth:
                self._opd_bandwidth(name, opd.bandwidth, schedules)
                self._opd_limit(name, opd, opd.limit or self.site.opd_limit)
        if self.site.oversubscribe:
            return
        for window in windows:  # the base plans, then each schedule's plans
            pipe = uplink.during.get(window, uplink) if window else uplink
            for direction in ("download", "upload"):
                total = sum(_active(opd.bandwidth, window).rates(direction).guaranteed
                            for opd in self.opds.values() if opd.bandwidth)
                if total > pipe.rate(direction):
                    when = say("config.when.during", window=window) if window else ""
                    self.add(("site", "uplink"),
                             say("config.pipe.guarantees_exceed", direction=direction, total=format_rate(total),
                                 when=when, pipe=format_rate(pipe.rate(direction))))

    def _opd_bandwidth(self, name, bandwidth, schedules):
        base = ("opds", name, "bandwidth")
        plans = [(base, bandwidth)] + [((*base, "during", s), p) for s, p in bandwidth.during.items()]
        for schedule in bandwidth.during:
            if schedule not in schedules:
                self.add((*base, "during", schedule), _unknown_ref("schedule", schedule, sorted(schedules)))
        for path, plan in plans:
            reported = set()  # a plan shared by both directions is reported once
            for direction in ("download", "upload"):
                guaranteed, ceiling = plan.rates(direction)
                own = getattr(plan, direction) is not None
                where = (*path, direction) if own else path
                if ceiling < guaranteed and (where, "low") not in reported:
                    reported.add((where, "low"))
                    self.add((*where, "ceiling"), say("config.plan.ceiling_below_guarantee",
                                                      label=_ceiling_label(own, direction),
                                                      ceiling=format_rate(ceiling), guaranteed=format_rate(guaranteed)))
                for window, pipe in self._pipes_during(path, bandwidth):
                    if ceiling > pipe.rate(direction) and (where, "high") not in reported:
                        reported.add((where, "high"))
                        when = say("config.when.during", window=window) if window else ""
                        self.add((*where, "ceiling"), say("config.plan.ceiling_above_pipe",
                                                          label=_ceiling_label(own, direction),
                                                          ceiling=format_rate(ceiling), direction=direction,
                                                          pipe=format_rate(pipe.rate(direction)), when=when))
        shares = sum(c.share for c in bandwidth.classes.values())
        if shares > 100:
            self.add((*base, "classes"), say("config.classes.shares_exceed", shares=f"{shares:g}"))
        if len(bandwidth.classes) > 14:
            self.add((*base, "classes"), say("config.classes.too_many"))
        services = self._raw_names("services")
        for cname, tclass in bandwidth.classes.items():
            cpath = (*base, "classes", cname)
            if cname == DEFAULT_CLASS and tclass.match:
                self.add((*cpath, "match"), say("config.classes.default_match"))
            match = tclass.match
            if cname != DEFAULT_CLASS and not (match and (match.services or match.ports or match.app
                                                          or match.category)):
                self.add(cpath, say("config.classes.needs_match"))
            for i, ref in enumerate(tclass.match.services if tclass.match else []):
                if ref not in services:
                    self.add((*cpath, "match", "services", i), _unknown_ref("service", ref, sorted(services)))
            for direction in ("download", "upload"):
                if tclass.ceiling and tclass.ceiling > bandwidth.rates(direction).ceiling:
                    self.add((*cpath, "ceiling"), say("config.classes.ceiling_above", ceiling=format_rate(tclass.ceiling),
                                                      direction=direction,
                                                      opd_ceiling=format_rate(bandwidth.rates(direction).ceiling)))
                    break

    def _opd_limit(self, name, opd, limit):
        """Plans stay within what the admins allow the OPD (said so an operator understands)."""
        if limit is None:
            return
        base = ("opds", name, "bandwidth")
        whose = say("config.limit.own") if opd.limit else say("config.limit.site")
        plans = [(base, opd.bandwidth, None)] + [((*base, "during", s), p, s) for s, p in opd.bandwidth.during.items()]
        for path, plan, window in plans:
            pipe = self.site.uplink.during.get(window, self.site.uplink) if window else self.site.uplink
            reported = set()
            for direction in ("download", "upload"):
                asked = plan.rates(direction)
                own = getattr(plan, direction) is not None
                where = (*path, direction) if own else path
                for field, label in (("guaranteed", "guarantee"), ("ceiling", "ceiling")):
                    kind = _LIMIT_KINDS[(direction if own else "", label)]
                    allowed = limit.bits(field, pipe.rate(direction))
                    if allowed is None or getattr(asked, field) <= allowed or (where, field) in reported:
                        continue
                    reported.add((where, field))
                    share = say("config.limit.share", share=getattr(limit, field),
                                pipe=format_rate(pipe.rate(direction))) if getattr(limit, field).endswith("%") else ""
                    self.add((*where, field), say("config.limit.exceeded", asked=format_rate(getattr(asked, field)),
                                                  opd=name, kind=kind, allowed=format_rate(allowed), share=share,
                                                  whose=whose))

    def _pipes_during(self, path: tuple, bandwidth) -> list:
        """(schedule or None, pipe) pairs a plan may run under: an OPD's scheduled plan under the
        pipe of that schedule; its base plan under the base pipe and every scheduled pipe its
        own `during` does not replace."""
        uplink = self.site.uplink
        if "during" in path:
            window = path[path.index("during") + 1]
            return [(window, uplink.during.get(window, uplink))]
        return [(None, uplink)] + [(w, p) for w, p in uplink.during.items() if w not in bandwidth.during]

    def _raw_names(self, section: str) -> set[str]:
        if section not in self._names:  # asked once per OPD: a set of 1,000 names each time adds up
            raw = self.source.data.get(section)
            self._names[section] = set(raw) if isinstance(raw, dict) else set()
        return self._names[section]

    def port_lists(self):
        """Overlapping ports in one list would be refused by the kernel's interval sets."""
        lists = [(("policies", i, "ports"), p.ports) for i, p in self.policies if p is not None]
        lists += [(("services", n, "ports"), s.ports) for n, s in self.services.items()]
        if self.site and self.site.management:
            lists.append((("site", "management", "ports"), self.site.management.ports))
        for path, ports in lists:
            for (_i, a), (j, b) in combinations(enumerate(ports), 2):
                if a.protocol == b.protocol and a.first <= b.last and b.first <= a.last:
                    self.add((*path, j), say("config.ports.overlap", port=str(b), other=str(a)))

    def schedule_times(self):
        for name, schedule in self.schedules.items():
            if schedule.from_ == schedule.to:
                self.add(("schedules", name, "to"), say("config.schedule.empty"))


    def tunnels(self):
        """Tunnel addresses inside the range, unique, not the hub's; MTUs the underlay can carry."""
        hub = self.site.wireguard if self.site else None
        if hub is None:
            return
        if hub.tunnel.prefixlen > 30:
            self.add(("site", "wireguard", "tunnel"), say("config.tunnel.too_small", tunnel=str(hub.tunnel)))
        taken: dict = {hub.hub_address.ip: ("site", "wireguard", "tunnel")}
        for name, opd in self.opds.items():
            link = opd.link.wireguard
            if link is None:
                continue
            path = ("opds", name, "link", "wireguard")
            if link.address is not None:
                where = (*path, "address")
                if link.address not in hub.tunnel or link.address in (hub.tunnel.network_address,
                                                                      hub.tunnel.broadcast_address):
                    self.add(where, say("config.tunnel.not_host", address=str(link.address), tunnel=str(hub.tunnel)))
                elif link.address in taken:
                    owner = taken[link.address]
                    self.add(where, say("config.tunnel.hub_address", address=str(link.address))
                             if owner[1] == "wireguard"
                             else say("config.tunnel.taken", address=str(link.address), owner=dotted(owner)))
                else:
                    taken[link.address] = where
            if link.mtu is not None and link.mtu + WIREGUARD_OVERHEAD > hub.underlay_mtu:
                self.add((*path, "mtu"), say("config.tunnel.mtu", mtu=link.mtu, overhead=WIREGUARD_OVERHEAD,
                                             total=link.mtu + WIREGUARD_OVERHEAD, underlay=hub.underlay_mtu,
                                             most=hub.underlay_mtu - WIREGUARD_OVERHEAD))


    def ha(self):
        """What an active/standby pair needs: two peers on one sync subnet of its own, a sync
        interface that carries nothing else, moving addresses inside their links' subnets."""
        ha = self.site.ha if self.site else None
        if ha is None:
            return
        base = ("site", "ha")
        peers = list(ha.peers.items())
        if len(peers) != HA_PEERS:
            self.add((*base, "peers"), say("config.ha.two_peers", count=len(peers)))
        sync_net = None
        for name, address in peers:
            net = IPv4Network(f"{address}/{ha.sync.prefix}", strict=False)
            if address in (net.network_address, net.broadcast_address):
                self.add((*base, "peers", name), say("config.ha.peer_not_host", address=str(address), net=str(net)))
            elif sync_net is None:
                sync_net = net
            elif net != sync_net:
                self.add((*base, "peers", name), say("config.ha.peer_other_subnet", address=str(address),
                                                     net=str(sync_net), first=peers[0][0], prefix=ha.sync.prefix))
        if len(peers) == HA_PEERS and peers[0][1] == peers[1][1]:
            self.add((*base, "peers", peers[1][0]), say("config.ha.same_address", address=str(peers[1][1]),
                                                        first=peers[0][0]))
        uplink = self.site.uplink
        links = {uplink.interface: "site.uplink"}
        links |= {s.link.device: f"services.{n}.link" for n, s in self.services.items()}
        links |= {o.link.device: f"opds.{n}.link" for n, o in self.opds.items() if not o.link.is_wireguard}
        links |= {o.link.trunk: f"opds.{n}.link.trunk" for n, o in self.opds.items() if o.link.is_vlan}
        if self.site.wireguard:
            links[self.site.wireguard.interface] = "site.wireguard"
        if ha.sync.interface in links:
            self.add((*base, "sync", "interface"), say("config.ha.sync_interface_taken", interface=ha.sync.interface,
                                                       owner=links[ha.sync.interface]))
        if sync_net is not None:
            self._sync_subnet_apart(sync_net, peers)
        self._edges_reach_the_pair(peers)
        virtual = ha.virtual_uplink
        if virtual is not None:
            where = (*base, "virtual", "uplink")
            if virtual.network != uplink.address.network:
                self.add(where, say("config.ha.virtual_outside", virtual=str(virtual),
                                    subnet=str(uplink.address.network)))
            elif virtual.ip == uplink.gateway:
                self.add(where, say("config.ha.virtual_is_gateway", address=str(virtual.ip)))
            elif virtual.ip in (virtual.network.network_address, virtual.network.broadcast_address):
                self.add(where, say("config.ha.virtual_not_host", address=str(virtual.ip), net=str(virtual.network)))

    def _edges_reach_the_pair(self, peers: list):
        """Both hubs run the hub's WireGuard side with one key and one book (pnsboxd replicates
        them); the edges' endpoint must be an address that moves to the active hub. One hub's
        own sync address cannot be: its edges would lose the pair with that hub."""
        if not (self.site.wireguard and self.site.edges_url):
            return
        host = urllib.parse.urlsplit(self.site.edges_url).hostname or ""
        for hub, address in peers:
            if host == str(address):
                self.add(("site", "edges_url"), say("config.ha.edges_url_one_hub", address=host, hub=hub))

    def _sync_subnet_apart(self, sync_net: IPv4Network, peers: list):
        """The sync subnet is the pair's own: no OPD, service, uplink or tunnel address in it."""
        taken = [(self.site.uplink.address.network, "site.uplink.address")]
        if self.site.ha.virtual_uplink:
            taken.append((self.site.ha.virtual_uplink.network, "site.ha.virtual.uplink"))
        if self.site.wireguard:
            taken.append((self.site.wireguard.tunnel, "site.wireguard.tunnel"))
        for name, opd in self.opds.items():
            taken += [(net, f"opds.{name}.subnet") for net in opd.subnet]
        for name, service in self.services.items():
            taken += [(IPv4Network(a), f"services.{name}.addresses") for a in service.addresses]
            if service.link.address is not None:
                taken.append((service.link.address.network, f"services.{name}.link.address"))
        clashes = [(net, what, [name for name, address in peers if address in net])
                   for net, what in taken if net.overlaps(sync_net)]
        clashes.sort(key=lambda clash: not clash[2])  # one holding a peer's address says most
        for net, what, inside in clashes[:1]:
            where = ("site", "ha", "peers", inside[0]) if inside else ("site", "ha", "sync", "prefix")
            self.add(where, say("config.ha.sync_overlaps", sync=str(sync_net), what=what, net=str(net)))


def _unknown_ref(kind: str, ref: str, known: list[str]) -> str:
    close = difflib.get_close_matches(ref, known, n=1)
    hint = say("config.hint.did_you_mean", name=close[0]) if close else ""
    return say("config.ref.unknown", kind=kind, name=ref, hint=hint)


def _active(bandwidth, window):
    """The plan in force during `window` (None: outside every schedule)."""
    return bandwidth.during.get(window, bandwidth) if window else bandwidth
