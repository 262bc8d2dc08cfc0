"""A site's files (pnsbox.yaml plus opds/*.yaml) as the pages see them: loaded and validated by
pnsbox itself (pnsbox.load, pnsbox.validate), so the web UI reads the same typed model the CLI
and pnsboxd do, and a site they refuse is refused here with the same problems (FILE:LINE)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pnsbox.load import MAIN_FILE, load_files
from pnsbox.model import DIRECTIONS, Config, Link, Opd, Policy
from pnsbox.render.tc import active_windows
from pnsbox.validate import build

MAIN = MAIN_FILE


@dataclass(frozen=True)
class Site:
    config: Config
    opd_files: dict[str, str]  # OPD -> the file that defines it

    @property
    def name(self) -> str:
        return self.config.site.name

    @property
    def timezone(self) -> str:
        return self.config.site.timezone

    @property
    def oversubscribe(self) -> bool:
        return self.config.site.oversubscribe

    @property
    def opds(self) -> dict[str, Opd]:
        return self.config.opds

    @property
    def services(self):
        return self.config.services

    @property
    def policies(self) -> list[Policy]:
        return self.config.policies

    def pipe(self) -> dict[str, int]:
        """The purchased pipe per direction, in bits per second."""
        return {direction: self.config.site.uplink.rate(direction) for direction in DIRECTIONS}


def parse(files: dict[str, str]) -> Site:
    """Files as the daemon keeps them -> a validated Site, or pnsbox's ConfigError naming every
    problem by file and line (the file names are the site's own: pnsbox.yaml, opds/NAME.yaml)."""
    source = load_files(files)
    config = build(source)
    return Site(config, {name: source.where(("opds", name))[0] for name in config.opds})


def opd_bandwidth(opd: Opd) -> dict[str, dict[str, int]]:
    """An OPD's plan as {download: {guaranteed, ceiling}, upload: {...}} in bits per second
    (zeros for an OPD without a plan)."""
    if opd.bandwidth is None:
        return {direction: {"guaranteed": 0, "ceiling": 0} for direction in DIRECTIONS}
    return {direction: opd.bandwidth.rates(direction)._asdict() for direction in DIRECTIONS}


def plan_in_force(site: Site, opd: Opd, now: datetime | None = None) -> tuple[dict[str, dict[str, int]], str | None]:
    """The plan that runs now (a schedule's, when one of the OPD's is open: the first in config
    order, as the daemon decides), and that schedule's name (None: the base plan)."""
    now = now or datetime.now(UTC)
    windows = active_windows(site.config, now.weekday(), now.hour * 60 + now.minute)
    bandwidth = opd.bandwidth
    window = next((name for name in (bandwidth.during if bandwidth else {}) if name in windows), None)
    if window is None:
        return opd_bandwidth(opd), None
    plan = bandwidth.during[window]
    return {direction: plan.rates(direction)._asdict() for direction in DIRECTIONS}, window


def zones_of(policy: Policy) -> set[str]:
    return set(policy.from_) | set(policy.to)


def subnets(opd: Opd) -> list[str]:
    return [str(net) for net in opd.subnet]


def link_text(link: Link) -> str:
    if link.is_wireguard:
        return "WireGuard"
    if link.is_vlan:
        return f"VLAN {link.vlan} on {link.trunk}"
    return link.device


def as_json(item) -> dict:
    """A model item for the REST API: typed values (rates in bits per second), names as the YAML writes them."""
    return item.model_dump(mode="json", by_alias=True, exclude_none=True)
