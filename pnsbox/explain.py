"""`pnsbox explain FROM TO [PORT]`: which policy decides, which class shapes it, and why.

Pure: reads only the config, walking the policies in order exactly as the
rendered chains do. The lab tests check that the kernel agrees with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .errors import BadRequest, NotFound
from .model import (
    DEFAULT_CLASS,
    GROUP_OPDS,
    ZONE_BOX,
    ZONE_INTERNET,
    Config,
    PortRange,
    format_rate,
    parse_port,
)
from .render.schedule import is_open
from .wording import say, structured


@dataclass(frozen=True)
class Explanation:
    action: str  # accept, drop or reject
    policy: str | None  # None: the default deny
    index: int | None
    schedule: str | None  # the policy holds only while this schedule is open
    shaping: str  # the HTB class that carries it, in words
    reasons: tuple[str, ...]

    def lines(self) -> list[tuple[str, str]]:
        """(indent, what is said) a line: the decision, its reasons, the class that carries it."""
        if self.policy and self.index is not None:
            head = say("explain.head.policy", action=self.action, policy=self.policy, ref=_ref(self.index))
        elif self.policy:
            head = say("explain.head.other", action=self.action, policy=self.policy)
        else:
            head = say("explain.head.default", action=self.action)
        return [("", head), *(("  - ", r) for r in self.reasons), ("  ", say("explain.shaped_by", shaping=self.shaping))]

    def text(self) -> str:
        return "\n".join(indent + line for indent, line in self.lines())

    def said(self) -> list[dict]:
        """The lines as codes and arguments, for a reader of another language (the web UI)."""
        return [{"indent": indent, **(structured(line) or {"code": "", "args": {}})} for indent, line in self.lines()]


def _ref(index: int):
    """policies[7]: the CLI's name for a policy; the web UI words it as the table's row 8."""
    return say("explain.policy_ref", index=index, row=index + 1)


PROTOCOL_WORDS = ("tcp", "udp", "icmp")  # a protocol alone, as a policy's `protocols` names it


def _port_of(text: str | None) -> PortRange | None:
    """A port as the config writes it: `443` alone is refused here as it is in a site file, not
    read as some protocol called 443 that nothing matches."""
    if not text or text in PROTOCOL_WORDS:
        return None
    try:
        return parse_port(text)
    except ValueError as exc:
        raise BadRequest(exc.args[0] if exc.args else str(exc)) from None  # said, as the model said it


def _matches_traffic(config: Config, policy, target: str, port: PortRange | None, protocol: str) -> str | None:
    """Why the policy's traffic part matches, or None."""
    ports = policy.ports
    if not ports and not policy.protocols and target in config.services:
        ports = config.services[target].ports
    if not ports and not policy.protocols:
        return say("explain.why.all_traffic")
    if protocol in policy.protocols:
        return say("explain.why.protocol", protocol=protocol)
    if port and any(p.protocol == port.protocol and p.first <= port.first <= p.last for p in ports):
        return say("explain.why.port", port=str(port), ports=", ".join(map(str, ports)))
    return None


def explain(config: Config, source: str, target: str, port_text: str | None = None,
            now: datetime | None = None) -> Explanation:
    """`now` (UTC) decides scheduled policies; without it they are taken as open."""
    for zone, role in ((source, "FROM"), (target, "TO")):
        if zone not in config.zone_names():
            raise NotFound(say("explain.no_zone", role=role, zone=zone, zones=sorted(config.zone_names())))
    port = _port_of(port_text)
    protocol = port.protocol if port else (port_text or "tcp")
    reasons = []
    management = config.site.management
    if target == ZONE_BOX and management and port and source in config.expand(management.from_) and any(
            p.protocol == port.protocol and p.first <= port.first <= p.last for p in management.ports):
        return Explanation("accept", "site.management", None, None, shaping_of(config, source, target, port),
                           (say("explain.management", source=source, port=str(port)),))
    if target == ZONE_BOX and protocol == "icmp":
        return Explanation("accept", "ICMP essentials", None, None, shaping_of(config, source, target, port),
                           (say("explain.pings"),))
    reasons += _by_application(config, source, target)
    for index, policy in enumerate(config.policies):
        if policy.by_application or source not in config.expand(policy.from_):
            continue
        to = config.expand(policy.to)
        if target not in to:
            continue
        why = _matches_traffic(config, policy, target, port, protocol)
        if why is None:
            reasons.append(say("explain.not_this_traffic", ref=_ref(index), policy=policy.name, source=source,
                               target=target))
            continue
        if policy.schedule and now is not None and not is_open(
                config.schedules[policy.schedule], config.site.timezone, now.weekday(), now.hour * 60 + now.minute):
            reasons.append(say("explain.schedule_closed", ref=_ref(index), policy=policy.name,
                               schedule=policy.schedule, day=f"{now:%a}", time=f"{now:%H:%M}"))
            continue
        via = "opds" if GROUP_OPDS in policy.from_ and source in config.opds else source
        reasons.append(say("explain.matches", ref=_ref(index), policy=policy.name, via=via, target=target, why=why))
        if policy.schedule:
            reasons.append(say("explain.only_while", schedule=policy.schedule, timezone=config.site.timezone,
                               now=say("explain.open_now") if now else ""))
        return Explanation(policy.action, policy.name, index, policy.schedule,
                           shaping_of(config, source, target, port), tuple(reasons))
    return Explanation("drop", None, None, None, shaping_of(config, source, target, port), tuple(reasons))


def _by_application(config: Config, source: str, target: str) -> list[str]:
    """Application policies come first for flows the classifier has named (render.nft's apps chain)."""
    out = []
    for index, policy in enumerate(config.policies):
        if policy.by_application and source in config.expand(policy.from_) and target in config.expand(policy.to):
            what = [*(say("explain.what.app", name=a) for a in policy.app),
                    *(say("explain.what.category", name=c) for c in policy.category)]
            out.append(say("explain.by_application", what=what, ref=_ref(index), policy=policy.name,
                           action=policy.action))
    return out


def shaping_of(config: Config, source: str, target: str, port: PortRange | None) -> str:
    """The HTB class that carries source -> target (see render.tc)."""
    if ZONE_BOX in (source, target):
        return say("explain.shaping.box")
    for opd_name, other, direction in ((source, target, "upload"), (target, source, "download")):
        opd = config.opds.get(opd_name)
        if not opd or not opd.bandwidth:
            continue
        for cname, tclass in opd.bandwidth.classes.items():
            if cname == DEFAULT_CLASS or not tclass.match:
                continue
            in_ports = port and any(p.protocol == port.protocol and p.first <= port.first <= p.last
                                    for p in tclass.match.ports)
            if other in tclass.match.services and (not tclass.match.ports or in_ports):
                return say("explain.shaping.service", leaf=f"{opd_name}/{cname}", direction=direction, service=other)
            if other == ZONE_INTERNET and not tclass.match.services and in_ports:
                return say("explain.shaping.port", leaf=f"{opd_name}/{cname}", direction=direction, port=str(port))
        if other == ZONE_INTERNET:
            plan = opd.bandwidth.rates(direction)
            leaf = f"{opd_name}/{DEFAULT_CLASS}" if opd.bandwidth.classes else opd_name
            return say("explain.shaping.plan", leaf=leaf, direction=direction,
                       guaranteed=format_rate(plan.guaranteed), ceiling=format_rate(plan.ceiling))
    if ZONE_INTERNET in (source, target):
        return say("explain.shaping.unmatched")
    return say("explain.shaping.intranet")
